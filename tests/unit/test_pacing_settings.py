"""The per-chat pace as the environment sets it: a rate and the burst before it applies."""

from __future__ import annotations

import pytest

from process import runtime_options
from storage.config import Settings


def test_the_chat_burst_reaches_the_sender_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COURSEBOT_CHAT_RATE", "0.5")
    monkeypatch.setenv("COURSEBOT_CHAT_BURST", "5")
    limits = runtime_options(Settings.from_env()).rate_limits
    assert (limits.chat_per_second, limits.chat_burst) == (0.5, 5)


def test_the_chat_burst_defaults_to_a_few_messages(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COURSEBOT_CHAT_BURST", raising=False)
    assert runtime_options(Settings.from_env()).rate_limits.chat_burst == 3


@pytest.mark.parametrize("raw", ["0", "-2", "two", "1.5"])
def test_a_malformed_chat_burst_stops_the_start(monkeypatch: pytest.MonkeyPatch, raw: str) -> None:
    monkeypatch.setenv("COURSEBOT_CHAT_BURST", raw)
    with pytest.raises(ValueError, match="COURSEBOT_CHAT_BURST must be a whole number"):
        Settings.from_env()
