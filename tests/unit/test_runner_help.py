"""`coursebot up --help` lists every setting the settings model has, with its default."""

from __future__ import annotations

import pytest

import runner
from storage.config import Settings


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
