"""Runs, students and analytics on a deployment with a known history.

Five students of one deployment (course: intro -> q_1 -> q_2 -> result(test) -> end):
  R1 token T1 (utm vk)  finished, scored 1/2, started two days ago
  R2 token T1 (utm vk)  finished, scored 2/2
  R3 token T2 (utm tg)  stopped after being shown q_2
  R4 no token           active, waiting on q_1
  R5 token T2 (utm tg)  active, nothing recorded yet
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from storage.models import AccountMember, Run
from tests.integration import seeding
from tests.integration.inbox_support import apply_inbox_events
from tests.integration.test_panel_support import panel_client, panel_context, user_headers

pytestmark = pytest.mark.integration

COURSE = """\
intro:
  type: message
  text: Hi

q_1:
  type: quiz
  text: One?
  answers:
    - text: yes
      correct: yes
    - text: no

q_2:
  type: quiz
  text: Two?
  answers:
    - text: yes
      correct: yes
    - text: no

result:
  type: test
  prefix: q_
  text: "{score}/{maxscore}"
  score:
    0: Great
    100: Again

end:
  type: end
  text: Bye
"""


@dataclass
class History:
    account_id: int
    deployment_id: int
    owner: int
    tokens: dict[str, int]
    runs: dict[str, int]


async def _history(db, secret_box, client, seeded) -> History:
    async with db.tenant(seeded.account_id) as s:
        owner = await s.scalar(select(AccountMember.telegram_user_id))
    ctx = panel_context(db, secret_box)
    headers = await user_headers(ctx, owner)
    base = f"/api/v1/accounts/{seeded.account_id}"
    version = (
        await client.post(
            f"{base}/courses", json={"title": "Quiz", "source": COURSE}, headers=headers
        )
    ).json()["version"]["id"]
    deployment = (
        await client.post(
            f"{base}/deployments",
            json={"course_version_id": version, "bot_id": seeded.bot_id, "environment": "prod"},
            headers=headers,
        )
    ).json()["id"]
    made = {}
    for name, source in (("T1", "vk"), ("T2", "tg"), ("T3", "mail")):
        made[name] = (
            await client.post(
                f"{base}/deployments/{deployment}/tokens",
                json={"kind": "public", "token": name, "utm": {"source": source}},
                headers=headers,
            )
        ).json()["id"]
    plan = {
        "R1": (
            "T1",
            [("intro",), ("q_1",), ("q_1", 1), ("q_2",), ("q_2", 0), ("result", 1, 2), ("end",)],
            "completed",
        ),
        "R2": (
            "T1",
            [("intro",), ("q_1",), ("q_1", 1), ("q_2",), ("q_2", 1), ("result", 2, 2), ("end",)],
            "completed",
        ),
        "R3": ("T2", [("intro",), ("q_1",), ("q_1", 1), ("q_2",)], "stopped"),
        "R4": (None, [("intro",), ("q_1",)], None),
        "R5": ("T2", [], None),
    }
    started = {}
    async with db.tenant(seeded.account_id) as s:
        for n, (name, (token, lines, final)) in enumerate(plan.items()):
            user = 8_000_000 + n
            participant = await seeding.participant(
                s, seeded.account_id, telegram_user_id=user, username=f"student_{name.lower()}"
            )
            utm = {}
            if token:
                used = await seeding.token_use(s, seeded.account_id, made[token])
                utm = {"source": used.utm_source}
            run = await seeding.run(
                s,
                seeded.account_id,
                deployment_id=deployment,
                course_version_id=version,
                bot_id=seeded.bot_id,
                chat_id=user,
                telegram_user_id=user,
                participant_id=participant.id,
                token_id=made[token] if token else None,
                utm=utm,
                state={"current": lines[-1][0]} if lines else {},
                current_element=lines[-1][0] if lines else None,
            )
            for line in lines:
                element = line[0]
                if len(line) == 2:  # a student's scored answer
                    await seeding.line(
                        s,
                        seeded.account_id,
                        run_id=run.id,
                        element_id=element,
                        role="user",
                        text="yes",
                        score=line[1],
                        maxscore=1,
                    )
                else:
                    score, maxscore = (line[1], line[2]) if len(line) == 3 else (None, None)
                    await seeding.line(
                        s,
                        seeded.account_id,
                        run_id=run.id,
                        element_id=element,
                        role="bot",
                        text=f"shown {element}",
                        score=score,
                        maxscore=maxscore,
                    )
            if final:
                await seeding.finish_run(s, seeded.account_id, run.id, final)
            started[name] = run.id
        two_days_ago = datetime.now(UTC) - timedelta(days=2)
        await s.execute(update(Run).where(Run.id == started["R1"]).values(started_at=two_days_ago))
    return History(seeded.account_id, deployment, owner, made, started)


async def test_funnel_conversion_cohorts_and_scores(db, secret_box, seed_account):
    ctx = panel_context(db, secret_box)
    async with panel_client(ctx) as client:
        h = await _history(db, secret_box, client, await seed_account())
        headers = await user_headers(ctx, h.owner)
        base = f"/api/v1/accounts/{h.account_id}/deployments/{h.deployment_id}/analytics"
        funnel = (await client.get(f"{base}/funnel", headers=headers)).json()
        conversion = (await client.get(f"{base}/conversion", headers=headers)).json()
        cohorts = (await client.get(f"{base}/cohorts", headers=headers)).json()
        scores = (await client.get(f"{base}/scores", headers=headers)).json()

    assert (funnel["runs"], funnel["runs_without_lines"]) == (5, 1)
    steps = [
        (s["element_id"], s["reached"], s["completed"], s["dropped"], s["in_progress"])
        for s in funnel["steps"]
    ]
    assert steps == [
        ("intro", 4, 4, 0, 0),
        ("q_1", 4, 3, 0, 1),  # R4 waits here
        ("q_2", 3, 2, 1, 0),  # R3 stopped here
        ("result", 2, 2, 0, 0),
        ("end", 2, 2, 0, 0),
    ]

    by_token = [(c["key"], c["started"], c["completed"], c["rate"]) for c in conversion["by_token"]]
    assert by_token == [
        ("T1", 2, 2, 1.0),
        ("T2", 2, 0, 0.0),
        ("T3", 0, 0, None),
        ("(no token)", 1, 0, 0.0),
    ]
    by_source = [(c["key"], c["started"], c["completed"]) for c in conversion["by_utm_source"]]
    assert by_source == [("tg", 2, 0), ("vk", 2, 2), ("(none)", 1, 0)]

    today = datetime.now(UTC).date()
    days = [
        (
            datetime.fromisoformat(c["day"]).date(),
            c["started"],
            c["completed"],
            c["active"],
            c["dropped"],
        )
        for c in cohorts
    ]
    assert days == [(today - timedelta(days=2), 1, 1, 0, 0), (today, 4, 1, 2, 1)]

    (test,) = scores["tests"]
    assert test["element_id"] == "result"
    assert (test["runs"], test["mean_percent"]) == (2, 75.0)
    assert test["buckets"] == [0, 0, 0, 0, 0, 1, 0, 0, 0, 1]
    assert test["by_score"] == [
        {"score": 1.0, "maxscore": 2.0, "runs": 1},
        {"score": 2.0, "maxscore": 2.0, "runs": 1},
    ]


async def test_runs_list_filters_conversation_csv_and_stop(db, secret_box, seed_account):
    ctx = panel_context(db, secret_box)
    async with panel_client(ctx) as client:
        h = await _history(db, secret_box, client, await seed_account())
        headers = await user_headers(ctx, h.owner)
        base = f"/api/v1/accounts/{h.account_id}/runs"

        async def ids(**params) -> list[int]:
            response = await client.get(
                base, params={"deployment_id": h.deployment_id, **params}, headers=headers
            )
            assert response.status_code == 200, response.text
            return [run["id"] for run in response.json()["items"]]

        r = h.runs
        assert await ids() == sorted(r.values(), reverse=True)
        assert await ids(status="completed") == [r["R2"], r["R1"]]
        assert await ids(token_id=h.tokens["T2"]) == [r["R5"], r["R3"]]
        yesterday = (datetime.now(UTC) - timedelta(days=1)).isoformat()
        assert await ids(started_to=yesterday) == [r["R1"]]
        assert r["R1"] not in await ids(started_from=yesterday)
        page = (
            await client.get(
                base,
                params={"deployment_id": h.deployment_id, "limit": 2, "offset": 2},
                headers=headers,
            )
        ).json()
        assert page["total"] == 5 and [x["id"] for x in page["items"]] == [r["R3"], r["R2"]]
        one = (await client.get(f"{base}/{r['R4']}", headers=headers)).json()
        assert (one["current_element"], one["username"], one["status"]) == (
            "q_1",
            "student_r4",
            "active",
        )

        lines = (await client.get(f"{base}/{r['R1']}/conversation", headers=headers)).json()
        assert [(x["element_id"], x["role"]) for x in lines][:3] == [
            ("intro", "bot"),
            ("q_1", "bot"),
            ("q_1", "user"),
        ]
        assert lines[5]["score"] == 1.0 and lines[5]["maxscore"] == 2.0

        exported = await client.get(
            f"{base}/export.csv", params={"deployment_id": h.deployment_id}, headers=headers
        )
        assert exported.headers["content-type"].startswith("text/csv")
        rows = list(csv.DictReader(io.StringIO(exported.text)))
        assert {int(row["id"]) for row in rows} == set(r.values())
        assert {row["utm_source"] for row in rows} == {"vk", "tg", ""}

        stopping = await client.post(f"{base}/{r['R4']}/stop", headers=headers)
        assert stopping.status_code == 202  # the runtime applies it, in the run's order
        assert await apply_inbox_events(db, h.account_id) == 1
        stopped = await client.get(f"{base}/{r['R4']}", headers=headers)
        assert stopped.json()["status"] == "stopped"
        assert (await client.post(f"{base}/{r['R4']}/stop", headers=headers)).status_code == 409


async def test_students_ban_and_unban(db, secret_box, seed_account):
    ctx = panel_context(db, secret_box)
    async with panel_client(ctx) as client:
        h = await _history(db, secret_box, client, await seed_account())
        headers = await user_headers(ctx, h.owner)
        base = f"/api/v1/accounts/{h.account_id}"
        students = (
            await client.get(f"{base}/students", params={"q": "student_r"}, headers=headers)
        ).json()
        assert students["total"] == 5
        assert all(s["runs"] == 1 and not s["banned"] for s in students["items"])

        r5_user = 8_000_004
        banned = await client.post(
            f"{base}/bans", json={"telegram_user_id": r5_user, "reason": "spam"}, headers=headers
        )
        assert banned.status_code == 201 and banned.json()["stopped_runs"] == 1
        assert await apply_inbox_events(db, h.account_id) == 1  # as the runtime does at once
        run = (await client.get(f"{base}/runs/{h.runs['R5']}", headers=headers)).json()
        assert run["status"] == "stopped"
        again = await client.post(
            f"{base}/bans", json={"telegram_user_id": r5_user}, headers=headers
        )
        assert again.status_code == 409
        flagged = (
            await client.get(f"{base}/students", params={"q": "student_r5"}, headers=headers)
        ).json()["items"]
        assert flagged[0]["banned"] is True

        ban_id = banned.json()["id"]
        assert (await client.delete(f"{base}/bans/{ban_id}", headers=headers)).status_code == 204
        assert r5_user not in {
            b["telegram_user_id"]
            for b in (await client.get(f"{base}/bans", headers=headers)).json()
        }


FORMULA_NAMES = ('=HYPERLINK("https://evil.example","Ann")', "+1", "-1", "@SUM(A1)", "\t=1", "\r=1")


async def test_runs_csv_never_hands_a_spreadsheet_a_formula(db, secret_box, seed_account):
    """Students choose their own Telegram names: a name a spreadsheet would run as a formula
    comes out of the export prefixed with ', whichever of = + - @ TAB CR it starts with."""
    seeded = await seed_account()
    account = seeded.account_id
    async with db.tenant(account) as s:
        owner = await s.scalar(select(AccountMember.telegram_user_id))
        for n, name in enumerate(FORMULA_NAMES):
            user = 8_100_000 + n
            student = await seeding.participant(s, account, telegram_user_id=user, first_name=name)
            await seeding.run(
                s,
                account,
                deployment_id=seeded.deployment_id,
                course_version_id=seeded.version_id,
                bot_id=seeded.bot_id,
                chat_id=user,
                telegram_user_id=user,
                participant_id=student.id,
            )
    ctx = panel_context(db, secret_box)
    async with panel_client(ctx) as client:
        exported = await client.get(
            f"/api/v1/accounts/{account}/runs/export.csv", headers=await user_headers(ctx, owner)
        )
    assert exported.status_code == 200
    names = {
        row["first_name"]
        for row in csv.DictReader(io.StringIO(exported.text, newline=""))
        if row["telegram_user_id"] != str(seeded.telegram_user_id)
    }
    assert names == {"'" + name for name in FORMULA_NAMES}
