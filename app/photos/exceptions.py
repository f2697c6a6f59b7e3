"""The photo check refusals of SPEC §0/§4a: 422 before any credit is taken, each message saying
what the person can do about it."""

from __future__ import annotations

from app.core.errors import AppError


class PhotoRejected(AppError):
    status_code = 422


class NoFaceDetected(PhotoRejected):
    code = "NO_FACE_DETECTED"
    message = (
        "We could not find a face in this photo. Use a front-facing photo of your face, "
        "looking at the camera, without sunglasses or anything covering it."
    )


class MultipleFaces(PhotoRejected):
    code = "MULTIPLE_FACES"
    message = (
        "This photo shows more than one face. Use a photo with only you in it, or crop it "
        "to your face."
    )


class FaceTooSmall(PhotoRejected):
    code = "FACE_TOO_SMALL"
    message = (
        "Your face is too small in this photo. Move closer to the camera or crop the photo "
        "so your head and hair fill more of it."
    )


class PhotoTooDark(PhotoRejected):
    code = "PHOTO_TOO_DARK"
    message = (
        "This photo is too dark. Take it facing a window or in good light, without a bright "
        "light behind you."
    )


class PhotoTooBlurry(PhotoRejected):
    code = "PHOTO_TOO_BLURRY"
    message = (
        "This photo is too blurry. Hold the camera steady, make sure it focuses on your face, "
        "and clean the lens."
    )
