"""Chat-completions client for `dialog` elements (any OpenAI-compatible API).

The runtime only needs "messages in, one reply out, or a clear failure"; everything that can
go wrong on the way (timeout, HTTP error, malformed JSON) becomes `LLMError`, which the
engine turns into a fallback message that leaves the dialog open for a retry.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import httpx


class LLMError(Exception):
    """The model did not produce a usable reply."""


class LLMClient(Protocol):
    async def complete(
        self,
        account_id: int,
        model: str | None,
        messages: list[dict[str, Any]],
        temperature: float | None,
    ) -> str: ...


@dataclass(frozen=True)
class OpenAIConfig:
    base_url: str
    api_key: str | None
    default_model: str
    timeout_s: float = 60.0


class OpenAICompatibleClient:
    """POST {base_url}/chat/completions with one shared connection pool."""

    def __init__(self, config: OpenAIConfig, http: httpx.AsyncClient | None = None) -> None:
        self._config = config
        self._http = http or httpx.AsyncClient(timeout=config.timeout_s)

    async def complete(
        self,
        account_id: int,
        model: str | None,
        messages: list[dict[str, Any]],
        temperature: float | None,
    ) -> str:
        body: dict[str, Any] = {"model": model or self._config.default_model, "messages": messages}
        if temperature is not None:
            body["temperature"] = temperature
        headers = {}
        if self._config.api_key:
            headers["Authorization"] = f"Bearer {self._config.api_key}"
        url = self._config.base_url.rstrip("/") + "/chat/completions"
        try:
            response = await self._http.post(url, json=body, headers=headers)
        except httpx.HTTPError as exc:
            raise LLMError(f"LLM request failed: {type(exc).__name__}") from exc
        if response.status_code != 200:
            raise LLMError(f"LLM answered HTTP {response.status_code}")
        try:
            content = response.json()["choices"][0]["message"]["content"]
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise LLMError("LLM reply has no message content") from exc
        if not isinstance(content, str) or not content.strip():
            raise LLMError("LLM reply is empty")
        return content

    async def close(self) -> None:
        await self._http.aclose()
