"""Pages of a very large course stay small: they show the first part of a long preview, of a
long list of problems and of a long funnel, and say in plain words what they leave out."""

from __future__ import annotations

import re

import pytest

from panel_api.web.listing import MAX_SHOWN
from panel_api.web.preview import MAX_SHOWN_LINES
from panel_api.web.routes.analytics import MAX_FUNNEL_ROWS
from storage.repositories import bots as bot_repo
from tests.fakes.telegram_api import FakeTelegram
from tests.integration.conftest import random_telegram_id
from tests.integration.runtime_support import add_bot, add_course_version, deploy
from tests.integration.test_panel_support import panel_context
from tests.integration.test_web_support import text_of, web_browser

pytestmark = pytest.mark.integration


def messages(count: int) -> str:
    return "".join(
        f"m{i}:\n  type: message\n  text: Step {i}\n  button: Next\n" for i in range(count)
    )


async def test_a_long_preview_shows_its_first_lines_and_says_how_many_more(
    db, secret_box, make_account
):
    owner = random_telegram_id()
    account_id = await make_account(owner_telegram_user_id=owner)
    async with web_browser(panel_context(db, secret_box)) as browser:
        await browser.log_in(owner)
        await browser.get(f"/accounts/{account_id}/courses")
        created = await browser.post(
            f"/accounts/{account_id}/courses", {"source": messages(400), "title": "Long"}
        )
        assert created.status_code == 303
        page = await browser.get(created.headers["location"])
    bubbles = re.findall(r'<li class="bubble (?:bot|student)">', page.text)
    assert len(bubbles) == MAX_SHOWN_LINES
    shown = text_of(page.text)
    # 400 steps: 400 bot messages and 399 button presses, then the note that it stopped.
    hidden = 400 + 399 - MAX_SHOWN_LINES
    assert (
        f"… {hidden} more messages and answers are not shown "
        f"(the preview shows the first {MAX_SHOWN_LINES})." in shown
    )
    assert "The preview stopped after 400 steps" in shown


async def test_a_file_with_many_problems_shows_the_first_and_counts_the_rest(
    db, secret_box, make_account
):
    owner = random_telegram_id()
    account_id = await make_account(owner_telegram_user_id=owner)
    without_text = "".join(f"m{i}:\n  type: message\n" for i in range(150))  # 150 errors
    async with web_browser(panel_context(db, secret_box)) as browser:
        await browser.log_in(owner)
        await browser.get(f"/accounts/{account_id}/courses")
        refused = await browser.post(
            f"/accounts/{account_id}/courses",
            {"title": "Broken"},
            files={"file": ("broken.yml", without_text.encode())},
        )
    assert refused.status_code == 422
    assert len(re.findall(r'<tr class="diag error"', refused.text)) == MAX_SHOWN
    assert (
        f"{150 - MAX_SHOWN} more problems are not shown (the page shows the first {MAX_SHOWN})."
        in text_of(refused.text)
    )


async def test_a_long_funnel_shows_its_first_elements_and_the_csv_has_them_all(
    db, secret_box, make_account
):
    owner = random_telegram_id()
    account_id = await make_account(owner_telegram_user_id=owner)
    total = MAX_FUNNEL_ROWS + 50
    async with FakeTelegram() as fake:
        bot_id = await add_bot(db, secret_box, account_id, fake.add_bot())
    async with db.tenant(account_id) as session:  # no runtime may try to host it later
        await bot_repo.update_bot(session, account_id, bot_id, active=False)
    version_id = await add_course_version(db, account_id, messages(total), "funnel")
    deployment_id = await deploy(db, account_id, version_id, bot_id)
    url = f"/accounts/{account_id}/deployments/{deployment_id}/analytics"
    async with web_browser(panel_context(db, secret_box)) as browser:
        await browser.log_in(owner)
        page = await browser.get(url)
        csv = await browser.get(f"{url}.csv?report=funnel")
    assert page.status_code == 200
    assert len(re.findall(r'<tr data-element="', page.text)) == MAX_FUNNEL_ROWS
    assert 'class="bars"' not in page.text  # nobody entered yet: no chart is drawn
    assert (
        f"The chart and the table show the first {MAX_FUNNEL_ROWS} of the {total} elements; "
        "the CSV has all of them." in text_of(page.text)
    )
    assert len(csv.text.splitlines()) == 1 + total
