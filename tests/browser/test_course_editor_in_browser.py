"""Editing a course in the browser and trying it in the simulator, on a 390 px phone: the
editor (vendored CodeMirror, under the panel's CSP) marks a typo at its line as it is typed,
the fix saves as version 2, and the simulator plays two chosen steps of it."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import ConsoleMessage, expect

from tests.browser.test_panel_in_browser import TELEGRAM_SCRIPT, telegram_confirms

pytestmark = pytest.mark.integration

CREATOR = 93_000_101
COURSE = """intro:
  type: message
  text: Hello <b>there</b>
  parse_mode: HTML
  button: Go
choose:
  type: jump
  text: Pick a path
  options:
    - text: Left
      goto: left
    - text: Right
      goto: right
left:
  type: message
  text: You went *left*
right:
  type: end
  text: You went _right_
"""


async def test_edit_a_course_and_try_it_on_a_phone(page, panel, shots, make_account):
    account_id = await make_account(owner_telegram_user_id=CREATOR, name="Editing school")
    problems: list[str] = []

    def console(message: ConsoleMessage) -> None:
        if message.type == "error":  # a CSP refusal or a script error
            problems.append(message.text)

    page.on("console", console)
    page.set_default_timeout(60_000)  # uploads and checks run in course workers on a busy CI
    await page.set_viewport_size({"width": 390, "height": 844})
    await page.route(TELEGRAM_SCRIPT, telegram_confirms(CREATOR, "editor_anna"))
    await page.goto(panel.base_url + "/login")
    await page.get_by_role("button", name="Log in with Telegram").click()
    await expect(page.get_by_role("heading", name="Editing school")).to_be_visible()

    # --- a pasted course, then the editor -----------------------------------------------------
    await page.goto(f"{panel.base_url}/accounts/{account_id}/courses")
    upload = page.get_by_role("region", name="Upload a course (YAML)")
    await upload.get_by_label("…or paste the YAML").fill(COURSE)
    await upload.get_by_label("Title", exact=True).fill("Paths")
    await page.get_by_role("button", name="Upload", exact=True).click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Paths, version 1")
    await page.locator("#edit-version").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Edit “Paths”")
    editor = page.locator(".code-editor .cm-content")
    await expect(editor).to_be_visible()
    await expect(page.locator("#editor-status")).to_have_text("No problems found.")
    assert await page.locator("textarea#editor-source").is_hidden()

    # A typo typed at line 18 ("type: end" -> "type: endd") is marked there as it is typed.
    line = page.locator(".cm-line", has_text="type: end").last
    await line.click()
    await page.keyboard.press("End")
    await page.keyboard.type("d")
    error = page.locator("#editor-diagnostics li.diag.error")
    await expect(error).to_contain_text("line 18")
    await expect(error).to_contain_text("endd")
    await expect(page.locator(".cm-gutter-lint .cm-lint-marker-error")).to_have_count(1)
    await expect(page.locator(".cm-lintRange-error")).to_contain_text("type: endd")
    await shots.take(page, "editor-diagnostic-390")
    assert await page.evaluate("document.documentElement.scrollWidth") <= 390

    # The list's link moves the editor to the line; the draft survives a reload.
    await page.locator("#editor-diagnostics a.line").click()
    await expect(page.locator(".cm-activeLine")).to_contain_text("type: endd")
    await page.reload()
    await expect(page.locator("#editor-draft")).to_contain_text("you did not save")
    await page.locator("#editor-draft button").click()
    await expect(page.locator(".cm-line", has_text="type: endd")).to_have_count(1)

    # Fixed, and saved: version 2.
    await page.locator(".cm-line", has_text="type: endd").click()
    await page.keyboard.press("End")
    await page.keyboard.press("Backspace")
    await expect(page.locator("#editor-status")).to_have_text("No problems found.")
    await page.locator(".cm-line", has_text="text: You went _right_").click()
    await page.keyboard.press("End")
    await page.keyboard.type(" at last")
    await page.get_by_role("button", name="Save as a new version").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Paths, version 2")

    # --- the simulator: the button, then the second option ------------------------------------
    await page.locator("#try-simulator").click()
    chat = page.get_by_role("list", name="Preview transcript")
    await expect(chat.locator("li.bubble.bot").last).to_contain_text("Hello there")
    await expect(chat.locator("li.bubble.bot b")).to_have_text("there")
    await page.get_by_role("button", name="Go", exact=True).click()
    await expect(chat.locator("li.bubble.bot").last).to_contain_text("Pick a path")
    await shots.take(page, "simulator-choice-390")
    assert await page.evaluate("document.documentElement.scrollWidth") <= 390
    await page.get_by_role("button", name="Right", exact=True).click()
    await expect(chat.locator("li.bubble.bot").last).to_contain_text("You went right at last")
    await expect(chat.locator("li.bubble.bot i").last).to_have_text("right")
    await expect(chat.locator("li.note").last).to_have_text("🏁 The course is completed.")
    await shots.take(page, "simulator-390")
    assert await page.evaluate("document.documentElement.scrollWidth") <= 390

    # The same pages on a desktop screen.
    await page.set_viewport_size({"width": 1280, "height": 900})
    await shots.take(page, "simulator-1280")
    await page.goto(f"{panel.base_url}/accounts/{account_id}/courses")
    await page.get_by_role("link", name="Paths").click()
    await page.locator("#edit-course").click()
    await expect(page.locator(".cm-line", has_text="You went _right_ at last")).to_be_visible()
    await shots.take(page, "editor-1280")
    assert not [p for p in problems if re.search(r"Content Security Policy|Uncaught", p)], problems
