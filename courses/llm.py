"""Chat models for `coursebot play`: an OpenAI-compatible endpoint, or an offline stub.

Synchronous on purpose: the terminal player handles one student and waits anyway. The
Telegram runtime has its own asynchronous client; this one only serves the CLI.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import httpx

DEFAULT_MODEL = "gpt-4o-mini"
DEFAULT_TIMEOUT_SECONDS = 60.0
STUB_TURNS = 3


class LLMError(Exception):
    """A chat completion could not be obtained; the message is safe to show (no secrets)."""


class ChatModel(Protocol):
    def complete(
        self, model: str | None, messages: Sequence[Mapping[str, Any]], temperature: float | None
    ) -> str: ...


class OpenAICompatibleChat:
    """POST {base_url}/chat/completions, as OpenAI, OpenRouter, vLLM, Ollama etc. accept.

    `model_override` (COURSEBOT_LLM_MODEL) wins over the element's `model`: course files
    name OpenAI models, which another endpoint may not serve.
    """

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None = None,
        model_override: str | None = None,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._url = base_url.rstrip("/") + "/chat/completions"
        self._model_override = model_override
        self._timeout = timeout
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.Client(headers=headers, timeout=timeout, transport=transport)

    def complete(
        self, model: str | None, messages: Sequence[Mapping[str, Any]], temperature: float | None
    ) -> str:
        body: dict[str, Any] = {
            "model": self._model_override or model or DEFAULT_MODEL,
            "messages": [dict(message) for message in messages],
        }
        if temperature is not None:
            body["temperature"] = temperature
        try:
            response = self._client.post(self._url, json=body)
        except httpx.TimeoutException:
            raise LLMError(f"no answer from {self._url} within {self._timeout:g}s") from None
        except httpx.HTTPError as exc:
            raise LLMError(f"cannot reach {self._url}: {exc}") from None
        if response.status_code >= 400:
            raise LLMError(
                f"{self._url} answered HTTP {response.status_code}: {response.text[:200]}"
            )
        try:
            content = response.json()["choices"][0]["message"]["content"]
        except (ValueError, KeyError, IndexError, TypeError):
            raise LLMError(f"unexpected answer from {self._url}: {response.text[:200]}") from None
        if not isinstance(content, str):
            raise LLMError(f"unexpected answer from {self._url}: no text content")
        return content


class EchoChat:
    """Offline stand-in: echoes the student and ends the dialog after a few turns, so a
    course with dialogs can be played through without any model."""

    def complete(
        self, model: str | None, messages: Sequence[Mapping[str, Any]], temperature: float | None
    ) -> str:
        said = [str(m.get("content", "")) for m in messages if m.get("role") == "user"]
        if not said:
            return "(offline stub) Hello! Write me anything."
        if len(said) >= STUB_TURNS:
            return f"(offline stub) You said: {said[-1]}. That's enough for now, bye! {{STOP}}"
        return f"(offline stub) You said: {said[-1]}"


def chat_model_for(
    base_url: str | None, api_key: str | None = None, model: str | None = None
) -> tuple[ChatModel, str]:
    """The model to use (OPENAI_BASE_URL, OPENAI_API_KEY, COURSEBOT_LLM_MODEL) and a one-line
    description of it for the player to show; the offline stub without a base URL."""
    base_url = (base_url or "").strip()
    if not base_url:
        return (
            EchoChat(),
            "dialogs are answered by an offline stub (set OPENAI_BASE_URL to use a model)",
        )
    chat = OpenAICompatibleChat(base_url, api_key=api_key or None, model_override=model or None)
    return chat, f"dialogs are answered by {base_url}" + (f" ({model})" if model else "")
