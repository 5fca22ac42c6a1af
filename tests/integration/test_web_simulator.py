"""The simulator: a creator tries a version as a student would, choosing every answer, firing
timers and starting anywhere; the chat shows Telegram's formatting and pictures, and a state
the page did not make is refused."""

from __future__ import annotations

import re

import pytest

from engine.texts import Say, say
from panel_api.web.sealed import seal
from tests.fakes.telegram_api import FakeTelegram
from tests.integration import seeding
from tests.integration.conftest import random_telegram_id
from tests.integration.test_panel_support import panel_context
from tests.integration.test_web_pages import seed_run
from tests.integration.test_web_support import Browser, text_of, web_browser

pytestmark = pytest.mark.integration

COURSE = """
intro:
  type: message
  text: Hello <b>there</b> <script>alert(1)</script>
  parse_mode: HTML
  media: [https://example.com/cat.jpg]
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
  goto: bye
right:
  type: message
  text: You went _right_
pause:
  type: delay
  text: Wait a bit
  wait: 2h
q:
  type: quiz
  text: 2 + 2?
  answers:
    - text: "5"
    - text: "4"
      correct: yes
name:
  type: input
  text: Your name?
bye:
  type: end
  text: Bye
"""
_STATE = re.compile(r'name="state" value="([^"]+)"')


@pytest.fixture
def ctx(db, secret_box):
    return panel_context(db, secret_box)


@pytest.fixture
async def owner(ctx, make_account):
    """(browser logged in as an account's owner, account id, their Telegram id)."""
    user_id = random_telegram_id()
    account_id = await make_account(owner_telegram_user_id=user_id)
    async with web_browser(ctx) as browser:
        await browser.log_in(user_id)
        yield browser, account_id, user_id


async def open_simulator(browser: Browser, account_id: int, start: str = "") -> tuple[str, str]:
    created = await browser.post(
        f"/accounts/{account_id}/courses", {"source": COURSE, "title": "Paths"}
    )
    assert created.status_code == 303
    url = f"{created.headers['location'].split('?')[0]}/simulator"
    page = await browser.get(url + (f"?start={start}" if start else ""))
    assert page.status_code == 200
    return url, page.text


async def act(browser: Browser, url: str, page: str, **form: object) -> str:
    state = _STATE.search(page)
    assert state is not None
    response = await browser.post(url, {"state": state.group(1), **form})
    assert response.status_code == 200, text_of(response.text)
    return response.text


def last_bubbles(page: str, count: int) -> str:
    chat = page.split('<ol class="chat"', 1)[1].split("</ol>", 1)[0]
    bubbles = re.findall(r"<li class=\"(?:bubble \w+|note)\">(.*?)</li>\n", chat, re.S)
    return " | ".join(text_of(b) for b in bubbles[-count:])


async def test_a_creator_takes_the_second_button_a_wrong_answer_a_timer_and_types(owner):
    browser, account_id, _ = owner
    url, page = await open_simulator(browser, account_id)
    assert "Hello <b>there</b> &lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert '<img src="https://example.com/cat.jpg"' in page
    assert "<script>alert" not in page
    assert 'value="button:0">Go</button>' in page

    page = await act(browser, url, page, do="button:0")
    assert last_bubbles(page, 1).startswith("Bot · choose Pick a path Left Right")
    page = await act(browser, url, page, do="button:1")  # the second button
    assert "You went <i>right</i>" in page
    assert "You went <b>left</b>" not in page
    assert "⏰ wait 2h — fire now" in text_of(page)

    page = await act(browser, url, page, do="fire")
    assert "⏳ waited 2h" in text_of(page)
    assert 'name="option" value="1"' in page  # the quiz, as a poll to vote in
    page = await act(browser, url, page, do="poll", option="0")  # the wrong answer
    assert last_bubbles(page, 2) == "Student · q 5 0/1 | Bot · name Your name?"

    page = await act(browser, url, page, do="text", text="Bob")
    assert last_bubbles(page, 3) == (
        "Student · name Bob | Bot · bye Bye | 🏁 The course is completed."
    )
    assert 'id="sim-text"' not in page  # nothing more to answer


async def test_the_simulator_starts_at_a_chosen_element(owner):
    browser, account_id, _ = owner
    url, page = await open_simulator(browser, account_id, start="q")
    assert last_bubbles(page, 5) == "Bot · q 2 + 2? 5 4"
    assert "Hello" not in last_bubbles(page, 5)
    page = await act(browser, url, page, do="poll", option="1")
    assert last_bubbles(page, 2) == "Student · q 4 1/1 | Bot · name Your name?"


async def test_an_answer_that_does_not_fit_is_refused_and_the_chat_stays(owner):
    browser, account_id, _ = owner
    url, page = await open_simulator(browser, account_id)
    state = _STATE.search(page)
    assert state is not None
    response = await browser.post(url, {"state": state.group(1), "do": "button:7"})
    assert response.status_code == 422
    assert "That answer does not fit what the course waits for now." in text_of(response.text)
    assert last_bubbles(response.text, 1).startswith("Bot · intro Hello there")
    typed = await act(browser, url, response.text, do="text", text="hi")
    # what the bot says to typing, in the (English) course's language
    assert last_bubbles(typed, 1) == f"Bot {say(Say.PRESS_BUTTON, 'en')}"


async def test_a_state_the_page_did_not_make_is_refused(ctx, owner):
    browser, account_id, user_id = owner
    url, page = await open_simulator(browser, account_id)
    page = await act(browser, url, page, do="button:0")
    state = _STATE.search(page)
    assert state is not None
    body, mac = state.group(1).rsplit(".", 1)
    forged = [
        f"{body[:-2]}AA.{mac}",  # edited actions
        f"{body}.{'0' * len(mac)}",  # no valid seal
        "x" * 200_000,  # far larger than the page ever makes
    ]
    version_id = int(url.split("/versions/")[1].split("/")[0])
    other_version = seal(
        ctx.box,
        "simulator",
        {"v": version_id + 1, "u": f"tg:{user_id}", "s": None, "a": [["button", "0"]]},
    )
    for state_value in [*forged, other_version]:
        response = await browser.post(url, {"state": state_value, "do": "button:0"})
        assert response.status_code == 422
        assert "out of date or was changed" in text_of(response.text)


async def test_the_version_page_links_to_the_simulator_and_renders_formatting(owner):
    browser, account_id, _ = owner
    created = await browser.post(
        f"/accounts/{account_id}/courses", {"source": COURSE, "title": "Paths"}
    )
    version_url = created.headers["location"].split("?")[0]
    response = await browser.get(version_url)
    assert f'href="{version_url}/simulator"' in response.text
    assert "Hello <b>there</b>" in response.text and "<script>alert" not in response.text
    assert "img-src 'self' data: https:;" in response.headers["content-security-policy"]


@pytest.fixture(scope="module")
async def fake():
    async with FakeTelegram() as server:
        yield server


async def test_a_run_transcript_shows_telegram_formatting_and_nothing_else(
    db, secret_box, fake, owner
):
    browser, account_id, _ = owner
    seeded = await seed_run(db, secret_box, fake, account_id)
    async with db.tenant(account_id) as session:
        await seeding.line(
            session,
            account_id,
            run_id=seeded["run_id"],
            element_id="exam_2",
            role="bot",
            text='<b>Well</b> <a href="javascript:alert(1)">done</a><img src=x onerror=alert(1)>',
        )
    page = (await browser.get(f"/accounts/{account_id}/runs/{seeded['run_id']}")).text
    assert "<b>Well</b> done&lt;img src=x onerror=alert(1)&gt;" in page
    assert "Hello &lt;there&gt;" in page  # not a Telegram tag: shown as written
    assert "javascript:" not in page
