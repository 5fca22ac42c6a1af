"""What a person sees when a form is refused: their own language, plain words. No pydantic
phrasing ("String should match pattern '^[a-z0-9]…'"), no "(s)" plurals, no setting names,
whatever the refusal came from (a field's rule, our validators, a service, a plan limit)."""

from __future__ import annotations

import re

import pytest

from tests.integration import test_web_pages as pages
from tests.integration.runtime_support import add_bot, add_course_version, deploy
from tests.integration.test_web_pages import COURSE, Opened, new_user
from tests.integration.test_web_support import text_of

pytestmark = pytest.mark.integration


# The pages' own fake Bot API and context (a bot must pass getMe to be added).
fake, ctx = pages.fake, pages.ctx


# What a developer's message looks like: pydantic's English, regexes, field ids, settings.
DEVELOPER_WORDS = re.compile(
    r"String should|Input should|Value error|Field required|should match pattern|\^\[|"
    r"\(s\)|COURSEBOT_|max_uses|price_currency|course_version_id|after_minutes|"
    r"valid integer|unable to parse"
)


def refusal(page_text: str) -> str:
    """The error box of a page, as read: `Не получилось: …` up to the end of its list."""
    text = text_of(page_text)
    assert "Не получилось:" in text, text[:500]
    return text


def assert_plain(text: str) -> None:
    found = DEVELOPER_WORDS.search(text)
    assert found is None, f"developer words {found.group(0)!r} in: {text}"


async def test_refused_forms_speak_russian_in_plain_words(ctx, db, secret_box, fake, make_account):
    async with Opened(ctx, make_account, accept_language="ru") as (browser, account_id, _):
        # A field's pattern: the page says what the short name may hold.
        await browser.get("/accounts")
        bad_slug = await browser.post("/accounts", {"name": "Школа", "slug": "Моя Школа!"})
        assert bad_slug.status_code in (400, 422)
        text = refusal(bad_slug.text)
        assert "Короткое имя: можно только строчные латинские буквы, цифры и дефисы" in text
        assert_plain(text)

        # A validator's own refusal (a bot token that cannot be one) and Telegram's answer.
        await browser.get(f"/accounts/{account_id}/bots")
        malformed = await browser.post(f"/accounts/{account_id}/bots", {"token": "12345:abc"})
        text = text_of(malformed.text)
        assert "Это не токен бота. Скопируйте токен от @BotFather целиком" in text
        assert_plain(text)
        unknown = await browser.post(
            f"/accounts/{account_id}/bots", {"token": "12345:" + "unknown-token" * 3}
        )
        text = text_of(unknown.text)
        assert "Telegram отклонил токен." in text
        assert_plain(text)

        # A service's refusal carrying a plural number: the plan's course limit.
        for n in range(3):
            await add_course_version(db, account_id, COURSE, f"Курс {n} {new_user()}")
        await browser.get(f"/accounts/{account_id}/courses")
        over = await browser.post(
            f"/accounts/{account_id}/courses", {"source": COURSE, "title": "Четвёртый"}
        )
        text = refusal(over.text)
        assert "Тариф free позволяет 3 курса. Удалите один или перейдите на тариф побольше." in text
        assert_plain(text)

        # A deployment's forms: tokens and reminders.
        fake_bot = fake.add_bot()
        bot_id = await add_bot(db, secret_box, account_id, fake_bot)
        version_id = await add_course_version(db, account_id, COURSE, f"Курс {new_user()}")
        deployment_id = await deploy(db, account_id, version_id, bot_id)
        page = f"/accounts/{account_id}/deployments/{deployment_id}"
        await browser.get(page)

        group = await browser.post(f"{page}/tokens", {"kind": "group"})
        text = refusal(group.text)
        assert "Групповому токену нужен лимит: сколько учеников может по нему войти." in text
        assert_plain(text)

        not_a_number = await browser.post(f"{page}/tokens", {"kind": "group", "max_uses": "ten"})
        text = refusal(not_a_number.text)
        assert "Число использований: должно быть целым числом, например 10" in text
        assert_plain(text)

        bad_value = await browser.post(
            f"{page}/tokens", {"kind": "group", "max_uses": "5", "token": "весна 2027"}
        )
        text = refusal(bad_value.text)
        assert "Токен: можно только латинские буквы, цифры, _ и - (до 32 символов)" in text
        assert_plain(text)

        clock = await browser.post(
            f"{page}/reminders",
            {"after": "30", "unit": "minutes", "text": "Ау!", "quiet_start": "25:00"},
        )
        text = refusal(clock.text)
        assert "«25:00» — не время суток вида 22:00" in text
        assert_plain(text)

        blank = await browser.post(
            f"{page}/reminders", {"after": "0", "unit": "minutes", "text": "Ау!"}
        )
        text = refusal(blank.text)
        assert "должно быть не меньше 1" in text
        assert_plain(text)


async def test_the_same_refusals_read_as_plain_english(ctx, db, secret_box, fake, make_account):
    async with Opened(ctx, make_account) as (browser, account_id, _):
        await browser.get("/accounts")
        bad_slug = await browser.post("/accounts", {"name": "School", "slug": "My School!"})
        text = text_of(bad_slug.text)
        assert "Short name: may use only lowercase Latin letters, digits and hyphens" in text
        assert_plain(text)

        for n in range(3):
            await add_course_version(db, account_id, COURSE, f"Course {n} {new_user()}")
        await browser.get(f"/accounts/{account_id}/courses")
        over = await browser.post(
            f"/accounts/{account_id}/courses", {"source": COURSE, "title": "Fourth"}
        )
        text = text_of(over.text)
        assert "The free plan allows 3 courses. Delete one or move to a bigger plan." in text
        assert_plain(text)
        # The API keeps its English for scripts, in plain words too.
        api = await browser.client.post(
            f"/api/v1/accounts/{account_id}/courses", json={"source": COURSE, "title": "Fifth"}
        )
        assert api.status_code == 409
        assert api.json()["detail"] == "the free plan allows 3 courses; delete one or upgrade"
