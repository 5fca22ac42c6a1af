"""The platform's default LLM endpoint as the environment describes it."""

from __future__ import annotations

import pytest

from process import default_llm_endpoint
from storage.config import Settings


def test_no_base_url_means_no_default_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    assert default_llm_endpoint(Settings.from_env()) is None


def test_timeout_and_model_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", "https://llm.example/v1")
    monkeypatch.setenv("COURSEBOT_LLM_MODEL", "llama3")
    monkeypatch.setenv("COURSEBOT_LLM_TIMEOUT", "7.5")
    endpoint = default_llm_endpoint(Settings.from_env())
    assert endpoint is not None
    assert (endpoint.base_url, endpoint.model, endpoint.timeout_s) == (
        "https://llm.example/v1",
        "llama3",
        7.5,
    )


def test_timeout_defaults_to_a_minute(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", "https://llm.example/v1")
    monkeypatch.delenv("COURSEBOT_LLM_TIMEOUT", raising=False)
    endpoint = default_llm_endpoint(Settings.from_env())
    assert endpoint is not None and endpoint.timeout_s == 60.0
