"""A newcomer tries the whole product on the playground in a real browser (Debian's Chromium
driven by Playwright, as the admin test) against the real server process on embedded defaults
(nothing switched on: the local checkout is development's default): sign up, read the code in
/dev/mail and click it, verify, upload the test portrait, pick a style, generate and see the
result load, ask for side views and be told to buy credits, buy 5 on the local checkout and see
the balance change, get the side views of the look still on show, and keep it as a
favourite from the history after the access cookie expired (the page refreshes on the 401 and
retries). Each step
leaves a screenshot in the folder the test prints."""

from __future__ import annotations

import re
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.auth.flows import PASSWORD, new_email
from tests.e2e.test_admin_browser import CHROMIUM, CHROMIUM_ARGS, Steps
from tests.live_server import LiveServer, server_env, start_live_server

pytestmark = pytest.mark.e2e

PORTRAIT = Path(__file__).resolve().parents[1] / "fixtures" / "portrait.jpg"
# A generation on a loaded 2-core machine: the local generator plus the 3 s status poll.
STEP_TIMEOUT_MS = 120_000

try:
    from playwright.async_api import Page, async_playwright
except ImportError:  # pragma: no cover - the dev group installs it
    async_playwright = None  # type: ignore[assignment]


@pytest.fixture(scope="module")
async def newcomer_server(
    database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[LiveServer]:
    workdir = tmp_path_factory.mktemp("playground-browser")
    # Embedded defaults: only the test's own database and folders; rate limits on as shipped.
    server = await start_live_server(
        server_env(database_url, workdir, RATE_LIMIT_ENABLED="true"), workdir
    )
    try:
        yield server
    finally:
        await server.stop()


async def test_a_newcomer_tries_the_whole_product_on_the_playground_in_chromium(
    newcomer_server: LiveServer, tmp_path: Path
) -> None:
    if async_playwright is None:
        pytest.skip("the playwright package is not installed (uv sync --group dev)")
    if shutil.which(CHROMIUM) is None:
        pytest.skip(f"Chromium is not installed at {CHROMIUM} (apt-get install -y chromium)")
    folder = tmp_path / "playground-browser-screenshots"
    folder.mkdir()
    print(f"screenshots: {folder}")
    base = newcomer_server.base_url
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = await browser.new_context(viewport={"width": 1280, "height": 900})
        context.set_default_timeout(STEP_TIMEOUT_MS)
        problems: list[str] = []

        def watch(page: Page) -> None:
            page.on(
                "console",
                lambda message: problems.append(message.text) if message.type == "error" else None,
            )
            page.on("pageerror", lambda error: problems.append(str(error)))

        context.on("page", watch)
        try:
            page = await context.new_page()
            steps = Steps(page, folder)
            email = await _sign_up(page, steps, base)
            page = await _verify_from_dev_mail(page, steps, base, email)
            await _generate(page, steps)
            await _views_need_credits(page, steps)
            await _buy_five_credits(page, steps, base)
            await _side_views_after_buying(page, steps)
            await _keep_a_favourite(page, steps)
        finally:
            await browser.close()
    # A refused request (400 anonymous, 402 short of credits) logs "Failed to load resource";
    # what must never happen is a script error or a blocked resource.
    assert not [p for p in problems if "Content Security Policy" in p], problems
    assert not [p for p in problems if "Uncaught" in p or "Error:" in p], problems
    assert len(list(folder.glob("*.png"))) >= 10


async def _sign_up(page: Page, steps: Steps, base: str) -> str:
    await page.goto(f"{base}/")
    await page.locator("body[data-ready=true]").wait_for()
    await page.locator("#signup-form").wait_for()
    await _loaded(page, "#teaser img")  # the catalogue shows signed out too
    await steps.shot("signed-out")
    email = new_email()
    await page.fill("#signup-name", "Newcomer")
    await page.fill("#signup-email", email)
    await page.fill("#signup-password", PASSWORD)
    await page.click("#signup-form button[type=submit]")
    await page.locator("#code-form").wait_for()
    assert email in await page.locator("#code-email").inner_text()
    await steps.shot("code-asked")
    return email


async def _verify_from_dev_mail(page: Page, steps: Steps, base: str, email: str) -> Page:
    """The code link in /dev/mail opens the playground with the code filled in."""
    mail = await page.context.new_page()
    steps.page = mail
    await mail.goto(f"{base}/dev/mail")
    message = mail.locator("article.message", has_text=email).first
    await message.wait_for()
    code_link = message.locator("a.code").first
    code = await code_link.inner_text()
    assert re.fullmatch(r"\d{6}", code), code
    # The mail's own HTML is in a sandboxed frame that can run no script.
    frame = message.locator("iframe.mail-html")
    assert "allow-scripts" not in (await frame.get_attribute("sandbox") or "")
    await steps.shot("dev-mail")
    await code_link.click()
    await mail.wait_for_url(f"{base}/")
    await mail.locator("body[data-ready=true]").wait_for()
    assert await mail.input_value("#code") == code
    await steps.shot("code-filled-from-mail")
    await page.close()
    await mail.click("#verify")
    await mail.locator("#studio").wait_for()
    await _balance_is(mail, 3)  # FREE_USER_CREDITS
    assert await mail.locator("#who").inner_text() == email
    await steps.shot("signed-in")
    return mail


async def _balance_is(page: Page, credits: int) -> None:
    await page.wait_for_function(
        "n => document.getElementById('balance').textContent === String(n)", arg=credits
    )


async def _loaded(page: Page, selector: str) -> None:
    await page.wait_for_function(
        "s => { const i = document.querySelector(s);"
        " return i && i.complete && i.naturalWidth > 0 && !i.classList.contains('waiting'); }",
        arg=selector,
    )


async def _generate(page: Page, steps: Steps) -> None:
    await page.set_input_files("#file", str(PORTRAIT))
    await _loaded(page, "#selfie")
    await page.locator(".style").nth(2).click()
    assert await page.locator(".style.chosen").count() == 1
    await steps.shot("selfie-and-style")
    await page.click("#generate")
    await page.locator("#status.pending, #status.processing, #status.completed").wait_for()
    await steps.shot("generating")
    await page.locator("#status.completed").wait_for()
    await _loaded(page, "#after")
    await _loaded(page, "#before")
    await _balance_is(page, 2)
    await steps.shot("result")


async def _views_need_credits(page: Page, steps: Steps) -> None:
    await page.click("#views")
    notice = page.locator("#notice.error")
    await notice.wait_for()
    assert "INSUFFICIENT_CREDITS" in await notice.inner_text()
    await _balance_is(page, 2)
    await steps.shot("views-need-credits")


async def _buy_five_credits(page: Page, steps: Steps, base: str) -> None:
    await page.locator("#price").filter(has_text="per credit").wait_for()
    await page.fill("#quantity", "5")
    await page.click("#buy")
    await page.wait_for_url("**/api/v1/payments/local-checkout/**")
    assert "5 credits" in await page.locator("body").inner_text()
    await steps.shot("local-checkout")
    await page.click("button.pay")
    await page.wait_for_url(f"{base}/**")
    success = page.locator("#notice.success")
    await success.wait_for()
    assert "+5 credits" in await success.inner_text()
    await _balance_is(page, 7)
    assert "purchase" in await page.locator("#ledger").inner_text()
    await steps.shot("bought-five-credits")


async def _side_views_after_buying(page: Page, steps: Steps) -> None:
    # Back from the checkout, the page shows the look it showed before.
    await _loaded(page, "#after")
    await _loaded(page, "#selfie")
    await page.click("#views")
    await page.locator("#views-status", has_text="completed").wait_for()
    for side in ("left", "right", "back"):
        await _loaded(page, f"#view-{side}")
    await _balance_is(page, 4)
    await steps.shot("side-views")


async def _keep_a_favourite(page: Page, steps: Steps) -> None:
    await page.locator("#history .look img").first.click()
    await _loaded(page, "#view-back")
    # The access cookie expires (has_session and the refresh cookie live on): the next call
    # answers 401, and the page refreshes once and retries, as the web app does.
    await page.context.clear_cookies(name="access_token")
    await page.click("#like")
    await page.locator("#like.on").wait_for()
    await page.check("#favourites")
    await page.locator("#history-count", has_text="1 favourite").wait_for()
    assert await page.locator("#history .look").count() == 1
    await steps.shot("favourites")
    await page.click("details.log summary")
    calls = await page.locator("#log").inner_text()
    assert "POST /api/v1/auth/refresh → 200" in calls
    assert "/like/" in calls.split("POST /api/v1/auth/refresh → 200")[0]  # retried after it
    await steps.shot("api-calls")
