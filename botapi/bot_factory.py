"""Building aiogram `Bot`s and the HTTP connection pools they use.

Two pools, not one: an `AiohttpSession` caps its connections (`limit`, 100 by default) and a
long poll holds its connection for the whole poll, so with one shared pool a hundred polling
bots would leave no connection for sends. The polling pool is therefore unbounded (it never
holds more than one connection per polling bot) and the sending pool keeps a bound, so sends
only ever queue behind other sends. A `Bot` is cheap, and one token may have two of them: one
on each pool.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from aiogram import Bot
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.session.base import BaseSession
from aiogram.client.telegram import PRODUCTION, TelegramAPIServer

# aiohttp's TCPConnector treats limit=0 as "no limit".
POLLING_POOL_LIMIT = 0
SENDING_POOL_LIMIT = 100


def api_server(api_base: str | None) -> TelegramAPIServer:
    """api.telegram.org, or the server at `api_base` (TELEGRAM_API_BASE: self-hosted, fake)."""
    if api_base is None:
        return PRODUCTION
    if not api_base.startswith(("http://", "https://")):
        raise ValueError("TELEGRAM_API_BASE must be an http:// or https:// URL")
    return TelegramAPIServer.from_base(api_base)


def make_session(api_base: str | None = None, *, limit: int = SENDING_POOL_LIMIT) -> AiohttpSession:
    """One connection pool; every Bot given this session talks to the same API server."""
    return AiohttpSession(api=api_server(api_base), limit=limit)


@dataclass
class SessionPools:
    """The polling and sending pools of one process, shared by all its bots (any aiogram
    session: benchmarks give an in-process one)."""

    polling: BaseSession
    sending: BaseSession

    @classmethod
    def create(
        cls, api_base: str | None = None, *, sending_limit: int = SENDING_POOL_LIMIT
    ) -> SessionPools:
        return cls(
            polling=make_session(api_base, limit=POLLING_POOL_LIMIT),
            sending=make_session(api_base, limit=sending_limit),
        )

    async def close(self) -> None:
        # Each close lingers 250 ms for TLS shutdown; do both at once.
        await asyncio.gather(self.polling.close(), self.sending.close())


def make_bot(
    token: str,
    api_base: str | None = None,
    session: BaseSession | None = None,
    *,
    default: DefaultBotProperties | None = None,
) -> Bot:
    """A Bot on `session` (or on a fresh session of its own when None).

    Formatting defaults go through `DefaultBotProperties`: `Bot(parse_mode=...)` fails since
    aiogram 3.7. A given session already names its API server; an `api_base` naming another
    one is a wiring mistake, so it raises instead of silently talking to the wrong server.
    Closing a shared session is the pool owner's job, so don't `async with` such a Bot.
    """
    if session is None:
        session = make_session(api_base)
    elif api_base is not None and session.api != api_server(api_base):
        raise ValueError("session talks to a different Bot API server than api_base")
    return Bot(token=token, session=session, default=default or DefaultBotProperties())
