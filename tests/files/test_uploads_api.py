"""Uploads over HTTP (SPEC §3; UP-01, 02, 04, 05): the web app's presign → form POST → fetch
flow against local storage, direct uploads through the image intake, and signed media URLs."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import httpx
import pytest
from fastapi import FastAPI
from PIL import Image

from app.resources import Resources
from tests.auth.flows import Mail, signed_up_and_verified
from tests.files.images import jpeg, jpeg_with_gps_and_rotation, png
from tests.generation.steps import first_style_id, generate, portrait, run_jobs

MiB = 1024 * 1024


def _path(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


@pytest.fixture
async def signed_in(client: httpx.AsyncClient, mail: Mail) -> httpx.AsyncClient:
    await signed_up_and_verified(client, mail)
    return client


async def _presign(client: httpx.AsyncClient, file_type: str = "image/jpeg") -> dict[str, object]:
    response = await client.get(
        "/api/v1/files/presign", params={"file_name": "../../etc/passwd", "file_type": file_type}
    )
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


async def _post_form(
    client: httpx.AsyncClient, presigned: dict[str, object], data: bytes, content_type: str
) -> httpx.Response:
    fields = presigned["fields"]
    assert isinstance(fields, dict)
    upload_url = presigned["upload_url"]
    assert isinstance(upload_url, str)
    return await client.post(
        _path(upload_url), data=fields, files={"file": ("selfie.jpg", data, content_type)}
    )


async def test_spa_upload_flow_presign_post_fetch(signed_in: httpx.AsyncClient) -> None:
    presigned = await _presign(signed_in)
    assert set(presigned) == {"upload_url", "fields", "file_url", "key"}
    data = jpeg()
    posted = await _post_form(signed_in, presigned, data, "image/jpeg")
    assert posted.status_code == 204, posted.text
    file_url = presigned["file_url"]
    assert isinstance(file_url, str)
    assert file_url.startswith("http://localhost:8000/media/uploads/user_")
    fetched = await signed_in.get(_path(file_url))
    assert fetched.status_code == 200
    assert fetched.content == data
    assert fetched.headers["content-type"] == "image/jpeg"


async def test_the_documented_form_body_names_every_field_presign_hands_out(
    signed_in: httpx.AsyncClient, app: FastAPI
) -> None:
    presigned = await _presign(signed_in)
    fields = presigned["fields"]
    assert isinstance(fields, dict)
    operation = app.openapi()["paths"]["/api/v1/files/upload-form"]["post"]
    schema = operation["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert set(fields) | {"file"} == set(schema["properties"])
    assert set(fields) | {"file"} == set(schema["required"])


async def test_up05_keys_are_made_by_the_server(signed_in: httpx.AsyncClient) -> None:
    me = (await signed_in.get("/api/v1/user/me")).json()
    presigned = await _presign(signed_in, "image/png")
    key = presigned["key"]
    assert isinstance(key, str)
    assert key.startswith(f"uploads/user_{me['id']}/")
    assert key.endswith(".png")
    assert "passwd" not in key
    assert ".." not in key


async def test_presign_refuses_types_outside_the_allow_list(signed_in: httpx.AsyncClient) -> None:
    for file_type in ("image/svg+xml", "text/html", "application/pdf", "image/gif"):
        response = await signed_in.get("/api/v1/files/presign", params={"file_type": file_type})
        assert response.status_code == 415
        assert response.json()["detail"]["code"] == "UNSUPPORTED_IMAGE_TYPE"


async def test_form_upload_enforces_the_policy_in_s3_xml(signed_in: httpx.AsyncClient) -> None:
    presigned = await _presign(signed_in)
    fields = presigned["fields"]
    assert isinstance(fields, dict)
    wrong_type = {**presigned, "fields": {**fields, "Content-Type": "text/html"}}
    refused = await _post_form(signed_in, wrong_type, b"<html>", "text/html")
    assert refused.status_code == 403
    assert refused.headers["content-type"].startswith("application/xml")
    assert "<Code>" in refused.text
    other_key = {**presigned, "fields": {**fields, "key": "uploads/user_1/steal.jpg"}}
    assert (await _post_form(signed_in, other_key, jpeg(), "image/jpeg")).status_code == 403


async def test_form_upload_too_large_is_entity_too_large(
    app: FastAPI, signed_in: httpx.AsyncClient
) -> None:
    presigned = await _presign(signed_in)
    resources: Resources = app.state.resources
    big = b"\xff\xd8\xff" + b"\0" * (resources.image_policy.max_bytes + 1)
    response = await _post_form(signed_in, presigned, big, "image/jpeg")
    assert response.status_code == 400
    assert "<Code>EntityTooLarge</Code>" in response.text
    assert f"<MaxSizeAllowed>{resources.image_policy.max_bytes}</MaxSizeAllowed>" in response.text


async def test_direct_upload_stores_a_checked_copy(signed_in: httpx.AsyncClient) -> None:
    response = await signed_in.post(
        "/api/v1/files/upload", files={"file": ("x.jpg", png(), "image/jpeg")}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["key"].endswith(".png"), "typed by content, not by the name or header"
    fetched = await signed_in.get(_path(body["file_url"]))
    assert fetched.headers["content-type"] == "image/png"


BAD_FILES = {
    "gif": (b"GIF89a\x01\x00\x01\x00\x80\x00\x00\xff\xff\xff\x00\x00\x00!\xf9\x04", 415),
    "svg": (b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>', 415),
    "html": (b"<!doctype html><script>alert(1)</script>", 415),
    "pdf": (b"%PDF-1.7\n%%EOF\n", 415),
    "empty": (b"", 422),
    "truncated-jpeg": (jpeg()[:200], 422),
    "jpeg-magic-html": (b"\xff\xd8\xff\xe0<html></html>", 422),
}


@pytest.mark.parametrize("name", sorted(BAD_FILES))
async def test_up02_bad_files_over_http_are_415_or_422_never_500(
    signed_in: httpx.AsyncClient, name: str
) -> None:
    data, status = BAD_FILES[name]
    response = await signed_in.post(
        "/api/v1/files/upload", files={"file": ("photo.jpg", data, "image/jpeg")}
    )
    assert response.status_code == status, response.text
    assert response.json()["detail"]["code"] in {"UNSUPPORTED_IMAGE_TYPE", "INVALID_IMAGE"}


async def test_upload_without_a_file_part_is_422(signed_in: httpx.AsyncClient) -> None:
    response = await signed_in.post("/api/v1/files/upload", data={"nothing": "here"})
    assert response.status_code == 422
    plain = await signed_in.post("/api/v1/files/upload", json={"file": "x"})
    assert plain.status_code == 422


async def test_up04_gps_is_stripped_and_orientation_applied(
    app: FastAPI, signed_in: httpx.AsyncClient
) -> None:
    response = await signed_in.post(
        "/api/v1/files/upload",
        files={"file": ("selfie.jpg", jpeg_with_gps_and_rotation((120, 80)), "image/jpeg")},
    )
    assert response.status_code == 200
    stored = await app.state.resources.storage.get(response.json()["key"])
    image = Image.open(io.BytesIO(stored))
    assert image.size == (80, 120), "the rotation was applied to the pixels"
    assert not image.getexif(), "no EXIF (GPS, orientation) in the stored copy"
    assert b"Exif" not in stored[:4096]


async def test_up01_declared_50_mib_body_is_refused_without_reading_it(
    signed_in: httpx.AsyncClient,
) -> None:
    consumed = 0

    async def body() -> AsyncIterator[bytes]:
        nonlocal consumed
        for _ in range(50 * 16):
            consumed += 64 * 1024
            yield b"\0" * (64 * 1024)

    response = await signed_in.post(
        "/api/v1/files/upload",
        content=body(),
        headers={
            "Content-Type": "multipart/form-data; boundary=x",
            "Content-Length": str(50 * MiB),
        },
    )
    assert response.status_code == 413
    assert response.json()["detail"]["code"] == "IMAGE_TOO_LARGE"
    assert consumed <= 64 * 1024


async def test_up01_streamed_50_mib_body_stops_at_the_cap_with_bounded_memory(
    app: FastAPI, signed_in: httpx.AsyncClient
) -> None:
    cap = app.state.resources.image_policy.max_bytes
    consumed = 0
    chunk = b"\0" * (64 * 1024)

    async def body() -> AsyncIterator[bytes]:
        nonlocal consumed
        yield b"--x\r\nContent-Disposition: form-data; name=file; filename=a.jpg\r\n\r\n"
        for _ in range(50 * 16):
            consumed += len(chunk)
            yield chunk

    response = await signed_in.post(
        "/api/v1/files/upload",
        content=body(),
        headers={"Content-Type": "multipart/form-data; boundary=x"},
    )
    assert response.status_code == 413
    # One chunk of look-ahead at most: the transport may have pulled the next one. What was
    # never read was never held, so memory stays bounded (the RSS figure is in bench/).
    assert consumed <= cap + 64 * 1024 + len(chunk)


async def test_profile_picture_upload_and_userpic_key(
    signed_in: httpx.AsyncClient, client: httpx.AsyncClient
) -> None:
    response = await signed_in.post(
        "/api/v1/user/profile/picture", files={"file": ("me.png", png(), "image/png")}
    )
    assert response.status_code == 200, response.text
    userpic = response.json()["userpic"]
    assert "/media/profilepic/user_" in userpic
    assert (await signed_in.get(_path(userpic))).status_code == 200

    presigned = await _presign(signed_in)
    await _post_form(signed_in, presigned, jpeg(color="red"), "image/jpeg")
    updated = await signed_in.put("/api/v1/user/profile", json={"userpic_key": presigned["key"]})
    assert updated.status_code == 200, updated.text
    assert "/media/uploads/user_" in updated.json()["userpic"]


async def test_userpic_key_of_another_user_is_not_found(
    client: httpx.AsyncClient, mail: Mail
) -> None:
    await signed_up_and_verified(client, mail)
    theirs = await _presign(client)
    await _post_form(client, theirs, jpeg(), "image/jpeg")
    client.cookies.clear()
    await signed_up_and_verified(client, mail)
    for key in (theirs["key"], "uploads/user_999999/nope.jpg", "../../etc/passwd"):
        response = await client.put("/api/v1/user/profile", json={"userpic_key": key})
        assert response.status_code == 404
        assert response.json()["detail"]["code"] == "IMAGE_NOT_FOUND"


async def test_presigned_upload_is_checked_on_first_use(signed_in: httpx.AsyncClient) -> None:
    presigned = await _presign(signed_in)
    # The browser can post anything the policy allows: here, HTML labelled as JPEG.
    fields = presigned["fields"]
    assert isinstance(fields, dict)
    await _post_form(signed_in, presigned, b"<html><script>x</script></html>", "image/jpeg")
    used = await signed_in.put("/api/v1/user/profile", json={"userpic_key": presigned["key"]})
    assert used.status_code == 415


async def test_media_urls_refuse_bad_or_missing_signatures(signed_in: httpx.AsyncClient) -> None:
    presigned = await _presign(signed_in)
    await _post_form(signed_in, presigned, jpeg(), "image/jpeg")
    file_url = presigned["file_url"]
    assert isinstance(file_url, str)
    tampered = file_url.replace("sig=", "sig=0")
    assert (await signed_in.get(_path(tampered))).status_code == 403
    bare = _path(file_url).split("?")[0]
    assert (await signed_in.get(bare)).status_code == 422


async def test_deleting_the_account_removes_its_files(
    app: FastAPI, signed_in: httpx.AsyncClient
) -> None:
    uploaded = await signed_in.post(
        "/api/v1/files/upload", files={"file": ("a.jpg", jpeg(), "image/jpeg")}
    )
    key = uploaded.json()["key"]
    resources: Resources = app.state.resources
    assert await resources.storage.exists(key)
    assert (await signed_in.delete("/api/v1/user/me")).status_code == 204
    await resources.database.background.drain()
    assert not await resources.storage.exists(key)


async def test_up06_second_post_to_a_presigned_key_is_refused(
    signed_in: httpx.AsyncClient,
) -> None:
    presigned = await _presign(signed_in)
    first = jpeg(color="red")
    assert (await _post_form(signed_in, presigned, first, "image/jpeg")).status_code == 204
    again = await _post_form(signed_in, presigned, b"<html><script>x</script></html>", "image/jpeg")
    assert again.status_code == 403
    assert again.headers["content-type"].startswith("application/xml")
    assert "<Code>AccessDenied</Code>" in again.text
    file_url = presigned["file_url"]
    assert isinstance(file_url, str)
    fetched = await signed_in.get(_path(file_url))
    assert fetched.content == first
    assert fetched.headers["x-content-type-options"] == "nosniff"
    assert fetched.headers["content-type"] == "image/jpeg"


async def test_up06_a_checked_local_upload_cannot_be_replaced_before_generation(
    signed_in: httpx.AsyncClient, resources: Resources
) -> None:
    presigned = await _presign(signed_in)
    assert (await _post_form(signed_in, presigned, portrait(), "image/jpeg")).status_code == 204
    started = await generate(signed_in, str(presigned["key"]), await first_style_id(signed_in))
    assert started.status_code == 200, started.text
    replaced = await _post_form(signed_in, presigned, jpeg(), "image/jpeg")
    assert replaced.status_code == 403
    assert await run_jobs(resources) == 1
    status = await signed_in.get(f"/api/v1/image/status/{started.json()['image_id']}")
    assert status.json()["status"] == "completed", status.json()


@pytest.mark.parametrize(
    ("field", "value"),
    [("signature", "sïgnature"), ("policy", "pölicy"), ("key", "uploads/ü.jpg"), ("ñ", "x")],
)
async def test_non_ascii_upload_form_fields_get_s3_xml_errors_not_500(
    signed_in: httpx.AsyncClient, field: str, value: str
) -> None:
    presigned = await _presign(signed_in)
    fields = presigned["fields"]
    assert isinstance(fields, dict)
    response = await _post_form(
        signed_in, {**presigned, "fields": {**fields, field: value}}, jpeg(), "image/jpeg"
    )
    assert response.status_code in {400, 403}, response.text
    assert response.headers["content-type"].startswith("application/xml")
    assert "<Error><Code>" in response.text
