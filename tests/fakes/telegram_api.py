"""A fake Telegram Bot API server: real HTTP, so real aiogram Bots can talk to it.

Tests point aiogram at `TelegramAPIServer.from_base(fake.base_url)` (or TELEGRAM_API_BASE) and
the whole client stack runs for real: form/JSON/multipart encoding, response parsing, aiogram's
error classes. The fake answers like Telegram does where a runtime could notice the difference:
401 for unknown tokens, 409 for getUpdates while a webhook is set or when a newer getUpdates
supersedes an older one (as Telegram does: the *older* open poll is answered "Conflict:
terminated by other getUpdates request", the newer one carries on), 400 for malformed
keyboards, unknown file ids, unknown callback query ids, "message is not modified" edits,
403 for users who blocked the bot, and `allowed_updates` filtering (a dispatcher that asks
only for messages never sees poll answers - as in real life).

Not emulated: Markdown/HTML parsing (text is echoed verbatim; `parse_mode` stays in the recorded
params), channels and `@username` chat ids, inline mode, payments. Polls answered anonymously
produce a `poll` update and no `poll_answer`, which is why the runtime must send
`is_anonymous=false`.

Usage:
    async with FakeTelegram() as fake:
        school = fake.add_bot("school_bot")
        api = TelegramAPIServer.from_base(fake.base_url)
        bot = Bot(school.token, session=AiohttpSession(api=api))
        fake.push_start(school, 1001, "cd_1_abc")
        sent = await fake.wait_for_sent(1001, count=2, bot=school)
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import itertools
import json
import math
import re
import secrets
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, TypeVar

import aiohttp
from aiohttp import web

T = TypeVar("T")

# Update types Telegram sends when `allowed_updates` is unset or empty.
_NOT_SENT_BY_DEFAULT = {"chat_member", "message_reaction", "message_reaction_count"}
# Methods that put a message into a chat: the ones Telegram's flood limits count.
_SEND_METHODS = {"sendmessage", "sendpoll", "sendphoto", "sendvideo", "sendaudio", "sendmediagroup"}
_CHAT_ACTIONS = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)
# Form fields arrive as strings; these are how Telegram types them.
_INT_PARAMS = frozenset(
    {
        "message_id",
        "offset",
        "limit",
        "timeout",
        "duration",
        "width",
        "height",
        "open_period",
        "close_date",
        "correct_option_id",
        "max_connections",
        "message_thread_id",
        "cache_time",
        "reply_to_message_id",
    }
)
_BOOL_PARAMS = frozenset(
    {
        "disable_notification",
        "protect_content",
        "is_anonymous",
        "allows_multiple_answers",
        "allows_revoting",
        "is_closed",
        "drop_pending_updates",
        "show_alert",
        "supports_streaming",
        "has_spoiler",
        "disable_web_page_preview",
        "allow_sending_without_reply",
        "allow_paid_broadcast",
        "shuffle_options",
        "hide_results_until_closes",
        "show_caption_above_media",
    }
)
_JSON_PARAMS = frozenset(
    {
        "reply_markup",
        "commands",
        "scope",
        "entities",
        "caption_entities",
        "options",
        "media",
        "allowed_updates",
        "link_preview_options",
        "reply_parameters",
        "correct_option_ids",
        "question_entities",
        "explanation_entities",
        "description_entities",
        "explanation_media",
        "country_codes",
    }
)
_TOKEN = re.compile(r"([0-9]{1,20}):[A-Za-z0-9_-]{1,100}")
_SECRET_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,256}")
_WRONG_FILE = "Bad Request: wrong file identifier/HTTP URL specified"


class ApiError(Exception):
    """An error answer: becomes `{"ok": false, "error_code": status, ...}` on the wire, or
    `raw_body` as it is (what a proxy in front of the Bot API may answer)."""

    def __init__(
        self,
        status: int,
        description: str,
        retry_after: int | None = None,
        raw_body: str | None = None,
    ) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.retry_after = retry_after
        self.raw_body = raw_body


@dataclass(frozen=True)
class FakeBot:
    """A registered bot; pass it (or its id, or its token) wherever a `bot` is asked for."""

    id: int
    token: str
    username: str
    first_name: str


BotRef = FakeBot | int | str


@dataclass
class Call:
    """One Bot API request as the fake saw it. `status` is None while a long poll is open."""

    bot_id: int
    method: str
    params: dict[str, Any]
    time: float  # time.monotonic() on arrival
    status: int | None = None
    result: Any = None
    error: str | None = None


@dataclass
class Sent:
    """A message a bot sent. `message` is the live record: later edits show up in it."""

    bot_id: int
    chat_id: int
    message_id: int
    method: str
    time: float  # time.monotonic() when it was sent
    message: dict[str, Any]

    @property
    def text(self) -> str | None:
        """Text, caption or poll question: what the student reads first."""
        if "poll" in self.message:
            return self.message["poll"]["question"]
        return self.message.get("text", self.message.get("caption"))

    @property
    def poll(self) -> dict[str, Any] | None:
        return self.message.get("poll")

    @property
    def buttons(self) -> list[dict[str, Any]]:
        """The inline keyboard's buttons, row by row, flattened."""
        markup = self.message.get("reply_markup") or {}
        return [button for row in markup.get("inline_keyboard", []) for button in row]


@dataclass
class Delivery:
    """One webhook POST attempt; `status` is None when the connection itself failed."""

    bot_id: int
    update_id: int
    status: int | None
    secret_header: str | None
    time: float


@dataclass
class Fault:
    method: str  # lower-case method name
    status: int
    description: str
    retry_after: int | None
    remaining: int
    chat_id: int | None
    bot_id: int | None
    raw_body: str | None = None


@dataclass(frozen=True)
class Limits:
    """Telegram's flood limits as the fake enforces them; `slack` forgives that much network
    jitter (seconds).

    A bot's sends, and those to one private chat, are token buckets: `*_burst` at once after
    a quiet spell, then the published rate (≈30/s per bot, one per second per chat).
    Telegram says it "may allow short bursts" in a chat without saying how long; these are
    the bursts the runtime's sender relies on (adapters/telegram/sender.py `RateLimits`),
    so a sender that goes beyond them is caught here. A group gets 20 in any minute.
    """

    per_bot_per_second: int = 30
    bot_burst: int = 2
    per_chat_per_second: int = 1
    chat_burst: int = 3
    per_group_per_minute: int = 20
    slack: float = 0.05


class _Signal:
    """Wakes every waiter at once; waiters check their condition, then wait, with no await
    in between, so a fire can never slip through unseen."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def fire(self) -> None:
        self._event.set()
        self._event = asyncio.Event()

    async def wait(self, timeout: float | None) -> None:
        event = self._event
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), timeout)


@dataclass
class _File:
    file_id: str
    unique_id: str
    kind: str
    data: bytes | None
    url: str | None
    path: str


@dataclass
class _Poll:
    poll: dict[str, Any]
    votes: dict[int, list[int]] = field(default_factory=dict)


@dataclass
class _Webhook:
    url: str
    secret: str | None
    max_connections: int
    last_error_date: int | None = None
    last_error_message: str | None = None


@dataclass
class _Bucket:
    """`rate` tokens a second, at most `capacity` of them; a send spends one."""

    rate: float
    capacity: float
    tokens: float
    updated: float

    def wait(self, now: float, slack: float) -> float:
        """Seconds until a send is allowed (0: now), forgiving `slack` seconds early."""
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        return max(0.0, (1.0 - self.tokens) / self.rate - slack)


@dataclass
class _BotState:
    info: FakeBot
    signal: _Signal = field(default_factory=_Signal)
    pending: deque[dict[str, Any]] = field(default_factory=deque)
    next_update_id: int = 100_000
    allowed_updates: list[str] = field(default_factory=list)
    webhook: _Webhook | None = None
    webhook_task: asyncio.Task[None] | None = None
    poll_generation: int = 0
    last_message_id: dict[int, int] = field(default_factory=dict)
    messages: dict[tuple[int, int], dict[str, Any]] = field(default_factory=dict)
    polls: dict[str, _Poll] = field(default_factory=dict)
    callback_queries: dict[str, bool] = field(default_factory=dict)  # id -> answered
    blocked: set[int] = field(default_factory=set)
    send_bucket: _Bucket | None = None
    chat_buckets: dict[int, _Bucket] = field(default_factory=dict)
    group_send_times: dict[int, deque[float]] = field(default_factory=dict)
    # (scope type, language code or "") -> the command menu set with setMyCommands
    commands: dict[tuple[str, str], list[dict[str, str]]] = field(default_factory=dict)


# Bot ids are unique across every fake of the process: tests share one database, where a
# Telegram bot id may belong to one bot row only.
_BOT_NUMBERS = itertools.count(1)


class FakeTelegram:
    """Bot API server on 127.0.0.1 with many bots, student simulators and fault injection."""

    def __init__(
        self,
        *,
        enforce_limits: bool = False,
        limits: Limits | None = None,
        webhook_retry_delay: float = 0.05,
        webhook_retry_max_delay: float = 1.0,
    ) -> None:
        self.enforce_limits = enforce_limits
        self.limits = limits or Limits()
        self.webhook_retry_delay = webhook_retry_delay
        self.webhook_retry_max_delay = webhook_retry_max_delay
        self.calls: list[Call] = []
        self.sent: list[Sent] = []
        self.deliveries: list[Delivery] = []
        self.limit_violations = 0  # 429s answered because `enforce_limits` caught a flood
        self._bots: dict[int, _BotState] = {}
        self._by_token: dict[str, _BotState] = {}
        self._users: dict[int, dict[str, Any]] = {}
        self._files: dict[str, _File] = {}
        self._files_by_path: dict[str, _File] = {}
        self._faults: list[Fault] = []
        self._changed = _Signal()
        self._ids = itertools.count(1)
        self._closing = False
        self._runner: web.AppRunner | None = None
        self._client: aiohttp.ClientSession | None = None
        self._base_url: str | None = None

    # ---- lifecycle ------------------------------------------------------------------------

    async def __aenter__(self) -> FakeTelegram:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def start(self) -> None:
        app = web.Application(client_max_size=50 * 1024 * 1024)  # Telegram's upload cap
        app.router.add_route("*", "/bot{token}/{method}", self._handle_method)
        app.router.add_get("/file/bot{token}/{path:.+}", self._handle_file)
        self._runner = web.AppRunner(app, shutdown_timeout=1.0, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self._base_url = f"http://{host}:{port}"
        self._client = aiohttp.ClientSession()

    async def stop(self) -> None:
        self._closing = True
        for bot in self._bots.values():
            bot.signal.fire()  # open long polls return at once
            if bot.webhook_task is not None:
                bot.webhook_task.cancel()
        tasks = [b.webhook_task for b in self._bots.values() if b.webhook_task is not None]
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._client is not None:
            await self._client.close()
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def base_url(self) -> str:
        """What to give `TelegramAPIServer.from_base` / TELEGRAM_API_BASE."""
        if self._base_url is None:
            raise RuntimeError("FakeTelegram is not started")
        return self._base_url

    # ---- registration ---------------------------------------------------------------------

    def add_bot(
        self, username: str | None = None, *, token: str | None = None, first_name: str = ""
    ) -> FakeBot:
        """Register a bot; its id is the number before `:` in the token, as in Telegram."""
        if token is None:
            token = f"{7_000_000_000 + next(_BOT_NUMBERS)}:{secrets.token_urlsafe(26)}"
        match = _TOKEN.fullmatch(token)
        if match is None:
            raise ValueError("token must look like '<digits>:<secret>'")
        if token in self._by_token:
            raise ValueError("token already registered")
        bot_id = int(match.group(1))
        username = username or f"fake{bot_id}_bot"
        info = FakeBot(bot_id, token, username, first_name or username)
        state = _BotState(info)
        self._bots[bot_id] = state
        self._by_token[token] = state
        return info

    def rotate_token(self, bot: BotRef) -> FakeBot:
        """BotFather's /revoke: the same bot (id, username) gets a new token and the old one
        answers 401 from now on. Returns the bot with its new token."""
        state = self._bot(bot)
        old = state.info
        token = f"{old.id}:{secrets.token_urlsafe(26)}"
        del self._by_token[old.token]
        state.info = FakeBot(old.id, token, old.username, old.first_name)
        self._by_token[token] = state
        state.signal.fire()  # an open long poll with the old token returns at once
        self._changed.fire()
        return state.info

    def add_user(
        self,
        user_id: int,
        first_name: str | None = None,
        *,
        username: str | None = None,
        language_code: str = "ru",
    ) -> dict[str, Any]:
        """Give a student a name; students who just start pushing get `User<id>`."""
        user: dict[str, Any] = {
            "id": user_id,
            "is_bot": False,
            "first_name": first_name or f"User{user_id}",
            "language_code": language_code,
        }
        if username:
            user["username"] = username
        self._users[user_id] = user
        return user

    # ---- inspection -----------------------------------------------------------------------

    def sent_to(self, chat_id: int, bot: BotRef | None = None) -> list[Sent]:
        """Messages (texts, polls, media) sent to one chat, oldest first."""
        bot_id = None if bot is None else self._bot(bot).info.id
        return [
            s for s in self.sent if s.chat_id == chat_id and (bot_id is None or s.bot_id == bot_id)
        ]

    def calls_of(self, method: str, bot: BotRef | None = None) -> list[Call]:
        bot_id = None if bot is None else self._bot(bot).info.id
        wanted = method.lower()
        return [
            c
            for c in self.calls
            if c.method.lower() == wanted and (bot_id is None or c.bot_id == bot_id)
        ]

    def file_data(self, file_id: str) -> bytes | None:
        """What a bot uploaded as this file (None: sent by URL, or unknown)."""
        file = self._files.get(file_id)
        return file.data if file is not None else None

    def pending_updates(self, bot: BotRef) -> list[dict[str, Any]]:
        """Updates queued and not yet confirmed by getUpdates or acknowledged by a webhook."""
        return list(self._bot(bot).pending)

    async def wait_for(self, predicate: Callable[[], T], timeout: float = 5.0) -> T:
        """Wait until `predicate()` is truthy and return its value.

        Re-checked whenever the fake's state changes (a request handled, an update pushed, a
        webhook delivered), never on a polling timer.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            value = predicate()
            if value:
                return value
            remaining = deadline - loop.time()
            if remaining <= 0:
                recent = ", ".join(f"{c.method}->{c.status}" for c in self.calls[-8:])
                raise TimeoutError(f"condition not met within {timeout}s; last calls: {recent}")
            await self._changed.wait(remaining)

    async def wait_for_sent(
        self, chat_id: int, count: int = 1, *, bot: BotRef | None = None, timeout: float = 5.0
    ) -> list[Sent]:
        """All messages sent to the chat, once there are at least `count` of them."""
        return await self.wait_for(
            lambda: (sent := self.sent_to(chat_id, bot)) and len(sent) >= count and sent,
            timeout,
        )

    # ---- fault injection ------------------------------------------------------------------

    def fail_next(
        self,
        method: str,
        status: int = 429,
        *,
        retry_after: int | None = None,
        count: int = 1,
        chat_id: int | None = None,
        bot: BotRef | None = None,
        description: str | None = None,
        raw_body: str | None = None,
    ) -> None:
        """Answer the next `count` matching calls with an error instead of running them;
        with `raw_body`, with that text (an HTML page, say) instead of the Bot API's JSON."""
        if status == 429 and retry_after is None:
            retry_after = 1
        if description is None:
            description = {
                429: f"Too Many Requests: retry after {retry_after}",
                403: "Forbidden: bot was blocked by the user",
            }.get(status, HTTPStatus(status).phrase)
        self._faults.append(
            Fault(
                method=method.lower(),
                status=status,
                description=description,
                retry_after=retry_after,
                remaining=count,
                chat_id=chat_id,
                bot_id=None if bot is None else self._bot(bot).info.id,
                raw_body=raw_body,
            )
        )

    def block_user(self, bot: BotRef, user_id: int) -> dict[str, Any]:
        """The student blocks the bot: sends to them get 403 until `unblock_user`."""
        state = self._bot(bot)
        state.blocked.add(user_id)
        return self._push_member_change(state, user_id, "member", "kicked")

    def unblock_user(self, bot: BotRef, user_id: int) -> dict[str, Any]:
        state = self._bot(bot)
        state.blocked.discard(user_id)
        return self._push_member_change(state, user_id, "kicked", "member")

    # ---- student simulators ---------------------------------------------------------------

    def push_update(
        self, bot: BotRef, update: dict[str, Any], *, duplicate: bool = False
    ) -> dict[str, Any]:
        """Queue a raw update (an `update_id` is assigned if missing).

        `duplicate=True` delivers it twice with the same update_id, as Telegram does when it
        did not see an acknowledgement: the runtime must process it once.
        """
        state = self._bot(bot)
        update = dict(update)
        if "update_id" not in update:
            update["update_id"] = state.next_update_id
        state.next_update_id = max(state.next_update_id, update["update_id"] + 1)
        kind = next((k for k in update if k != "update_id"), None)
        allowed = state.allowed_updates
        if kind is None or (kind not in allowed if allowed else kind in _NOT_SENT_BY_DEFAULT):
            return update  # Telegram would never have sent it to this bot
        state.pending.append(update)
        if duplicate:
            state.pending.append(copy.deepcopy(update))
        state.signal.fire()
        self._changed.fire()
        return update

    def push_text(
        self, bot: BotRef, user_id: int, text: str, *, chat_id: int | None = None
    ) -> dict[str, Any]:
        """The student types `text` (a leading /command gets its bot_command entity)."""
        state = self._bot(bot)
        message = self._user_message(state, user_id, chat_id)
        message["text"] = text
        if text.startswith("/"):
            command = text.split(maxsplit=1)[0]
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(command)}]
        return self.push_update(state.info.id, {"message": message})

    def push_start(self, bot: BotRef, user_id: int, payload: str | None = None) -> dict[str, Any]:
        """The student opens `t.me/<bot>?start=<payload>` (or just presses Start)."""
        return self.push_text(bot, user_id, "/start" if payload is None else f"/start {payload}")

    def push_voice(
        self,
        bot: BotRef,
        user_id: int,
        data: bytes = b"OggS-fake-voice",
        *,
        duration: int = 2,
        chat_id: int | None = None,
    ) -> dict[str, Any]:
        """The student records a voice note; the bot can getFile and download `data`."""
        state = self._bot(bot)
        file = self._new_file("voice", data=data, extension="oga")
        message = self._user_message(state, user_id, chat_id)
        message["voice"] = {
            "file_id": file.file_id,
            "file_unique_id": file.unique_id,
            "duration": duration,
            "mime_type": "audio/ogg",
            "file_size": len(data),
        }
        return self.push_update(state.info.id, {"message": message})

    def press_button(
        self,
        bot: BotRef,
        user_id: int,
        message: int | Sent | dict[str, Any],
        callback_data: str,
        *,
        chat_id: int | None = None,
    ) -> dict[str, Any]:
        """The student taps an inline button; ValueError if that message has no such button
        (a test pressing a button the student could not see would prove nothing)."""
        state = self._bot(bot)
        if isinstance(message, Sent):
            key = (message.chat_id, message.message_id)
        elif isinstance(message, dict):
            key = (message["chat"]["id"], message["message_id"])
        else:
            key = (user_id if chat_id is None else chat_id, message)
        stored = state.messages.get(key)
        if stored is None:
            raise ValueError(f"bot {state.info.username} sent no message {key[1]} to {key[0]}")
        datas = [
            b.get("callback_data")
            for row in (stored.get("reply_markup") or {}).get("inline_keyboard", [])
            for b in row
        ]
        if callback_data not in datas:
            raise ValueError(f"message {key[1]} has no button {callback_data!r}; it has {datas}")
        query_id = str(secrets.randbits(63))
        state.callback_queries[query_id] = False
        query = {
            "id": query_id,
            "from": self._user(user_id),
            "message": copy.deepcopy(stored),
            "chat_instance": str(abs(hash((state.info.id, key[0])))),
            "data": callback_data,
        }
        return self.push_update(state.info.id, {"callback_query": query})

    def press_forged_button(
        self, bot: BotRef, user_id: int, message: Sent, callback_data: str
    ) -> dict[str, Any]:
        """A modified client sends a callback query for `message` with any `callback_data`
        (Telegram delivers the data as the client sent it, button or not)."""
        state = self._bot(bot)
        stored = state.messages.get((message.chat_id, message.message_id))
        if stored is None:
            raise ValueError(f"bot {state.info.username} sent no message {message.message_id}")
        query_id = str(secrets.randbits(63))
        state.callback_queries[query_id] = False
        query = {
            "id": query_id,
            "from": self._user(user_id),
            "message": copy.deepcopy(stored),
            "chat_instance": str(abs(hash((state.info.id, message.chat_id)))),
            "data": callback_data,
        }
        return self.push_update(state.info.id, {"callback_query": query})

    def answer_poll(
        self, bot: BotRef, user_id: int, poll_id: str, option_ids: Iterable[int]
    ) -> dict[str, Any]:
        """The student votes (an empty list retracts a vote where the poll allows it)."""
        state = self._bot(bot)
        record = state.polls.get(poll_id)
        if record is None:
            raise ValueError(f"bot {state.info.username} sent no poll {poll_id}")
        poll = record.poll
        chosen = sorted(set(option_ids))
        if poll["is_closed"]:
            raise ValueError("the poll is closed")
        if any(not 0 <= i < len(poll["options"]) for i in chosen):
            raise ValueError(f"poll has options 0..{len(poll['options']) - 1}, got {chosen}")
        if len(chosen) > 1 and not poll["allows_multiple_answers"]:
            raise ValueError("the poll allows one answer only")
        if record.votes.get(user_id) and not poll["allows_revoting"]:
            raise ValueError("the poll does not allow changing a vote")
        for i in record.votes.pop(user_id, []):
            poll["options"][i]["voter_count"] -= 1
        if chosen:
            record.votes[user_id] = chosen
            for i in chosen:
                poll["options"][i]["voter_count"] += 1
        poll["total_voter_count"] = len(record.votes)
        if poll["is_anonymous"]:
            return self.push_update(state.info.id, {"poll": copy.deepcopy(poll)})
        answer = {
            "poll_id": poll_id,
            "user": self._user(user_id),
            "option_ids": chosen,
            "option_persistent_ids": [poll["options"][i]["persistent_id"] for i in chosen],
        }
        return self.push_update(state.info.id, {"poll_answer": answer})

    # ---- HTTP -----------------------------------------------------------------------------

    async def _handle_method(self, request: web.Request) -> web.Response:
        state = self._by_token.get(request.match_info["token"])
        if state is None:
            return _error_response(ApiError(401, "Unauthorized"))
        try:
            params, uploads = await _read_params(request)
        except ApiError as error:
            return _error_response(error)
        status, body = await self._execute(state, request.match_info["method"], params, uploads)
        if isinstance(body, str):
            return web.Response(text=body, status=status, content_type="text/html")
        return web.json_response(body, status=status)

    async def _handle_file(self, request: web.Request) -> web.Response:
        if request.match_info["token"] not in self._by_token:
            return _error_response(ApiError(401, "Unauthorized"))
        file = self._files_by_path.get(request.match_info["path"])
        if file is None or file.data is None:
            return _error_response(ApiError(404, "Not Found"))
        return web.Response(body=file.data, content_type="application/octet-stream")

    async def _execute(
        self,
        state: _BotState,
        method: str,
        params: dict[str, Any],
        uploads: dict[str, bytes],
    ) -> tuple[int, dict[str, Any] | str]:
        call = Call(state.info.id, method, params, time.monotonic())
        self.calls.append(call)
        self._changed.fire()  # lets tests see a long poll that is still open
        try:
            handler = self._handlers().get(method.lower())
            if handler is None:
                raise ApiError(404, "Not Found")
            self._inject_fault(state, method.lower(), params)
            if self.enforce_limits and method.lower() in _SEND_METHODS:
                self._enforce_limits(state, _chat_id(params), call.time)
            result = await handler(state, params, uploads)
            # A snapshot: the live message records change when later calls edit them.
            call.status, call.result = 200, copy.deepcopy(result)
            return 200, {"ok": True, "result": result}
        except ApiError as error:
            call.status, call.error = error.status, error.description
            return error.status, error.raw_body or _error_body(error)
        finally:
            self._changed.fire()

    def _handlers(self) -> dict[str, Callable[..., Any]]:
        return {
            "getme": self._get_me,
            "getupdates": self._get_updates,
            "setwebhook": self._set_webhook,
            "deletewebhook": self._delete_webhook,
            "getwebhookinfo": self._get_webhook_info,
            "sendmessage": self._send_message,
            "sendpoll": self._send_poll,
            "sendphoto": self._send_photo,
            "sendvideo": self._send_video,
            "sendaudio": self._send_audio,
            "sendvoice": self._send_voice,
            "sendmediagroup": self._send_media_group,
            "editmessagereplymarkup": self._edit_reply_markup,
            "answercallbackquery": self._answer_callback_query,
            "sendchataction": self._send_chat_action,
            "getfile": self._get_file,
            "setmycommands": self._set_my_commands,
            "getmycommands": self._get_my_commands,
        }

    def _inject_fault(self, state: _BotState, method: str, params: dict[str, Any]) -> None:
        for fault in self._faults:
            if (
                fault.method == method
                and fault.bot_id in (None, state.info.id)
                and (fault.chat_id is None or params.get("chat_id") == fault.chat_id)
            ):
                fault.remaining -= 1
                if fault.remaining <= 0:
                    self._faults.remove(fault)
                raise ApiError(fault.status, fault.description, fault.retry_after, fault.raw_body)

    def _enforce_limits(self, state: _BotState, chat_id: int, now: float) -> None:
        lim = self.limits
        if state.send_bucket is None:
            state.send_bucket = _Bucket(lim.per_bot_per_second, lim.bot_burst, lim.bot_burst, now)
        if chat_id < 0:  # a group: 20 in any minute
            chat_bucket = None
            times = state.group_send_times.setdefault(chat_id, deque())
            while times and times[0] <= now - (60.0 - lim.slack):
                times.popleft()
            chat_wait = times[0] + 60.0 - now if len(times) >= lim.per_group_per_minute else 0.0
        else:
            chat_bucket = state.chat_buckets.setdefault(
                chat_id, _Bucket(lim.per_chat_per_second, lim.chat_burst, lim.chat_burst, now)
            )
            chat_wait = chat_bucket.wait(now, lim.slack)
        wait = max(state.send_bucket.wait(now, lim.slack), chat_wait)
        if wait > 0:
            self.limit_violations += 1
            retry_after = max(1, math.ceil(wait))
            raise ApiError(429, f"Too Many Requests: retry after {retry_after}", retry_after)
        state.send_bucket.tokens -= 1
        if chat_bucket is None:
            times.append(now)
        else:
            chat_bucket.tokens -= 1

    # ---- methods: bot and updates ---------------------------------------------------------

    async def _get_me(self, state: _BotState, params: dict[str, Any], _: Any) -> dict[str, Any]:
        return {
            **self._bot_user(state),
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }

    async def _get_updates(
        self, state: _BotState, params: dict[str, Any], _: Any
    ) -> list[dict[str, Any]]:
        if state.webhook is not None:
            raise ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )
        offset = params.get("offset", 0)
        if offset > 0:
            while state.pending and state.pending[0]["update_id"] < offset:
                state.pending.popleft()
        elif offset < 0:
            while len(state.pending) > -offset:
                state.pending.popleft()
        if "allowed_updates" in params:
            state.allowed_updates = list(params["allowed_updates"] or [])
        limit = min(max(params.get("limit", 100), 1), 100)
        timeout = min(max(params.get("timeout", 0), 0), 50)
        # A newer getUpdates ends an older one, as Telegram does for two running instances.
        state.poll_generation += 1
        generation = state.poll_generation
        token = state.info.token  # the one this request was authorised with
        state.signal.fire()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not state.pending and not self._closing:
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            await state.signal.wait(remaining)
            if generation != state.poll_generation:
                raise ApiError(
                    409,
                    "Conflict: terminated by other getUpdates request; "
                    "make sure that only one bot instance is running",
                )
            if state.webhook is not None:
                raise ApiError(409, "Conflict: terminated by setWebhook request")
        if token != state.info.token:  # `rotate_token` while the poll was open
            raise ApiError(401, "Unauthorized")
        return list(itertools.islice(state.pending, limit))

    async def _set_webhook(self, state: _BotState, params: dict[str, Any], _: Any) -> bool:
        url = params.get("url", "")
        if url == "":
            await self._drop_webhook(state, params.get("drop_pending_updates", False))
            return True
        if not re.fullmatch(r"https?://[^\s/]+(/\S*)?", url):
            raise ApiError(400, "Bad Request: bad webhook: Failed to resolve host")
        secret = params.get("secret_token")
        if secret is not None and not _SECRET_TOKEN.fullmatch(secret):
            raise ApiError(400, "Bad Request: secret token contains unallowed characters")
        max_connections = params.get("max_connections", 40)
        if not 1 <= max_connections <= 100:
            raise ApiError(400, "Bad Request: bad webhook: max_connections must be 1-100")
        await self._drop_webhook(state, params.get("drop_pending_updates", False))
        if "allowed_updates" in params:
            state.allowed_updates = list(params["allowed_updates"] or [])
        state.webhook = _Webhook(url, secret, max_connections)
        state.signal.fire()  # an open long poll ends with 409
        state.webhook_task = asyncio.create_task(self._deliver_webhook(state, state.webhook))
        return True

    async def _delete_webhook(self, state: _BotState, params: dict[str, Any], _: Any) -> bool:
        await self._drop_webhook(state, params.get("drop_pending_updates", False))
        return True

    async def _drop_webhook(self, state: _BotState, drop_pending: bool) -> None:
        if drop_pending:
            state.pending.clear()
        state.webhook = None
        task, state.webhook_task = state.webhook_task, None
        if task is not None and task is not asyncio.current_task():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def _get_webhook_info(
        self, state: _BotState, params: dict[str, Any], _: Any
    ) -> dict[str, Any]:
        hook = state.webhook
        info: dict[str, Any] = {
            "url": hook.url if hook else "",
            "has_custom_certificate": False,
            "pending_update_count": len(state.pending),
        }
        if hook is not None:
            info["max_connections"] = hook.max_connections
            info["ip_address"] = "127.0.0.1"
            if state.allowed_updates:
                info["allowed_updates"] = state.allowed_updates
            if hook.last_error_date is not None:
                info["last_error_date"] = hook.last_error_date
                info["last_error_message"] = hook.last_error_message
        return info

    async def _deliver_webhook(self, state: _BotState, hook: _Webhook) -> None:
        """POST pending updates one by one, in order, retrying each until it gets a 2xx."""
        failures = 0
        while state.webhook is hook:
            if not state.pending:
                await state.signal.wait(None)
                continue
            update = state.pending[0]
            if await self._post_update(state, hook, update):
                failures = 0
                if state.pending and state.pending[0] is update:
                    state.pending.popleft()
                self._changed.fire()
            else:
                failures += 1
                self._changed.fire()
                delay = self.webhook_retry_delay * 2 ** (failures - 1)
                await asyncio.sleep(min(delay, self.webhook_retry_max_delay))

    async def _post_update(self, state: _BotState, hook: _Webhook, update: dict[str, Any]) -> bool:
        assert self._client is not None
        headers = {"X-Telegram-Bot-Api-Secret-Token": hook.secret} if hook.secret else {}
        delivery = Delivery(state.info.id, update["update_id"], None, hook.secret, time.monotonic())
        self.deliveries.append(delivery)
        try:
            async with self._client.post(
                hook.url, json=update, headers=headers, timeout=aiohttp.ClientTimeout(total=10)
            ) as response:
                body = await response.read()
                delivery.status = response.status
        except (aiohttp.ClientError, TimeoutError) as error:
            hook.last_error_date = int(time.time())
            hook.last_error_message = f"Connection failed: {type(error).__name__}"
            return False
        if not 200 <= delivery.status < 300:
            hook.last_error_date = int(time.time())
            hook.last_error_message = (
                f"Wrong response from the webhook: {delivery.status} {response.reason}"
            )
            return False
        await self._run_webhook_reply(state, body)
        return True

    async def _run_webhook_reply(self, state: _BotState, body: bytes) -> None:
        """Telegram runs a method the webhook answered with (aiogram can reply that way)."""
        try:
            reply = json.loads(body) if body else None
        except ValueError:
            return
        if isinstance(reply, dict) and isinstance(reply.get("method"), str):
            params = {k: v for k, v in reply.items() if k != "method"}
            try:
                params = _coerce(params)
            except ApiError:
                return
            await self._execute(state, reply["method"], params, {})

    # ---- methods: sending -----------------------------------------------------------------

    async def _send_message(
        self, state: _BotState, params: dict[str, Any], _: Any
    ) -> dict[str, Any]:
        chat_id = self._target_chat(state, params)
        text = params.get("text")
        if not isinstance(text, str) or not text.strip():
            raise ApiError(400, "Bad Request: message text is empty")
        if len(text) > 4096:
            raise ApiError(400, "Bad Request: message is too long")
        extra: dict[str, Any] = {"text": text}
        if params.get("entities"):
            extra["entities"] = params["entities"]
        return self._new_message(state, chat_id, "sendMessage", extra, params)

    async def _send_poll(self, state: _BotState, params: dict[str, Any], _: Any) -> dict[str, Any]:
        chat_id = self._target_chat(state, params)
        question = params.get("question")
        if not isinstance(question, str) or not 1 <= len(question) <= 300:
            raise ApiError(400, "Bad Request: poll question length must be 1-300")
        raw_options = params.get("options")
        if not isinstance(raw_options, list) or not 1 <= len(raw_options) <= 12:
            raise ApiError(400, "Bad Request: poll must have 1-12 options")
        texts = [o.get("text") if isinstance(o, dict) else o for o in raw_options]
        if any(not isinstance(t, str) or not 1 <= len(t) <= 100 for t in texts):
            raise ApiError(400, "Bad Request: poll option length must be 1-100")
        kind = params.get("type", "regular")
        if kind not in ("regular", "quiz"):
            raise ApiError(400, "Bad Request: wrong poll type specified")
        poll: dict[str, Any] = {
            "id": self._new_poll_id(state),
            "question": question,
            "options": [
                {"text": t, "voter_count": 0, "persistent_id": str(i)} for i, t in enumerate(texts)
            ],
            "total_voter_count": 0,
            "is_closed": params.get("is_closed", False),
            "is_anonymous": params.get("is_anonymous", True),
            "type": kind,
            "allows_multiple_answers": params.get("allows_multiple_answers", False),
            "allows_revoting": params.get("allows_revoting", kind == "regular"),
            "members_only": False,
        }
        if kind == "quiz":
            correct = params.get("correct_option_ids")
            if correct is None and "correct_option_id" in params:
                correct = [params["correct_option_id"]]
            if (
                not isinstance(correct, list)
                or not correct
                or any(not isinstance(i, int) or not 0 <= i < len(texts) for i in correct)
                or (len(correct) > 1 and not poll["allows_multiple_answers"])
            ):
                raise ApiError(400, "Bad Request: wrong correct option ids specified")
            poll["correct_option_ids"] = correct
            if params.get("explanation"):
                poll["explanation"] = params["explanation"]
        for optional in ("open_period", "close_date"):
            if optional in params:
                poll[optional] = params[optional]
        message = self._new_message(state, chat_id, "sendPoll", {"poll": poll}, params)
        state.polls[poll["id"]] = _Poll(poll)
        return message

    async def _send_photo(
        self, state: _BotState, params: dict[str, Any], uploads: dict[str, bytes]
    ) -> dict[str, Any]:
        return self._send_media(state, params, uploads, "photo", "sendPhoto")

    async def _send_video(
        self, state: _BotState, params: dict[str, Any], uploads: dict[str, bytes]
    ) -> dict[str, Any]:
        return self._send_media(state, params, uploads, "video", "sendVideo")

    async def _send_audio(
        self, state: _BotState, params: dict[str, Any], uploads: dict[str, bytes]
    ) -> dict[str, Any]:
        return self._send_media(state, params, uploads, "audio", "sendAudio")

    async def _send_voice(
        self, state: _BotState, params: dict[str, Any], uploads: dict[str, bytes]
    ) -> dict[str, Any]:
        return self._send_media(state, params, uploads, "voice", "sendVoice")

    def _send_media(
        self,
        state: _BotState,
        params: dict[str, Any],
        uploads: dict[str, bytes],
        kind: str,
        method: str,
    ) -> dict[str, Any]:
        chat_id = self._target_chat(state, params)
        extra = self._media_fields(kind, params.get(kind), uploads, kind, params)
        return self._new_message(state, chat_id, method, extra, params)

    async def _send_media_group(
        self, state: _BotState, params: dict[str, Any], uploads: dict[str, bytes]
    ) -> list[dict[str, Any]]:
        chat_id = self._target_chat(state, params)
        items = params.get("media")
        if not isinstance(items, list) or not 2 <= len(items) <= 10:
            raise ApiError(400, "Bad Request: media group must have 2-10 items")
        kinds = [item.get("type") if isinstance(item, dict) else None for item in items]
        if any(k not in ("photo", "video", "audio") for k in kinds):
            raise ApiError(400, "Bad Request: wrong media type in the group")
        if "audio" in kinds and set(kinds) != {"audio"}:
            raise ApiError(400, "Bad Request: audio can't be mixed with other media types")
        group_id = str(secrets.randbits(62))
        # Resolve every file first: a bad item must fail the group before anything is sent.
        extras = [
            self._media_fields(kind, item.get("media"), uploads, "media", item)
            for kind, item in zip(kinds, items, strict=True)
        ]
        return [
            self._new_message(
                state, chat_id, "sendMediaGroup", {**extra, "media_group_id": group_id}, {}
            )
            for extra in extras
        ]

    async def _edit_reply_markup(
        self, state: _BotState, params: dict[str, Any], _: Any
    ) -> dict[str, Any]:
        if "inline_message_id" in params:
            raise ApiError(400, "Bad Request: inline messages are not supported by the fake")
        key = (_chat_id(params), params.get("message_id"))
        message = state.messages.get(key)
        if message is None:
            raise ApiError(400, "Bad Request: message to edit not found")
        markup = _inline_markup(params.get("reply_markup"))
        if markup == message.get("reply_markup"):
            raise ApiError(
                400,
                "Bad Request: message is not modified: specified new message content and "
                "reply markup are exactly the same as a current content and reply markup "
                "of the message",
            )
        if markup is None:
            message.pop("reply_markup", None)
        else:
            message["reply_markup"] = markup
        message["edit_date"] = int(time.time())
        return message

    async def _answer_callback_query(
        self, state: _BotState, params: dict[str, Any], _: Any
    ) -> bool:
        query_id = params.get("callback_query_id")
        if state.callback_queries.get(query_id, True):  # unknown or already answered
            raise ApiError(
                400,
                "Bad Request: query is too old and response timeout expired or query ID is invalid",
            )
        state.callback_queries[query_id] = True
        return True

    async def _send_chat_action(self, state: _BotState, params: dict[str, Any], _: Any) -> bool:
        self._target_chat(state, params)
        if params.get("action") not in _CHAT_ACTIONS:
            raise ApiError(400, "Bad Request: wrong parameter action in request")
        return True

    async def _set_my_commands(self, state: _BotState, params: dict[str, Any], _: Any) -> bool:
        """Telegram's checks: 1-100 commands, names 1-32 of [a-z0-9_], descriptions 1-256
        characters, a two-letter language code or none."""
        commands = params.get("commands")
        if not isinstance(commands, list) or not 0 < len(commands) <= 100:
            raise ApiError(400, "Bad Request: commands must be a non-empty list of up to 100")
        for command in commands:
            name = command.get("command") if isinstance(command, dict) else None
            description = command.get("description") if isinstance(command, dict) else None
            if not isinstance(name, str) or not re.fullmatch(r"[a-z0-9_]{1,32}", name):
                raise ApiError(400, "Bad Request: BOT_COMMAND_INVALID")
            if not isinstance(description, str) or not 0 < len(description) <= 256:
                raise ApiError(400, "Bad Request: BOT_COMMAND_DESCRIPTION_INVALID")
        language = params.get("language_code") or ""
        if language and not re.fullmatch(r"[a-z]{2}", language):
            raise ApiError(400, "Bad Request: LANG_CODE_INVALID")
        scope = params.get("scope") or {"type": "default"}
        state.commands[(scope.get("type", "default"), language)] = [
            {"command": c["command"], "description": c["description"]} for c in commands
        ]
        return True

    async def _get_my_commands(
        self, state: _BotState, params: dict[str, Any], _: Any
    ) -> list[dict[str, str]]:
        scope = params.get("scope") or {"type": "default"}
        key = (scope.get("type", "default"), params.get("language_code") or "")
        return state.commands.get(key) or state.commands.get((key[0], ""), [])

    def commands_of(self, bot: BotRef, language: str = "") -> list[dict[str, str]]:
        """The bot's default-scope command menu for `language` ("": for everyone else)."""
        return self._bot(bot).commands.get(("default", language), [])

    async def _get_file(self, state: _BotState, params: dict[str, Any], _: Any) -> dict[str, Any]:
        file = self._files.get(params.get("file_id", ""))
        if file is None:
            raise ApiError(400, "Bad Request: invalid file_id")
        result: dict[str, Any] = {"file_id": file.file_id, "file_unique_id": file.unique_id}
        if file.data is not None:
            result["file_size"] = len(file.data)
            result["file_path"] = file.path
        return result

    # ---- helpers --------------------------------------------------------------------------

    def _bot(self, ref: BotRef) -> _BotState:
        if isinstance(ref, FakeBot):
            state = self._bots.get(ref.id)
        elif isinstance(ref, int):
            state = self._bots.get(ref)
        else:
            state = self._by_token.get(ref)
        if state is None:
            raise KeyError(f"unknown bot {ref!r}")
        return state

    def _user(self, user_id: int) -> dict[str, Any]:
        return self._users.get(user_id) or self.add_user(user_id)

    @staticmethod
    def _bot_user(state: _BotState) -> dict[str, Any]:
        return {
            "id": state.info.id,
            "is_bot": True,
            "first_name": state.info.first_name,
            "username": state.info.username,
        }

    def _chat(self, chat_id: int) -> dict[str, Any]:
        if chat_id > 0:
            user = self._user(chat_id)
            chat = {"id": chat_id, "type": "private", "first_name": user["first_name"]}
            if "username" in user:
                chat["username"] = user["username"]
            return chat
        kind = "supergroup" if str(chat_id).startswith("-100") else "group"
        return {"id": chat_id, "type": kind, "title": f"Group {chat_id}"}

    def _next_message_id(self, state: _BotState, chat_id: int) -> int:
        # Telegram numbers messages per chat, the student's and the bot's alike.
        state.last_message_id[chat_id] = state.last_message_id.get(chat_id, 0) + 1
        return state.last_message_id[chat_id]

    def _user_message(self, state: _BotState, user_id: int, chat_id: int | None) -> dict[str, Any]:
        chat_id = user_id if chat_id is None else chat_id
        return {
            "message_id": self._next_message_id(state, chat_id),
            "from": self._user(user_id),
            "chat": self._chat(chat_id),
            "date": int(time.time()),
        }

    def _target_chat(self, state: _BotState, params: dict[str, Any]) -> int:
        chat_id = _chat_id(params)
        if chat_id in state.blocked:
            raise ApiError(403, "Forbidden: bot was blocked by the user")
        return chat_id

    def _new_message(
        self,
        state: _BotState,
        chat_id: int,
        method: str,
        content: dict[str, Any],
        params: dict[str, Any],
    ) -> dict[str, Any]:
        markup = _inline_markup(params.get("reply_markup"))
        caption = params.get("caption")
        if caption is not None and len(caption) > 1024:
            raise ApiError(400, "Bad Request: message caption is too long")
        message_id = self._next_message_id(state, chat_id)
        message: dict[str, Any] = {
            "message_id": message_id,
            "from": self._bot_user(state),
            "chat": self._chat(chat_id),
            "date": int(time.time()),
            **content,
        }
        if markup is not None:  # Telegram echoes inline keyboards only
            message["reply_markup"] = markup
        state.messages[(chat_id, message_id)] = message
        self.sent.append(
            Sent(state.info.id, chat_id, message_id, method, time.monotonic(), message)
        )
        return message

    def _media_fields(
        self,
        kind: str,
        value: Any,
        uploads: dict[str, bytes],
        field_name: str,
        params: dict[str, Any],
    ) -> dict[str, Any]:
        """The message fields for one photo/video/audio, after resolving where it comes from:
        an upload (`attach://x` or the field itself), an http(s) URL, or a known file_id."""
        if isinstance(value, str) and value.startswith("attach://"):
            data = uploads.get(value.removeprefix("attach://"))
            if data is None:
                raise ApiError(400, _WRONG_FILE)
            file = self._new_file(kind, data=data)
        elif value is None and field_name in uploads:
            file = self._new_file(kind, data=uploads[field_name])
        elif isinstance(value, str) and re.match(r"https?://\S+$", value):
            file = self._new_file(kind, url=value)
        elif isinstance(value, str) and value in self._files:
            file = self._files[value]
        elif value is None:
            raise ApiError(400, f"Bad Request: there is no {kind} in the request")
        else:
            raise ApiError(400, _WRONG_FILE)
        ident = {"file_id": file.file_id, "file_unique_id": file.unique_id}
        fields: dict[str, Any]
        if kind == "photo":
            thumb = self._new_file("photo", data=file.data, url=file.url)
            fields = {
                "photo": [
                    {"file_id": thumb.file_id, "file_unique_id": thumb.unique_id}
                    | {"width": 90, "height": 90},
                    ident | {"width": 800, "height": 600},
                ]
            }
        elif kind == "video":
            duration = params.get("duration", 1)
            fields = {"video": ident | {"width": 640, "height": 360, "duration": duration}}
        elif kind == "voice":
            fields = {"voice": ident | {"duration": 1, "mime_type": "audio/ogg"}}
        else:
            audio = ident | {"duration": params.get("duration", 1), "mime_type": "audio/mpeg"}
            for tag in ("performer", "title"):
                if params.get(tag):
                    audio[tag] = params[tag]
            fields = {"audio": audio}
        if params.get("caption"):
            fields["caption"] = params["caption"]
        return fields

    def _new_file(
        self,
        kind: str,
        *,
        data: bytes | None = None,
        url: str | None = None,
        extension: str = "bin",
    ) -> _File:
        number = next(self._ids)
        file = _File(
            file_id=f"{kind}-{secrets.token_urlsafe(24)}",
            unique_id=f"u{number}",
            kind=kind,
            data=data,
            url=url,
            path=f"{kind}/file_{number}.{extension}",
        )
        self._files[file.file_id] = file
        self._files_by_path[file.path] = file
        return file

    def _new_poll_id(self, state: _BotState) -> str:
        while (poll_id := str(secrets.randbits(62))) in state.polls:
            pass
        return poll_id

    def _push_member_change(
        self, state: _BotState, user_id: int, old: str, new: str
    ) -> dict[str, Any]:
        bot_user = self._bot_user(state)
        new_member: dict[str, Any] = {"status": new, "user": bot_user}
        if new == "kicked":
            new_member["until_date"] = 0
        change = {
            "chat": self._chat(user_id),
            "from": self._user(user_id),
            "date": int(time.time()),
            "old_chat_member": {"status": old, "user": bot_user}
            | ({"until_date": 0} if old == "kicked" else {}),
            "new_chat_member": new_member,
        }
        return self.push_update(state.info.id, {"my_chat_member": change})


# ---- request parsing (module level: no fake state involved) --------------------------------


async def _read_params(request: web.Request) -> tuple[dict[str, Any], dict[str, bytes]]:
    """Parameters from the query string plus a form, multipart or JSON body, as Telegram
    accepts all of them; multipart file parts come back separately by field name."""
    params: dict[str, Any] = dict(request.query)
    uploads: dict[str, bytes] = {}
    if request.content_type == "application/json":
        try:
            body = await request.json()
        except ValueError as error:
            raise ApiError(400, "Bad Request: can't parse JSON body") from error
        if not isinstance(body, dict):
            raise ApiError(400, "Bad Request: JSON body must be an object")
        params.update(body)
    elif request.method == "POST" and request.can_read_body:
        for name, value in (await request.post()).items():
            if isinstance(value, web.FileField):
                uploads[name] = value.file.read()
            elif isinstance(value, bytes | bytearray):
                params[name] = bytes(value).decode("utf-8", errors="replace")
            else:
                params[name] = value
    return _coerce(params), uploads


def _coerce(params: dict[str, Any]) -> dict[str, Any]:
    """Type form strings the way Telegram's schema does (aiogram JSON-encodes non-strings)."""
    typed = dict(params)
    for name, value in params.items():
        if not isinstance(value, str):
            continue
        try:
            if name == "chat_id":
                typed[name] = int(value) if re.fullmatch(r"-?[0-9]+", value) else value
            elif name in _INT_PARAMS:
                typed[name] = int(value)
            elif name in _BOOL_PARAMS:
                typed[name] = value.lower() in ("true", "1")
            elif name in _JSON_PARAMS:
                typed[name] = json.loads(value)
        except ValueError as error:
            raise ApiError(400, f"Bad Request: can't parse parameter {name}") from error
    return typed


def _chat_id(params: dict[str, Any]) -> int:
    chat_id = params.get("chat_id")
    if chat_id is None or chat_id == "":
        raise ApiError(400, "Bad Request: chat_id is empty")
    if isinstance(chat_id, bool) or not isinstance(chat_id, int):
        raise ApiError(400, "Bad Request: chat not found")
    return chat_id


def _inline_markup(markup: Any) -> dict[str, Any] | None:
    """The inline keyboard to store on a message, validated like Telegram validates it;
    reply keyboards are accepted but, as in Telegram, not echoed on the message."""
    if markup is None or (isinstance(markup, dict) and "inline_keyboard" not in markup):
        return None
    rows = markup.get("inline_keyboard") if isinstance(markup, dict) else None
    if not isinstance(rows, list) or any(not isinstance(row, list) for row in rows):
        raise ApiError(400, "Bad Request: can't parse inline keyboard button: field must be array")
    for button in (b for row in rows for b in row):
        if not isinstance(button, dict) or not button.get("text"):
            raise ApiError(400, "Bad Request: can't parse inline keyboard button: text is empty")
        data = button.get("callback_data")
        if data is not None and not 1 <= len(str(data).encode()) <= 64:
            raise ApiError(400, "Bad Request: BUTTON_DATA_INVALID")
        if data is None and not any(k in button for k in ("url", "web_app", "login_url")):
            raise ApiError(400, "Bad Request: text buttons are unallowed in the inline keyboard")
    if not any(rows):
        return None  # an empty keyboard removes the markup, as in Telegram
    return {"inline_keyboard": rows}


def _error_body(error: ApiError) -> dict[str, Any]:
    body: dict[str, Any] = {
        "ok": False,
        "error_code": error.status,
        "description": error.description,
    }
    if error.retry_after is not None:
        body["parameters"] = {"retry_after": error.retry_after}
    return body


def _error_response(error: ApiError) -> web.Response:
    return web.json_response(_error_body(error), status=error.status)
