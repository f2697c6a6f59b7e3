"""Where a generation's results are stored: one folder per image, named from the image id.

A job may store its result and die before it records it (JOB-04 stores first, then completes).
With a random key per attempt that object was an orphan nobody could find; a key derived from
the job and its attempt means it lies in the image's folder, which is removed whole when the
image fails or is deleted, orphans included (issue 9, defect 7), while a stale attempt cannot
overwrite the object the current attempt stored (JOB-09).

The folder name is an HMAC of the image id, not the id: with `CDN_DOMAIN` the object URL is
the key itself, unsigned, so keys must stay as unguessable as the random ones before them.
`{GENERATED_IMAGES_FOLDER}user_{id}/` stays the user's prefix (account deletion removes it).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass, field

from app.core.config import Settings
from app.files.keys import EXTENSIONS, user_prefix

_CONTEXT = b"hairtryon/generation-results\n"


@dataclass(frozen=True, slots=True)
class ResultKeys:
    folder: str
    secret: bytes = field(repr=False)

    @classmethod
    def from_settings(cls, settings: Settings) -> ResultKeys:
        return cls(
            settings.GENERATED_IMAGES_FOLDER, settings.SECRET_KEY.get_secret_value().encode()
        )

    def folder_of(self, user_id: int, image_id: int) -> str:
        """The prefix holding every result of one image (front and views), ending in `/`."""
        digest = hmac.new(self.secret, _CONTEXT + str(image_id).encode(), hashlib.sha256)
        token = base64.urlsafe_b64encode(digest.digest()).rstrip(b"=").decode()[:24]
        # A leading "-" or "_" is fine in a key, a leading "." is not; urlsafe base64 has none.
        return f"{user_prefix(self.folder, user_id)}{token}/"

    def view_prefix(self, user_id: int, image_id: int, view: str) -> str:
        """The prefix of one view's result whatever its extension (`…/right.`)."""
        return f"{self.folder_of(user_id, image_id)}{view}."

    def key(
        self, user_id: int, image_id: int, view: str, content_type: str, *, attempt: int = 0
    ) -> str:
        """The result's key; with `attempt` (the lease's fencing counter) one key per attempt,
        so an attempt that lost its lease can never overwrite the current attempt's object
        (JOB-09). Every attempt's key stays under `view_prefix`, which cleanup removes whole."""
        stem = f"{attempt}." if attempt else ""
        return f"{self.view_prefix(user_id, image_id, view)}{stem}{EXTENSIONS[content_type]}"

    def earlier_attempts(self, user_id: int, image_id: int, view: str, attempt: int) -> list[str]:
        """Every key an earlier attempt of this view could have stored (any type): what is
        left of attempts that died after storing, removed once a later one completed."""
        prefix = self.view_prefix(user_id, image_id, view)
        stems = ["", *(f"{earlier}." for earlier in range(1, attempt))]
        return [f"{prefix}{stem}{ext}" for stem in stems for ext in EXTENSIONS.values()]
