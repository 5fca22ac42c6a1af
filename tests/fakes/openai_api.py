"""A fake OpenAI-compatible API: chat completions, transcriptions and speech over real HTTP.

Point any OpenAI-compatible client at `fake.base_url` (ends in /v1). Replies are scripted:
by default the model answers `Ответ: <last user message>` and says "{STOP}" once the last
user message contains "конец" or "stop", which is what the legacy `dialog` elements need to
finish. Token usage is counted deterministically (about four characters per token), so
per-account usage accounting can be checked exactly.

Fault injection: `fail_next(count, status)` answers the next requests with an OpenAI-shaped
error (500, 429, 401, ...) or, with "timeout", keeps them open until the client gives up.
`latency` delays every answer. Every request is recorded with its Authorization header, so a
test can tell which account's API key was used.

Usage:
    async with FakeOpenAI(api_keys={"sk-school-a"}) as llm:
        client = OpenAICompatibleClient(OpenAIConfig(llm.base_url, "sk-school-a", "gpt-x"))
        llm.reply = lambda messages: "Привет!"
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

Messages = list[dict[str, Any]]
STOP_WORDS = ("конец", "stop")
OGG_SIGNATURE = b"OggS"


def default_reply(messages: Messages) -> str:
    """Echo the last user message; "{STOP}" when it asks to end the dialog."""
    last = next((m for m in reversed(messages) if m.get("role") == "user"), None)
    text = _content_text(last.get("content")) if last else ""
    if any(word in text.lower() for word in STOP_WORDS):
        return "{STOP}"
    return f"Ответ: {text}" if text else "Здравствуйте! О чём поговорим?"


def default_transcript(audio: bytes, filename: str) -> str:
    """Audio whose bytes are UTF-8 text "says" that text; anything else gets a fixed phrase."""
    try:
        text = audio.decode("utf-8").strip()
    except UnicodeDecodeError:
        text = ""
    return text or "распознанная речь"


def count_tokens(text: str) -> int:
    return max(1, math.ceil(len(text) / 4))


@dataclass
class RecordedRequest:
    path: str
    authorization: str | None
    body: dict[str, Any]  # JSON body, or the multipart form fields (file -> its bytes)
    status: int = 0

    @property
    def api_key(self) -> str | None:
        if self.authorization and self.authorization.startswith("Bearer "):
            return self.authorization.removeprefix("Bearer ")
        return None


@dataclass
class _Fault:
    status: int | str
    remaining: int


@dataclass
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


class FakeOpenAI:
    """OpenAI-compatible server on 127.0.0.1: /v1/chat/completions, /v1/audio/transcriptions."""

    def __init__(
        self,
        *,
        api_keys: Iterable[str] | None = None,
        reply: Callable[[Messages], str] = default_reply,
        transcribe: Callable[[bytes, str], str] = default_transcript,
        latency: float = 0.0,
        hang_s: float = 30.0,
        speech: bool = True,
    ) -> None:
        """`speech` False: a provider without /audio/speech (it answers 404, as many
        OpenAI-compatible servers do)."""
        # None accepts any key (or none); a set makes unknown keys a 401 like the real API.
        self.api_keys = set(api_keys) if api_keys is not None else None
        self.reply = reply
        self.transcribe = transcribe
        self.speech = speech
        self.latency = latency
        self.hang_s = hang_s
        self.requests: list[RecordedRequest] = []
        self.usage_by_key: dict[str | None, Usage] = {}
        self._faults: list[_Fault] = []
        self._ids = itertools.count(1)
        self._closing = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._base_url: str | None = None

    async def __aenter__(self) -> FakeOpenAI:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def start(self) -> None:
        app = web.Application(client_max_size=25 * 1024 * 1024)  # the API's audio file cap
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_post("/v1/audio/transcriptions", self._transcriptions)
        app.router.add_post("/v1/audio/speech", self._speech)
        self._runner = web.AppRunner(app, shutdown_timeout=1.0, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self._base_url = f"http://{host}:{port}/v1"

    async def stop(self) -> None:
        self._closing.set()
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def base_url(self) -> str:
        """`http://127.0.0.1:<port>/v1`: what OPENAI_BASE_URL / an account's base URL holds."""
        if self._base_url is None:
            raise RuntimeError("FakeOpenAI is not started")
        return self._base_url

    def fail_next(self, count: int = 1, status: int | str = 500) -> None:
        """The next `count` requests fail with HTTP `status`, or hang with "timeout"."""
        self._faults.append(_Fault(status, count))

    def completions(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path.endswith("/chat/completions")]

    # ---- handlers -------------------------------------------------------------------------

    async def _chat(self, request: web.Request) -> web.Response:
        record = RecordedRequest(request.path, request.headers.get("Authorization"), {})
        self.requests.append(record)
        try:
            body = json.loads(await request.read())
        except ValueError:
            body = None
        record.body = body if isinstance(body, dict) else {}
        refusal = await self._gate(record)
        if refusal is not None:
            return refusal
        if not isinstance(body, dict):
            return _error(record, 400, "We could not parse the JSON body of your request.")
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            return _error(record, 400, "'messages' must be a non-empty array", "messages")
        if not isinstance(body.get("model"), str):
            return _error(record, 400, "you must provide a model parameter", "model")
        content = self.reply(messages)
        prompt = sum(count_tokens(_content_text(m.get("content"))) + 4 for m in messages)
        completion = count_tokens(content)
        usage = self.usage_by_key.setdefault(record.api_key, Usage())
        usage.prompt_tokens += prompt
        usage.completion_tokens += completion
        record.status = 200
        return web.json_response(
            {
                "id": f"chatcmpl-fake{next(self._ids)}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body["model"],
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": content, "refusal": None},
                        "logprobs": None,
                        "finish_reason": "stop",
                    }
                ],
                "usage": {
                    "prompt_tokens": prompt,
                    "completion_tokens": completion,
                    "total_tokens": prompt + completion,
                },
            }
        )

    async def _transcriptions(self, request: web.Request) -> web.Response:
        record = RecordedRequest(request.path, request.headers.get("Authorization"), {})
        self.requests.append(record)
        if not request.content_type.startswith("multipart/"):
            return _error(record, 400, "Expected a multipart/form-data request")
        form: dict[str, Any] = {}
        filename = ""
        async for part in await request.multipart():
            if part.name == "file":
                filename = part.filename or ""
                form["file"] = bytes(await part.read())
            elif part.name:
                form[part.name] = await part.text()
        record.body = form
        refusal = await self._gate(record)
        if refusal is not None:
            return refusal
        if "file" not in form:
            return _error(record, 400, "you must provide a file parameter", "file")
        if "model" not in form:
            return _error(record, 400, "you must provide a model parameter", "model")
        text = self.transcribe(form["file"], filename)
        record.status = 200
        if form.get("response_format") == "text":
            return web.Response(text=text)
        return web.json_response({"text": text})

    async def _speech(self, request: web.Request) -> web.Response:
        """Speech as OGG/Opus: the Ogg signature, then the spoken words as UTF-8 (so a test
        can tell which reply was spoken)."""
        try:
            body = await request.json()
        except json.JSONDecodeError:
            body = None
        record = RecordedRequest(
            request.path,
            request.headers.get("Authorization"),
            body if isinstance(body, dict) else {},
        )
        self.requests.append(record)
        if not self.speech:
            return _error(record, 404, "Not found")
        refusal = await self._gate(record)
        if refusal is not None:
            return refusal
        for field in ("model", "input", "voice"):
            if not isinstance(record.body.get(field), str):
                return _error(record, 400, f"you must provide a {field} parameter", field)
        record.status = 200
        audio = OGG_SIGNATURE + record.body["input"].encode()
        return web.Response(body=audio, content_type="audio/ogg")

    def speeches(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path.endswith("/audio/speech")]

    async def _gate(self, record: RecordedRequest) -> web.Response | None:
        """Latency, injected faults and the API key check, in the order a client sees them."""
        if self.latency:
            await asyncio.sleep(self.latency)
        fault = self._take_fault()
        if fault is not None and fault.status == "timeout":
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closing.wait(), self.hang_s)
            return _error(record, 504, "The server did not answer in time")
        if fault is not None:
            return _error(record, int(fault.status), "The server had an error processing it.")
        if self.api_keys is not None and record.api_key not in self.api_keys:
            return _error(record, 401, "Incorrect API key provided.", code="invalid_api_key")
        return None

    def _take_fault(self) -> _Fault | None:
        if not self._faults:
            return None
        fault = self._faults[0]
        fault.remaining -= 1
        if fault.remaining <= 0:
            self._faults.pop(0)
        return fault


def _content_text(content: Any) -> str:
    """Message content is a string or a list of parts ({"type": "text", "text": ...})."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(part.get("text", "") for part in content if isinstance(part, dict)).strip()
    return ""


def _error(
    record: RecordedRequest,
    status: int,
    message: str,
    param: str | None = None,
    *,
    code: str | None = None,
) -> web.Response:
    record.status = status
    kind = {401: "invalid_request_error", 429: "rate_limit_exceeded"}.get(status)
    if kind is None:
        kind = "invalid_request_error" if status < 500 else "server_error"
    body = {"error": {"message": message, "type": kind, "param": param, "code": code}}
    return web.json_response(body, status=status)
