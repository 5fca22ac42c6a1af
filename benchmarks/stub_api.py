"""An in-process Telegram Bot API for benchmarks: aiogram's client code runs, the socket doesn't.

`StubSession` is an aiogram session whose requests never leave the process: it serialises
each method exactly as `AiohttpSession` does (`prepare_value` on every field), hands the
fields to `StubTelegram`, and parses the JSON answer with aiogram's own `check_response`.
What a benchmark measures is therefore the bot's work plus aiogram's client work, without
the noise (and the file descriptors) of thousands of local HTTP connections. The runtime and
the bare-aiogram baseline use the same stub, so the stub's own cost cancels in the ratio.

`StubTelegram` keeps, per bot, a queue of updates served by long-polling `getUpdates` and
answers the send methods the runtime uses with well-formed messages. Every message sent is
reported to the `on_send` listeners, which is how scripted students see the bot's replies.
Any well-formed token is a valid bot (its id is the number before the colon).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections import Counter, deque
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass, field
from typing import Any

from aiogram import Bot
from aiogram.client.session.base import BaseSession
from aiogram.methods import TelegramMethod
from aiogram.methods.base import TelegramType

OnSend = Callable[[int, int, dict[str, Any]], None]  # (bot id, chat id, message)
_MAX_UPDATES = 100
_MESSAGE_METHODS = {"sendmessage", "sendphoto", "sendvideo", "sendaudio", "sendpoll"}


@dataclass
class StubBot:
    bot_id: int
    username: str
    pending: deque[dict[str, Any]] = field(default_factory=deque)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    next_update_id: int = 1
    message_ids: dict[int, int] = field(default_factory=dict)


class StubTelegram:
    """The Bot API's state for any number of bots, in memory."""

    def __init__(self) -> None:
        self._bots: dict[int, StubBot] = {}
        self._poll_ids = itertools.count(1)
        self._query_ids = itertools.count(1)
        self.on_send: list[OnSend] = []
        self.calls: Counter[str] = Counter()

    def session(self) -> StubSession:
        return StubSession(self)

    def bot(self, bot_id: int) -> StubBot:
        """The bot's state, created on first use (registering ahead keeps that allocation
        out of a memory measurement)."""
        bot = self._bots.get(bot_id)
        if bot is None:
            bot = self._bots[bot_id] = StubBot(bot_id, f"bench{bot_id}_bot")
        return bot

    # ---- what students do -------------------------------------------------------------------

    def push(self, bot_id: int, kind: str, body: dict[str, Any]) -> int:
        """Queue an update of `kind` (message, callback_query, poll_answer); its update_id."""
        bot = self.bot(bot_id)
        update_id = bot.next_update_id
        bot.next_update_id += 1
        bot.pending.append({"update_id": update_id, kind: body})
        bot.arrived.set()
        return update_id

    def push_text(self, bot_id: int, user_id: int, text: str) -> int:
        message = {
            "message_id": self._next_message_id(self.bot(bot_id), user_id),
            "from": _user(user_id),
            "chat": _private_chat(user_id),
            "date": int(time.time()),
            "text": text,
        }
        if text.startswith("/"):
            command = text.split(maxsplit=1)[0]
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(command)}]
        return self.push(bot_id, "message", message)

    def push_button(
        self, bot_id: int, user_id: int, message: dict[str, Any], callback_data: str
    ) -> int:
        query = {
            "id": str(next(self._query_ids)),
            "from": _user(user_id),
            "message": message,
            "chat_instance": str(user_id),
            "data": callback_data,
        }
        return self.push(bot_id, "callback_query", query)

    def push_poll_answer(
        self, bot_id: int, user_id: int, poll_id: str, option_ids: list[int]
    ) -> int:
        answer = {
            "poll_id": poll_id,
            "user": _user(user_id),
            "option_ids": option_ids,
            "option_persistent_ids": [str(i) for i in option_ids],
        }
        return self.push(bot_id, "poll_answer", answer)

    # ---- the Bot API ------------------------------------------------------------------------

    async def call(self, token: str, method: str, params: dict[str, Any]) -> Any:
        """Answer one request; `params` are the form fields as aiogram would send them."""
        bot = self.bot(int(token.split(":", 1)[0]))
        name = method.lower()
        self.calls[name] += 1
        if name == "getupdates":
            return await self._get_updates(bot, params)
        if name in _MESSAGE_METHODS:
            message = self._message(bot, name, params)
            self._report(bot, message)
            return message
        if name == "sendmediagroup":
            media = json.loads(params["media"])
            messages = [
                self._message(bot, "sendphoto", {"chat_id": params["chat_id"], "photo": m["media"]})
                for m in media
            ]
            for message in messages:
                self._report(bot, message)
            return messages
        if name == "getme":
            return {
                "id": bot.bot_id,
                "is_bot": True,
                "first_name": "Bench",
                "username": bot.username,
            }
        if name in ("deletewebhook", "setwebhook", "answercallbackquery", "sendchataction"):
            return True
        if name == "editmessagereplymarkup":
            return True
        raise LookupError(f"the stub Bot API does not implement {method}")

    async def _get_updates(self, bot: StubBot, params: dict[str, Any]) -> list[dict[str, Any]]:
        offset = int(params.get("offset", 0))
        while bot.pending and bot.pending[0]["update_id"] < offset:
            bot.pending.popleft()
        if not bot.pending:
            bot.arrived.clear()
            try:
                await asyncio.wait_for(bot.arrived.wait(), float(params.get("timeout", 0)))
            except TimeoutError:
                return []
        return list(itertools.islice(bot.pending, _MAX_UPDATES))

    def _message(self, bot: StubBot, method: str, params: dict[str, Any]) -> dict[str, Any]:
        chat_id = int(params["chat_id"])
        message: dict[str, Any] = {
            "message_id": self._next_message_id(bot, chat_id),
            "date": int(time.time()),
            "chat": _private_chat(chat_id),
        }
        if method == "sendmessage":
            message["text"] = params["text"]
        elif method == "sendpoll":
            message["poll"] = self._poll(params)
        elif method == "sendaudio":
            message["audio"] = {"file_id": "a", "file_unique_id": "a", "duration": 1}
        elif method == "sendvideo":
            message["video"] = {
                "file_id": "v",
                "file_unique_id": "v",
                "width": 1,
                "height": 1,
                "duration": 1,
            }
        else:
            message["photo"] = [{"file_id": "p", "file_unique_id": "p", "width": 1, "height": 1}]
        if "caption" in params:
            message["caption"] = params["caption"]
        if "reply_markup" in params:
            markup = json.loads(params["reply_markup"])
            if "inline_keyboard" in markup:
                message["reply_markup"] = markup
        return message

    def _poll(self, params: dict[str, Any]) -> dict[str, Any]:
        kind = params.get("type", "regular")
        options = json.loads(params["options"])
        poll: dict[str, Any] = {
            "id": str(next(self._poll_ids)),
            "question": params["question"],
            "options": [
                {
                    "text": o["text"] if isinstance(o, dict) else o,
                    "voter_count": 0,
                    "persistent_id": str(i),
                }
                for i, o in enumerate(options)
            ],
            "total_voter_count": 0,
            "is_closed": False,
            "is_anonymous": params.get("is_anonymous", "true") == "true",
            "type": kind,
            "allows_multiple_answers": params.get("allows_multiple_answers", "false") == "true",
            "allows_revoting": kind == "regular",
            "members_only": False,
        }
        if kind == "quiz":
            poll["correct_option_ids"] = json.loads(params.get("correct_option_ids", "[0]"))
        return poll

    def _report(self, bot: StubBot, message: dict[str, Any]) -> None:
        for listener in self.on_send:
            listener(bot.bot_id, message["chat"]["id"], message)

    @staticmethod
    def _next_message_id(bot: StubBot, chat_id: int) -> int:
        bot.message_ids[chat_id] = bot.message_ids.get(chat_id, 0) + 1
        return bot.message_ids[chat_id]


def _user(user_id: int) -> dict[str, Any]:
    return {"id": user_id, "is_bot": False, "first_name": f"S{user_id}", "language_code": "en"}


def _private_chat(chat_id: int) -> dict[str, Any]:
    return {"id": chat_id, "type": "private", "first_name": f"S{chat_id}"}


class StubSession(BaseSession):
    """An aiogram session answered by a `StubTelegram` in the same process."""

    def __init__(self, api: StubTelegram) -> None:
        super().__init__()
        self._api = api

    async def make_request(
        self, bot: Bot, method: TelegramMethod[TelegramType], timeout: int | None = None
    ) -> TelegramType:
        # The same field preparation AiohttpSession.build_form_data does.
        params: dict[str, Any] = {}
        files: dict[str, Any] = {}
        for key, value in method.model_dump(warnings=False).items():
            prepared = self.prepare_value(value, bot=bot, files=files)
            if prepared:
                params[key] = prepared
        try:
            result = await self._api.call(bot.token, method.__api_method__, params)
        except LookupError as error:
            body = {"ok": False, "error_code": 404, "description": f"Not Found: {error}"}
            return self.check_response(bot, method, 404, self.json_dumps(body)).result
        body = {"ok": True, "result": result}
        return self.check_response(bot, method, 200, self.json_dumps(body)).result

    async def stream_content(
        self,
        url: str,
        headers: dict[str, Any] | None = None,
        timeout: int = 30,
        chunk_size: int = 65536,
        raise_for_status: bool = True,
    ) -> AsyncGenerator[bytes, None]:
        raise NotImplementedError("the stub Bot API serves no files")
        yield b""  # pragma: no cover - makes this an async generator

    async def close(self) -> None:
        """Nothing to release: there is no connection."""
