"""Prometheus metrics of the runtime, served at GET /metrics by the panel app.

Counters and histograms live at module level, process-wide: a bot's runtime object comes
and goes with every reconcile, yet its counts must only ever grow. Labels stay bounded:
`account` at most, never bot or chat (10,000 bots times a few outcomes would swamp
Prometheus; per-bot detail belongs in the logs, which carry bot_id). Queue depths are read
from the live runtime when Prometheus scrapes, so the hot path pays nothing for them.

Errors are counted where they are already reported, in the logs: every WARNING and above
increments `coursebot_log_messages_total{level,logger}`, so no failure path can be missed
by forgetting a counter next to it.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Protocol

from fastapi import APIRouter, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric

REGISTRY = CollectorRegistry()
ProcessCollector(registry=REGISTRY)  # RSS, CPU, open files: the operator's first questions
PlatformCollector(registry=REGISTRY)
GCCollector(registry=REGISTRY)

UPDATES_RECEIVED = Counter(
    "coursebot_updates_received",
    "Telegram updates stored in the inbox (redeliveries of stored ones not counted).",
    ["account"],
    registry=REGISTRY,
)
UPDATES_DUPLICATE = Counter(
    "coursebot_updates_duplicate",
    "Redelivered updates dropped because (bot, update_id) was already stored.",
    registry=REGISTRY,
)
UPDATES_HANDLED = Counter(
    "coursebot_updates_handled",
    "Inbox updates processed, by outcome (error: our code failed on it; it is skipped).",
    ["account", "outcome"],
    registry=REGISTRY,
)
HANDLING_SECONDS = Histogram(
    "coursebot_update_handling_seconds",
    "Time to process one inbox update in its transaction (engine step + rows).",
    registry=REGISTRY,
)
SENDS = Counter(
    "coursebot_sends",
    "Bot API call attempts to chats, by outcome: sent, rate_limited (429, retried), "
    "retried (5xx/network, retried), failed (given up), blocked (403).",
    ["outcome"],
    registry=REGISTRY,
)
TIMERS_FIRED = Counter(
    "coursebot_timers_fired",
    "Durable timers (delay, jump waits) fired.",
    registry=REGISTRY,
)
TIMER_LATENESS = Histogram(
    "coursebot_timer_lateness_seconds",
    "How long after its due time a timer fired.",
    buckets=(0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0, 3600.0),
    registry=REGISTRY,
)
JOURNAL_BATCH_ITEMS = Histogram(
    "coursebot_journal_batch_items",
    "Items (updates stored or handled, messages recorded sent) per group-commit transaction.",
    buckets=(1, 2, 5, 10, 20, 50, 100, 200, 512),
    registry=REGISTRY,
)
JOURNAL_BATCH_SECONDS = Histogram(
    "coursebot_journal_batch_seconds",
    "Time one group-commit transaction took, from BEGIN to COMMIT.",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0),
    registry=REGISTRY,
)
GETUPDATES_CONFLICTS = Counter(
    "coursebot_getupdates_conflicts",
    "getUpdates answered 409 (another poller of the same token): each backs off and makes "
    "the runner re-check its bot leases.",
    registry=REGISTRY,
)
LOG_MESSAGES = Counter(
    "coursebot_log_messages",
    "Warnings and errors logged, by level and logger (the process's error count).",
    ["level", "logger"],
    registry=REGISTRY,
)


class SendOutcome(enum.StrEnum):
    SENT = "sent"
    RATE_LIMITED = "rate_limited"
    RETRIED = "retried"
    FAILED = "failed"
    BLOCKED = "blocked"


def count_received(account_id: int, new: int, duplicates: int) -> None:
    if new:
        UPDATES_RECEIVED.labels(str(account_id)).inc(new)
    if duplicates:
        UPDATES_DUPLICATE.inc(duplicates)


@lru_cache(maxsize=65_536)
def _handled_child(account_id: int, ok: bool) -> Any:
    """The account's counter child (looked up once: `labels()` per update showed in profiles)."""
    return UPDATES_HANDLED.labels(str(account_id), "ok" if ok else "error")


def count_handled(account_id: int, *, ok: bool, seconds: float) -> None:
    _handled_child(account_id, ok).inc()
    HANDLING_SECONDS.observe(seconds)


# One child per outcome, looked up once: `labels()` on every send showed in profiles.
_SENDS_BY_OUTCOME = {outcome: SENDS.labels(outcome.value) for outcome in SendOutcome}


def count_send(outcome: SendOutcome) -> None:
    _SENDS_BY_OUTCOME[outcome].inc()


def count_conflict() -> None:
    GETUPDATES_CONFLICTS.inc()


def observe_batch(items: int, seconds: float) -> None:
    JOURNAL_BATCH_ITEMS.observe(items)
    JOURNAL_BATCH_SECONDS.observe(seconds)


def observe_timer(lateness_s: float) -> None:
    TIMERS_FIRED.inc()
    TIMER_LATENESS.observe(max(0.0, lateness_s))


@dataclass(frozen=True)
class Backlog:
    """Chats with unprocessed updates / unsent messages, as a bot's last sweep saw them."""

    inbox_chats: int = 0
    outbox_chats: int = 0


class _Queue(Protocol):
    @property
    def queued(self) -> int: ...


class _Workers(Protocol):
    @property
    def busy(self) -> int: ...


class HostedDepths(Protocol):
    """What the gauges read of a hosted bot (the Telegram runtime's `BotRuntime`), named
    here so that metrics, which the runtime imports, need not import the runtime back."""

    @property
    def sender(self) -> _Queue: ...

    @property
    def workers(self) -> _Workers: ...

    @property
    def backlog(self) -> Backlog: ...


class LeaseView(Protocol):
    """What the gauges read of a runner's bot leases (runtime/leases.py)."""

    @property
    def held(self) -> frozenset[int]: ...

    @property
    def live_runners(self) -> int: ...


class LogCounter(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)

    def emit(self, record: logging.LogRecord) -> None:
        LOG_MESSAGES.labels(record.levelname.lower(), record.name).inc()


def install_log_counter() -> None:
    """Count WARNING+ records of every logger (idempotent)."""
    root = logging.getLogger()
    if not any(isinstance(h, LogCounter) for h in root.handlers):
        root.addHandler(LogCounter())


class RuntimeGauges:
    """Depths read from the hosted bots and the journal at scrape time."""

    def __init__(
        self,
        hosted: Callable[[], Iterable[HostedDepths]],
        journal_queued: Callable[[], int],
        *,
        role: str = "up",
        leases: LeaseView | None = None,
    ) -> None:
        self._hosted = hosted
        self._journal_queued = journal_queued
        self._role = role
        self._leases = leases

    def collect(self) -> Iterator[Metric]:
        role = GaugeMetricFamily(
            "coursebot_process_role", "This process's role (up, runner, panel).", labels=["role"]
        )
        role.add_metric([self._role], 1)
        yield role
        if self._leases is not None:
            yield GaugeMetricFamily(
                "coursebot_bot_leases_held",
                "Bot leases this runner holds.",
                value=len(self._leases.held),
            )
            yield GaugeMetricFamily(
                "coursebot_runners_live",
                "Runners sharing the bots, as this runner's last lease round counted them.",
                value=self._leases.live_runners,
            )
        bots = list(self._hosted())
        gauges = (
            ("coursebot_bots_hosted", "Bots this process hosts now.", len(bots)),
            (
                "coursebot_journal_queued",
                "Items waiting for the next group-commit transaction.",
                self._journal_queued(),
            ),
            (
                "coursebot_sender_queued",
                "Bot API calls waiting in the per-bot send queues.",
                sum(b.sender.queued for b in bots),
            ),
            (
                "coursebot_chat_workers_busy",
                "Chats with a worker running now (handling updates or delivering).",
                sum(b.workers.busy for b in bots),
            ),
            (
                "coursebot_inbox_backlog_chats",
                "Chats with stored but unprocessed updates, per the bots' last sweep.",
                sum(b.backlog.inbox_chats for b in bots),
            ),
            (
                "coursebot_outbox_pending_chats",
                "Chats with unsent outbox rows, per the bots' last sweep.",
                sum(b.backlog.outbox_chats for b in bots),
            ),
        )
        for name, documentation, value in gauges:
            yield GaugeMetricFamily(name, documentation, value=value)


class _Exposition:
    def __init__(self, *collectors: RuntimeGauges | CollectorRegistry) -> None:
        self._collectors = collectors

    def collect(self) -> Iterator[Metric]:
        for collector in self._collectors:
            yield from collector.collect()


def metrics_router(
    hosted: Callable[[], Iterable[HostedDepths]],
    journal_queued: Callable[[], int],
    *,
    role: str = "up",
    leases: LeaseView | None = None,
) -> APIRouter:
    """GET /metrics in Prometheus text format: process-wide counters + live depths."""
    gauges = RuntimeGauges(hosted, journal_queued, role=role, leases=leases)
    exposition = _Exposition(REGISTRY, gauges)
    router = APIRouter()

    # async: it must run on the event loop that owns the runtime objects it reads.
    @router.get("/metrics", include_in_schema=False)
    async def get_metrics() -> Response:
        return Response(generate_latest(exposition), media_type=CONTENT_TYPE_LATEST)

    return router
