"""The broadcast audience "opened the link but did not start" (`not_started`), end to end:
students open a paid deployment's link in the bot (the runtime, the panel, PostgreSQL, the
fake Bot API and the fake YooKassa are real); some pay and start, some do not; the teacher
counts and writes to exactly those who did not start.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
from redis.asyncio import Redis
from sqlalchemy import select

from adapters.payments import PaymentService, YooKassaClient
from adapters.telegram.sender import RateLimits
from botapi.deeplink import build_start_payload
from runtime.student_texts import Notice, notice_text
from storage.db import Database
from storage.models import LinkVisit
from tests.fakes.telegram_api import FakeTelegram
from tests.fakes.yookassa_api import FakeYooKassa, Shop
from tests.integration.conftest import random_telegram_id
from tests.integration.runtime_support import (
    Course,
    active_run,
    add_bot,
    add_course_version,
    add_token,
    deploy,
    until_hosted,
)
from tests.integration.test_broadcasts import COURSE, School, runtime_for, texts_to
from tests.integration.test_panel_support import panel_client, panel_context, user_headers
from tests.integration.test_web_support import text_of, web_browser

pytestmark = pytest.mark.integration


@dataclass
class PaidSchool(School):
    db: Database
    kassa: FakeYooKassa
    shop: Shop
    payments: PaymentService

    async def open_link(self, student: int, token: str | None = None) -> None:
        """The student opens the deployment's link (the public one unless `token`) and is
        answered: offered the payment, or told why not."""
        before = len(self.fake.sent_to(student))
        payload = build_start_payload(self.course.deployment_id, token or self.course.token)
        self.fake.push_start(self.course.fake_bot, student, payload)
        await self.fake.wait_for_sent(student, before + 1, timeout=10)

    def offered(self, student: int) -> bool:
        return any(s.buttons and s.buttons[0].get("url") for s in self.fake.sent_to(student))

    async def pay(self, student: int) -> None:
        """The student pays the checkout they were offered; the course begins."""
        (payment,) = [
            p for p in self.kassa.payments_of(self.shop) if p["metadata"]["user"] == str(student)
        ]
        await self.kassa.succeed(payment["id"], notify=False)
        await self.payments.sync_payment(self.course.account_id, payment["id"])
        deadline = time.monotonic() + 10
        while (
            await active_run(self.db, self.course.account_id, self.course.bot_id, student) is None
        ):
            assert time.monotonic() < deadline, "the paid course never began"
            await asyncio.sleep(0.1)

    async def count(self, **body: Any) -> int:
        body = {"deployment_id": self.course.deployment_id, "audience": "not_started", **body}
        got = await self.panel.post(
            f"{self.base}/broadcasts/audience", json=body, headers=self.headers
        )
        assert got.status_code == 200, got.text
        return int(got.json()["count"])

    async def ban(self, student: int) -> None:
        got = await self.panel.post(
            f"{self.base}/bans", json={"telegram_user_id": student}, headers=self.headers
        )
        assert got.status_code == 201, got.text


@pytest.fixture
async def school(db, secret_box, service_urls, make_account) -> AsyncIterator[PaidSchool]:
    """A paid deployment (990 RUB) with a public link, its bot hosted by a runtime whose
    payments go to the fake YooKassa."""
    owner = random_telegram_id()
    account_id = await make_account(owner_telegram_user_id=owner)
    redis = Redis.from_url(service_urls.redis_url)
    async with FakeTelegram() as fake, FakeYooKassa() as kassa:
        fake_bot = fake.add_bot()
        bot_id = await add_bot(db, secret_box, account_id, fake_bot)
        version_id = await add_course_version(db, account_id, COURSE, "Course")
        deployment_id = await deploy(
            db,
            account_id,
            version_id,
            bot_id,
            price_amount=Decimal("990.00"),
            price_currency="RUB",
        )
        token = await add_token(db, account_id, deployment_id)
        runtime = runtime_for(db, secret_box, redis, fake, RateLimits())
        payments = PaymentService(
            db, secret_box, YooKassaClient(kassa.base_url), on_access_change=runtime.paid_access
        )
        runtime.payments = payments
        shop = kassa.add_shop()  # payments are synced by the test, not notified
        await payments.set_credentials(account_id, shop_id=shop.shop_id, secret_key=shop.secret_key)
        await runtime.start()
        try:
            await until_hosted(runtime, bot_id)
            ctx = panel_context(db, secret_box, telegram_api_base=fake.base_url)
            async with panel_client(ctx) as client:
                yield PaidSchool(
                    Course(account_id, bot_id, fake_bot, deployment_id, token),
                    version_id,
                    client,
                    await user_headers(ctx, owner),
                    owner,
                    fake,
                    [runtime],
                    runtime.start,  # started already
                    db,
                    kassa,
                    shop,
                    payments,
                )
        finally:
            await runtime.stop()
            await payments.close()
            await redis.aclose()


async def visits_of(db: Database, school: School, student: int) -> list[LinkVisit]:
    account_id = school.course.account_id
    async with db.tenant(account_id) as session:
        return list(
            await session.scalars(
                select(LinkVisit).where(
                    LinkVisit.account_id == account_id, LinkVisit.chat_id == student
                )
            )
        )


async def test_those_who_opened_the_link_and_did_not_start_get_it(
    school: PaidSchool, db: Database
) -> None:
    account_id, deployment_id = school.course.account_id, school.course.deployment_id
    # One seat left on a group link: the player takes it (counted when the payment is
    # offered), so it is used up for the late one.
    group = await add_token(db, account_id, deployment_id, kind="group", max_uses=1)
    payer, player, late, banned_later, banned, bare = (random_telegram_id() for _ in range(6))

    await school.open_link(payer)
    assert school.offered(payer)
    await school.open_link(player, group)
    await school.pay(player)
    await school.fake.wait_for_sent(player, 3, timeout=10)  # the offer, welcome, question
    school.fake.push_text(school.course.fake_bot, player, "Bob")
    await school.fake.wait_for(lambda: texts_to(school.fake, player, "Goodbye") == 1, 10)
    await school.open_link(late, group)
    assert school.fake.sent_to(late)[-1].text == notice_text(Notice.TOKEN_EXHAUSTED, "ru")
    await school.open_link(banned_later)
    await school.ban(banned)
    await school.open_link(banned)
    assert school.fake.sent_to(banned)[-1].text == notice_text(Notice.BANNED, "ru")
    school.fake.push_start(school.course.fake_bot, bare)  # Start, with no link: no visit
    await school.fake.wait_for_sent(bare, 1, timeout=10)

    assert await school.count() == 3  # the payer, the late one, the one banned later
    await school.ban(banned_later)
    assert await school.count() == 2
    assert await visits_of(db, school, banned) == []  # a banned student is never recorded
    assert await visits_of(db, school, bare) == []
    (late_visit,) = await visits_of(db, school, late)
    assert late_visit.token_id is not None  # the used-up link is still the one they came by
    assert await school.count(token_id=late_visit.token_id) == 1
    assert await school.count(bot_id=school.course.bot_id, deployment_id=None) == 2
    assert await school.count(audience="all") == 1  # the player, the only one who started

    made = await school.broadcast(audience="not_started", text="The course is open again")
    done = await school.until(made["id"], lambda b: b["status"] == "done")
    assert (done["total"], done["sent"], done["blocked"], done["queued"]) == (2, 2, 0, 0)
    for student in (payer, late):
        assert texts_to(school.fake, student, "The course is open again") == 1
    for student in (player, banned_later, banned, bare):
        assert texts_to(school.fake, student, "The course is open again") == 0

    await school.pay(payer)  # who starts later is no longer in the audience
    assert await school.count() == 1
    (payer_visit,) = await visits_of(db, school, payer)
    assert payer_visit.first_at == payer_visit.last_at  # a payment is no new visit
    assert await school.count(audience="all") == 2  # the player and the payer
    await school.ban(player)  # a banned student is in no audience, started or not
    assert await school.count(audience="all") == 1


async def test_a_visitor_who_blocked_the_bot_is_marked_until_they_come_back(
    school: PaidSchool, db: Database
) -> None:
    blocker, reader = random_telegram_id(), random_telegram_id()
    for student in (blocker, reader):
        await school.open_link(student)
    (first,) = await visits_of(db, school, blocker)
    school.fake.block_user(school.course.fake_bot, blocker)

    made = await school.broadcast(audience="not_started", text="20% off this week")
    done = await school.until(made["id"], lambda b: b["status"] == "done")
    assert (done["total"], done["sent"], done["blocked"]) == (2, 1, 1)
    calls = [
        c
        for c in school.fake.calls_of("sendMessage")
        if int(c.params["chat_id"]) == blocker and c.params.get("text") == "20% off this week"
    ]
    assert len(calls) == 1  # tried once, not retried
    deadline = time.monotonic() + 10
    while await school.count() != 1:  # the next broadcast leaves them out
        assert time.monotonic() < deadline, "the blocked visitor stayed in the audience"
        await asyncio.sleep(0.1)

    school.fake.unblock_user(school.course.fake_bot, blocker)
    await school.open_link(blocker)  # back: in the audience again, first visit kept
    assert await school.count() == 2
    (again,) = await visits_of(db, school, blocker)
    assert again.first_at == first.first_at and again.last_at > first.last_at


async def test_progress_is_refused_and_the_page_counts_the_visitors(
    school: PaidSchool, db: Database, secret_box
) -> None:
    await school.open_link(random_telegram_id())
    refused = await school.panel.post(
        f"{school.base}/broadcasts",
        json={
            "deployment_id": school.course.deployment_id,
            "audience": "not_started",
            "progress_min": 50,
            "text": "x",
        },
        headers=school.headers,
    )
    assert refused.status_code == 422
    assert "leave them out for not_started" in str(refused.json()["detail"])

    base = f"/accounts/{school.course.account_id}/broadcasts"
    form = {
        "deployment_id": str(school.course.deployment_id),
        "audience": "not_started",
        "text": "Скидка",
    }
    ctx = panel_context(db, secret_box, telegram_api_base=school.fake.base_url)
    async with web_browser(ctx, accept_language="ru") as browser:
        await browser.log_in(school.owner)
        page = await browser.get(base)
        assert "Тем, кто перешёл по ссылке, но не начал" in text_of(page.text)
        counted = await browser.post(base, {**form, "action": "count"})
        assert "Сейчас её получат учеников: 1." in text_of(counted.text)
        bad = await browser.post(base, {**form, "progress_max": "30", "action": "count"})
        assert bad.status_code == 422
        assert "Прогресс есть только у тех, кто начал курс" in text_of(bad.text)


async def test_a_visitor_who_did_not_start_is_greeted_by_name_in_their_language(
    school: PaidSchool,
) -> None:
    """No run began, so the school has no participant row for them: their names and
    language are those they had at their latest visit."""
    anna, boris = random_telegram_id(), random_telegram_id()
    school.fake.add_user(anna, "Anna", language_code="en")
    school.fake.add_user(boris, "Борис")
    await school.open_link(anna)
    await school.open_link(boris)
    school.fake.add_user(boris, "Боря", username="borya")  # renamed since, and back
    await school.open_link(boris)
    assert school.offered(anna) and school.offered(boris)  # and neither paid

    made = await school.broadcast(
        audience="not_started", text="Hi {first_name}, @{username}", continue_button=True
    )
    done = await school.until(made["id"], lambda b: b["status"] == "done")
    assert (done["total"], done["sent"]) == (2, 2)
    for student, greeting, label in (
        (anna, "Hi Anna, @", "Continue the course"),
        (boris, "Hi Боря, @borya", "Продолжить курс"),
    ):
        (news,) = [s for s in school.fake.sent_to(student) if (s.text or "").startswith("Hi ")]
        assert news.text == greeting
        assert [b["text"] for b in news.buttons] == [label]
