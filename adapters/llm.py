"""Chat completions, voice transcription and speech for `dialog` elements, per account.

Each account may bring its own OpenAI-compatible endpoint, key, model and call timeout (the
key stored encrypted); otherwise the process default (OPENAI_BASE_URL) serves it. Every call
is counted in the account's monthly token usage, and a spent budget stops further calls with
a clear notice instead of silently costing someone money. Every call, to the account's
endpoint or the default one, goes through the guarded outbound client (DESIGN §10), so an
endpoint in a private network is refused on each call whatever was stored. Anything that goes
wrong on the way (refused address, timeout, HTTP error, malformed JSON) becomes `LLMError`,
which the engine turns into a fallback message that leaves the dialog open for a retry; the
remote server's text never reaches the student.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Protocol

from engine.effects import Speech
from runtime.student_texts import Notice, notice_text
from storage.crypto import SecretBox
from storage.db import Database
from storage.outbound import OutboundClient, OutboundError, OutboundResponse
from storage.repositories import llm as llm_repo


class LLMError(Exception):
    """No usable reply. `notice` is for the student; `final` means retrying cannot help."""

    def __init__(self, reason: str, *, notice: str | None = None, final: bool = False) -> None:
        super().__init__(reason)
        self.notice = notice
        self.final = final


class LLMClient(Protocol):
    async def complete(
        self,
        account_id: int,
        model: str | None,
        messages: list[dict[str, Any]],
        temperature: float | None,
    ) -> str: ...

    async def transcribe(
        self, account_id: int, audio: bytes, filename: str, language: str | None
    ) -> str: ...

    async def speak(self, account_id: int, text: str, speech: Speech) -> bytes: ...


@dataclass(frozen=True)
class Endpoint:
    base_url: str
    api_key: str | None
    model: str
    transcription_model: str = "whisper-1"
    timeout_s: float = 60.0
    speech_model: str = "tts-1"
    speech_voice: str = "alloy"

    def __repr__(self) -> str:  # the key must never reach a log
        return f"Endpoint(base_url={self.base_url!r}, model={self.model!r})"


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int
    completion_tokens: int


class AccountLLM:
    """Resolves the account's endpoint, enforces its budget, records its usage.

    The budget is a soft cap. A call's cost is known only from the usage in its reply, so
    nothing can be reserved up front: the limit is checked before each call (`used >= limit`
    refuses it) and the reply's tokens are added afterwards. A call that starts under the
    limit always completes and is counted, so a month can end above the limit by the tokens
    of the call that crossed it plus those of calls already in flight at that moment (at
    most one per chat of the account that is in a dialog); no call starts after that.
    """

    def __init__(
        self,
        db: Database,
        box: SecretBox,
        default: Endpoint | None,
        *,
        clock: Callable[[], datetime],
        outbound: OutboundClient | None = None,
    ) -> None:
        """`outbound` is the process's guarded client; without one, a client of its own that
        allows public https endpoints only."""
        self._db = db
        self._box = box
        self._default = default
        self._clock = clock
        self._owns_outbound = outbound is None
        self._outbound = outbound or OutboundClient()

    async def _endpoint(self, account_id: int, *, check_budget: bool) -> Endpoint:
        today = self._clock().date()
        async with self._db.tenant(account_id) as session:
            settings = await llm_repo.get_settings(session, account_id)
            used = await llm_repo.tokens_used(session, account_id, day=today)
        limit = settings.monthly_token_limit if settings is not None else None
        if check_budget and limit is not None and used >= limit:
            raise LLMError(
                f"account {account_id} spent its monthly LLM budget ({used}/{limit} tokens)",
                notice=notice_text(Notice.ASSISTANT_UNAVAILABLE, None),
                final=True,
            )
        default_timeout = self._default.timeout_s if self._default else Endpoint.timeout_s
        timeout = (settings.timeout_s if settings else None) or default_timeout
        if settings is not None and settings.base_url:
            key = llm_repo.reveal_api_key(settings, self._box)
            default_model = self._default.model if self._default else "gpt-4o-mini"
            return Endpoint(
                settings.base_url,
                key.reveal() if key is not None else None,
                settings.model or default_model,
                settings.transcription_model or "whisper-1",
                timeout,
            )
        if self._default is None:
            raise LLMError("no LLM endpoint is configured for this account")
        if settings is not None:
            model = settings.model or self._default.model
            return replace(self._default, model=model, timeout_s=timeout)
        return self._default

    async def complete(
        self,
        account_id: int,
        model: str | None,
        messages: list[dict[str, Any]],
        temperature: float | None,
    ) -> str:
        endpoint = await self._endpoint(account_id, check_budget=True)
        body: dict[str, Any] = {"model": model or endpoint.model, "messages": messages}
        if temperature is not None:
            body["temperature"] = temperature
        data = await self._post(endpoint, "/chat/completions", json=body)
        try:
            content = data["choices"][0]["message"]["content"]
        except (KeyError, IndexError, TypeError) as exc:
            raise LLMError("LLM reply has no message content") from exc
        if not isinstance(content, str) or not content.strip():
            raise LLMError("LLM reply is empty")
        usage = data.get("usage") or {}
        async with self._db.tenant(account_id) as session:
            await llm_repo.record_usage(
                session,
                account_id,
                day=self._clock().date(),
                prompt_tokens=int(usage.get("prompt_tokens") or 0),
                completion_tokens=int(usage.get("completion_tokens") or 0),
            )
        return content

    async def transcribe(
        self, account_id: int, audio: bytes, filename: str, language: str | None
    ) -> str:
        endpoint = await self._endpoint(account_id, check_budget=True)
        form = {"model": endpoint.transcription_model}
        if language:
            form["language"] = language
        data = await self._post(
            endpoint, "/audio/transcriptions", data=form, files={"file": (filename, audio)}
        )
        text = data.get("text") if isinstance(data, dict) else None
        if not isinstance(text, str) or not text.strip():
            raise LLMError("transcription is empty")
        return text.strip()

    async def speak(self, account_id: int, text: str, speech: Speech) -> bytes:
        """`text` spoken, as OGG/Opus (what Telegram plays as a voice message)."""
        endpoint = await self._endpoint(account_id, check_budget=True)
        body: dict[str, Any] = {
            "model": speech.model or endpoint.speech_model,
            "voice": speech.voice or endpoint.speech_voice,
            "input": text,
            "response_format": "opus",
        }
        if speech.speed is not None:
            body["speed"] = speech.speed
        answer = await self._send(endpoint, "/audio/speech", json=body)
        if not answer.content:
            raise LLMError("speech is empty")
        return answer.content

    async def _post(self, endpoint: Endpoint, path: str, **request: Any) -> dict[str, Any]:
        answer = await self._send(endpoint, path, **request)
        try:
            return answer.json_object()
        except OutboundError as exc:
            raise LLMError(str(exc)) from None

    async def _send(self, endpoint: Endpoint, path: str, **request: Any) -> OutboundResponse:
        headers = {"Authorization": f"Bearer {endpoint.api_key}"} if endpoint.api_key else {}
        url = endpoint.base_url.rstrip("/") + path
        try:
            answer = await self._outbound.request(
                "POST", url, headers=headers, timeout_s=endpoint.timeout_s, **request
            )
            return answer.ensure_ok()
        except OutboundError as exc:
            raise LLMError(str(exc)) from None

    async def close(self) -> None:
        if self._owns_outbound:
            await self._outbound.aclose()
