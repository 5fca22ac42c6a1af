"""The whole product once, as its users meet it: an owner logs in with signed Telegram
widget data, connects a bot, uploads a course, deploys it to test and makes a group
token; a student opens the deep link in (fake) Telegram and finishes the course; the
analytics show the funnel and the score."""

from __future__ import annotations

import asyncio
import time
from urllib.parse import parse_qs, urlsplit

import pytest
from redis.asyncio import Redis

from adapters.telegram.bot_runtime import RuntimeOptions
from adapters.telegram.runtime import TelegramRuntime
from adapters.telegram.sender import RateLimits
from courses.loader import load_course
from panel_api.auth.telegram_login import widget_hash
from tests.course_files import fixture_text
from tests.course_workers import shared_course_workers
from tests.fakes.telegram_api import FakeTelegram
from tests.integration.runtime_support import (
    Autopilot,
    Course,
    ShiftableClock,
    wrong_answer,
)
from tests.integration.test_panel_support import LOGIN_BOT_TOKEN, panel_client, panel_context

pytestmark = pytest.mark.integration


def signed_login(user_id: int, username: str) -> dict:
    fields = {
        "id": user_id,
        "first_name": "Olga",
        "username": username,
        "auth_date": int(time.time()),
    }
    return {**fields, "hash": widget_hash(fields, LOGIN_BOT_TOKEN)}


async def test_owner_to_student_to_analytics(db, secret_box, service_urls):
    clock = ShiftableClock()
    redis = Redis.from_url(service_urls.redis_url)
    async with FakeTelegram() as fake:
        runtime = TelegramRuntime(
            db,
            secret_box,
            redis,
            RuntimeOptions(
                api_base=fake.base_url,
                poll_timeout_s=1,
                rate_limits=RateLimits(chat_per_second=200.0),
                sweep_interval_s=0.5,
            ),
            workers=shared_course_workers(),
            clock=clock,
            reconcile_interval_s=0.3,
        )
        await runtime.start()
        ctx = panel_context(db, secret_box, telegram_api_base=fake.base_url)
        try:
            async with panel_client(ctx) as client:
                login = await client.post(
                    "/api/v1/auth/telegram", json=signed_login(95_000_001, "olga")
                )
                assert login.status_code == 200, login.text  # the cookie is now set
                account = await client.post("/api/v1/accounts", json={"name": "Olga's school"})
                assert account.status_code == 201, account.text
                base = f"/api/v1/accounts/{account.json()['id']}"

                school_bot = fake.add_bot("olga_school_bot")
                bot = await client.post(f"{base}/bots", json={"token": school_bot.token})
                assert bot.status_code == 201, bot.text

                source = fixture_text("scored_exam.yaml")
                course = await client.post(
                    f"{base}/courses", json={"title": "Astronomy exam", "source": source}
                )
                assert course.status_code == 201, course.text
                version_id = course.json()["version"]["id"]

                deployment = await client.post(
                    f"{base}/deployments",
                    json={
                        "course_version_id": version_id,
                        "bot_id": bot.json()["id"],
                        "environment": "test",
                    },
                )
                assert deployment.status_code == 201, deployment.text
                deployment_id = deployment.json()["id"]
                token = await client.post(
                    f"{base}/deployments/{deployment_id}/tokens",
                    json={"kind": "group", "max_uses": 30, "utm": {"source": "telegram"}},
                )
                assert token.status_code == 201, token.text
                link = token.json()["deep_link"]
                assert link.startswith("https://t.me/olga_school_bot?start=cd_")

                payload = parse_qs(urlsplit(link).query)["start"][0]
                _, deployment_part, token_part = payload.split("_", 2)
                student = Autopilot(
                    fake,
                    db,
                    Course(
                        account.json()["id"],
                        bot.json()["id"],
                        school_bot,
                        int(deployment_part),
                        token_part,
                        load_course(source).course.elements,
                    ),
                    95_100_001,
                    clock=clock,
                    pick=wrong_answer,
                )
                # The pool also starts (or backs off from) every bot earlier tests left
                # active in this session's database, hence more than the 5 s of a quiet pool.
                deadline = time.monotonic() + 10
                while runtime.pool.get(bot.json()["id"]) is None:
                    assert time.monotonic() < deadline, "the new bot was not hosted"
                    await asyncio.sleep(0.05)
                await student.start()
                run = await student.play()
                assert run.status == "completed"

                analytics = f"{base}/deployments/{deployment_id}/analytics"
                funnel = (await client.get(f"{analytics}/funnel")).json()
                assert funnel["runs"] == 1
                reached = {step["element_id"]: step for step in funnel["steps"]}
                assert reached["Exam_Welcome"]["reached"] == 1
                assert all(step["completed"] == step["reached"] for step in funnel["steps"])
                scores = (await client.get(f"{analytics}/scores")).json()
                assert scores["tests"], "the test element's score distribution is reported"
                assert scores["tests"][0]["runs"] == 1
                assert scores["tests"][0]["mean_percent"] < 50  # wrong answers all along
                conversion = (await client.get(f"{analytics}/conversion")).json()
                assert conversion["by_utm_source"][0]["key"] == "telegram"
                assert conversion["by_utm_source"][0]["completed"] == 1
        finally:
            await runtime.stop()
            await redis.aclose()
