"""The same upload flows with STORAGE_BACKEND=s3, against moto's S3 server over real HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from pydantic import SecretStr

from app.core.config import Settings
from app.integrations.storage.s3 import S3Storage
from app.main import create_app
from app.resources import Resources
from tests.auth.flows import FRONTEND, Mail, signed_up_and_verified
from tests.conftest import build_test_resources
from tests.files.images import jpeg
from tests.generation.steps import first_style_id, generate, portrait, run_jobs
from tests.integrations.storage.servers import S3Server, run_moto


@pytest.fixture(scope="module")
def moto() -> Iterator[S3Server]:
    with run_moto() as server:
        yield server


@pytest.fixture
async def s3_app(
    moto: S3Server, settings: Settings, resources: Resources
) -> AsyncIterator[tuple[httpx.AsyncClient, Resources]]:
    configured = settings.model_copy(
        update={
            "STORAGE_BACKEND": "s3",
            "S3_ENDPOINT_URL": moto.endpoint_url,
            "AWS_ACCESS_KEY_ID": moto.access_key_id,
            "AWS_SECRET_ACCESS_KEY": SecretStr(moto.secret_access_key),
            "BUCKET_NAME": "hairtry-test",
        }
    )
    built = build_test_resources(configured, resources.database)
    assert isinstance(built.storage, S3Storage)
    await built.storage.ensure_bucket()
    app = create_app(configured, resources=built)
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=transport, base_url="http://testserver", headers={"Origin": FRONTEND}
        ) as client,
    ):
        yield client, built
    built.storage.close()


async def test_spa_upload_flow_against_s3(
    s3_app: tuple[httpx.AsyncClient, Resources], mail: Mail
) -> None:
    client, resources = s3_app
    await signed_up_and_verified(client, Mail(mail.directory, resources.database.background))
    presigned = (
        await client.get("/api/v1/files/presign", params={"file_type": "image/jpeg"})
    ).json()
    assert presigned["upload_url"].startswith(resources.settings.S3_ENDPOINT_URL or "")
    data = jpeg()
    async with httpx.AsyncClient() as browser:
        posted = await browser.post(
            presigned["upload_url"],
            data=presigned["fields"],
            files={"file": ("selfie.jpg", data, "image/jpeg")},
        )
        assert posted.status_code in {200, 201, 204}, posted.text
        fetched = await browser.get(presigned["file_url"])
    assert fetched.status_code == 200
    assert fetched.content == data
    used = await client.put("/api/v1/user/profile", json={"userpic_key": presigned["key"]})
    assert used.status_code == 200, used.text


async def test_direct_upload_lands_in_s3(
    s3_app: tuple[httpx.AsyncClient, Resources], mail: Mail
) -> None:
    client, resources = s3_app
    await signed_up_and_verified(client, Mail(mail.directory, resources.database.background))
    response = await client.post(
        "/api/v1/files/upload", files={"file": ("a.jpg", jpeg(), "image/jpeg")}
    )
    assert response.status_code == 200, response.text
    assert await resources.storage.exists(response.json()["key"])
    assert (await client.get("/ready")).json()["checks"]["storage"] == "ok"


async def test_up06_replacing_a_checked_s3_upload_has_no_effect_on_generation(
    s3_app: tuple[httpx.AsyncClient, Resources], mail: Mail
) -> None:
    """A presigned POST stays valid for its hour and S3 cannot make it single-use: once the
    upload is checked, generation (and the face check) read only the checked copy."""
    client, resources = s3_app
    await signed_up_and_verified(client, Mail(mail.directory, resources.database.background))
    presigned = (
        await client.get("/api/v1/files/presign", params={"file_type": "image/jpeg"})
    ).json()
    style_id = await first_style_id(client)
    async with httpx.AsyncClient() as browser:

        async def post(data: bytes) -> None:
            posted = await browser.post(
                presigned["upload_url"],
                data=presigned["fields"],
                files={"file": ("selfie.jpg", data, "image/jpeg")},
            )
            assert posted.status_code in {200, 201, 204}, posted.text

        await post(portrait())
        first = await generate(client, presigned["key"], style_id)
        assert first.status_code == 200, first.text
        # The same form again, now with a photo without a face: S3 accepts it.
        await post(jpeg())
        second = await generate(client, presigned["file_url"], style_id)
        assert second.status_code == 200, second.text

        assert await run_jobs(resources) == 2
        for started in (first, second):
            status = await client.get(f"/api/v1/image/status/{started.json()['image_id']}")
            assert status.json()["status"] == "completed", status.json()
        images = (await client.get("/api/v1/user/images")).json()["images"]
        inputs = [(await browser.get(image["input_image_url"])).content for image in images]
    assert len(inputs) == 2
    assert all(data not in (jpeg(), b"") for data in inputs)
    assert inputs[0] == inputs[1]
