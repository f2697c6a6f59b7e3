"""The admin edits a style's facets (SPEC §4a, §7): gender, length and tags are saved
normalised, refused with a message when wrong, and show in the public catalogue's filters."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.config import Settings
from app.models import Style
from tests.admin.panel import sign_in_bootstrap


@pytest.fixture
async def admin_token(client: httpx.AsyncClient, settings: Settings) -> str:
    return await sign_in_bootstrap(client, settings)


def _form(token: str, style: Style, **changes: str) -> dict[str, str]:
    return {
        "csrf_token": token,
        "name": style.name,
        "description": style.description,
        "prompt": style.prompt,
        "category": style.category,
        "sort_order": str(style.sort_order),
        "is_active": "y",
        "palette": style.palette,
        "length": style.length,
        "texture": style.texture or "",
        "gender": style.gender,
        "tags": style.tags,
        "save": "Save",
        **changes,
    }


async def _first_style(session: AsyncSession) -> Style:
    style = await session.scalar(select(Style).where(Style.name == "Classic Bob"))
    assert style is not None
    return style


async def test_the_style_form_shows_and_saves_the_facets_normalised(
    client: httpx.AsyncClient, admin_token: str, session: AsyncSession
) -> None:
    style = await _first_style(session)
    form = await client.get(f"/admin/style/edit/{style.id}")
    assert form.status_code == 200
    assert 'name="gender"' in form.text
    assert 'name="tags"' in form.text
    edited = await client.post(
        f"/admin/style/edit/{style.id}",
        data=_form(admin_token, style, gender="male", length="long", tags=" Bob, Sleek sleek,x-1 "),
    )
    assert edited.status_code == 302, edited.text
    await session.refresh(style)
    assert (style.gender, style.length, style.tags) == ("male", "long", "bob,sleek,x-1")

    listed = (
        await client.get("/api/v1/image/styles", params={"gender": "male", "tag": "x-1"})
    ).json()
    assert [item["name"] for item in listed] == ["Classic Bob"]
    assert listed[0]["tags"] == ["bob", "sleek", "x-1"]


@pytest.mark.parametrize(
    "broken",
    [
        {"gender": "robot"},
        {"length": ""},
        {"length": "very long"},
        {"tags": "ok, not_a_slug!"},
        {"tags": ",".join(f"t{i}" for i in range(9))},
    ],
)
async def test_a_style_edit_with_a_bad_facet_is_refused_and_saves_nothing(
    client: httpx.AsyncClient, admin_token: str, session: AsyncSession, broken: dict[str, str]
) -> None:
    style = await _first_style(session)
    before = (style.gender, style.length, style.tags)
    refused = await client.post(
        f"/admin/style/edit/{style.id}", data=_form(admin_token, style, **broken)
    )
    assert refused.status_code == 400, broken
    await session.refresh(style)
    assert (style.gender, style.length, style.tags) == before


async def test_a_style_created_without_a_gender_is_unisex(
    client: httpx.AsyncClient, admin_token: str, session: AsyncSession
) -> None:
    created = await client.post(
        "/admin/style/create",
        data={
            "csrf_token": admin_token,
            "name": "Facet Pixie",
            "description": "Short and neat.",
            "prompt": "a pixie cut",
            "category": "standard",
            "sort_order": "99",
            "is_active": "y",
            "palette": "#2b1b10",
            "length": "short",
            "texture": "straight",
            "tags": "pixie",
            "thumbnail": "static/styles/pixie-cut.jpg",
            "save": "Save",
        },
    )
    assert created.status_code == 302, created.text
    style = await session.scalar(select(Style).where(Style.name == "Facet Pixie"))
    assert style is not None
    assert (style.gender, style.length, style.tags) == ("unisex", "short", "pixie")
