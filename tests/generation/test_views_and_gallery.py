"""Side views (3 credits, refunded per failed view), the image history, likes, deletion,
and BOLA-01 over every route that takes an object id."""

from __future__ import annotations

import re

import httpx
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.credits.repository import CreditLedgerRepository
from app.credits.service import CreditsService, Reference
from app.models import CreditLedgerEntry, CreditReason
from app.resources import Resources
from tests.auth.flows import Mail, signed_up_and_verified
from tests.generation.steps import first_style_id, generate, path_of, run_jobs, upload


async def _completed_image(client: httpx.AsyncClient, resources: Resources) -> int:
    selfie = await upload(client)
    response = await generate(client, selfie["file_url"], await first_style_id(client))
    assert response.status_code == 200, response.text
    await run_jobs(resources)
    return int(response.json()["image_id"])


async def _credits(client: httpx.AsyncClient) -> int:
    return int((await client.get("/api/v1/user/credits")).json())


async def _top_up(client: httpx.AsyncClient, session: AsyncSession, amount: int, why: str) -> None:
    """Add credits through the ledger (3 free ones pay for one image, not for its views)."""
    me = (await client.get("/api/v1/user/me")).json()
    await CreditsService(CreditLedgerRepository(session)).grant(
        me["id"], amount, CreditReason.ADMIN_ADJUSTMENT, Reference("test", why)
    )
    await session.flush()


async def test_views_cost_three_run_and_leave_the_image_completed(
    client: httpx.AsyncClient, mail: Mail, resources: Resources, session: AsyncSession
) -> None:
    await signed_up_and_verified(client, mail)
    await _top_up(client, session, 2, "views")
    image_id = await _completed_image(client, resources)
    assert await _credits(client) == 4

    started = await client.post("/api/v1/image/view-generate", json={"image_id": image_id})
    assert started.status_code == 200, started.text
    assert await _credits(client) == 1
    running = (await client.get(f"/api/v1/image/status/{image_id}")).json()
    assert (running["status"], running["views_status"]) == ("processing", "pending")
    assert running["output_image_url"], "the front result stays visible"

    await run_jobs(resources)
    done = (await client.get(f"/api/v1/image/status/{image_id}")).json()
    assert (done["status"], done["views_status"]) == ("completed", "completed")
    urls = [done["right_view_url"], done["left_view_url"], done["back_view_url"]]
    assert all(urls)
    assert len(set(urls)) == 3
    for url in urls:
        assert (await client.get(path_of(url))).status_code == 200

    again = await client.post("/api/v1/image/view-generate", json={"image_id": image_id})
    assert again.status_code == 409
    assert again.json()["detail"]["code"] == "VIEWS_EXIST"


async def test_failed_views_are_refunded_one_by_one_and_the_front_survives(
    client: httpx.AsyncClient, mail: Mail, resources: Resources, session: AsyncSession
) -> None:
    await signed_up_and_verified(client, mail)
    await _top_up(client, session, 2, "views-fail")
    image_id = await _completed_image(client, resources)
    await client.post("/api/v1/image/view-generate", json={"image_id": image_id})
    # The front result vanishes from storage: every view fails.
    status = (await client.get(f"/api/v1/image/status/{image_id}")).json()
    output_key = re.sub(r"^.*/media/|\?.*$", "", status["output_image_url"])
    await resources.storage.delete(output_key)
    await run_jobs(resources)

    done = (await client.get(f"/api/v1/image/status/{image_id}")).json()
    assert (done["status"], done["views_status"]) == ("completed", "failed")
    assert done["error"] is None
    assert await _credits(client) == 4
    refunds = await session.scalar(
        select(func.count())
        .select_from(CreditLedgerEntry)
        .where(
            CreditLedgerEntry.reason == "refund",
            CreditLedgerEntry.reference_type == "view",
            # This image's views only: the session's database holds earlier tests' refunds.
            CreditLedgerEntry.reference_id.startswith(f"{image_id}-"),
        )
    )
    assert refunds == 3


async def test_views_of_an_unfinished_image_are_409_image_not_ready(
    client: httpx.AsyncClient, mail: Mail
) -> None:
    await signed_up_and_verified(client, mail)
    selfie = await upload(client)
    image_id = (await generate(client, selfie["file_url"], await first_style_id(client))).json()[
        "image_id"
    ]
    response = await client.post("/api/v1/image/view-generate", json={"image_id": image_id})
    assert response.status_code == 409
    assert response.json()["detail"]["code"] == "IMAGE_NOT_READY"


async def test_history_pages_and_counts_favourites(
    client: httpx.AsyncClient, mail: Mail, resources: Resources
) -> None:
    await signed_up_and_verified(client, mail)
    ids = [await _completed_image(client, resources) for _ in range(3)]
    assert (await client.post(f"/api/v1/image/like/{ids[1]}")).json() == {"liked": True}
    assert (await client.post(f"/api/v1/image/dislike/{ids[2]}")).json() == {"disliked": True}

    page = (await client.get("/api/v1/user/images", params={"limit": 2})).json()
    assert page["total_images"] == 3
    assert page["next_page"] == 2
    assert [image["id"] for image in page["images"]] == [ids[2], ids[1]]
    first = page["images"][0]
    assert set(first) == {
        "id",
        "input_image_url",
        "output_image_url",
        "description",
        "style_name",
        "side_views",
        "status",
        "views_status",
        "liked",
        "created_at",
        "time_taken",
    }
    assert first["side_views"] is None
    assert first["time_taken"] is not None

    favourites = (await client.get("/api/v1/user/images", params={"favourites": "true"})).json()
    assert favourites["total_images"] == 1
    assert favourites["next_page"] is None
    assert [image["id"] for image in favourites["images"]] == [ids[1]]

    oldest_first = (await client.get("/api/v1/user/images", params={"sort_desc": "false"})).json()
    assert [image["id"] for image in oldest_first["images"]] == ids
    for bad in ({"limit": 0}, {"limit": 101}, {"page": 0}):
        assert (await client.get("/api/v1/user/images", params=bad)).status_code == 422

    uploads = (await client.get("/api/v1/user/uploads")).json()
    assert 1 <= len(uploads) <= 5
    assert len(set(uploads)) == len(uploads)


async def test_delete_removes_the_image_and_its_files(
    client: httpx.AsyncClient, mail: Mail, resources: Resources
) -> None:
    await signed_up_and_verified(client, mail)
    image_id = await _completed_image(client, resources)
    status = (await client.get(f"/api/v1/image/status/{image_id}")).json()
    output_path = path_of(status["output_image_url"])
    assert (await client.delete(f"/api/v1/image/{image_id}")).status_code == 204
    await resources.database.background.drain()
    assert (await client.get(f"/api/v1/image/status/{image_id}")).status_code == 404
    assert (await client.get(output_path)).status_code == 404


# BOLA-01: every route with an object id, and how to call it. A new id route without an
# entry here fails test_bola01_every_id_route_has_a_case.
ID_ROUTE_CASES: dict[tuple[str, str], dict[str, object]] = {
    ("GET", "/api/v1/image/status/{image_id}"): {},
    ("POST", "/api/v1/image/like/{image_id}"): {},
    ("POST", "/api/v1/image/dislike/{image_id}"): {},
    ("DELETE", "/api/v1/image/{image_id}"): {},
    # Share links: someone else's image answers like a missing one, and no link is made.
    ("POST", "/api/v1/image/{image_id}/share"): {"json": {"expires_in_hours": 24}},
    ("DELETE", "/api/v1/image/{image_id}/share"): {},
    # With a real foreign payment: tests/payments/test_payments.py::
    # test_someone_elses_transaction_is_not_found. Here: no side effect, 404.
    ("GET", "/api/v1/payments/transaction/{payment_id}"): {},
}
# Routes whose id travels in the body instead of the path.
BODY_ID_ROUTES = {("POST", "/api/v1/image/view-generate")}


def _id_routes(app: FastAPI) -> set[tuple[str, str]]:
    """Every operation whose path carries an object id, read from the app's own schema."""
    found: set[tuple[str, str]] = set()
    for path, operations in app.openapi()["paths"].items():
        if re.search(r"\{\w*id\}", path):
            found.update((method.upper(), path) for method in operations)
    return found


def test_bola01_every_id_route_has_a_case(app: FastAPI) -> None:
    assert _id_routes(app) == set(ID_ROUTE_CASES)


async def test_bola01_foreign_objects_are_invisible_and_untouched(
    app: FastAPI, client: httpx.AsyncClient, mail: Mail, resources: Resources
) -> None:
    await signed_up_and_verified(client, mail)
    owner_image = await _completed_image(client, resources)
    before = (await client.get(f"/api/v1/image/status/{owner_image}")).json()
    shared = await client.post(f"/api/v1/image/{owner_image}/share", json={"expires_in_hours": 1})
    owner_cookies = dict(client.cookies.items())
    client.cookies.clear()
    await signed_up_and_verified(client, mail)

    for method, path in sorted(ID_ROUTE_CASES):
        target = path.replace("{image_id}", str(owner_image)).replace(
            "{payment_id}", str(owner_image)
        )
        case = ID_ROUTE_CASES[(method, path)]
        response = await client.request(method, target, **case)  # type: ignore[arg-type]
        assert response.status_code == 404, (method, path, response.text)
    for method, path in sorted(BODY_ID_ROUTES):
        response = await client.request(method, path, json={"image_id": owner_image})
        assert response.status_code == 404, (method, path)
    assert await _credits(client) == 3, "no side effect on the intruder's account either"

    client.cookies.clear()
    for name, value in owner_cookies.items():
        client.cookies.set(name, value)
    after = (await client.get(f"/api/v1/image/status/{owner_image}")).json()
    assert after["status"] == before["status"] == "completed"
    page = (await client.get("/api/v1/user/images")).json()
    assert page["images"][0]["liked"] is None
    assert (await client.get(path_of(shared.json()["url"]))).status_code == 200, "not revoked"
