"""The web panel's pages without a browser: what a creator or teacher sees and can do, in
both languages, with the same rules as the API (CSRF, roles, other accounts' objects)."""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import AsyncIterator
from html.parser import HTMLParser

import pytest
from sqlalchemy import select, update

from panel_api.queries import analytics
from storage.models import AccountMember
from storage.repositories import bots as bot_repo
from storage.repositories import courses as course_repo
from storage.repositories import media, members, tokens
from tests.course_files import fixture_text
from tests.fakes.telegram_api import FakeTelegram
from tests.integration import seeding
from tests.integration.inbox_support import apply_inbox_events
from tests.integration.runtime_support import (
    add_bot,
    add_course_version,
    deploy,
)
from tests.integration.test_panel_support import panel_context
from tests.integration.test_web_support import Browser, signed_login, text_of, web_browser

pytestmark = pytest.mark.integration

COURSE = fixture_text("scored_exam.yaml")
_next_user = iter(range(96_000_000, 97_000_000))


def new_user() -> int:
    return next(_next_user)


@pytest.fixture(scope="module")
async def fake() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as server:
        yield server


@pytest.fixture
def ctx(db, secret_box, fake):
    return panel_context(db, secret_box, telegram_api_base=fake.base_url)


class Opened:
    """A browser already logged in as the owner of a new account."""

    def __init__(self, ctx, make_account, accept_language: str = "en") -> None:
        self.ctx = ctx
        self.make_account = make_account
        self.accept_language = accept_language

    async def __aenter__(self) -> tuple[Browser, int, int]:
        self.user_id = new_user()
        self.account_id = await self.make_account(owner_telegram_user_id=self.user_id)
        self._cm = web_browser(self.ctx, accept_language=self.accept_language)
        browser = await self._cm.__aenter__()
        await browser.log_in(self.user_id)
        return browser, self.account_id, self.user_id

    async def __aexit__(self, *exc: object) -> None:
        await self._cm.__aexit__(*exc)


async def seed_run(db, secret_box, fake, account_id: int, *, status: str = "completed") -> dict:
    """A deployed course with a token and one run with a scored conversation."""
    fake_bot = fake.add_bot()
    bot_id = await add_bot(db, secret_box, account_id, fake_bot)
    async with db.tenant(account_id) as s:
        # Disabled: no runtime test later in the session should try to host a bot whose
        # fake Bot API is gone. The pages show disabled bots all the same.
        await bot_repo.update_bot(s, account_id, bot_id, active=False)
    version_id = await add_course_version(db, account_id, COURSE, f"c{new_user()}")
    deployment_id = await deploy(db, account_id, version_id, bot_id)
    student = new_user()
    async with db.tenant(account_id) as s:
        token = await tokens.create(
            s, account_id, deployment_id=deployment_id, kind="public", utm={"source": "=vk"}
        )
        participant = await seeding.participant(
            s, account_id, telegram_user_id=student, username="ann_student", first_name="Ann"
        )
        run = await seeding.run(
            s,
            account_id,
            deployment_id=deployment_id,
            course_version_id=version_id,
            bot_id=bot_id,
            chat_id=student,
            telegram_user_id=student,
            participant_id=participant.id,
            token_id=token.id,
            utm={"source": "=vk"},
        )
        for element, role, text, score in [
            ("Exam_Welcome", "bot", "Hello <there>", None),
            ("exam_1", "bot", "Capital of France?", None),
            ("exam_1", "user", "Paris", 1.0),
        ]:
            await seeding.line(
                s,
                account_id,
                run_id=run.id,
                element_id=element,
                role=role,
                text=text,
                score=score,
                maxscore=1.0 if score is not None else None,
            )
        if status != "active":
            await seeding.finish_run(s, account_id, run.id, status)
    return {
        "bot_id": bot_id,
        "fake_bot": fake_bot,
        "version_id": version_id,
        "deployment_id": deployment_id,
        "token_id": token.id,
        "run_id": run.id,
        "student": student,
    }


class Labels(HTMLParser):
    """Form controls and the labels pointing at them, plus headings and <html lang>."""

    def __init__(self) -> None:
        super().__init__()
        self.controls: list[dict] = []
        self.label_for: set[str] = set()
        self.h1 = 0
        self.lang: str | None = None

    def handle_starttag(self, tag: str, attrs: list) -> None:
        a = dict(attrs)
        if tag == "html":
            self.lang = a.get("lang")
        if tag == "h1":
            self.h1 += 1
        if tag == "label" and a.get("for"):
            self.label_for.add(a["for"])
        if tag in ("input", "select", "textarea") and a.get("type") != "hidden":
            self.controls.append(a)

    def unlabelled(self) -> list[dict]:
        return [
            c
            for c in self.controls
            if c.get("id") not in self.label_for and not c.get("aria-label")
        ]


# --- logging in ----------------------------------------------------------------------------


async def test_login_lands_on_the_only_account(ctx, make_account):
    user = new_user()
    account_id = await make_account(owner_telegram_user_id=user, name="Solo school")
    async with web_browser(ctx) as browser:
        page = await browser.get("/login")
        assert "Log in with Telegram" in text_of(page.text)
        assert "/login/dev" not in page.text  # a panel with a login bot has no local login
        response = await browser.log_in(user, "olga")
        assert response.headers["location"] == f"/accounts/{account_id}"
        cookie = next(c for c in response.headers.get_list("set-cookie") if "cb_session=" in c)
        assert "HttpOnly" in cookie and "samesite=lax" in cookie.lower()
        overview = await browser.get(response.headers["location"])
        assert "Solo school" in text_of(overview.text) and "@olga" in overview.text


async def test_bad_dev_login_input_is_explained(db, secret_box):
    local = panel_context(db, secret_box)
    local.panel = dataclasses.replace(local.panel, login_bot_token=None)
    async with web_browser(local) as browser:
        await browser.get("/login")
        response = await browser.post_login("/login/dev", {"telegram_user_id": "12ab"})
        assert response.status_code == 401
        assert "must be a positive whole number" in text_of(response.text)


async def test_a_telegram_login_logs_in_and_a_forged_one_does_not(ctx, make_account):
    user = new_user()
    account_id = await make_account(owner_telegram_user_id=user)
    async with web_browser(ctx) as browser:
        await browser.get("/login")
        forged = {**signed_login(user), "id": user + 1}
        refused = await browser.post_login("/login/telegram", {"auth_data": json.dumps(forged)})
        assert refused.status_code == 401
        assert "Telegram's confirmation did not check out or is too old." in text_of(refused.text)
        target = f"/accounts/{account_id}/runs"
        ok = await browser.log_in(user, next_path=target)
        assert ok.status_code == 303 and ok.headers["location"] == target
        assert (await browser.get(target)).status_code == 200


async def test_a_page_asks_for_login_and_comes_back_after_it(ctx, make_account):
    user = new_user()
    account_id = await make_account(owner_telegram_user_id=user)
    async with web_browser(ctx) as browser:
        first = await browser.get(f"/accounts/{account_id}/bots")
        assert first.status_code == 303
        assert first.headers["location"] == f"/login?next=%2Faccounts%2F{account_id}%2Fbots"
        login_page = await browser.get(first.headers["location"])
        assert f'name="next" value="/accounts/{account_id}/bots"' in login_page.text
        back = await browser.log_in(user, next_path=f"/accounts/{account_id}/bots")
        assert back.headers["location"] == f"/accounts/{account_id}/bots"
        await browser.post("/logout", follow=True)  # back on the login page
        away = await browser.log_in(user, next_path="//evil.example/x")
        assert away.headers["location"] == f"/accounts/{account_id}"


async def test_logout_ends_the_session(ctx, make_account):
    async with Opened(ctx, make_account) as (browser, account_id, _):
        response = await browser.post("/logout")
        assert response.status_code == 303 and response.headers["location"] == "/login"
        assert (await browser.get(f"/accounts/{account_id}")).status_code == 303


async def test_the_account_limit_is_explained_on_the_account_list(ctx, make_account):
    ctx.panel = dataclasses.replace(ctx.panel, max_accounts_per_user=1)
    async with Opened(ctx, make_account) as (browser, _, _):
        await browser.get("/accounts")
        refused = await browser.post("/accounts", {"name": "Second school"})
        assert refused.status_code == 422
        assert "You already own 1 account, the most one person may have." in text_of(refused.text)
        assert 'value="Second school"' in refused.text  # what was typed stays


# --- CSRF -----------------------------------------------------------------------------------


async def test_a_form_without_the_sessions_token_changes_nothing(ctx, make_account, fake):
    async with Opened(ctx, make_account) as (browser, account_id, _):
        fake_bot = fake.add_bot()
        missing = await browser.post(
            f"/accounts/{account_id}/bots", {"token": fake_bot.token}, csrf=""
        )
        assert missing.status_code == 403
        assert "The form has expired" in text_of(missing.text)
        async with Opened(ctx, make_account) as (other, _, _):
            await other.get("/accounts")
            foreign = await browser.post(
                f"/accounts/{account_id}/bots", {"token": fake_bot.token}, csrf=other.csrf
            )
        assert foreign.status_code == 403
        page = await browser.get(f"/accounts/{account_id}/bots")
        assert "No bots yet." in text_of(page.text)


# --- language -------------------------------------------------------------------------------


async def test_the_browser_language_is_the_default(ctx, make_account):
    async with Opened(ctx, make_account, accept_language="ru-RU,ru;q=0.9") as (browser, a, _):
        page = await browser.get(f"/accounts/{a}/bots")
        assert '<html lang="ru">' in page.text
        assert "Подключить бота" in text_of(page.text)


async def test_the_chosen_language_is_saved_for_the_member(ctx, db, make_account):
    async with Opened(ctx, make_account) as (browser, account_id, user_id):
        page = await browser.get(f"/accounts/{account_id}/runs")
        assert "Runs" in text_of(page.text)
        switched = await browser.post(
            "/language", {"lang": "ru", "next": f"/accounts/{account_id}/runs"}, follow=True
        )
        assert "Прохождения" in text_of(switched.text)
    async with db.tenant(account_id) as s:
        saved = await s.scalar(
            select(AccountMember.ui_language).where(
                AccountMember.account_id == account_id, AccountMember.telegram_user_id == user_id
            )
        )
    assert saved == "ru"
    async with web_browser(ctx, accept_language="en") as elsewhere:  # another browser
        await elsewhere.log_in(user_id)
        page = await elsewhere.get(f"/accounts/{account_id}/runs")
        assert "Прохождения" in text_of(page.text)


async def test_an_unknown_language_changes_nothing(ctx, make_account):
    async with Opened(ctx, make_account) as (browser, _, _):
        back = await browser.post("/language", {"lang": "xx", "next": "/accounts"}, follow=True)
        assert '<html lang="en">' in back.text


# --- bots -------------------------------------------------------------------------------------


async def test_a_bad_token_gets_telegrams_reason_and_a_good_one_connects(ctx, make_account, fake):
    async with Opened(ctx, make_account) as (browser, account_id, _):
        await browser.get(f"/accounts/{account_id}/bots")
        unknown = "12345:" + "unknown-token" * 3
        bad = await browser.post(f"/accounts/{account_id}/bots", {"token": unknown})
        assert bad.status_code == 422
        assert 'aria-invalid="true"' in bad.text
        assert "Telegram rejected the token" in text_of(bad.text)
        assert unknown not in bad.text  # a token is never echoed back
        malformed = await browser.post(f"/accounts/{account_id}/bots", {"token": "12345:a/b?c"})
        assert malformed.status_code == 422
        assert "This is not a bot token." in text_of(malformed.text)
        assert "12345:a/b?c" not in malformed.text
        fake_bot = fake.add_bot("page_test_bot")
        good = await browser.post(
            f"/accounts/{account_id}/bots", {"token": fake_bot.token}, follow=True
        )
        shown = text_of(good.text)
        assert "The bot is connected" in shown
        assert "@page_test_bot Polling active never" in shown
        bot_id = re.search(r'action="/accounts/\d+/bots/(\d+)"', good.text).group(1)
        disabled = await browser.post(
            f"/accounts/{account_id}/bots/{bot_id}", {"action": "disable"}, follow=True
        )
        assert "@page_test_bot Polling disabled never" in text_of(disabled.text)


# --- courses ----------------------------------------------------------------------------------


async def test_validation_errors_are_shown_at_their_line_and_element(ctx, make_account):
    broken = COURSE.replace("type: quiz", "type: quizz", 1)
    line = broken.splitlines().index("  type: quizz") + 1
    async with Opened(ctx, make_account) as (browser, account_id, _):
        await browser.get(f"/accounts/{account_id}/courses")
        response = await browser.post(
            f"/accounts/{account_id}/courses",
            {"title": "Typo"},
            files={"file": ("typo.yml", broken.encode())},
        )
        assert response.status_code == 422
        row = re.search(rf'<tr class="diag error" data-line="{line}".*?</tr>', response.text, re.S)
        assert row is not None
        assert "there is no element type “quizz” (did you mean “quiz”?)" in text_of(row.group(0))
        assert "element exam_1" in text_of(row.group(0))
        assert "No courses yet." in text_of(response.text)  # nothing was stored


BROKEN_IN_THREE_WAYS = """\
welcome:
  type: mesage
  text: Hello
ask:
  type: input
after:
  type: delay
  wait: 1d
  goto: nowhere
"""


async def test_course_problems_are_said_in_the_pages_language_at_their_lines(ctx, make_account):
    lines = BROKEN_IN_THREE_WAYS.splitlines()
    type_line, ask_line, goto_line = (
        lines.index("  type: mesage") + 1,
        lines.index("ask:") + 1,
        lines.index("  goto: nowhere") + 1,
    )
    async with Opened(ctx, make_account, accept_language="ru") as (browser, account_id, _):
        await browser.get(f"/accounts/{account_id}/courses")
        response = await browser.post(
            f"/accounts/{account_id}/courses",
            {"title": "Сломанный"},
            files={"file": ("broken.yml", BROKEN_IN_THREE_WAYS.encode())},
        )
        assert response.status_code == 422
        assert '<html lang="ru">' in response.text

        def row(line: int) -> str:
            found = re.search(
                rf'<tr class="diag error" data-line="{line}".*?</tr>', response.text, re.S
            )
            assert found is not None, line
            return text_of(found.group(0))

        assert "Ошибка: элемент welcome" in row(type_line)
        assert "типа элемента «mesage» нет (может быть, «message»?)" in row(type_line)
        assert "элемент ask" in row(ask_line)
        assert "нет обязательного поля «text»" in row(ask_line)
        assert "переход к «nowhere», но элемента с таким названием нет" in row(goto_line)
        for line in (type_line, ask_line, goto_line):  # each problem links to its line
            assert f'<a class="line" href="#L{line}">строка {line}</a>' in response.text
            assert f'<tr id="L{line}" class="flagged">' in response.text
        shown = text_of(response.text)
        assert "unknown element type" not in shown and "missing required field" not in shown
        assert "there is no element" not in shown


async def test_an_uploaded_course_shows_its_preview_and_takes_new_versions(ctx, make_account):
    async with Opened(ctx, make_account) as (browser, account_id, _):
        await browser.get(f"/accounts/{account_id}/courses")
        created = await browser.post(
            f"/accounts/{account_id}/courses",
            {"source": COURSE},
            files={"file": ("", b"")},
        )
        assert created.status_code == 422  # pasted text without a title: the API needs one
        assert "Give the course a title" in text_of(created.text)
        created = await browser.post(
            f"/accounts/{account_id}/courses", {"source": COURSE, "title": "Pasted"}
        )
        assert created.status_code == 303
        preview = await browser.get(created.headers["location"])
        shown = text_of(preview.text)
        assert "Pasted, version 1" in shown and "The course is completed." in shown
        assert "Student · exam_1 Юпитер 1/1" in shown
        course_url = created.headers["location"].split("/versions/")[0]
        again = await browser.post(
            f"{course_url}/versions", files={"file": ("v2.yml", COURSE.encode())}
        )
        assert again.status_code == 303 and "version_uploaded" in again.headers["location"]
        versions = text_of((await browser.get(course_url)).text)
        assert "v2" in versions and "v1" in versions


async def test_a_sheet_import_without_google_access_says_what_to_do(ctx, make_account):
    async with Opened(ctx, make_account) as (browser, account_id, _):
        await browser.get(f"/accounts/{account_id}/courses")
        response = await browser.post(
            f"/accounts/{account_id}/courses/import-sheet",
            {"spreadsheet": "https://docs.google.com/spreadsheets/d/abcdefghijklmnop"},
        )
        assert response.status_code == 422
        assert "Google Sheets access is not set up" in text_of(response.text)


# --- deployments and tokens -------------------------------------------------------------------


async def test_tokens_get_a_link_a_qr_code_usage_and_can_be_revoked(
    ctx, db, secret_box, fake, make_account
):
    async with Opened(ctx, make_account) as (browser, account_id, _):
        world = await seed_run(db, secret_box, fake, account_id)
        page_url = f"/accounts/{account_id}/deployments/{world['deployment_id']}"
        await browser.get(page_url)
        group = await browser.post(f"{page_url}/tokens", {"kind": "group"})
        assert group.status_code == 422
        assert "A group token needs a number of uses" in text_of(group.text)
        made = await browser.post(
            f"{page_url}/tokens", {"kind": "group", "max_uses": "30", "token": "spring_group"}
        )
        assert made.status_code == 303
        page = await browser.get(page_url)
        link = f"https://t.me/{world['fake_bot'].username}?start=cd_{world['deployment_id']}_spring_group"
        assert f'value="{link}"' in page.text
        assert "used 0 of 30" in text_of(page.text)
        assert "used 0 of ∞ started: 1 completed: 1" in text_of(page.text)  # the seeded token
        row = re.search(r'<tr data-token="spring_group">.*?</tr>', page.text, re.S).group(0)
        token_id = int(re.search(r"/tokens/(\d+)/qr\.svg", row).group(1))
        qr = await browser.get(f"{page_url}/tokens/{token_id}/qr.svg")
        assert qr.headers["content-type"].startswith("image/svg+xml")
        assert qr.text.startswith("<svg") and "<path" in qr.text
        revoked = await browser.post(f"{page_url}/tokens/{token_id}/revoke", follow=True)
        assert "its link no longer starts the course" in text_of(revoked.text)
        row = re.search(r'<tr data-token="spring_group">.*?</tr>', revoked.text, re.S).group(0)
        assert "revoked" in text_of(row) and "Revoke" not in text_of(row)


async def test_deploying_from_the_deployments_page(ctx, db, secret_box, fake, make_account):
    async with Opened(ctx, make_account) as (browser, account_id, _):
        world = await seed_run(db, secret_box, fake, account_id)
        await browser.get(f"/accounts/{account_id}/deployments")
        bad = await browser.post(
            f"/accounts/{account_id}/deployments",
            {
                "course_version_id": "999999999",
                "bot_id": str(world["bot_id"]),
                "environment": "prod",
            },
        )
        assert bad.status_code == 422  # the form comes back with the reason next to it
        assert "It is not there: it may have been deleted" in text_of(bad.text)
        ok = await browser.post(
            f"/accounts/{account_id}/deployments",
            {
                "course_version_id": str(world["version_id"]),
                "bot_id": str(world["bot_id"]),
                "environment": "prod",
            },
            follow=True,
        )
        assert "Deployed." in text_of(ok.text) and "production" in text_of(ok.text)
        off = await browser.post(ok.url.path, {"action": "deactivate"}, follow=True)
        assert re.search(r'id="deployment-status">inactive<', off.text)


async def test_the_help_text_for_students_is_set_on_the_deployment_page(
    ctx, db, secret_box, fake, make_account
):
    async with Opened(ctx, make_account) as (browser, account_id, _):
        world = await seed_run(db, secret_box, fake, account_id)
        page = f"/accounts/{account_id}/deployments/{world['deployment_id']}"
        shown = await browser.get(page)
        assert "Help for students (/help)" in text_of(shown.text)
        saved = await browser.post(
            f"{page}/help", {"help_text": "Write to @teacher <b>now</b>"}, follow=True
        )
        assert "The deployment is updated." in text_of(saved.text)
        assert ">Write to @teacher &lt;b&gt;now&lt;/b&gt;</textarea>" in saved.text
        too_long = await browser.post(f"{page}/help", {"help_text": "x" * 5000})
        assert too_long.status_code == 422
        assert "Write to @teacher &lt;b&gt;now&lt;/b&gt;" not in too_long.text
        cleared = await browser.post(f"{page}/help", {"help_text": "  "}, follow=True)
        assert "></textarea>" in cleared.text


# --- runs, students, analytics ----------------------------------------------------------------


async def test_runs_filter_and_a_run_reads_as_a_chat_with_scores(
    ctx, db, secret_box, fake, make_account
):
    async with Opened(ctx, make_account) as (browser, account_id, _):
        done = await seed_run(db, secret_box, fake, account_id)
        active = await seed_run(db, secret_box, fake, account_id, status="active")
        base = f"/accounts/{account_id}/runs"
        everything = await browser.get(base)
        assert "Runs found: 2" in text_of(everything.text)
        completed = await browser.get(f"{base}?status=completed")
        assert f'data-run="{done["run_id"]}"' in completed.text
        assert f'data-run="{active["run_id"]}"' not in completed.text
        bad = await browser.get(f"{base}?token_id=abc&started_from=yesterday")
        # Not understood is said, and nothing is listed (not everything).
        assert bad.status_code == 422 and "data-run=" not in bad.text
        assert "Not understood: Token id “abc”." in text_of(bad.text)
        assert "Not understood: Started from “yesterday”." in text_of(bad.text)
        export = re.search(r'href="(/api/v1/[^"]+export\.csv[^"]*)"', completed.text).group(1)
        csv = await browser.get(export.replace("&amp;", "&"))
        assert csv.status_code == 200 and len(csv.text.strip().splitlines()) == 2
        run_page = await browser.get(f"{base}/{active['run_id']}")
        shown = text_of(run_page.text)
        assert "Bot · Exam_Welcome" in shown and "Hello <there>" in shown
        assert "Student · exam_1" in shown and "Paris 1/1" in shown
        stopping = await browser.post(f"{base}/{active['run_id']}/stop")
        assert stopping.status_code == 303
        assert await apply_inbox_events(db, account_id) == 1  # as the runtime does at once
        stopped = await browser.get(stopping.headers["location"])
        assert re.search(r'id="run-status"><span class="status stopped">stopped<', stopped.text)
        twice = await browser.post(f"{base}/{active['run_id']}/stop")
        assert twice.status_code == 409 and "This run is not going on any more." in text_of(
            twice.text
        )


async def test_media_telegram_refused_is_shown_on_the_version_and_its_runs(
    ctx, db, secret_box, fake, make_account
):
    async with Opened(ctx, make_account) as (browser, account_id, _):
        world = await seed_run(db, secret_box, fake, account_id)
        link = "https://example.org/lesson-page.html"
        async with db.tenant(account_id) as s:
            await media.record_refusals(
                s,
                account_id,
                world["version_id"],
                [("Exam_Welcome", link)],
                "Bad Request: wrong type of the web page content",
            )
            version = await course_repo.get_version(s, account_id, world["version_id"])
        pages = [
            f"/accounts/{account_id}/courses/{version.course_id}/versions/{version.id}",
            f"/accounts/{account_id}/runs/{world['run_id']}",
        ]
        for page in pages:
            shown = text_of((await browser.get(page)).text)
            assert "Telegram could not send these files" in shown, page
            assert f"Element Exam_Welcome: {link}" in shown, page
            assert "wrong type of the web page content" in shown, page


async def test_students_are_banned_and_unbanned(ctx, db, secret_box, fake, make_account):
    async with Opened(ctx, make_account) as (browser, account_id, _):
        world = await seed_run(db, secret_box, fake, account_id, status="active")
        page = await browser.get(f"/accounts/{account_id}/students?q=ann")
        assert f'data-student="{world["student"]}"' in page.text
        banning = await browser.post(
            f"/accounts/{account_id}/bans",
            {"telegram_user_id": str(world["student"]), "stop_runs": "on"},
        )
        assert await apply_inbox_events(db, account_id) == 1  # as the runtime does at once
        banned = await browser.get(banning.headers["location"])
        shown = text_of(banned.text)
        assert "The student is banned." in shown and "banned" in shown
        run = await browser.get(f"/accounts/{account_id}/runs/{world['run_id']}")
        assert "Lift the ban" in text_of(run.text) and "stopped" in text_of(run.text)
        ban_id = re.search(r"/bans/(\d+)/delete", run.text).group(1)
        lifted = await browser.post(
            f"/accounts/{account_id}/bans/{ban_id}/delete",
            {"next": f"/accounts/{account_id}/runs/{world['run_id']}"},
        )
        assert lifted.headers["location"].startswith(f"/accounts/{account_id}/runs/")
        after = await browser.get(lifted.headers["location"])
        assert "The ban is lifted." in text_of(after.text) and "Lift the ban" not in after.text


async def test_analytics_funnel_conversion_and_csv(ctx, db, secret_box, fake, make_account):
    async with Opened(ctx, make_account) as (browser, account_id, _):
        world = await seed_run(db, secret_box, fake, account_id)
        index = await browser.get(f"/accounts/{account_id}/analytics")
        url = f"/accounts/{account_id}/deployments/{world['deployment_id']}/analytics"
        assert index.status_code == 303 and index.headers["location"] == url
        page = await browser.get(url)
        shown = text_of(page.text)
        assert "Runs of this version: 1 (without any message yet: 0)" in shown
        intro = re.search(r'<tr data-element="Exam_Welcome">.*?</tr>', page.text, re.S).group(0)
        assert text_of(intro).endswith("Exam_Welcome message 1 1 0 0 —")  # nothing before it
        assert "=vk 1 1" in shown
        assert page.text.count('class="seg completed"') >= 2
        funnel_csv = await browser.get(f"{url}.csv?report=funnel")
        assert funnel_csv.headers["content-type"].startswith("text/csv")
        assert (
            funnel_csv.text.splitlines()[1] == "0,Exam_Welcome,message,1,1,0,0,"
        )  # no step before
        utm_csv = await browser.get(f"{url}.csv?report=utm")
        assert utm_csv.text.splitlines()[1] == "'=vk,1,1,1.0"  # no formula for spreadsheets
        wrong = await browser.get(f"{url}?version=999999")
        assert wrong.status_code == 422 and "showing the deployed one" in text_of(wrong.text)


# --- API keys -------------------------------------------------------------------------------


async def test_api_keys_are_made_once_shown_say_who_made_them_and_can_be_revoked(
    ctx, db, make_account
):
    async with Opened(ctx, make_account) as (browser, account_id, _):
        async with db.tenant(account_id) as s:
            await s.execute(
                update(AccountMember)
                .where(AccountMember.account_id == account_id)
                .values(username="olga")
            )
        page_url = f"/accounts/{account_id}/api-keys"
        overview = await browser.get(f"/accounts/{account_id}")
        assert f'href="{page_url}"' in overview.text  # in the account's navigation
        page = await browser.get(page_url)
        assert "No API keys yet." in text_of(page.text)
        made = await browser.post(page_url, {"name": "nightly export", "role": "viewer"})
        assert made.status_code == 201
        key = re.search(r'id="new-key-value"[^>]*value="(cbk_[^"]+)"', made.text).group(1)
        row = re.search(r"<tr data-key=.*?</tr>", made.text, re.S).group(0)
        assert text_of(row).startswith("nightly export viewer @olga")
        api = f"/api/v1/accounts/{account_id}/courses"
        as_script = {"Authorization": f"Bearer {key}"}
        assert (await browser.client.get(api, headers=as_script)).status_code == 200
        again = await browser.get(page_url)
        assert key not in again.text  # shown once
        key_id = re.search(r'data-key="(\d+)"', again.text).group(1)
        revoked = await browser.post(f"{page_url}/{key_id}/revoke", follow=True)
        assert "The key is revoked" in text_of(revoked.text)
        assert "revoked" in text_of(re.search(r"<tr data-key=.*?</tr>", revoked.text, re.S)[0])
        assert (await browser.client.get(api, headers=as_script)).status_code == 401


async def test_the_keys_page_is_for_owners_and_admins_and_offers_only_their_roles(
    ctx, db, make_account
):
    async with Opened(ctx, make_account) as (_, account_id, _):
        admin, viewer = new_user(), new_user()
        async with db.tenant(account_id) as s:
            await members.add(s, account_id, telegram_user_id=admin, role="admin")
            await members.add(s, account_id, telegram_user_id=viewer, role="viewer")
        page_url = f"/accounts/{account_id}/api-keys"
        async with web_browser(ctx) as as_admin:
            await as_admin.log_in(admin)
            page = await as_admin.get(page_url)
            select = re.search(r'<select id="key-role".*?</select>', page.text, re.S).group(0)
            offered = re.findall(r'<option value="(\w+)"', select)
            assert offered == ["admin", "creator", "teacher", "viewer"]  # no owner key
            refused = await as_admin.post(page_url, {"name": "x", "role": "owner"})
            assert refused.status_code == 403
            assert "A key cannot have more rights than your own role." in text_of(refused.text)
        async with web_browser(ctx) as as_viewer:
            await as_viewer.log_in(viewer)
            overview = await as_viewer.get(f"/accounts/{account_id}")
            assert page_url not in overview.text
            assert (await as_viewer.get(page_url)).status_code == 403


# --- every page, both languages, accessibility basics -----------------------------------------


@pytest.mark.parametrize("language", ["en", "ru"])
async def test_every_page_renders_labelled_in_both_languages(
    ctx, db, secret_box, fake, make_account, language
):
    async with Opened(ctx, make_account, accept_language=language) as (browser, a, _):
        world = await seed_run(db, secret_box, fake, a)
        async with db.tenant(a) as s:
            version = await course_repo.get_version(s, a, world["version_id"])
        d = f"/accounts/{a}/deployments/{world['deployment_id']}"
        urls = [
            "/accounts",
            f"/accounts/{a}",
            f"/accounts/{a}/bots",
            f"/accounts/{a}/courses",
            f"/accounts/{a}/courses/{version.course_id}",
            f"/accounts/{a}/courses/{version.course_id}/versions/{version.id}",
            f"/accounts/{a}/deployments",
            d,
            f"{d}/analytics",
            f"/accounts/{a}/runs",
            f"/accounts/{a}/runs/{world['run_id']}",
            f"/accounts/{a}/students",
            f"/accounts/{a}/api-keys",
        ]
        english_only = re.compile(r"\b(Deployments|Students|Log out|Analytics)\b")
        for url in urls:
            response = await browser.get(url)
            assert response.status_code == 200, (url, response.status_code)
            parsed = Labels()
            parsed.feed(response.text)
            assert parsed.lang == language, url
            assert parsed.h1 == 1, url
            assert parsed.unlabelled() == [], url
            if language == "ru":
                assert not english_only.search(text_of(response.text)), url


async def test_unknown_pages_and_other_accounts_get_the_same_html_404(ctx, make_account):
    other = await make_account()
    async with Opened(ctx, make_account) as (browser, _, _):
        for url in (f"/accounts/{other}/bots", "/no/such/page", "/accounts/abc/runs"):
            response = await browser.get(url)
            assert response.status_code == 404, url
            assert "There is no such page" in text_of(response.text)
        api = await browser.client.get("/api/v1/no/such", headers={"Accept": "application/json"})
        assert api.status_code == 404 and api.json() == {"detail": "Not Found"}


async def test_pages_are_served_with_protective_headers(ctx, make_account):
    async with Opened(ctx, make_account) as (browser, account_id, _):
        response = await browser.get(f"/accounts/{account_id}")
        assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["cache-control"] == "no-store"
        css = await browser.get("/static/panel.css")
        assert css.status_code == 200 and "text/css" in css.headers["content-type"]
        script = await browser.get("/static/panel.js")
        assert script.status_code == 200 and "https://" not in script.text  # works offline


async def test_the_pages_concurrent_funnel_equals_the_apis(ctx, db, secret_box, fake, make_account):
    async with Opened(ctx, make_account) as (_, account_id, _):
        world = await seed_run(db, secret_box, fake, account_id, status="active")
        async with db.tenant(account_id) as s:
            second = await seeding.run(
                s,
                account_id,
                deployment_id=world["deployment_id"],
                course_version_id=world["version_id"],
                bot_id=world["bot_id"],
                chat_id=new_user(),
                telegram_user_id=new_user(),
            )
            await seeding.line(
                s, account_id, run_id=second.id, element_id="Exam_Welcome", role="bot", text="Hi"
            )
            await seeding.finish_run(s, account_id, second.id, "stopped")
            one_pass = await analytics.funnel(
                s, account_id, world["deployment_id"], world["version_id"]
            )
        side_by_side = await analytics.funnel_concurrently(
            db, account_id, world["deployment_id"], world["version_id"]
        )
    assert side_by_side == one_pass
    steps = {step.element_id: step for step in one_pass.steps}
    assert (steps["Exam_Welcome"].reached, steps["Exam_Welcome"].dropped) == (2, 1)
    assert (steps["exam_1"].reached, steps["exam_1"].in_progress) == (1, 1)
