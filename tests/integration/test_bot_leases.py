"""Bot leases against real PostgreSQL (storage/leases.py, runtime/leases.py): shares spread
as runners join and leave, a lost lease fences the journal, and a bot whose token another
poller uses backs off on Telegram's 409 instead of hammering it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Collection
from dataclasses import dataclass
from datetime import UTC, datetime

import aiohttp
import pytest
from redis.asyncio import Redis
from sqlalchemy import text

from adapters.telegram.bot_runtime import RuntimeOptions
from adapters.telegram.runtime import TelegramRuntime
from adapters.telegram.sender import RateLimits
from adapters.telegram.updates import read_update, translate
from observability.metrics import GETUPDATES_CONFLICTS
from runtime.course_cache import CourseCache
from runtime.journal import Journal
from runtime.journal_items import Arrival, HandleResult, Stored, StoreOutcome
from runtime.leases import LeaseKeeper
from storage import leases
from storage.batch import BatchConnection
from tests.course_workers import shared_course_workers
from tests.fakes.telegram_api import FakeTelegram
from tests.integration.runtime_support import add_bot
from tests.integration.test_journal import School, arrive, incoming, open_school, text_update

pytestmark = pytest.mark.integration

TTL_S = 3.0


@pytest.fixture
async def redis(service_urls) -> AsyncIterator[Redis]:
    client = Redis.from_url(service_urls.redis_url)
    yield client
    await client.aclose()


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as server:
        yield server


@pytest.fixture
async def no_other_runner(db) -> AsyncIterator[None]:
    """Runner rows other tests' runtimes left (they expire on their own) would take shares."""
    async with db.system() as session:
        await session.execute(text("DELETE FROM runner"))
        await session.execute(text("DELETE FROM bot_lease"))
    yield


async def round_of(keepers: list[LeaseKeeper], bots: list[int]) -> list[int]:
    """Each keeper's round as the bot pool does it: renew/acquire, then give back surplus."""
    for keeper in keepers:
        await keeper.tick(bots)
        if surplus := keeper.surplus():
            await keeper.release(surplus)
    return [len(k.held) for k in keepers]


async def test_shares_spread_as_runners_join_and_leave(db, no_other_runner):
    bots = list(range(900_001, 900_010))  # nine bots: shares of 9, 5/4, 3/3/3
    first, second, third = (LeaseKeeper(db, ttl_s=TTL_S) for _ in range(3))

    assert await round_of([first], bots) == [9]
    await second.tick(bots)  # joins: nothing free yet, its share is 5
    assert (len(second.held), second.target) == (0, 5)
    assert await round_of([first, second], bots) == [5, 4]  # the first gave 4 back
    assert await round_of([first, second], bots) == [5, 4]  # and it stays so

    await third.tick(bots)
    assert await round_of([first, second, third], bots) == [3, 3, 3]
    assert await round_of([first, second, third], bots) == [3, 3, 3]

    await second.leave()  # SIGTERM: every lease back at once
    counts = await round_of([first, third], bots)
    assert sorted(counts) == [4, 5] and sum(counts) == 9
    holders = {k.me: set(k.held) for k in (first, third)}
    assert set().union(*holders.values()) == set(bots)
    assert not set.intersection(*holders.values()), "no bot is held twice"


async def test_a_dead_runners_bots_are_taken_after_the_lease_expires(db, no_other_runner):
    bots = list(range(900_011, 900_015))
    dead, alive = LeaseKeeper(db, ttl_s=TTL_S), LeaseKeeper(db, ttl_s=TTL_S)
    await round_of([dead], bots)
    await alive.tick(bots)
    assert len(alive.held) == 0
    started = time.monotonic()
    while len(alive.held) < len(bots):  # the dead one never renews again
        await asyncio.sleep(0.2)
        await alive.tick(bots)
    waited = time.monotonic() - started
    assert TTL_S - 0.5 < waited < TTL_S + 1.0, waited
    assert dead.expired, "a runner that could not renew knows its leases are void"


async def test_leases_are_renewed_between_rounds(db, no_other_runner):
    """A pool round that takes long (many bots starting on a busy machine) must not cost
    the runner its bots: the keeper renews on its own meanwhile."""
    bots = list(range(900_021, 900_024))
    busy, other = LeaseKeeper(db, ttl_s=1.5), LeaseKeeper(db, ttl_s=1.5)
    await busy.tick(bots)
    renewing = asyncio.create_task(busy.keep_renewed(0.3))
    try:
        for _ in range(8):  # 2.4 s: longer than the lease lasts
            await asyncio.sleep(0.3)
            await other.tick(bots)
            assert other.held == set() and not busy.expired
    finally:
        renewing.cancel()
    assert busy.held == set(bots)
    await asyncio.sleep(1.6)
    await other.tick(bots)
    assert other.held == set(bots)


@dataclass
class TwoRunners:
    """A school's bot whose lease `old` held and lost (its runner stalled past the expiry)
    and `new` took: the journals of the two runners."""

    school: School
    stale: Journal
    fresh: Journal
    old: LeaseKeeper
    new: LeaseKeeper

    async def lose_the_lease(self) -> None:
        await asyncio.sleep(1.2)  # the old holder stalls past its lease
        await self.new.tick([self.school.bot.bot_id])
        assert self.new.held == {self.school.bot.bot_id}


@pytest.fixture
async def two_runners(db, secret_box, make_account, no_other_runner) -> AsyncIterator[TwoRunners]:
    school = await open_school(db, secret_box, make_account)
    old, new = LeaseKeeper(db, ttl_s=1.0), LeaseKeeper(db, ttl_s=TTL_S)
    await old.tick([school.bot.bot_id])
    clock = lambda: datetime.now(UTC)  # noqa: E731
    courses = CourseCache(shared_course_workers())
    runners = TwoRunners(
        school,
        Journal(db, courses, clock, fence=old),
        Journal(db, courses, clock, fence=new),
        old,
        new,
    )
    runners.stale.start()
    runners.fresh.start()
    try:
        yield runners
    finally:
        await runners.stale.stop()
        await runners.fresh.stop()


async def test_a_lost_lease_fences_the_journal(two_runners: TwoRunners):
    """A runner that lost a bot's lease (stalled past its expiry) applies nothing for it
    even if it still holds the update in memory: the new holder handles it, once."""
    school, stale, fresh = two_runners.school, two_runners.stale, two_runners.fresh
    user = 8_900_001
    arrival = await arrive(stale, school.bot, text_update(user, f"/start {school.start_payload}"))
    await two_runners.lose_the_lease()

    assert await stale.handle(school.bot, user, arrival) is None
    handled = await fresh.handle(school.bot, user, arrival)
    assert handled is not None and handled.position is not None
    assert await fresh.handle(school.bot, user, arrival) is None  # never twice


async def test_a_lost_lease_fences_an_idle_chats_answer_too(db, two_runners: TwoRunners):
    """The one statement that stores and steps an idle chat's answer checks the lease as a
    batch does: the runner that lost it writes nothing, and the new holder steps the
    answer, once."""
    school, stale, fresh = two_runners.school, two_runners.stale, two_runners.fresh
    user = 8_900_201
    start = text_update(user, f"/start {school.start_payload}")
    (started,) = await stale.store(school.bot, [incoming(start, at_once=True)], handle=True)
    assert started.handled is not None  # the stale runner now holds the run's state
    before = db.batch_stats.statements
    words = text_update(user, "Поехали")
    (stored,) = await stale.store(school.bot, [incoming(words, at_once=True)], handle=True)
    # one statement (and one naming the account), where a fenced batch takes six
    assert stored.handled is not None and db.batch_stats.statements - before <= 2

    await two_runners.lose_the_lease()
    raw = text_update(user, "hello")
    (late,) = await stale.store(school.bot, [incoming(raw, at_once=True)], handle=True)

    assert late.outcome is StoreOutcome.STORED and late.handled is None
    arrival = Arrival(late.inbox_id or 0, raw["update_id"], translate(read_update(raw)))
    handled = await fresh.handle(school.bot, user, arrival)
    assert handled is not None and handled.ok
    assert await fresh.handle(school.bot, user, arrival) is None  # never twice


WhileFenced = Callable[[], Awaitable[None]]


class PausingFence:
    """`keeper`'s fence that pauses for `while_fenced` right after it first fenced."""

    def __init__(self, keeper: LeaseKeeper, while_fenced: WhileFenced) -> None:
        self.me = keeper.me
        self.paused = False
        self._keeper = keeper
        self._while_fenced = while_fenced

    async def fence(self, connection: BatchConnection, ids: Collection[int]) -> set[int]:
        held = await self._keeper.fence(connection, ids)
        if not self.paused:
            self.paused = True
            await self._while_fenced()
        return held


async def one_batch_paused_at_its_fence(
    db, keeper: LeaseKeeper, handled: School, stored: School, while_fenced: WhileFenced
) -> tuple[Stored, HandleResult | None]:
    """A journal batch of `keeper`'s runner that handles a stored /start of `handled`'s bot
    and stores and handles one of `stored`'s, paused right after its (first) lease fence
    for `while_fenced`; the two outcomes."""
    fence = PausingFence(keeper, while_fenced)
    courses = CourseCache(shared_course_workers())
    journal = Journal(db, courses, lambda: datetime.now(UTC), fence=fence)
    journal.start()
    try:
        user = 8_900_101
        arrival = await arrive(
            journal, handled.bot, text_update(user, f"/start {handled.start_payload}")
        )
        raw = text_update(user, f"/start {stored.start_payload}")
        (at_once,), result = await asyncio.wait_for(
            asyncio.gather(  # one batch: queued before the journal's worker wakes
                journal.store(stored.bot, [incoming(raw, at_once=True)], handle=True),
                journal.handle(handled.bot, user, arrival),
            ),
            timeout=15,
        )
    finally:
        await journal.stop()
    assert fence.paused
    return at_once, result


async def two_schools(db, secret_box, make_account) -> tuple[School, School, list[int]]:
    """(handled, stored, their bot ids): the bot the batch handles has the lower id."""
    handled, stored = [await open_school(db, secret_box, make_account) for _ in range(2)]
    bots = [handled.bot.bot_id, stored.bot.bot_id]
    assert bots == sorted(bots)
    return handled, stored, bots


def began(at_once: Stored, result: HandleResult | None) -> bool:
    """Both /starts of the batch began their courses."""
    return (
        result is not None
        and result.position is not None
        and at_once.handled is not None
        and at_once.handled.position is not None
    )


async def test_a_lease_renewal_never_waits_for_a_batch(
    db, secret_box, make_account, no_other_runner
):
    """Renewing moves only the expiry, which the journal's fence does not lock against: a
    renewal that had to wait for batches (and batches for it) stalled both every second."""
    handled, stored, bots = await two_schools(db, secret_box, make_account)
    keeper = LeaseKeeper(db, ttl_s=TTL_S)
    await keeper.tick(bots)
    renewed: set[int] = set()

    async def renew_meanwhile() -> None:
        async with db.system() as session:
            renewal = leases.renew(session, keeper.me, bots, ttl_s=TTL_S)
            renewed.update(await asyncio.wait_for(renewal, timeout=3))

    outcome = await one_batch_paused_at_its_fence(db, keeper, handled, stored, renew_meanwhile)
    assert renewed == set(bots)
    assert began(*outcome)


async def test_a_takeover_waits_for_the_old_holders_batch(
    db, secret_box, make_account, no_other_runner
):
    """A lease that expires while a batch of its holder is committing changes hands only
    after that batch: the new holder then sees what it wrote, and never applies an update
    the old one applied."""
    handled, stored, bots = await two_schools(db, secret_box, make_account)
    old, new = LeaseKeeper(db, ttl_s=1.0), LeaseKeeper(db, ttl_s=TTL_S)
    await old.tick(bots)
    takeover: asyncio.Task[None] | None = None

    async def expire_and_take_over() -> None:
        nonlocal takeover
        await asyncio.sleep(1.3)  # the old holder's leases expire mid-batch
        takeover = asyncio.create_task(new.tick(bots))
        await _until_a_lease_statement_waits(db)
        assert not takeover.done()

    outcome = await one_batch_paused_at_its_fence(db, old, handled, stored, expire_and_take_over)
    assert began(*outcome)
    assert takeover is not None
    await asyncio.wait_for(takeover, timeout=5)
    assert new.held == set(bots)


async def test_a_release_and_a_batch_never_deadlock(db, secret_box, make_account, no_other_runner):
    """A release that waits for a lease row a journal batch has fenced must not be holding a
    row the batch fences next: PostgreSQL would abort one of them. The release starts right
    after the batch's fence, in the worst order: it locks the bot the batch handles (the
    lower id) first and waits for the one it stores and handles. (A batch that fenced those
    two bots in two statements deadlocked here, as renewals did under a broadcast.)"""
    handled, stored, bots = await two_schools(db, secret_box, make_account)
    keeper = LeaseKeeper(db, ttl_s=TTL_S)
    await keeper.tick(bots)
    release: asyncio.Task[None] | None = None

    async def give_back() -> None:
        async with db.system() as session:
            await leases.release(session, keeper.me, bots)

    async def release_meanwhile() -> None:
        nonlocal release
        release = asyncio.create_task(give_back())
        await _until_a_lease_statement_waits(db)

    outcome = await one_batch_paused_at_its_fence(db, keeper, handled, stored, release_meanwhile)
    assert began(*outcome)
    assert release is not None
    await asyncio.wait_for(release, timeout=5)
    async with db.system() as session:
        left = await session.scalar(
            text("SELECT count(*) FROM bot_lease WHERE bot_id = ANY(:bots)"), {"bots": bots}
        )
    assert left == 0


async def _until_a_lease_statement_waits(db) -> None:
    query = text(
        "SELECT count(*) FROM pg_stat_activity "
        "WHERE wait_event_type = 'Lock' AND query LIKE '%bot_lease%'"
    )
    for _ in range(200):
        async with db.system() as session:
            if await session.scalar(query):
                return
        await asyncio.sleep(0.01)
    raise AssertionError("the renewal never waited for the fenced lease row")


async def test_a_conflicting_poller_makes_the_bot_back_off(
    db, secret_box, redis, fake, make_account
):
    """Another poller of the same token (a second installation): every one of its polls ends
    ours with 409; the runtime backs off, doubling, and counts each 409."""
    account_id = await make_account()
    fake_bot = fake.add_bot()
    bot_id = await add_bot(db, secret_box, account_id, fake_bot)
    runtime = TelegramRuntime(
        db,
        secret_box,
        redis,
        RuntimeOptions(
            api_base=fake.base_url, poll_timeout_s=5, rate_limits=RateLimits(chat_per_second=50)
        ),
        workers=shared_course_workers(),
        reconcile_interval_s=0.3,
    )
    conflicts_before = GETUPDATES_CONFLICTS._value.get()
    await runtime.start()
    rogue_polls = 0
    try:
        while runtime.pool.get(bot_id) is None:
            await asyncio.sleep(0.05)
        url = f"{fake.base_url}/bot{fake_bot.token}/getUpdates"
        started = time.monotonic()
        async with aiohttp.ClientSession() as client:
            while time.monotonic() - started < 6.0:  # the other installation polls non-stop
                async with client.post(url, json={"timeout": 0}) as response:
                    await response.read()
                rogue_polls += 1
                await asyncio.sleep(0.05)
    finally:
        await runtime.stop()

    ours = len(fake.calls_of("getUpdates", fake_bot)) - rogue_polls
    conflicts = GETUPDATES_CONFLICTS._value.get() - conflicts_before
    print(f"409s: {conflicts}; our polls: {ours}; the other poller's: {rogue_polls}")
    # Backing off 1, 2, 4 s (plus jitter): about four polls in six seconds, not hundreds.
    assert 2 <= conflicts <= 5, conflicts
    assert ours <= conflicts + 2, (ours, rogue_polls)
    assert rogue_polls > 50
