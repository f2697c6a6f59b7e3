"""Catalogue facets (SPEC §4a): every style carries gender, length and tags; the catalogue
filters on them and on category; a value outside a facet is a 422 validation list."""

from __future__ import annotations

import itertools

import httpx
import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Style


async def _styles(client: httpx.AsyncClient, **params: str) -> list[dict[str, object]]:
    response = await client.get("/api/v1/image/styles", params=params)
    assert response.status_code == 200, response.text
    body: list[dict[str, object]] = response.json()
    return body


async def test_the_seeded_catalogue_covers_every_gender_with_every_length(
    client: httpx.AsyncClient,
) -> None:
    styles = await _styles(client)
    assert len(styles) >= 24
    combos = {(style["gender"], style["length"]) for style in styles}
    assert combos == set(
        itertools.product(("female", "male", "unisex"), ("short", "medium", "long"))
    )
    assert all(style["tags"] for style in styles), "every seeded style is tagged"
    assert all(isinstance(tag, str) for style in styles for tag in style["tags"])  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "params",
    [
        {"gender": "male"},
        {"length": "long"},
        {"category": "celebrity"},
        {"gender": "female", "length": "short"},
        {"gender": "unisex", "length": "medium", "category": "standard"},
    ],
)
async def test_facet_filters_return_exactly_the_matching_styles(
    client: httpx.AsyncClient, params: dict[str, str]
) -> None:
    everything = await _styles(client)
    expected = [s["id"] for s in everything if all(s[k] == v for k, v in params.items())]
    filtered = await _styles(client, **params)
    assert expected, "the seeded catalogue has a style for each of these"
    assert [s["id"] for s in filtered] == expected  # same order: sort_order


async def test_the_tag_filter_matches_whole_tags_only(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await session.execute(
        update(Style).where(Style.name == "Classic Bob").values(tags="bob,curlsy")
    )
    await session.flush()
    curls = await _styles(client, tag="curls")
    assert curls
    assert all("curls" in s["tags"] for s in curls)  # type: ignore[operator]
    assert "Classic Bob" not in {s["name"] for s in curls}
    bob = await _styles(client, tag="bob")
    assert "Classic Bob" in {s["name"] for s in bob}
    assert await _styles(client, tag="no-such-tag") == []


@pytest.mark.parametrize(
    "params",
    [
        {"gender": "robot"},
        {"length": "very-long"},
        {"category": "famous"},
        {"tag": "Has Spaces"},
        {"tag": "50%"},
        {"tag": "x" * 40},
    ],
)
async def test_a_bad_facet_value_is_a_422_validation_list(
    client: httpx.AsyncClient, params: dict[str, str]
) -> None:
    response = await client.get("/api/v1/image/styles", params=params)
    assert response.status_code == 422
    [problem] = response.json()["detail"]
    assert problem["loc"] == ["query", next(iter(params))]


async def test_filtered_catalogues_have_their_own_etag(client: httpx.AsyncClient) -> None:
    everything = await client.get("/api/v1/image/styles")
    male = await client.get("/api/v1/image/styles", params={"gender": "male"})
    assert everything.headers["ETag"] != male.headers["ETag"]
    again = await client.get(
        "/api/v1/image/styles",
        params={"gender": "male"},
        headers={"If-None-Match": male.headers["ETag"]},
    )
    assert again.status_code == 304
