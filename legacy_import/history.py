"""Which old run each row belongs to, and which of a chat's runs it is still in.

Pure functions over the rows `legacy_db` read: the old bot kept a student's place per chat,
and older rows may lack a `run_id`, so both are worked out from chats, courses and times.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime

from legacy_import.legacy_db import LegacyLine, LegacyRun, LegacyWait


def lines_by_run(
    runs: Sequence[LegacyRun], lines: Sequence[LegacyLine]
) -> dict[int, list[LegacyLine]]:
    """Each run's lines in order. A line without `run_id` (written before the old bot kept
    one) goes to the latest run of its chat and course that had started by then."""
    by_run: dict[int, list[LegacyLine]] = defaultdict(list)
    starts: dict[tuple[int, str], list[LegacyRun]] = defaultdict(list)
    for run in runs:
        starts[(run.chat_id, run.course_code)].append(run)
    known = {r.run_id for r in runs}
    for line in lines:
        if line.run_id in known:
            by_run[line.run_id].append(line)
            continue
        candidates = [
            r
            for r in starts.get((line.chat_id, line.course_code or ""), [])
            if line.at is None or r.started is None or r.started <= line.at
        ]
        if candidates:
            by_run[max(candidates, key=_start_order).run_id].append(line)
    return by_run


def started_at_of(run: LegacyRun, lines: Sequence[LegacyLine]) -> datetime | None:
    """When the run began: its own timestamp, else its first line's."""
    return run.started or next((ln.at for ln in lines if ln.at is not None), None)


def current_runs(runs: Sequence[LegacyRun]) -> set[int]:
    """The run each (bot, chat) is in: its latest unfinished one (the old bot's current
    element is per chat, so an older unfinished run was left behind)."""
    latest: dict[tuple[str | None, int], LegacyRun] = {}
    for run in runs:
        if run.ended:
            continue
        key = (run.bot_name, run.chat_id)
        if key not in latest or _start_order(run) > _start_order(latest[key]):
            latest[key] = run
    return {r.run_id for r in latest.values()}


def _start_order(run: LegacyRun) -> tuple[datetime, int]:
    return (run.started or datetime.min, run.run_id)


def waits_by_run(runs: Sequence[LegacyRun], waits: Sequence[LegacyWait]) -> dict[int, LegacyWait]:
    """The pending delay of each run: by `run_id`, else by chat, course and bot."""
    current = current_runs(runs)
    by_key = {(r.chat_id, r.course_code, r.bot_name): r.run_id for r in runs if r.run_id in current}
    found: dict[int, LegacyWait] = {}
    for wait in waits:
        run_id = wait.run_id or by_key.get((wait.chat_id, wait.course_code or "", wait.bot_name))
        if run_id is not None:
            found[run_id] = wait
    return found
