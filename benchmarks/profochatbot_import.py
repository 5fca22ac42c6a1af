"""`import-profochatbot` at a real school's size: 100,000 conversation lines by default.

An old monolith-shaped database (the test fixture's schema and courses) is filled on the
benchmark's server with `--runs` runs and `--lines` conversation lines spread over them
(every tenth run finished, every fifth unfinished one waiting in a delay), then imported
into a fresh account of a scratch database. It reports the time to read the old database,
to write the account, and to run the import a second time (which adds nothing), against
the baseline of fetching the old conversation table alone.

    python -m benchmarks.profochatbot_import [--lines 100000] [--runs 5000]
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import asyncpg
from sqlalchemy.engine import make_url

from benchmarks.report import Column, machine_line, ratio, render_table
from benchmarks.services import add_server_arguments, scratch_database, servers
from legacy_import.importer import ImportOptions, import_snapshot
from legacy_import.legacy_db import read_snapshot
from storage import system
from storage.crypto import Secret
from storage.db import Database

FIXTURE = Path(__file__).parent.parent / "tests" / "fixtures" / "profochatbot" / "monolith.sql"

# Runs of the fixture's "english" course, after the fixture's own rows; a line's element
# follows the course's order, so the last line of a run is where it stands. $1: runs.
_RUNS = """
INSERT INTO run (run_id, chat_id, username, botname, course_id, date_inserted, is_ended)
SELECT 100 + g, 5000000 + g, 'student' || g, 'school_bot', 'english',
       timestamp '2025-05-01' + g * interval '1 minute', g % 10 = 0
FROM generate_series(1, $1) AS g
"""
# $1: runs, $2: lines, spread round-robin over the runs.
_LINES = """
INSERT INTO conversation (chat_id, username, course_id, element_id, element_type, role,
                          json, report, score, maxscore, date_inserted, run_id)
SELECT 5000000 + r, 'student' || r, 'english',
       (ARRAY['Intro', 'Quiz_1', 'Quiz_1', 'Input_1', 'Input_1'])[1 + (n % 5)],
       'message', (ARRAY['assistant', 'assistant', 'user', 'assistant', 'user'])[1 + (n % 5)],
       '{}', 'line ' || g, CASE WHEN n % 5 IN (2, 4) THEN 1 END,
       CASE WHEN n % 5 IN (2, 4) THEN 1 END,
       timestamp '2025-05-01' + g * interval '1 second', 100 + r
FROM generate_series(0, $2 - 1) AS g,
     LATERAL (SELECT 1 + g % $1 AS r, g / $1 AS n) AS spread
"""
# $1: runs; every fifth unfinished run waits in the course's delay.
_DELAYS = """
INSERT INTO waiting_element (chat_id, waiting_till_date, is_waiting, element_id, course_id,
                             botname)
SELECT 5000000 + g, timestamp '2031-01-01' + g * interval '1 minute', true, 'Pause_1',
       'english', 'school_bot'
FROM generate_series(1, $1) AS g WHERE g % 5 = 0 AND g % 10 <> 0
"""


async def _fill_legacy(dsn: str, runs: int, lines: int) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(FIXTURE.read_text())
        await conn.execute(_RUNS, runs)
        await conn.execute(_LINES, runs, lines)
        await conn.execute(_DELAYS, runs)
        await conn.execute("ANALYZE")
    finally:
        await conn.close()


async def _admin(server_dsn: str, statement: str) -> None:
    conn = await asyncpg.connect(server_dsn)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


async def _fetch_conversation(dsn: str) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        return len(await conn.fetch("SELECT * FROM conversation ORDER BY conversation_id"))
    finally:
        await conn.close()


async def _bench(server_url: str, runs: int, lines: int) -> list[list[object]]:
    legacy_name = f"coursebot_bench_legacy_{secrets.token_hex(5)}"
    server = make_url(server_url).set(drivername="postgresql")
    server_dsn = server.render_as_string(hide_password=False)
    legacy_dsn = server.set(database=legacy_name).render_as_string(hide_password=False)
    await _admin(server_dsn, f'CREATE DATABASE "{legacy_name}"')
    try:
        await _fill_legacy(legacy_dsn, runs, lines)
        async with scratch_database(server_url) as scratch:
            db = Database(scratch.app_url)
            try:
                async with db.system() as session:
                    await system.create_account(
                        session, slug="old-school", name="Old school", plan="free"
                    )
                token = Secret(f"{secrets.randbelow(10**9) + 10**6}:AA{secrets.token_urlsafe(26)}")
                options = ImportOptions(
                    account_slug="old-school",
                    timezone=ZoneInfo("Europe/Moscow"),
                    bot_tokens={None: token},
                )
                started = time.perf_counter()
                fetched = await _fetch_conversation(legacy_dsn)
                baseline = time.perf_counter() - started

                started = time.perf_counter()
                snapshot = await read_snapshot(legacy_dsn)
                read_s = time.perf_counter() - started
                started = time.perf_counter()
                first = await import_snapshot(db, scratch.box, snapshot, options, _now())
                write_s = time.perf_counter() - started
                started = time.perf_counter()
                second = await import_snapshot(
                    db, scratch.box, await read_snapshot(legacy_dsn), options, _now()
                )
                again_s = time.perf_counter() - started
            finally:
                await db.dispose()
    finally:
        await _admin(server_dsn, f'DROP DATABASE IF EXISTS "{legacy_name}" WITH (FORCE)')
    moved = first.tallies["conversation lines"].imported
    assert second.tallies["conversation lines"].imported == 0, "the second import added lines"
    print(first.table(max_problems=5), "\n", flush=True)
    return [
        ["fetch the old conversation table (baseline)", fetched, baseline, "1.00x"],
        ["read the old database", len(snapshot.lines), read_s, ratio(read_s, baseline)],
        ["write the account", moved, write_s, ratio(write_s, baseline)],
        ["import total", moved, read_s + write_s, ratio(read_s + write_s, baseline)],
        ["second import (adds nothing)", 0, again_s, ratio(again_s, baseline)],
    ]


def _now() -> datetime:
    return datetime.now(UTC)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.profochatbot_import")
    parser.add_argument("--lines", type=int, default=100_000, help="conversation lines")
    parser.add_argument("--runs", type=int, default=5_000, help="runs they belong to")
    add_server_arguments(parser)
    args = parser.parse_args(argv)
    with servers(args.database_url, args.redis_url) as urls:
        rows = asyncio.run(_bench(urls.database_url, args.runs, args.lines))
    columns = [
        Column("step", 46),
        Column("lines", 10, ","),
        Column("seconds", 10, ".2f"),
        Column("vs baseline", 13),
    ]
    print(render_table(columns, rows))
    total = rows[3][2]
    assert isinstance(total, float)
    print(f"\n{args.lines} lines in {total:.1f} s: {args.lines / total:,.0f} lines/s")
    print(machine_line())
    return 0


if __name__ == "__main__":
    sys.exit(main())
