"""What the runtime hands the journal, and what it gets back (runtime/journal.py).

Items are the durable steps of an update's life: store it, handle it (or another
producer's event: a timer, a payment, a panel action), record that a message went out, and
look for work left behind. Each carries the future its submitter awaits; the
journal resolves it only after the item's batch committed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, NamedTuple, Protocol

from engine.events import Event
from runtime.hosted_bot import HostedBot
from runtime.inbound import Inbound, StartRequest
from runtime.run_position import RunPosition
from storage.batch import PendingMessage
from storage.inbox_events import AccessGranted, InboxEvent


class StoreOutcome(Enum):
    STORED = "stored"
    DUPLICATE = "duplicate"  # Telegram delivered it again: already stored
    REFUSED = "refused"  # PostgreSQL refused its content even alone: skipped


class IncomingUpdate(NamedTuple):
    """An update to store: `payload` is its JSON; `inbound` what it means (None: nothing).
    `handle`: also handle it in the transaction that stores it (see `StoreItem`)."""

    update_id: int
    chat_id: int | None
    payload: str
    inbound: Inbound | None
    handle: bool = False


class Arrival(NamedTuple):
    """A stored, not yet handled inbox row of a chat, as its worker takes it in: Telegram's
    update (`inbound`; None: it means nothing to a course, and is only marked processed) or
    another producer's event (`event`: storage/inbox_events.py)."""

    inbox_id: int
    update_id: int
    inbound: Inbound | None
    event: InboxEvent | None = None


class HandleResult(NamedTuple):
    """`ok` False: our code failed on the update; it is recorded with its error and skipped.
    `pending`: the chat's unsent messages after the commit, oldest first, those this update
    queued included (delivery starts from these instead of reading them again)."""

    ok: bool
    callback_query_id: str | None
    position: RunPosition | None
    pending: list[PendingMessage]


class Stored(NamedTuple):
    """`handled`: the update was handled in the same transaction (None: it waits in the
    inbox for its chat's worker, as every update did before)."""

    outcome: StoreOutcome
    inbox_id: int | None = None
    handled: HandleResult | None = None


class SentOutcome(NamedTuple):
    """What recording a message Telegram accepted found. `current` False: the row was no
    longer pending (its run was stopped, DESIGN §10), so the rows its delivery read along
    with it may be dropped too. `queued`: messages that its result fed to the run queued."""

    current: bool
    queued: int


class OutboxRow(Protocol):
    """An unsent message: a `models.Outbox` row, or a `batch.PendingMessage` (read-only)."""

    @property
    def id(self) -> int: ...
    @property
    def account_id(self) -> int: ...
    @property
    def chat_id(self) -> int: ...
    @property
    def run_id(self) -> int | None: ...
    @property
    def payload(self) -> dict[str, Any]: ...


@dataclass(eq=False, slots=True)
class Item:
    bot: HostedBot
    future: asyncio.Future[Any] = field(init=False)

    def __post_init__(self) -> None:
        self.future = asyncio.get_running_loop().create_future()


@dataclass(eq=False, slots=True)
class StoreItem(Item):
    """Store updates; with `handle`, the updates marked `handle` are handled in the same
    transaction too (claimed, stepped, their messages queued), saving an update of an idle
    chat a second transaction before its reply can go out. The journal clears `handle`
    when that part cannot go now (a course still being built, a statement refused): the
    updates are then only stored, and their chats' workers handle them as usual."""

    updates: Sequence[IncomingUpdate]
    touch: bool  # record the time of the bot's latest update too
    handle: bool = False


@dataclass(eq=False, slots=True)
class SweepItem(Item):
    pass


@dataclass(eq=False, slots=True)
class HandleItem(Item):
    chat_id: int
    arrival: Arrival


@dataclass(eq=False, slots=True)
class SentItem(Item):
    row: OutboxRow
    event: Event | None  # what Telegram's answer means to the run (a poll's id), if anything
    files: tuple[tuple[str, str], ...] = ()  # (media link, file id) Telegram fetched for it


def is_start(handle: HandleItem) -> bool:
    inbound = handle.arrival.inbound
    return inbound is not None and isinstance(inbound.action, StartRequest)


def is_grant(handle: HandleItem) -> bool:
    return isinstance(handle.arrival.event, AccessGranted)
