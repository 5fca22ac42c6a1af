"""GET /metrics on the panel app of `coursebot up`: what the runtime did (updates, sends by
outcome, timers and their lateness, errors) and what is waiting (queues), for Prometheus."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from process import Process, build_process
from tests.integration.conftest import process_settings
from tests.reliability.support import (
    Cohort,
    Student,
    create_account,
    deactivate,
    make_rng,
    provision_course,
    wait_until,
)

pytestmark = pytest.mark.integration

# The intake's and the bot's menu set-up (adapters/telegram/menu.py), not the sender's.
NOT_SENDS = {"getme", "getupdates", "deletewebhook", "setmycommands"}


class Scrape:
    def __init__(self, text: str) -> None:
        self.samples = [
            (sample.name, sample.labels, sample.value)
            for family in text_string_to_metric_families(text)
            for sample in family.samples
        ]

    def value(self, name: str, **labels: object) -> float:
        return sum(
            value
            for sample_name, sample_labels, value in self.samples
            if sample_name == name
            and all(sample_labels.get(k) == str(v) for k, v in labels.items())
        )

    @property
    def names(self) -> set[str]:
        return {name for name, _, _ in self.samples}


async def scrape(process: Process) -> Scrape:
    transport = httpx.ASGITransport(app=process.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://panel") as client:
        response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return Scrape(response.text)


@pytest.fixture
async def process(test_database, service_urls, fake, tmp_path) -> AsyncIterator[Process]:
    """What `coursebot up` runs, in this process, against the test stores and the fake."""
    settings = process_settings(
        test_database,
        service_urls.redis_url,
        tmp_path,
        telegram_api_base=fake.base_url,
        poll_timeout_s=1,
        chat_messages_per_second=100.0,
    )
    built = await build_process(settings)
    await built.start()
    try:
        yield built
    finally:
        await built.stop()


async def test_metrics_count_what_happened_and_show_what_waits(process, fake, db, secret_box):
    rng = make_rng("metrics")
    account_id = await create_account(db)
    course = await provision_course(fake, db, secret_box, account_id)
    await wait_until(lambda: process.runtime.pool.get(course.bot_id), 15, "the bot is hosted")
    before = await scrape(process)
    fake.fail_next("sendMessage", 429, retry_after=2)  # flood control: the bot must pause
    fake.fail_next("sendMessage", 500)
    students = [Student(fake, course, 7_800_001 + i, rng) for i in range(2)]
    cohort = Cohort(fake, [course], students, rng, timeout_s=60)
    cohort.start()
    try:

        async def held_back() -> Scrape | None:
            current = await scrape(process)
            return current if current.value("coursebot_sender_queued") >= 1 else None

        during = await wait_until(held_back, 10, "/metrics shows calls held by flood control")
        await cohort.finish()
        after = await scrape(process)
    finally:
        await cohort.close()
        await deactivate(db, [course])

    def delta(name: str, **labels: object) -> float:
        return after.value(name, **labels) - before.value(name, **labels)

    # Deltas even for this account's counters: the registry is the test process's, and an
    # earlier test on a private database may have had an account with the same id.
    pushed = sum(s.actions for s in students)
    assert delta("coursebot_updates_received_total", account=account_id) == pushed
    assert delta("coursebot_updates_handled_total", account=account_id, outcome="ok") == pushed
    assert delta("coursebot_updates_handled_total", account=account_id, outcome="error") == 0
    assert delta("coursebot_update_handling_seconds_count") >= pushed

    accepted = [
        c
        for c in fake.calls
        if c.bot_id == course.fake_bot.id and c.status == 200 and c.method.lower() not in NOT_SENDS
    ]
    assert delta("coursebot_sends_total", outcome="sent") == len(accepted)
    assert delta("coursebot_sends_total", outcome="rate_limited") == 1
    assert delta("coursebot_sends_total", outcome="retried") == 1
    assert delta("coursebot_sends_total", outcome="failed") == 0
    flood_warning = {"level": "warning", "logger": "adapters.telegram.sender"}
    assert delta("coursebot_log_messages_total", **flood_warning) >= 1

    assert delta("coursebot_timers_fired_total") == len(students)  # one delay each
    assert delta("coursebot_timer_lateness_seconds_count") == len(students)
    assert delta("coursebot_timer_lateness_seconds_bucket", le="5.0") == len(students)

    assert during.value("coursebot_bots_hosted") >= 1
    assert during.value("coursebot_chat_workers_busy") >= 1
    assert {
        "coursebot_inbox_backlog_chats",
        "coursebot_outbox_pending_chats",
        "coursebot_journal_queued",
    } <= during.names
    # Every update was stored and then handled through group-commit transactions.
    assert delta("coursebot_journal_batch_items_count") > 0
    assert delta("coursebot_journal_batch_items_sum") >= 2 * pushed
    assert after.value("process_resident_memory_bytes") > 0
