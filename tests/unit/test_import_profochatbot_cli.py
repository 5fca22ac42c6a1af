"""`coursebot import-profochatbot` arguments: checked before any store is started."""

from __future__ import annotations

from contextlib import AbstractContextManager

import runner
from storage.config import Settings


def no_stores() -> AbstractContextManager[Settings]:
    raise AssertionError("the stores were started for arguments that cannot run")


def test_help_starts_nothing(capsys):
    from legacy_import.cli import import_main

    assert import_main(["--help"], stores=no_stores) == 0
    out = capsys.readouterr().out
    assert "--from URL" in out and "--dry-run" in out and "--timezone" in out


def test_missing_arguments_and_unknown_zones_are_refused_before_any_store(capsys):
    from legacy_import.cli import import_main

    printed: list[str] = []
    assert import_main(["--account", "school"], stores=no_stores) == 2
    assert "--from" in capsys.readouterr().err
    argv = ["--from", "postgresql://x/y", "--account", "s", "--timezone", "Mars/Base"]
    assert import_main(argv, stores=no_stores, write=printed.append) == 2
    assert printed == ["unknown time zone 'Mars/Base'"]


def test_runner_dispatches_the_sub_command(monkeypatch):
    seen: list[list[str]] = []

    def fake_main(argv, *, stores):  # type: ignore[no-untyped-def]
        seen.append(argv)
        return 0

    import legacy_import.cli as cli

    monkeypatch.setattr(cli, "import_main", fake_main)
    assert runner.main(["import-profochatbot", "--from", "u", "--account", "a"]) == 0
    assert seen == [["--from", "u", "--account", "a"]]
