"""A newcomer tries the whole product on the playground in a real browser (Debian's Chromium
driven by Playwright, as the admin test) against the real server process on embedded defaults
(nothing switched on: the local checkout is development's default): sign up, read the code in
/dev/mail and click it, verify, upload the test portrait, pick a style, generate and see the
result load, ask for side views and be told to buy credits, buy 5 on the local checkout and see
the balance change, get the side views of the look still on show, and keep it as a
favourite from the history after the access cookie expired (the page refreshes on the 401 and
retries). A second person
shares a look with their hairdresser (a link for 48 hours, copied, opened in a new page that
shows the pair and nothing of the account, revoked and gone), keeps their photos for 30 days,
downloads their data (a zip arrives) and deletes all their photos after a confirm step. A third
is told a black photo is too dark as soon as it is picked (and a black haircut photo too),
filters the catalogue, generates in copper, and copies the haircut of that look from a photo.
Each step leaves a screenshot in the folder the test prints."""

from __future__ import annotations

import json
import re
import shutil
import zipfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from PIL import Image as PILImage

from tests.auth.flows import PASSWORD, new_email
from tests.e2e.test_admin_browser import CHROMIUM, CHROMIUM_ARGS, Steps
from tests.live_server import LiveServer, server_env, start_live_server

pytestmark = pytest.mark.e2e

PORTRAIT = Path(__file__).resolve().parents[1] / "fixtures" / "portrait.jpg"
# A generation on a loaded 2-core machine: the local generator plus the 3 s status poll.
STEP_TIMEOUT_MS = 120_000

try:
    from playwright.async_api import BrowserContext, Page, async_playwright
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


@dataclass
class Browsing:
    context: BrowserContext
    folder: Path
    problems: list[str]


@asynccontextmanager
async def _chromium(tmp_path: Path) -> AsyncIterator[Browsing]:
    """Debian's Chromium with a console watch on every page; after the steps, no script error
    and no resource the page's policy blocked."""
    if async_playwright is None:
        pytest.skip("the playwright package is not installed (uv sync --group dev)")
    if shutil.which(CHROMIUM) is None:
        pytest.skip(f"Chromium is not installed at {CHROMIUM} (apt-get install -y chromium)")
    folder = tmp_path / "playground-browser-screenshots"
    folder.mkdir()
    print(f"screenshots: {folder}")
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
            yield Browsing(context, folder, problems)
        finally:
            await browser.close()
    # A refused request (400 anonymous, 402 short of credits, 404 a revoked link) logs "Failed
    # to load resource"; what must never happen is a script error or a blocked resource.
    assert not [p for p in problems if "Content Security Policy" in p], problems
    assert not [p for p in problems if "Uncaught" in p or "Error:" in p], problems


async def test_a_newcomer_tries_the_whole_product_on_the_playground_in_chromium(
    newcomer_server: LiveServer, tmp_path: Path
) -> None:
    base = newcomer_server.base_url
    async with _chromium(tmp_path) as browsing:
        page = await browsing.context.new_page()
        steps = Steps(page, browsing.folder)
        email = await _sign_up(page, steps, base)
        page = await _verify_from_dev_mail(page, steps, base, email)
        await _generate(page, steps)
        await _views_need_credits(page, steps)
        await _buy_five_credits(page, steps, base)
        await _side_views_after_buying(page, steps)
        await _keep_a_favourite(page, steps)
    assert len(list(browsing.folder.glob("*.png"))) >= 10


async def test_a_person_shares_a_look_with_their_hairdresser_and_controls_their_data_in_chromium(
    newcomer_server: LiveServer, tmp_path: Path
) -> None:
    base = newcomer_server.base_url
    async with _chromium(tmp_path) as browsing:
        await browsing.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=base)
        page = await browsing.context.new_page()
        steps = Steps(page, browsing.folder)
        email = await _sign_up(page, steps, base)
        page = await _verify_from_dev_mail(page, steps, base, email)
        await _generate(page, steps)
        await _share_with_the_hairdresser(page, steps, base)
        await _keep_photos_for_thirty_days(page, steps)
        await _download_my_data(page, steps, email, tmp_path)
        await _delete_all_my_photos(page, steps)
    assert len(list(browsing.folder.glob("*.png"))) >= 16


async def test_a_person_picks_a_colour_copies_a_haircut_photo_and_hears_why_a_photo_fails(
    newcomer_server: LiveServer, tmp_path: Path
) -> None:
    black = tmp_path / "black.jpg"
    PILImage.new("RGB", (640, 640), (0, 0, 0)).save(black, "JPEG")
    base = newcomer_server.base_url
    async with _chromium(tmp_path) as browsing:
        page = await browsing.context.new_page()
        steps = Steps(page, browsing.folder)
        email = await _sign_up(page, steps, base)
        page = await _verify_from_dev_mail(page, steps, base, email)
        await _a_black_photo_is_refused_before_a_style(page, steps, black)
        await _filter_the_catalogue(page, steps)
        await _generate_in_copper(page, steps)
        await _haircut_from_a_photo(page, steps, tmp_path, black)
    assert len(list(browsing.folder.glob("*.png"))) >= 12


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


async def _share_with_the_hairdresser(page: Page, steps: Steps, base: str) -> None:
    """A link for 48 hours, copied and opened: the public page shows the pair and the style;
    revoked, the same URL shows nothing."""
    style_name = (await page.inner_text("#after-caption")).removeprefix("After · ")
    await page.locator("#share").wait_for()
    await steps.shot("share-offered")
    await page.fill("#share-hours", "48")
    await page.click("#share-create")
    await page.locator("#share-link").wait_for()
    url = await page.input_value("#share-url")
    assert re.fullmatch(re.escape(base) + r"/s/[A-Za-z0-9_-]{32,}", url), url
    assert "(48 h from now)" in await page.inner_text("#share-expiry")
    await page.click("#share-copy")
    await page.locator("#share-copy", has_text="Copied").wait_for()
    assert await page.evaluate("navigator.clipboard.readText()") == url
    await steps.shot("share-link")

    async with page.context.expect_page() as opened:
        await page.click("#share-open")
    shared = await opened.value
    await shared.wait_for_load_state()
    assert shared.url == url
    assert await shared.inner_text("h1") == style_name
    await _loaded(shared, "img[alt=Before]")
    await _loaded(shared, "img[alt^=After]")
    # Nothing else of the account: not even who shared it.
    assert await page.inner_text("#who") not in await shared.content()
    steps.page = shared
    await steps.shot("share-page")

    steps.page = page
    await page.click("#share-revoke")
    await page.locator("#notice.success", has_text="revoked").wait_for()
    assert await page.locator("#share-link").is_hidden()
    await steps.shot("share-revoked")
    gone = await shared.reload()
    assert gone is not None
    assert gone.status == 404
    assert "This link is not available" in await shared.inner_text("h1")
    assert await shared.locator("img").count() == 0
    steps.page = shared
    await steps.shot("share-page-after-revoke")
    steps.page = page
    await shared.close()


async def _keep_photos_for_thirty_days(page: Page, steps: Steps) -> None:
    """The window starts at "keep", is saved as 30 days, and is still 30 after a reload."""
    await page.locator("#retention-status", has_text="kept until you delete them").wait_for()
    assert await page.is_checked("#keep-forever")
    assert await page.is_disabled("#retention-days")
    await page.check("#keep-days")
    await page.fill("#retention-days", "30")
    await page.click("#retention-save")
    await page.locator("#retention-status", has_text="after 30 days").wait_for()
    await page.locator("#privacy-card").scroll_into_view_if_needed()
    await steps.shot("retention-30-days")
    await page.reload()
    await page.locator("body[data-ready=true]").wait_for()
    await page.locator("#retention-status", has_text="after 30 days").wait_for()
    assert await page.is_checked("#keep-days")
    assert await page.input_value("#retention-days") == "30"


async def _download_my_data(page: Page, steps: Steps, email: str, tmp_path: Path) -> None:
    """A zip arrives with the profile, the look and the files."""
    async with page.expect_download() as arriving:
        await page.click("#export")
    download = await arriving.value
    assert download.suggested_filename == "hairtryon-export.zip"
    saved = tmp_path / download.suggested_filename
    await download.save_as(saved)
    with zipfile.ZipFile(saved) as archive:
        names = archive.namelist()
        assert json.loads(archive.read("profile.json"))["email"] == email
        assert len(json.loads(archive.read("images.json"))) == 1
        assert json.loads(archive.read("share_links.json")) == []  # revoked: the row is gone
    assert [name for name in names if name.startswith("files/")], names
    await page.locator("#notice.success", has_text="hairtryon-export.zip").wait_for()
    await steps.shot("data-downloaded")


async def _delete_all_my_photos(page: Page, steps: Steps) -> None:
    """Asked first; cancelling deletes nothing; confirmed, the look and the photo are gone."""
    await page.locator("#history .look").first.wait_for()
    await page.click("#delete-all")
    await page.locator("#delete-confirm").wait_for()
    await steps.shot("delete-asked")
    await page.click("#delete-no")
    assert await page.locator("#delete-confirm").is_hidden()
    assert await page.locator("#history .look").count() == 1
    await page.click("#delete-all")
    await page.click("#delete-yes")
    await page.locator("#notice.success", has_text="Deleted 1 look and 1 photo").wait_for()
    await page.locator("#history-count", has_text="0 looks").wait_for()
    assert await page.locator("#uploads img").count() == 0
    assert await page.locator("#result").is_hidden()
    await _balance_is(page, 2)  # credits stay
    await steps.shot("all-photos-deleted")


async def _a_black_photo_is_refused_before_a_style(page: Page, steps: Steps, black: Path) -> None:
    """The check (GET /files/check) runs as soon as the photo is picked, before any style:
    refused with its advice, nothing to generate from it, nothing charged; the portrait then
    passes."""
    await page.set_input_files("#file", str(black))
    check = page.locator("#photo-check.bad")
    await check.wait_for()
    assert await check.get_attribute("data-code") == "PHOTO_TOO_DARK"
    assert "too dark" in await check.inner_text()
    assert await page.locator(".style.chosen").count() == 0
    await page.locator(".style").first.click()
    assert await page.is_disabled("#generate")
    await _balance_is(page, 3)
    await steps.shot("dark-photo-refused")
    await page.set_input_files("#file", str(PORTRAIT))
    await page.locator("#photo-check.ok").wait_for()
    await _loaded(page, "#selfie")
    assert await page.is_enabled("#generate")
    await steps.shot("portrait-passes")


async def _filter_the_catalogue(page: Page, steps: Steps) -> None:
    """Long styles for women (from the API's filter), then one tag on top."""
    everything = await page.locator(".style").count()
    await page.select_option("#facet-gender", "female")
    await page.select_option("#facet-length", "long")
    await page.wait_for_function(
        "() => { const s = [...document.querySelectorAll('.style')];"
        " return s.length > 0 && s.every(e => e.dataset.gender === 'female'"
        " && e.dataset.length === 'long'); }"
    )
    shown = await page.locator(".style").count()
    assert 0 < shown < everything
    assert "/image/styles?gender=female&length=long" in (await page.text_content("#log") or "")
    await steps.shot("long-styles-for-women")
    tags = await page.locator(".style").first.get_attribute("data-tags") or ""
    tag = tags.split(",")[0]
    assert tag, "a seeded style without tags"
    await page.select_option("#facet-tag", tag)
    await page.wait_for_function(
        "t => { const s = [...document.querySelectorAll('.style')];"
        " return s.length > 0 && s.every(e => e.dataset.tags.split(',').includes(t)); }",
        arg=tag,
    )
    await page.select_option("#facet-tag", "")


async def _generate_in_copper(page: Page, steps: Steps) -> None:
    assert await page.locator(".swatch.keep.chosen").count() == 1  # "keep" by default
    assert await page.locator(".swatch").count() >= 16
    await page.locator(".style").first.click()
    await page.click(".swatch[data-color=copper]")
    assert await page.inner_text("#colour-name") == "Copper"
    await steps.shot("copper-chosen")
    await _generate_a_new_look(page)
    assert (await page.inner_text("#after-caption")).endswith("· Copper")
    await _balance_is(page, 2)
    await steps.shot("copper-result")


async def _haircut_from_a_photo(page: Page, steps: Steps, tmp_path: Path, black: Path) -> None:
    """A black haircut photo is refused (light is checked, a face is not needed). The copper
    look, saved, is the haircut photo then: the catalogue steps aside, the colour can follow
    the photo's, and the result is labelled as a haircut from a photo."""
    await page.set_input_files("#reference-file", str(black))
    refused = page.locator("#reference-check.bad")
    await refused.wait_for()
    assert await refused.get_attribute("data-code") == "PHOTO_TOO_DARK"
    assert await page.is_disabled("#generate")
    await steps.shot("dark-haircut-photo-refused")
    await page.click("#reference-clear")
    assert await page.locator(".styles.off").count() == 0  # back to the catalogue
    after = await page.get_attribute("#after", "src")
    assert after is not None
    picture = await page.request.get(after)
    assert picture.ok
    haircut = tmp_path / "haircut.jpg"
    haircut.write_bytes(await picture.body())
    await page.set_input_files("#reference-file", str(haircut))
    await page.locator("#reference-check.ok").wait_for()
    await _loaded(page, "#reference")
    assert await page.locator(".styles.off").count() == 1
    # The copper picked before stays picked; the photo's own colour is one more choice.
    assert await page.locator(".swatch.chosen").get_attribute("data-color") == "copper"
    await page.click(".swatch.photo")
    assert await page.inner_text("#colour-name") == "As in the haircut photo"
    await steps.shot("haircut-photo-chosen")
    await _generate_a_new_look(page)
    assert await page.inner_text("#after-caption") == "After · Haircut from a photo"
    await _balance_is(page, 1)
    await page.locator("#history .look", has_text="Haircut from a photo").wait_for()
    await steps.shot("haircut-photo-result")


async def _generate_a_new_look(page: Page) -> None:
    """Generate, and wait for this new image (#id) to complete, not the one on show before."""
    before = (await page.inner_text("#status")).split(" ")[0]
    await page.click("#generate")
    await page.wait_for_function(
        "b => { const s = document.getElementById('status');"
        " return s.classList.contains('completed') && s.textContent.split(' ')[0] !== b; }",
        arg=before,
    )
    await _loaded(page, "#after")
