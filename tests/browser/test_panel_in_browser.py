"""The web panel in a real browser: a creator logs in, connects a bot against the fake Bot
API, uploads a course (first with a mistake), deploys it, shares a token's link, and
watches a student's finished run (played through the real runtime) arrive in the funnel."""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from playwright.async_api import Dialog, Page, Route, expect

from storage.repositories import bots as bot_repo
from storage.repositories import media
from tests.course_files import fixture
from tests.integration.runtime_support import Autopilot, Course
from tests.integration.test_panel_support import LOGIN_BOT_TOKEN
from tests.integration.test_web_support import signed_login

pytestmark = pytest.mark.integration

COURSE_FILE = fixture("scored_exam.yaml")
TEACHER = 93_000_001
STUDENT = 93_500_001
TELEGRAM_SCRIPT = "https://telegram.org/js/telegram-widget.js*"


def broken_copy(folder: Path) -> tuple[Path, int, str]:
    """The course with one element type misspelt: (file, its line, the element)."""
    lines = COURSE_FILE.read_text(encoding="utf-8").splitlines(keepends=True)
    index = next(i for i, line in enumerate(lines) if line.strip() == "type: quiz")
    element = lines[index - 1].strip().rstrip(":")
    lines[index] = lines[index].replace("type: quiz", "type: quizz")
    path = folder / "course_with_a_typo.yml"
    path.write_text("".join(lines), encoding="utf-8")
    return path, index + 1, element


def telegram_confirms(user_id: int, username: str) -> Callable[[Route], Awaitable[None]]:
    """Serve, in place of Telegram's login script, one whose `Telegram.Login.auth` hands the
    page this user's signed login at once, if the page asks for the panel's login bot."""
    login = json.dumps(signed_login(user_id, username))
    bot_id = LOGIN_BOT_TOKEN.reveal().split(":", 1)[0]
    script = (
        "window.Telegram = {Login: {auth: (options, callback) => "
        f"callback(String(options.bot_id) === '{bot_id}' ? {login} : false)}}}};"
    )

    async def fulfil(route: Route) -> None:
        await route.fulfill(status=200, content_type="application/javascript", body=script)

    return fulfil


async def accept_dialogs(dialog: Dialog) -> None:
    await dialog.accept()


async def open_section(page: Page, name: str) -> None:
    await page.locator("nav.sections").get_by_role("link", name=name, exact=True).click()


async def test_from_login_to_a_finished_run_in_the_funnel(
    page, panel, shots, db, make_account, tmp_path
):
    account_id = await make_account(owner_telegram_user_id=TEACHER, name="Browser school")
    await make_account(owner_telegram_user_id=TEACHER, name="Second school")
    page.on("dialog", accept_dialogs)

    # --- log in with Telegram and pick an account ---------------------------------------------
    # Telegram's script is a stand-in that confirms at once, as Telegram's window does.
    await page.route(TELEGRAM_SCRIPT, telegram_confirms(TEACHER, "anna_teacher"))
    await page.goto(panel.base_url + "/")
    await expect(page).to_have_url(re.compile(r"/login$"))
    await expect(page.get_by_role("heading", name="Log in")).to_be_visible()
    await shots.take(page, "login")
    await page.get_by_role("button", name="Log in with Telegram").click()
    await expect(page.get_by_role("heading", name="Your accounts")).to_be_visible()
    assert "hash" not in page.url  # the signed login was posted, never put in a URL
    await shots.take(page, "accounts")
    await page.get_by_role("link", name="Browser school").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Browser school")

    # The switcher moves between the two accounts (once panel.js, which makes a choice submit
    # the switcher, has run: the heading shows before it).
    await page.wait_for_load_state()
    await page.get_by_label("Account", exact=True).select_option(label="Second school")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Second school")
    await page.wait_for_load_state()
    await page.get_by_label("Account", exact=True).select_option(label="Browser school")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Browser school")
    await shots.take(page, "overview")

    # --- an API key for a script, made on a phone -------------------------------------------
    await page.set_viewport_size({"width": 390, "height": 844})
    await open_section(page, "API keys")
    await page.get_by_label("Name", exact=True).fill("nightly export")
    await page.get_by_role("button", name="Make the key").click()
    assert (await page.get_by_label("The new API key").input_value()).startswith("cbk_")
    await expect(page.locator("tr[data-key] td.maker")).to_have_text(str(TEACHER))
    assert await page.evaluate("document.documentElement.scrollWidth") <= 390  # no side-scroll
    await shots.take(page, "api-key-on-a-phone")
    await page.set_viewport_size({"width": 1280, "height": 900})

    # --- bots: a bad token is refused with Telegram's reason, then a real one connects -----
    await open_section(page, "Bots")
    await page.get_by_label("Bot token").fill("123456:not-a-token-telegram-knows-at-all")
    await page.get_by_role("button", name="Connect").click()
    await expect(page.locator("#bot-error")).to_contain_text("Telegram rejected the token")
    await expect(page.get_by_label("Bot token")).to_have_attribute("aria-invalid", "true")
    await shots.take(page, "bot-bad-token")
    fake_bot = panel.fake.add_bot("browser_school_bot")
    await page.get_by_label("Bot token").fill(fake_bot.token)
    await page.get_by_role("button", name="Connect").click()
    await expect(page.locator("p.notice")).to_contain_text("The bot is connected")
    bot_row = page.locator("tr[data-bot='browser_school_bot']")
    await expect(bot_row.locator(".mode")).to_have_text("Polling")
    await expect(bot_row.locator(".last-update")).to_have_text("never")
    await shots.take(page, "bot-added")

    # --- courses: the typo is shown at its line and element, then the course uploads -------
    broken, bad_line, bad_element = broken_copy(tmp_path)
    await open_section(page, "Courses")
    await page.get_by_label("YAML file").set_input_files(str(broken))
    await page.get_by_role("button", name="Upload", exact=True).click()
    flagged = page.locator(f"tr.diag.error[data-line='{bad_line}']")
    await expect(flagged).to_contain_text("there is no element type “quizz” (did you mean “quiz”?)")
    await expect(flagged).to_contain_text(f"element {bad_element}")
    await expect(page.locator(f"tr#L{bad_line}")).to_contain_text("type: quizz")
    await shots.take(page, "course-validation-error")
    upload = page.get_by_role("region", name="Upload a course (YAML)")
    await upload.get_by_label("YAML file").set_input_files(str(COURSE_FILE))
    await upload.get_by_label("Title", exact=True).fill("Test element course")
    await page.get_by_role("button", name="Upload", exact=True).click()
    await expect(page.get_by_role("heading", level=1)).to_have_text(
        "Test element course, version 1"
    )
    transcript = page.get_by_role("list", name="Preview transcript")
    await expect(transcript.locator("li.bubble.bot").first).to_be_visible()
    await expect(transcript.locator("li.note").last).to_contain_text("The course is completed")
    await shots.take(page, "course-preview")

    # --- deploy the version and create a token ----------------------------------------------
    await page.get_by_role("button", name="Deploy").click()
    await expect(page.locator("p.notice")).to_contain_text("Deployed")
    deployment_id = int(re.search(r"/deployments/(\d+)", page.url).group(1))
    await page.get_by_label("utm_source").fill("vk")
    await page.get_by_role("button", name="Create token").click()
    await expect(page.locator("p.notice")).to_contain_text("The token is created")
    link_field = page.locator("input.deep-link")
    deep_link = await link_field.input_value()
    assert re.fullmatch(
        rf"https://t\.me/browser_school_bot\?start=cd_{deployment_id}_[A-Za-z0-9_-]+", deep_link
    ), deep_link
    await page.get_by_role("button", name="Copy link").click()
    await expect(page.locator(".copy-status")).to_have_text("Copied")
    assert await page.evaluate("navigator.clipboard.readText()") == deep_link
    qr = page.locator("img.qr")
    await expect(qr).to_have_js_property("complete", True)  # loaded (or failed): not a race
    qr_width = await qr.evaluate("img => img.naturalWidth")
    assert qr_width > 0, "the QR code image loads"
    await expect(page.locator("td.usage .uses")).to_have_text("used 0 of ∞")
    await shots.take(page, "token-created")

    # --- a student takes the course through the real runtime --------------------------------
    async with db.tenant(account_id) as session:
        (bot,) = await bot_repo.list_all(session, account_id)
    token = deep_link.split("start=", 1)[1].split("_", 2)[2]
    course = Course(account_id, bot.id, fake_bot, deployment_id, token)
    pilot = Autopilot(panel.fake, db, course, STUDENT, clock=panel.clock)
    await pilot.start()
    run = await pilot.play()
    assert run.status == "completed"

    await page.reload()
    await expect(page.locator("td.usage .started")).to_have_text("started: 1")
    await expect(page.locator("td.usage .completed")).to_have_text("completed: 1")
    await shots.take(page, "token-usage")

    # --- the run in the runs table and as a transcript --------------------------------------
    await open_section(page, "Runs")
    run_row = page.locator(f"tr[data-run='{run.id}']")
    await expect(run_row).to_contain_text("completed")
    await shots.take(page, "runs")
    await run_row.get_by_role("link", name=str(run.id), exact=True).click()
    await expect(page.locator("#run-status")).to_have_text("completed")
    conversation = page.get_by_role("list", name="Conversation")
    await expect(conversation.locator("li.bubble.student").first).to_be_visible()
    await expect(conversation.locator(".score").first).to_be_visible()
    await shots.take(page, "run-transcript")

    # --- the finished run in the funnel -------------------------------------------------------
    await open_section(page, "Analytics")
    await expect(page.locator("#funnel-summary")).to_contain_text("Runs of this version: 1")
    last_step = page.locator("#funnel-table tbody tr").last
    await expect(last_step.locator(".reached")).to_have_text("1")
    await expect(last_step.locator(".completed")).to_have_text("1")
    await expect(page.locator("#conversion-utm")).to_contain_text("vk")
    await expect(page.locator("#funnel-chart rect.seg.completed").first).to_be_visible()
    await shots.take(page, "funnel")

    # --- the same page in Russian, chosen in the UI ---------------------------------------
    await page.get_by_label("Language", exact=True).select_option(label="Русский")
    await expect(page.get_by_role("heading", name="Воронка по элементам")).to_be_visible()
    await expect(page.locator("html")).to_have_attribute("lang", "ru")
    await shots.take(page, "funnel-ru")

    # --- an image Telegram refused is shown on the run page, on a phone ----------------------
    async with db.tenant(account_id) as session:
        await media.record_refusals(
            session,
            account_id,
            run.course_version_id,
            [(run.current_element or "Intro", "https://example.org/a-web-page-not-an-image")],
            "Bad Request: wrong type of the web page content",
        )
    await page.set_viewport_size({"width": 390, "height": 844})
    await page.goto(f"{panel.base_url}/accounts/{account_id}/runs/{run.id}")
    await expect(page.locator("#refused-media")).to_contain_text("a-web-page-not-an-image")
    assert await page.evaluate("document.documentElement.scrollWidth") <= 390  # no side-scroll
    await shots.take(page, "refused-media-on-a-phone")
    await page.set_viewport_size({"width": 1280, "height": 900})

    # --- ban and unban the student from the run page --------------------------------------
    await page.get_by_role("button", name="Заблокировать").click()
    await expect(page.locator("p.notice")).to_contain_text("Ученик заблокирован")
    await shots.take(page, "student-banned")
    await page.get_by_role("button", name="Снять блокировку").click()
    await expect(page.locator("p.notice")).to_contain_text("Блокировка снята")

    # --- the bot's last update is now known; revoking the token shows at once -------------
    await open_section(page, "Боты")
    await expect(bot_row.locator(".last-update")).not_to_have_text("ещё не было")
    await page.goto(f"{panel.base_url}/accounts/{account_id}/deployments/{deployment_id}")
    await page.get_by_role("button", name="Отозвать").click()
    await expect(page.locator("tr[data-token] .badge.off")).to_have_text("отозван")
    await shots.take(page, "token-revoked")
