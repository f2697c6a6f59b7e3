from __future__ import annotations

import httpx

from tests.generation.steps import path_of


async def test_styles_are_public_ordered_and_never_expose_the_prompt(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/api/v1/image/styles")
    assert response.status_code == 200
    styles = response.json()
    assert len(styles) >= 24
    assert {style["category"] for style in styles} == {"standard", "celebrity"}
    assert all(
        set(style)
        == {"id", "name", "category", "image_url", "description", "gender", "length", "tags"}
        for style in styles
    )
    assert "prompt" not in response.text.lower()
    assert "Keep the same person" not in response.text


async def test_styles_are_cacheable_with_an_etag(client: httpx.AsyncClient) -> None:
    first = await client.get("/api/v1/image/styles")
    etag = first.headers["ETag"]
    assert "max-age" in first.headers["Cache-Control"]
    again = await client.get("/api/v1/image/styles", headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""


async def test_every_style_thumbnail_is_served(client: httpx.AsyncClient) -> None:
    for style in (await client.get("/api/v1/image/styles")).json():
        thumbnail = await client.get(path_of(style["image_url"]))
        assert thumbnail.status_code == 200, style["image_url"]
        assert thumbnail.headers["content-type"] == "image/jpeg"
