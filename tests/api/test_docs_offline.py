"""/docs and /redoc render with the network blocked (issue 11 item 5): their scripts and
styles come from this server (fastapi-offline's assets), never a CDN. Driven in Debian's
Chromium through Playwright against the real server process."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.live_server import LiveServer

pytestmark = pytest.mark.e2e
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


@pytest.mark.skipif(
    not CHROMIUM.exists(), reason="needs Debian's chromium (apt-get install -y chromium)"
)
async def test_docs_and_redoc_render_with_the_network_blocked(live_server: LiveServer) -> None:
    from playwright.async_api import Route, async_playwright

    blocked: list[tuple[str, str]] = []

    async def only_our_server(route: Route) -> None:
        if route.request.url.startswith(live_server.base_url):
            await route.continue_()
        else:
            blocked.append((route.request.resource_type, route.request.url))
            await route.abort()

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
        )
        try:
            context = await browser.new_context()
            await context.route("**/*", only_our_server)
            page = await context.new_page()

            await page.goto(f"{live_server.base_url}/docs")
            # Swagger UI built the operation list from /openapi.json: its script ran.
            await page.wait_for_selector(".opblock-summary", timeout=30_000)
            assert await page.locator(".opblock").count() > 30
            assert await page.locator(".swagger-ui .info .title").inner_text() != ""

            await page.goto(f"{live_server.base_url}/redoc")
            await page.wait_for_selector("redoc [data-section-id]", timeout=30_000)
        finally:
            await browser.close()
    # Nothing the pages need leaves the server: no script, style, font or data request. (The
    # ReDoc bundle's "powered by" footer logo points at its vendor; it is an image, and
    # blocking it changes nothing on the page.)
    assert [(kind, url) for kind, url in blocked if kind != "image"] == []
