"""Every page of the panel on a 390 px phone, in Russian (the longer words): crawled from the
overview by following the panel's own links, so a page added later is checked too. None
scrolls sideways, and the header with the sections strip stays within 120 px."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from playwright.async_api import Browser, Page, expect

from tests.browser.test_panel_in_browser import TELEGRAM_SCRIPT, telegram_confirms
from tests.browser.test_progress_in_browser import sideways_overflow
from tests.integration.test_web_progress import forget_timers, seed_school

pytestmark = pytest.mark.integration

OWNER = 93_000_390
PHONE = {"width": 390, "height": 844}
MAX_HEADER_PX = 120
MAX_PAGES = 60
# Links that are files or actions, not pages to look at.
NOT_PAGES = (".svg", ".csv", "/export", "/qr", "/logout")


async def header_height(page: Page) -> float:
    return await page.evaluate(
        """() => ["header.top", "nav.sections"]
            .map((s) => document.querySelector(s))
            .filter(Boolean)
            .reduce((sum, el) => sum + el.getBoundingClientRect().height, 0)"""
    )


async def panel_links(page: Page, prefix: str) -> list[str]:
    hrefs: list[str] = await page.eval_on_selector_all(
        "a[href]", "(links) => links.map((a) => a.getAttribute('href'))"
    )
    found = []
    for href in hrefs:
        path = urlsplit(href).path
        if path.startswith(prefix) and not any(part in path for part in NOT_PAGES):
            found.append(path + (f"?{urlsplit(href).query}" if urlsplit(href).query else ""))
    return found


async def test_no_page_scrolls_sideways_and_the_header_stays_short_on_a_phone(
    browser: Browser, panel, shots, db, secret_box, make_account
):
    account_id = await make_account(owner_telegram_user_id=OWNER, name="Школа телефонов")
    seeded = await seed_school(db, secret_box, panel.fake, account_id)
    context = await browser.new_context(locale="ru-RU", viewport=PHONE)
    page = await context.new_page()
    page.set_default_timeout(15_000)
    await page.route(TELEGRAM_SCRIPT, telegram_confirms(OWNER, "phone_owner"))
    try:
        await page.goto(panel.base_url + "/login")
        await page.get_by_role("button", name="Telegram").click()
        await expect(page.locator("nav.sections")).to_be_visible()
        prefix = f"/accounts/{account_id}"
        queue, seen, problems = [prefix], set(), []
        while queue and len(seen) < MAX_PAGES:
            path = queue.pop(0)
            if path in seen:
                continue
            seen.add(path)
            answer = await page.goto(panel.base_url + path)
            assert answer is not None and answer.status < 500, f"{path}: {answer and answer.status}"
            if answer.status >= 400:
                continue  # a link to something gone: not a layout question
            overflow = await sideways_overflow(page)
            header = await header_height(page)
            await shots.take(page, path.strip("/").replace("/", "-").replace("?", "-")[:80])
            if overflow > 0 or header > MAX_HEADER_PX:
                problems.append(f"{path}: {overflow}px sideways, header {header:.0f}px")
            queue.extend(link for link in await panel_links(page, prefix) if link not in seen)
        assert len(seen) >= 15, f"the crawl found only {sorted(seen)}"
        assert problems == [], "\n".join(problems)
    finally:
        await context.close()
        await forget_timers(db, account_id, seeded)
