"""The pages added for what only the API could do, in Chromium at 1280 and 390 px: inviting a
teacher, the audit log, a restricted deployment's allow-list and price, upgrading a live
deployment with students in the middle, comparing versions, and the operator area. Each
page is screenshotted at both widths and must not scroll sideways on a phone."""

from __future__ import annotations

import asyncio
import re

import pytest
from playwright.async_api import Page, expect

from storage.repositories import runs
from tests.browser.test_panel_in_browser import TELEGRAM_SCRIPT, accept_dialogs, telegram_confirms
from tests.integration import seeding
from tests.integration.runtime_support import add_bot
from tests.integration.test_panel_support import SUPERADMIN_ID

pytestmark = pytest.mark.integration

OWNER = 93_600_001
TEACHER = 93_600_002
V1 = (
    "intro:\n  type: message\n  text: Hi\n  button: Go\n\nold_step:\n  type: message\n  text: Old\n"
)
V2 = (
    "intro:\n  type: message\n  text: Hello, and welcome to the second version of a course "
    "whose lines are long enough to wrap on a phone\n  button: Go\n\n"
    "new_step:\n  type: end\n  text: New\n"
)


async def log_in(page: Page, base_url: str, user_id: int, username: str) -> None:
    await page.route(TELEGRAM_SCRIPT, telegram_confirms(user_id, username))
    await page.goto(base_url + "/login")
    await page.get_by_role("button", name="Log in with Telegram").click()
    await expect(page.get_by_role("button", name="Log out")).to_be_visible()


async def both_widths(page: Page, shots, step: str) -> None:
    """A screenshot at 1280 px, then at 390 px with no sideways scroll, back to 1280."""
    await shots.take(page, f"{step}-1280")
    await page.set_viewport_size({"width": 390, "height": 844})
    width = await page.evaluate("document.documentElement.scrollWidth")
    await shots.take(page, f"{step}-390")
    await page.set_viewport_size({"width": 1280, "height": 900})
    assert width <= 390, f"{step}: {width} px wide on a 390 px phone"


async def test_members_upgrade_allow_list_and_operator_pages(
    page, panel, shots, db, secret_box, make_account, browser
):
    account_id = await make_account(owner_telegram_user_id=OWNER, name="Phone school")
    bot_id = await add_bot(db, secret_box, account_id, panel.fake.add_bot())
    page.on("dialog", accept_dialogs)
    page.set_default_timeout(60_000)  # uploads wait for the course workers on a busy machine
    base = f"{panel.base_url}/accounts/{account_id}"
    await log_in(page, panel.base_url, OWNER, "olga_owner")

    # --- invite a teacher --------------------------------------------------------------------
    await page.goto(base)
    await page.locator("nav.sections").get_by_role("link", name="Members", exact=True).click()
    await page.get_by_label("Telegram ID or @username").fill(str(TEACHER))
    await page.locator("#invite-role").select_option("teacher")
    await page.get_by_role("button", name="Add", exact=True).click()
    await expect(page.locator("p.notice")).to_have_text("Member added.")
    await expect(page.locator(f'tr[data-member="{TEACHER}"]')).to_have_attribute(
        "data-role", "teacher"
    )
    await both_widths(page, shots, "members")

    # --- two versions, v1 deployed restricted, students in the middle ------------------------
    await page.goto(f"{base}/courses")
    await page.locator("#course-source").fill(V1)
    await page.locator("#course-title").fill("Phone course")
    await page.get_by_role("button", name="Upload", exact=True).click()
    await expect(page).to_have_url(re.compile(r"/versions/\d+"))
    course_url = page.url.split("/versions/")[0]
    v1 = int(page.url.split("/versions/")[1].split("?")[0])
    await page.goto(course_url)
    await page.locator("#version-source").fill(V2)
    await page.get_by_role("button", name="Upload version").click()
    await expect(page).to_have_url(re.compile(r"/versions/\d+"))
    await page.goto(course_url)
    await both_widths(page, shots, "course")
    await page.get_by_role("button", name="Compare").click()
    await expect(page.locator("#element-changes")).to_contain_text("Removed: 1: old_step")
    await both_widths(page, shots, "compare")

    await page.goto(f"{base}/deployments")
    await page.locator("#deploy-version").select_option(str(v1))
    await page.locator("#deploy-bot").select_option(str(bot_id))
    await page.locator("#deploy-restricted").check()
    await page.get_by_role("button", name="Deploy", exact=True).click()
    await expect(page).to_have_url(re.compile(r"/deployments/\d+"))
    deployment_url = page.url.split("?")[0]
    deployment_id = int(deployment_url.rsplit("/", 1)[1])
    await expect(page.locator("#allow-list")).to_contain_text("nobody can start")

    await page.get_by_label("Add people").fill("123456789 @kate_student\n@long_username_here")
    await page.get_by_role("button", name="Add to the list").click()
    await expect(page.locator("#allow-counts")).to_have_text("Added: 3; already on the list: 0.")
    await page.locator("#price-amount").fill("990")
    await page.locator("#price-currency").select_option("RUB")
    await page.locator("#decline-text").fill("Write to the school office to join.")
    await page.locator("#entry").get_by_role("button", name="Save", exact=True).click()
    await expect(page.locator("#deployment-price")).to_have_text("990.00 RUB")
    await both_widths(page, shots, "deployment")

    started = []
    async with db.tenant(account_id) as s:
        for n, current in enumerate(("intro", "old_step")):
            run = await seeding.run(
                s,
                account_id,
                deployment_id=deployment_id,
                course_version_id=v1,
                bot_id=bot_id,
                chat_id=93_700_000 + n,
                telegram_user_id=93_700_000 + n,
                state={"current": current},
                current_element=current,
            )
            started.append(run.id)

    # --- upgrade: see what changes and what happens to the two students, then do it ---------
    await page.get_by_role("button", name="See what changes").click()
    await expect(page.locator("#active-runs")).to_have_text("Active runs on another version: 2")
    await page.locator("details.card summary").click()  # the text diff, opened
    await both_widths(page, shots, "upgrade-review")
    await page.get_by_label("Move them at the same step").check()
    await page.get_by_role("button", name="Move to v2").click()
    await expect(page.locator("#migrated-count")).to_contain_text("Moved to the new version: 1")
    await expect(page.locator("#pinned-count")).to_have_text("Stay on their version: 1")
    await both_widths(page, shots, "upgrade-done")
    for _ in range(150):  # the running runtime applies the move, in the run's own order
        async with db.tenant(account_id) as s:
            on = [(await runs.get(s, account_id, run_id)).course_version_id for run_id in started]
        if on[0] != v1:
            break
        await asyncio.sleep(0.1)
    assert on[0] != v1 and on[1] == v1  # old_step is gone in v2: that student stays

    # --- the audit log says all of it ------------------------------------------------------------
    await page.locator("nav.sections").get_by_role("link", name="Audit log").click()
    await expect(page.locator("#audit")).to_contain_text("upgraded a deployment")
    await expect(page.locator("#audit")).to_contain_text("added a member")
    await both_widths(page, shots, "audit")

    # --- bots (a plain /start opens the deployment) and the account's own page ------------
    await page.locator("nav.sections").get_by_role("link", name="Bots", exact=True).click()
    await page.get_by_text("Token, plain /start").click()
    await page.get_by_label("A plain /start (no link) opens").select_option(str(deployment_id))
    await page.get_by_role("button", name="Save", exact=True).click()
    await expect(page.locator("p.notice")).to_have_text("The bot is updated.")
    await page.get_by_text("Token, plain /start").click()
    await both_widths(page, shots, "bots")
    await page.locator("nav.sections").get_by_role("link", name="Settings", exact=True).click()
    await page.get_by_role("textbox", name="School name").fill("Phone school, renamed")
    await page.get_by_role("button", name="Save", exact=True).click()
    await expect(page.locator("p.notice")).to_have_text("Settings saved.")
    await both_widths(page, shots, "account")

    # --- the teacher sees members but no actions on them --------------------------------------
    teacher_context = await browser.new_context(
        locale="en-US", viewport={"width": 390, "height": 844}
    )
    teacher = await teacher_context.new_page()
    await log_in(teacher, panel.base_url, TEACHER, "tom_teacher")
    await teacher.goto(f"{base}/members")
    await expect(teacher.locator(f'tr[data-member="{OWNER}"]')).to_be_visible()
    assert await teacher.locator("main form").count() == 0
    assert await teacher.locator("nav.sections").get_by_text("Audit log").count() == 0
    await shots.take(teacher, "members-as-teacher-390")
    assert (await teacher.goto(panel.base_url + "/admin")).status == 404
    await teacher_context.close()

    # --- the operator: usage against limits, a plan, suspend and restore ----------------------
    operator_context = await browser.new_context(
        locale="en-US", viewport={"width": 1280, "height": 900}
    )
    operator = await operator_context.new_page()
    operator.on("dialog", accept_dialogs)
    await log_in(operator, panel.base_url, SUPERADMIN_ID, "platform_op")
    await operator.get_by_role("link", name="Platform").click()
    card = operator.locator(f'section[data-account="{account_id}"]')
    await expect(card.locator('li[data-limit="max_bots"]')).to_have_text("Bots: 1 / 1")
    await both_widths(operator, shots, "operator")
    await card.get_by_text("Change plan and limits").click()
    await card.locator("select[name=plan]").select_option("pro")
    await card.get_by_role("button", name="Save").click()
    card = operator.locator(f'section[data-account="{account_id}"]')
    await expect(card.locator('li[data-limit="max_bots"]')).to_have_text("Bots: 1 / 5")
    await card.get_by_role("button", name="Suspend").click()
    await expect(operator.locator("p.notice")).to_contain_text("Account suspended")
    await (
        operator.locator(f'section[data-account="{account_id}"]')
        .get_by_role("button", name="Restore")
        .click()
    )
    await expect(operator.locator("p.notice")).to_have_text("Account restored.")
    await operator_context.close()
