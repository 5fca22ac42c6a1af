"""What a teacher sees of their students' progress: who is stuck and where, progress and
score of each run, a student's gradebook, the live overview with a link into each number,
filters by link label and username, times in the school's own zone, and the analytics of
drop-off and answers.

One deployment of a five-element course (intro -> q_1 -> q_2 -> result(test) -> end), two
labelled links, five students, the school in Asia/Yekaterinburg (UTC+5, no daylight saving):
  anna   link 7B     active at q_2, answered q_1 right, silent for three days   -> stuck
  boris  link VK ad  active at q_1, just now                                    -> not stuck
  clara  link 7B     active at q_1, silent for three days but a timer is pending -> not stuck
  dima   no link     finished today, q_1 right, q_2 wrong
  egor   link VK ad  stopped today at q_2 after answering q_1 wrong
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import update

from panel_api.web.rendering import format_datetime
from storage.models import Run
from storage.repositories import accounts as account_repo
from storage.repositories import bots as bot_repo
from storage.repositories import tokens
from tests.fakes.telegram_api import FakeTelegram
from tests.integration import seeding
from tests.integration.runtime_support import add_bot, add_course_version, deploy
from tests.integration.test_panel_runs_analytics import COURSE
from tests.integration.test_panel_support import panel_context
from tests.integration.test_web_support import Browser, text_of, web_browser

pytestmark = pytest.mark.integration

ZONE = "Asia/Yekaterinburg"
_users = iter(range(97_100_000, 97_200_000))


@pytest.fixture(scope="module")
async def fake() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as server:
        yield server


@dataclass
class School:
    browser: Browser
    account_id: int
    owner: int
    deployment_id: int
    version_id: int
    bot_id: int
    runs: dict[str, int]
    users: dict[str, int]
    tokens: dict[str, int]

    @property
    def base(self) -> str:
        return f"/accounts/{self.account_id}"


# (student, token label, lines, final status, answers in the state, silent for days, timer)
PLAN = {
    "anna": ("7B", [("intro",), ("q_1",), ("q_1", "yes", 1), ("q_2",)], None, {"q_1": 1}, 3),
    "boris": ("VK ad", [("intro",), ("q_1",)], None, {}, 0),
    "clara": ("7B", [("intro",), ("q_1",)], None, {}, 3),
    "dima": (
        None,
        [
            ("intro",),
            ("q_1",),
            ("q_1", "yes", 1),
            ("q_2",),
            ("q_2", "no", 0),
            ("result",),
            ("end",),
        ],
        "completed",
        {"q_1": 1, "q_2": 0},
        0,
    ),
    "egor": (
        "VK ad",
        [("intro",), ("q_1",), ("q_1", "no", 0), ("q_2",)],
        "stopped",
        {"q_1": 0},
        0,
    ),
}


@dataclass
class Seeded:
    deployment_id: int
    version_id: int
    bot_id: int
    runs: dict[str, int]
    users: dict[str, int]
    tokens: dict[str, int]


async def seed_school(db, secret_box, fake, account_id: int) -> Seeded:
    """The deployment, links and students of the module's docstring, the school in ZONE."""
    fake_bot = fake.add_bot()
    bot_id = await add_bot(db, secret_box, account_id, fake_bot)
    version_id = await add_course_version(db, account_id, COURSE, f"p{account_id}")
    deployment_id = await deploy(db, account_id, version_id, bot_id)
    made: dict[str, int] = {}
    runs: dict[str, int] = {}
    users: dict[str, int] = {}
    async with db.tenant(account_id) as s:
        await bot_repo.update_bot(s, account_id, bot_id, active=False)  # no runtime hosts it
        await account_repo.update_account(s, account_id, time_zone=ZONE)
        for label, value in (("7B", "t7b"), ("VK ad", "vkad")):
            token = await tokens.create(
                s, account_id, deployment_id=deployment_id, kind="public", token=value, label=label
            )
            made[label] = token.id
        for name, (label, lines, final, answers, silent_days) in PLAN.items():
            user = users[name] = next(_users)
            participant = await seeding.participant(
                s, account_id, telegram_user_id=user, username=name, first_name=name.title()
            )
            run = await seeding.run(
                s,
                account_id,
                deployment_id=deployment_id,
                course_version_id=version_id,
                bot_id=bot_id,
                chat_id=user,
                telegram_user_id=user,
                participant_id=participant.id,
                token_id=made[label] if label else None,
                state={
                    "current": lines[-1][0],
                    "answers": {e: ["x", score, 1] for e, score in answers.items()},
                },
                current_element=lines[-1][0],
            )
            runs[name] = run.id
            for line in lines:
                answered = len(line) == 3
                await seeding.line(
                    s,
                    account_id,
                    run_id=run.id,
                    element_id=line[0],
                    role="user" if answered else "bot",
                    text=line[1] if answered else f"shown {line[0]}",
                    score=line[2] if answered else None,
                    maxscore=1 if answered else None,
                )
            if final:
                await seeding.finish_run(s, account_id, run.id, final)
            if silent_days:
                await s.execute(
                    update(Run)
                    .where(Run.id == run.id)
                    .values(updated_at=datetime.now(UTC) - timedelta(days=silent_days))
                )
        await seeding.timer(
            s,
            account_id,
            run_id=runs["clara"],
            wait_id="w1",
            due_at=datetime.now(UTC) + timedelta(days=1),
        )
    return Seeded(deployment_id, version_id, bot_id, runs, users, made)


async def forget_timers(db, account_id: int, seeded: Seeded) -> None:
    async with db.tenant(account_id) as s:
        await seeding.cancel_timers(s, account_id, seeded.runs["clara"])


async def open_school(db, secret_box, fake, make_account) -> AsyncIterator[School]:
    owner = next(_users)
    account_id = await make_account(owner_telegram_user_id=owner)
    seeded = await seed_school(db, secret_box, fake, account_id)
    ctx = panel_context(db, secret_box, telegram_api_base=fake.base_url)
    async with web_browser(ctx) as browser:
        await browser.log_in(owner)
        yield School(
            browser,
            account_id,
            owner,
            seeded.deployment_id,
            seeded.version_id,
            seeded.bot_id,
            seeded.runs,
            seeded.users,
            seeded.tokens,
        )
    await forget_timers(db, account_id, seeded)


def listed_runs(page: str) -> set[int]:
    return {int(run) for run in re.findall(r'data-run="(\d+)"', page)}


def row_of(page: str, run_id: int) -> str:
    found = re.search(rf'<tr data-run="{run_id}"[^>]*>(.*?)</tr>', page, re.S)
    assert found, f"run {run_id} is not listed"
    return text_of("<body>" + found.group(1))


async def test_the_overview_counts_today_and_each_number_lists_exactly_those_runs(
    db, secret_box, fake, make_account
):
    async for school in open_school(db, secret_box, fake, make_account):
        overview = await school.browser.get(school.base)
        assert overview.status_code == 200
        tiles = {
            key: (href.replace("&amp;", "&"), int(n))
            for key, href, n in re.findall(
                r'data-count="(\w+)">\s*<a href="([^"]+)"><span class="number">(\d+)</span>',
                overview.text,
            )
        }
        counts = {key: n for key, (_, n) in tiles.items()}
        assert counts == {
            "active": 3,
            "stuck": 1,
            "started_today": 5,
            "finished_today": 1,
            "dropped_today": 1,
        }
        assert 'class="tile stuck alert"' in overview.text
        r = school.runs
        expected = {
            "active": {r["anna"], r["boris"], r["clara"]},
            "stuck": {r["anna"]},
            "started_today": set(r.values()),
            "finished_today": {r["dima"]},
            "dropped_today": {r["egor"]},
        }
        for key, (href, count) in tiles.items():
            page = await school.browser.get(href)
            assert page.status_code == 200, (key, text_of(page.text))
            assert listed_runs(page.text) == expected[key], key
            assert f"Runs found: {count}" in text_of(page.text)

        api = await school.browser.get(f"/api/v1/accounts/{school.account_id}/dashboard")
        assert api.json()["stuck"] == 1 and api.json()["time_zone"] == ZONE


async def test_runs_show_progress_score_last_activity_and_stuck_in_the_schools_zone(
    db, secret_box, fake, make_account
):
    async for school in open_school(db, secret_box, fake, make_account):
        page = await school.browser.get(f"{school.base}/runs")
        anna = row_of(page.text, school.runs["anna"])
        assert "q_2" in anna and "40% (2/5)" in anna and "1/1" in anna and "stuck" in anna
        dima = row_of(page.text, school.runs["dima"])
        assert "100% (5/5)" in dima and "1/2" in dima and "stuck" not in dima
        boris = row_of(page.text, school.runs["boris"])
        assert "20% (1/5)" in boris and "stuck" not in boris
        assert "stuck" not in row_of(page.text, school.runs["clara"])  # a timer is pending
        assert f"Times are shown in {ZONE}." in text_of(page.text)

        api = await school.browser.get(
            f"/api/v1/accounts/{school.account_id}/runs/{school.runs['anna']}"
        )
        run = api.json()
        assert (run["progress_percent"], run["steps_done"], run["steps_total"]) == (40, 2, 5)
        assert (run["score"], run["maxscore"], run["stuck"]) == (1.0, 1.0, True)
        # Shown on the school's clock: UTC+5, named so.
        last = datetime.fromisoformat(run["last_activity_at"])
        local = last.astimezone(ZoneInfo(ZONE)).strftime("%Y-%m-%d %H:%M")
        assert f"{local} +05" in anna
        one = text_of((await school.browser.get(f"{school.base}/runs/{run['id']}")).text)
        assert "Progress 40% (2/5)" in one and "Score 1/1" in one
        assert f"Last activity {local} +05 stuck" in one
        assert format_datetime(last, ZONE) == f"{local} +05"


async def test_the_students_list_marks_the_stuck_and_the_gradebook_lists_every_answer(
    db, secret_box, fake, make_account
):
    async for school in open_school(db, secret_box, fake, make_account):
        students = await school.browser.get(f"{school.base}/students")
        anna = re.search(
            rf'<tr data-student="{school.users["anna"]}" class="stuck">(.*?)</tr>',
            students.text,
            re.S,
        )
        assert anna, "Anna is not marked stuck"
        shown = text_of("<body>" + anna.group(1))
        assert "40% (2/5)" in shown and "1/1" in shown and "q_2" in shown
        assert f'data-student="{school.users["boris"]}" class="stuck"' not in students.text
        listed = await school.browser.get(f"/api/v1/accounts/{school.account_id}/students")
        by_name = {x["username"]: x for x in listed.json()["items"]}
        assert by_name["anna"]["stuck"] is True and by_name["clara"]["stuck"] is False
        assert by_name["anna"]["latest_run_id"] == school.runs["anna"]
        latest = by_name["anna"]["latest_run"]
        assert (latest["current_element"], latest["progress_percent"], latest["score"]) == (
            "q_2",
            40,
            1.0,
        )

        book = await school.browser.get(f"{school.base}/students/{school.users['dima']}")
        assert book.status_code == 200
        runs = re.findall(r'class="card gradebook-run" data-run="(\d+)"', book.text)
        assert runs == [str(school.runs["dima"])]
        answers = [
            tuple(
                text_of("<body>" + cell).strip()
                for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)[:3]
            )
            for row in re.findall(r'<tr data-element="[^"]+">(.*?)</tr>', book.text, re.S)
        ]
        assert answers == [("q_1", "yes", "1/1"), ("q_2", "no", "0/1")]
        assert "100% (5/5)" in text_of(book.text) and "1/2" in text_of(book.text)

        api = await school.browser.get(
            f"/api/v1/accounts/{school.account_id}/students/{school.users['anna']}/gradebook"
        )
        (run,) = api.json()
        assert [(a["element_id"], a["text"]) for a in run["answers"]] == [("q_1", "yes")]
        assert run["stuck"] is True
        stranger = await school.browser.get(f"{school.base}/students/424242")
        assert stranger.status_code == 404


async def test_runs_are_filtered_by_link_label_and_username_and_a_bad_filter_says_so(
    db, secret_box, fake, make_account
):
    async for school in open_school(db, secret_box, fake, make_account):
        r = school.runs
        by_label = await school.browser.get(f"{school.base}/runs?token=7b")  # any case
        assert by_label.status_code == 200
        assert listed_runs(by_label.text) == {r["anna"], r["clara"]}
        by_value = await school.browser.get(f"{school.base}/runs?token=vkad")
        assert listed_runs(by_value.text) == {r["boris"], r["egor"]}
        by_name = await school.browser.get(f"{school.base}/runs?student=%40boris")
        assert listed_runs(by_name.text) == {r["boris"]}

        unknown = await school.browser.get(f"{school.base}/runs?token=8A")
        assert unknown.status_code == 422
        shown = text_of(unknown.text)
        assert "No link is labelled or named “8A”." in shown
        assert "Nothing is listed until the filter above is fixed." in shown
        assert listed_runs(unknown.text) == set()
        nobody = await school.browser.get(f"{school.base}/runs?student=ghost")
        assert nobody.status_code == 422 and listed_runs(nobody.text) == set()
        assert "No student “ghost” has written to your bots." in text_of(nobody.text)
        typo = await school.browser.get(f"{school.base}/runs?stauts=active")
        assert typo.status_code == 422 and listed_runs(typo.text) == set()
        assert "The filter “stauts” is not one this page knows." in text_of(typo.text)
        bad_day = await school.browser.get(f"{school.base}/runs?started_from=yesterday")
        assert "Not understood: Started from “yesterday”." in text_of(bad_day.text)

        russian = await school.browser.get(
            f"{school.base}/runs?token=8A", headers={"Accept-Language": "ru"}
        )
        assert "Нет ссылки с названием или токеном «8A»." in text_of(russian.text)

        # The API takes the label too, and its CSV says where each run is.
        api = await school.browser.get(
            f"/api/v1/accounts/{school.account_id}/runs", params={"token": "VK AD"}
        )
        assert {x["id"] for x in api.json()["items"]} == {r["boris"], r["egor"]}
        csv = await school.browser.get(
            f"/api/v1/accounts/{school.account_id}/runs/export.csv", params={"stuck": "true"}
        )
        header, *rows = csv.text.strip().splitlines()
        assert (
            "progress_percent" in header and len(rows) == 1 and rows[0].startswith(str(r["anna"]))
        )


async def test_the_school_sets_its_zone_and_a_token_expiry_is_typed_in_it(
    db, secret_box, fake, make_account
):
    async for school in open_school(db, secret_box, fake, make_account):
        settings = f"{school.base}/settings"
        await school.browser.get(settings)
        saved = await school.browser.post(
            settings,
            {"name": "Prog school", "time_zone": ZONE, "stuck_after_minutes": "90"},
            follow=True,
        )
        assert "Settings saved." in text_of(saved.text)
        assert 'value="90"' in saved.text and f'value="{ZONE}"' in saved.text
        wrong = await school.browser.post(
            settings,
            {"name": "Prog school", "time_zone": "Mars/Olympus", "stuck_after_minutes": "0"},
        )
        assert wrong.status_code == 422
        shown = text_of(wrong.text)
        assert "“Mars/Olympus” is not a time zone we know." in shown
        assert "“0” is not a number of minutes between 1 and 525600 (a year)." in shown
        api = await school.browser.client.patch(
            f"/api/v1/accounts/{school.account_id}", json={"time_zone": "+03:00"}
        )
        assert api.status_code == 422 and "is not a time zone name" in api.text

        page = f"{school.base}/deployments/{school.deployment_id}"
        form = await school.browser.get(page)
        assert f"time in {ZONE}" in text_of(form.text)
        created = await school.browser.post(
            f"{page}/tokens",
            {"kind": "public", "label": "8A", "expires_at": "2030-01-01T10:00"},
        )
        assert created.status_code == 303, text_of(created.text)
        listed = await school.browser.get(
            f"/api/v1/accounts/{school.account_id}/deployments/{school.deployment_id}/tokens"
        )
        (token,) = [x for x in listed.json() if x["label"] == "8A"]
        assert datetime.fromisoformat(token["expires_at"]) == datetime(2030, 1, 1, 5, 0, tzinfo=UTC)
        shown = text_of((await school.browser.get(page)).text)
        assert "8A" in shown and "2030-01-01 10:00 +05" in shown


async def test_analytics_show_drop_off_days_and_which_answer_was_chosen(
    db, secret_box, fake, make_account
):
    async for school in open_school(db, secret_box, fake, make_account):
        api = f"/api/v1/accounts/{school.account_id}/deployments/{school.deployment_id}/analytics"
        funnel = (await school.browser.get(f"{api}/funnel")).json()
        assert [
            (s["element_id"], s["reached"], s["lost"], s["lost_percent"]) for s in funnel["steps"]
        ] == [
            ("intro", 5, None, None),
            ("q_1", 5, 0, 0.0),
            ("q_2", 3, 2, 40.0),
            ("result", 1, 2, 66.7),
            ("end", 1, 0, 0.0),
        ]
        answers = (await school.browser.get(f"{api}/answers")).json()["questions"]
        assert [
            (q["element_id"], q["runs"], [(a["answer"], a["runs"]) for a in q["answers"]])
            for q in answers
        ] == [("q_1", 3, [("yes", 2), ("no", 1)]), ("q_2", 1, [("yes", 0), ("no", 1)])]
        timeline = (await school.browser.get(f"{api}/timeline", params={"days": 7})).json()
        assert len(timeline["days"]) == 7
        today = timeline["days"][-1]
        assert today["day"] == datetime.now(ZoneInfo(ZONE)).date().isoformat()
        assert (today["started"], today["finished"], today["dropped"]) == (5, 1, 1)
        (cohort,) = (await school.browser.get(f"{api}/cohorts")).json()
        local_midnight = datetime.fromisoformat(cohort["day"])
        assert local_midnight.utcoffset() == timedelta(hours=5)  # the school's day
        assert local_midnight.date().isoformat() == today["day"] and cohort["started"] == 5

        page = await school.browser.get(
            f"{school.base}/deployments/{school.deployment_id}/analytics"
        )
        assert page.status_code == 200
        lost = re.search(
            r'<tr data-element="q_2">.*?<td class="lost"[^>]*>(.*?)</td>', page.text, re.S
        )
        assert text_of("<body>" + lost.group(1)) == "2 (40%)"
        bars = re.search(r'id="answers-1"(.*?)</div>\s*</div>', page.text, re.S).group(1)
        rows = [
            (text_of("<body>" + label), value)
            for label, value in re.findall(
                r'<span class="bar-label">(.*?)</span>.*?<span class="bar-value">(\d+)</span>',
                bars,
                re.S,
            )
        ]
        assert rows == [("yes", "2"), ("no", "1")]
        assert 'id="funnel-chart"' in page.text and 'id="timeline-chart"' in page.text
        today_row = re.search(r'<tr data-day="([\d-]+)">(.*?)</tr>', page.text, re.S)
        assert today_row.group(1) == today["day"]  # only days with runs are listed
        assert text_of("<body>" + today_row.group(2)) == f"{today['day']} 5 1 1"
        assert page.text.count("<tr data-day=") == 1
        assert '(<code class="wrap">t7b</code>)' in page.text  # links by their labels


async def test_nothing_is_drawn_for_a_deployment_without_runs(db, secret_box, fake, make_account):
    async for school in open_school(db, secret_box, fake, make_account):
        empty = await deploy(db, school.account_id, school.version_id, school.bot_id)
        page = await school.browser.get(f"{school.base}/deployments/{empty}/analytics")
        assert page.status_code == 200
        assert 'id="funnel-chart"' not in page.text and 'id="timeline-chart"' not in page.text
        assert '<svg class="chart"' not in page.text  # no empty score histogram
        shown = text_of(page.text)
        assert shown.count("No runs yet: nothing to draw.") >= 2
        assert "Nobody has answered yet." in shown
        assert 'class="bar-row"' not in page.text
