"""An operator runs the shop from /admin in a real browser (Debian's Chromium driven by
Playwright) against the real server process: sign in, find a user, grant credits with a
reason and see the ledger row, edit a style's prompt and thumbnail, retry a failed image and
see it finish, read the dashboard's charts, sign out; then a wrong password and throttling.
Each step leaves a screenshot in the folder the test prints."""

from __future__ import annotations

import asyncio
import shutil
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import insert, select, update

from app.core.db import create_engine
from app.models import Image, ImageStatus, Style, User
from tests.auth.flows import FRONTEND
from tests.e2e.test_accounts_e2e import _signed_up
from tests.e2e.test_tryon_e2e import _selfie
from tests.files.images import png
from tests.live_server import LiveServer, server_env, start_live_server

pytestmark = pytest.mark.e2e

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
ADMIN = "operator"
ADMIN_PASSWORD = "browser-test-admin-pass"

try:
    from playwright.async_api import Page, async_playwright
except ImportError:  # pragma: no cover - the dev group installs it
    async_playwright = None  # type: ignore[assignment]


@pytest.fixture(scope="module")
async def shop_server(
    database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[LiveServer]:
    workdir = tmp_path_factory.mktemp("admin-browser")
    server = await start_live_server(
        server_env(
            database_url,
            workdir,
            ADMIN_USERNAME=ADMIN,
            ADMIN_PASSWORD=ADMIN_PASSWORD,
            RATE_LIMIT_ENABLED="true",
            FACE_CHECK="false",
        ),
        workdir,
    )
    try:
        yield server
    finally:
        await server.stop()


class Steps:
    """Screenshots numbered in the order the steps ran."""

    def __init__(self, page: Page, folder: Path) -> None:
        self.page = page
        self.folder = folder
        self.count = 0

    async def shot(self, name: str) -> None:
        self.count += 1
        await self.page.screenshot(
            path=str(self.folder / f"{self.count:02d}-{name}.png"), full_page=True
        )


async def _failed_image(database_url: str, email: str, input_key: str) -> tuple[int, int]:
    """A generation that failed (as after a provider outage), for the operator to retry."""
    engine = create_engine(database_url)
    try:
        async with engine.begin() as connection:
            user_id = (await connection.execute(select(User.id).where(User.email == email))).one()[
                0
            ]
            style = (
                await connection.execute(select(Style.id, Style.name, Style.description).limit(1))
            ).one()
            image_id = (
                await connection.execute(
                    insert(Image)
                    .values(
                        user_id=user_id,
                        style_id=style[0],
                        style_name=style[1],
                        description=style[2],
                        input_key=input_key,
                        status=ImageStatus.FAILED,
                        error_code="GENERATION_TIMEOUT",
                        error_message="The provider did not answer.",
                        deadline_at=datetime.now(UTC) - timedelta(minutes=1),
                    )
                    .returning(Image.id)
                )
            ).scalar_one()
        return int(user_id), int(image_id)
    finally:
        await engine.dispose()


async def _status(client: httpx.AsyncClient, image_id: int) -> str:
    deadline = time.monotonic() + 60
    status = ""
    while time.monotonic() < deadline:
        status = (await client.get(f"/api/v1/image/status/{image_id}")).json()["status"]
        if status in {"completed", "failed"}:
            return str(status)
        await asyncio.sleep(0.2)
    return status


async def _chart_sizes(page: Page) -> list[Any]:
    return list(
        await page.eval_on_selector_all(
            "svg.hairtryon-chart",
            "els => els.map(e => [e.getBoundingClientRect().width,"
            " e.getBoundingClientRect().height])",
        )
    )


async def test_operator_runs_the_shop_from_admin_in_chromium(
    shop_server: LiveServer, database_url: str, tmp_path: Path
) -> None:
    if async_playwright is None:
        pytest.skip("the playwright package is not installed (uv sync --group dev)")
    if shutil.which(CHROMIUM) is None:
        pytest.skip(f"Chromium is not installed at {CHROMIUM} (apt-get install -y chromium)")
    folder = tmp_path / "admin-browser-screenshots"
    folder.mkdir()
    print(f"screenshots: {folder}")
    base = shop_server.base_url
    # The catalogue is shared with every other test of the run: put back what the operator
    # edits (prompt, thumbnail) once done.
    catalogue = await _styles(database_url)
    try:
        await _run_the_shop(shop_server, database_url, folder, base)
    finally:
        await _restore_styles(database_url, catalogue)


async def _styles(database_url: str) -> list[tuple[int, str, str]]:
    engine = create_engine(database_url)
    try:
        async with engine.connect() as connection:
            rows = await connection.execute(select(Style.id, Style.prompt, Style.thumbnail))
            return [(row.id, row.prompt, row.thumbnail) for row in rows]
    finally:
        await engine.dispose()


async def _restore_styles(database_url: str, catalogue: list[tuple[int, str, str]]) -> None:
    engine = create_engine(database_url)
    try:
        async with engine.begin() as connection:
            for style_id, prompt, thumbnail in catalogue:
                await connection.execute(
                    update(Style)
                    .where(Style.id == style_id)
                    .values(prompt=prompt, thumbnail=thumbnail)
                )
    finally:
        await engine.dispose()


async def _run_the_shop(
    shop_server: LiveServer, database_url: str, folder: Path, base: str
) -> None:
    async with httpx.AsyncClient(base_url=base, headers={"Origin": FRONTEND}, timeout=60) as user:
        email = await _signed_up(user, shop_server.mail_dir)
        selfie = await _selfie(user)
        user_id, image_id = await _failed_image(database_url, email, selfie["key"])

        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = await browser.new_page(viewport={"width": 1400, "height": 1000})
            problems: list[str] = []
            page.on(
                "console",
                lambda message: problems.append(message.text) if message.type == "error" else None,
            )
            page.on("pageerror", lambda error: problems.append(str(error)))
            steps = Steps(page, folder)
            try:
                await _operate(page, steps, base, email, user_id, image_id)
                assert await _status(user, image_id) == "completed"
                await _details_show_the_result(page, steps, base, image_id)
                await _dashboard(page, steps, base)
                await _sign_out(page, steps, base)
                await _wrong_password_then_throttled(page, steps, base)
            finally:
                await browser.close()
            assert not [p for p in problems if "Content Security Policy" in p], problems
            assert not [p for p in problems if "Uncaught" in p], problems
        styles = (await user.get("/api/v1/image/styles")).json()
        assert any(
            "/styles/" in item["image_url"] and "sig=" in item["image_url"] for item in styles
        )
    assert len(list(folder.glob("*.png"))) >= 10


async def _operate(
    page: Page, steps: Steps, base: str, email: str, user_id: int, image_id: int
) -> None:
    await page.goto(f"{base}/admin")  # what an operator types
    assert page.url == f"{base}/admin/login"
    await steps.shot("login")
    await page.fill("#username", ADMIN)
    await page.fill("#password", ADMIN_PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_url(f"{base}/admin/dashboard")
    await steps.shot("signed-in-dashboard")

    # Find the user and grant credits with a reason.
    await page.goto(f"{base}/admin/user/list")
    await page.fill("#search-input", email)
    await page.click("#search-button")
    await page.wait_for_url("**search=*")
    await steps.shot("user-found")
    await page.click(f"a[href$='/admin/user/details/{user_id}']")
    await page.get_by_role("link", name="Grant / deduct credits").click()
    await page.fill("#amount", "5")
    await page.fill("#reason", "Apology for the slow weekend")
    await steps.shot("grant-form")
    await page.click("#action-submit")
    results = page.locator("#action-results")
    await results.wait_for()
    assert "balance now 8" in await results.inner_text()
    await steps.shot("credits-granted")

    # The ledger shows the grant with the admin and the reason.
    await page.goto(f"{base}/admin/credit-ledger-entry/list")
    await page.fill("#search-input", "slow weekend")
    await page.click("#search-button")
    await page.wait_for_url("**search=*")
    row = page.locator("tbody tr", has_text="Apology for the slow weekend")
    assert await row.count() == 1
    assert f"{ADMIN}: Apology" in await row.inner_text()
    assert "admin_adjustment" in await row.inner_text()
    await steps.shot("ledger-row")

    # Edit a style's prompt, then its thumbnail.
    await page.goto(f"{base}/admin/style/list")
    await page.locator("a[href*='/admin/style/details/']").first.click()
    style_url = page.url
    await page.get_by_role("link", name="Edit", exact=True).click()
    await page.fill("textarea[name=prompt], input[name=prompt]", "Browser-edited prompt")
    await steps.shot("style-edit")
    await page.click("input[name=save][value=Save]")
    await page.wait_for_url("**/admin/style/list*")
    await page.goto(style_url)
    assert "Browser-edited prompt" in await page.content()
    await page.get_by_role("link", name="Replace thumbnail").click()
    thumbnail = steps.folder.parent / "thumbnail.png"
    thumbnail.write_bytes(png((96, 96)))
    await page.set_input_files("#thumbnail", str(thumbnail))
    await page.fill("#reason", "Sharper photo")
    await page.click("#action-submit")
    await page.locator("#action-results").wait_for()
    assert "thumbnail replaced" in await page.locator("#action-results").inner_text()
    await steps.shot("thumbnail-replaced")

    # Retry the failed image.
    await page.goto(f"{base}/admin/image/list?status=failed")
    await steps.shot("failed-images")
    await page.click(f"a[href$='/admin/image/details/{image_id}']")
    await page.get_by_role("link", name="Retry", exact=True).click()
    await page.fill("#reason", "Provider is back")
    await page.click("#action-submit")
    await page.locator("#action-results").wait_for()
    assert "queued again" in await page.locator("#action-results").inner_text()
    await steps.shot("retry-queued")


async def _details_show_the_result(page: Page, steps: Steps, base: str, image_id: int) -> None:
    await page.goto(f"{base}/admin/image/details/{image_id}")
    output = page.locator("img[alt=Output]")
    await output.wait_for()
    await page.wait_for_function(
        "() => { const i = document.querySelector('img[alt=Output]');"
        " return i && i.complete && i.naturalWidth > 0; }"
    )
    await steps.shot("image-completed")


async def _dashboard(page: Page, steps: Steps, base: str) -> None:
    await page.goto(f"{base}/admin/dashboard")
    sizes = await _chart_sizes(page)
    assert len(sizes) == 4
    assert all(width > 100 and height > 20 for width, height in sizes), sizes
    assert await page.locator("svg.hairtryon-chart rect.bar").count() >= 2
    await steps.shot("dashboard")


async def _sign_out(page: Page, steps: Steps, base: str) -> None:
    await page.get_by_role("link", name="Logout", exact=True).click()
    await page.wait_for_url(f"{base}/admin/login")
    await page.goto(f"{base}/admin/user/list")
    assert page.url == f"{base}/admin/login"
    await steps.shot("signed-out")


async def _wrong_password_then_throttled(page: Page, steps: Steps, base: str) -> None:
    """ADMIN_LOGIN_RATE_LIMIT is 5/minute per IP: the sign-in above was the first attempt."""
    for attempt in range(4):
        await page.fill("#username", ADMIN)
        await page.fill("#password", f"wrong-{attempt}")
        await page.click("button[type=submit]")
        error = page.locator("#login-error")
        await error.wait_for()
        assert "Invalid credentials" in await error.inner_text()
        if attempt == 0:
            await steps.shot("wrong-password")
    await page.fill("#username", ADMIN)
    await page.fill("#password", ADMIN_PASSWORD)
    await page.click("button[type=submit]")
    await page.locator("#login-error").wait_for()
    assert "Too many sign-in attempts" in await page.locator("#login-error").inner_text()
    await steps.shot("throttled")
