"""The `coursebot` command reads its settings from the environment once, and shows them."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

import runner
from storage.config import Settings

EXAMPLE = str(Path(runner.__file__).parent / "courses" / "examples" / "demo_en.yaml")


def test_up_help_names_every_setting_with_its_default(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        runner.main(["up", "--help"])
    assert done.value.code == 0
    shown = capsys.readouterr().out
    lines = {line.split()[0]: line for line in shown.splitlines() if line.startswith("  ")}
    for name, field in Settings.model_fields.items():
        assert field.alias in lines, f"{name} ({field.alias}) is missing from `up --help`"
        assert "(default: " in lines[field.alias]
    assert "(default: 8000)" in lines["COURSEBOT_PORT"]
    assert "(default: gpt-4o-mini)" in lines["COURSEBOT_LLM_MODEL"]


def test_a_malformed_setting_stops_the_command_naming_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("COURSEBOT_PORT", "eighty")
    with pytest.raises(SystemExit) as done:
        runner.main(["migrate"])
    assert done.value.code == 2
    assert "COURSEBOT_PORT must be a whole number of at least 0, not 'eighty'" in (
        capsys.readouterr().err
    )


@pytest.mark.parametrize(
    ("env", "described"),
    [
        ({}, "offline stub"),
        ({"OPENAI_BASE_URL": "http://llm.invalid/v1"}, "answered by http://llm.invalid/v1;"),
        (
            {"OPENAI_BASE_URL": "http://llm.invalid/v1", "COURSEBOT_LLM_MODEL": "llama3"},
            "answered by http://llm.invalid/v1 (llama3)",
        ),
    ],
)
def test_play_takes_its_chat_model_from_the_settings(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    env: dict[str, str],
    described: str,
) -> None:
    for name in ("OPENAI_BASE_URL", "OPENAI_API_KEY", "COURSEBOT_LLM_MODEL"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr("sys.stdin", io.StringIO(""))  # input ends at once
    assert runner.main(["play", EXAMPLE]) == 0
    assert described in capsys.readouterr().out
