"""Students' progress in a real browser, on a desk and on a phone: the overview's live
numbers, the runs with progress and the stuck mark, a gradebook and the analytics; nothing
scrolls sideways at 390 px. Screenshots go to test-artifacts/browser/."""

from __future__ import annotations

import pytest
from playwright.async_api import Page, expect

from tests.browser.test_panel_in_browser import TELEGRAM_SCRIPT, telegram_confirms
from tests.integration.test_web_progress import forget_timers, seed_school

pytestmark = pytest.mark.integration

TEACHER = 93_000_777
WIDTHS = (1280, 390)


async def sideways_overflow(page: Page) -> int:
    """How many pixels the page is wider than the window (0: nothing scrolls sideways)."""
    return await page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )


async def test_a_teacher_sees_who_is_stuck_on_a_desk_and_on_a_phone(
    page, panel, shots, db, secret_box, make_account
):
    account_id = await make_account(owner_telegram_user_id=TEACHER, name="Progress school")
    seeded = await seed_school(db, secret_box, panel.fake, account_id)
    await page.route(TELEGRAM_SCRIPT, telegram_confirms(TEACHER, "teacher"))
    await page.goto(panel.base_url + "/login")
    await page.get_by_role("button", name="Log in with Telegram").click()
    await expect(page.locator("nav.sections")).to_be_visible()
    base = f"{panel.base_url}/accounts/{account_id}"
    pages = {
        "overview": base,
        "runs": f"{base}/runs",
        "stuck-runs": f"{base}/runs?status=stuck",
        "students": f"{base}/students",
        "gradebook": f"{base}/students/{seeded.users['dima']}",
        "analytics": f"{base}/deployments/{seeded.deployment_id}/analytics",
        "settings": f"{base}/settings",
    }
    try:
        for width in WIDTHS:
            await page.set_viewport_size({"width": width, "height": 900})
            for name, url in pages.items():
                await page.goto(url)
                await shots.take(page, f"{name}-{width}")
                assert await sideways_overflow(page) == 0, f"{name} scrolls sideways at {width}"

        await page.goto(base)
        stuck = page.locator("[data-count='stuck'] a")
        await expect(stuck.locator(".number")).to_have_text("1")
        await stuck.click()
        rows = page.locator("#runs tbody tr")
        await expect(rows).to_have_count(1)
        await expect(rows.first).to_contain_text("@anna")
        await expect(rows.first.locator("[data-stuck]")).to_be_visible()
        await expect(rows.first).to_contain_text("40%")
    finally:
        await forget_timers(db, account_id, seeded)
