"""Reading an old ProfoChatBot database, in either of its two shapes, into plain rows.

The monolith keys a course by a text `course_id` (with `bot_name`) and has no `bot` table;
its own SaaS migration renamed that text key to `course_code` (adding an integer
`course_id`) and added `account`, `bot` (with tokens) and `account_id` everywhere. Which
column holds the course's text key is therefore read from the catalogue, per table.
Timestamps stay naive here: they are the old server's local time (`importer` localises).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

MONOLITH = "monolith"
SAAS = "saas"


@dataclass(frozen=True, slots=True)
class LegacyBot:
    name: str
    token: str | None  # None in the monolith (the token lived in the old bot's .env)


@dataclass(frozen=True, slots=True)
class LegacyCourse:
    code: str
    bot_name: str | None
    title: str | None
    yaml: str | None
    elements: tuple[tuple[str, dict[str, Any] | None], ...]  # (element_id, data) in order


@dataclass(frozen=True, slots=True)
class LegacyRun:
    run_id: int
    chat_id: int
    username: str | None
    bot_name: str | None
    course_code: str
    started: datetime | None
    ended: bool
    ended_at: datetime | None
    utm_source: str | None
    utm_campaign: str | None


@dataclass(frozen=True, slots=True)
class LegacyLine:
    conversation_id: int
    run_id: int | None
    chat_id: int
    course_code: str | None
    element_id: str | None
    role: str | None
    report: str | None
    score: float | None
    maxscore: float | None
    at: datetime | None


@dataclass(frozen=True, slots=True)
class LegacyWait:
    waiting_id: int
    chat_id: int
    run_id: int | None
    course_code: str | None
    bot_name: str | None
    element_id: str | None
    due: datetime | None


@dataclass(frozen=True, slots=True)
class LegacyBan:
    chat_id: int
    bot_name: str
    reason: str | None


@dataclass(frozen=True, slots=True)
class LegacyAllowed:
    course_code: str
    username: str | None
    chat_id: int | None


@dataclass(frozen=True)
class LegacySnapshot:
    shape: str
    bots: tuple[LegacyBot, ...]
    courses: tuple[LegacyCourse, ...]
    runs: tuple[LegacyRun, ...]
    lines: tuple[LegacyLine, ...]
    waits: tuple[LegacyWait, ...]
    bans: tuple[LegacyBan, ...]
    allowed: tuple[LegacyAllowed, ...]


class _Catalogue:
    """The old database's tables and columns, and the filter for one old account."""

    def __init__(self, columns: Mapping[str, set[str]], account_id: int | None) -> None:
        self.columns = columns
        self.account_id = account_id

    @property
    def shape(self) -> str:
        return SAAS if "account" in self.columns else MONOLITH

    def has(self, table: str, column: str | None = None) -> bool:
        return table in self.columns and (column is None or column in self.columns[table])

    def code(self, table: str) -> str:
        """The column holding the course's text key in `table`."""
        return "course_code" if self.has(table, "course_code") else "course_id"

    def col(self, table: str, column: str, alias: str | None = None) -> str:
        """`column` if the table has it, else NULL (under the same name)."""
        name = alias or column
        return f"{column} AS {name}" if self.has(table, column) else f"NULL AS {name}"

    def where(self, table: str, extra: str = "TRUE") -> str:
        if self.account_id is not None and self.has(table, "account_id"):
            return f"WHERE account_id = {int(self.account_id)} AND {extra}"
        return f"WHERE {extra}"


async def read_snapshot(dsn: str, *, account_id: int | None = None) -> LegacySnapshot:
    """Everything the importer moves, read in one repeatable-read transaction."""
    conn = await asyncpg.connect(dsn)
    try:
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            cat = _Catalogue(await _columns(conn), account_id)
            missing = {"course", "conversation", "run"} - set(cat.columns)
            if missing:
                raise ValueError(
                    f"not a ProfoChatBot database: no table(s) {', '.join(sorted(missing))}"
                )
            return LegacySnapshot(
                shape=cat.shape,
                bots=await _bots(conn, cat),
                courses=await _courses(conn, cat),
                runs=await _runs(conn, cat),
                lines=await _lines(conn, cat),
                waits=await _waits(conn, cat),
                bans=await _bans(conn, cat),
                allowed=await _allowed(conn, cat),
            )
    finally:
        await conn.close()


async def _columns(conn: asyncpg.Connection) -> dict[str, set[str]]:
    rows = await conn.fetch(
        "SELECT table_name, column_name FROM information_schema.columns "
        "WHERE table_schema = 'public'"
    )
    found: dict[str, set[str]] = {}
    for row in rows:
        found.setdefault(row["table_name"], set()).add(row["column_name"])
    return found


async def _bots(conn: asyncpg.Connection, cat: _Catalogue) -> tuple[LegacyBot, ...]:
    if not cat.has("bot"):
        return ()
    rows = await conn.fetch(f"SELECT bot_name, bot_token FROM bot {cat.where('bot')} ORDER BY 1")
    return tuple(LegacyBot(r["bot_name"], r["bot_token"] or None) for r in rows)


async def _courses(conn: asyncpg.Connection, cat: _Catalogue) -> tuple[LegacyCourse, ...]:
    code = cat.code("course")
    rows = await conn.fetch(
        f"SELECT {code} AS code, bot_name, yaml, {cat.col('course', 'title')} "
        f"FROM course {cat.where('course')} ORDER BY {code}, bot_name"
    )
    elements: dict[str, list[tuple[str, dict[str, Any] | None]]] = {}
    if cat.has("course_element"):
        element_code = cat.code("course_element")
        for row in await conn.fetch(
            f"SELECT {element_code} AS code, element_id, json FROM course_element "
            f"{cat.where('course_element')} ORDER BY course_element_id"
        ):
            elements.setdefault(row["code"], []).append(
                (row["element_id"], _element_data(row["json"]))
            )
    seen: set[str] = set()
    courses = []
    for row in rows:
        if row["code"] in seen:  # the monolith keys by (code, bot): one source per code
            continue
        seen.add(row["code"])
        courses.append(
            LegacyCourse(
                code=row["code"],
                bot_name=row["bot_name"],
                title=row["title"],
                yaml=row["yaml"],
                elements=tuple(elements.get(row["code"], ())),
            )
        )
    return tuple(courses)


def _element_data(raw: str | None) -> dict[str, Any] | None:
    """A `course_element.json`: `{"element_data": {...}}`, or the element itself."""
    try:
        data = json.loads(raw) if raw else None
    except ValueError:
        return None
    if isinstance(data, dict) and isinstance(inner := data.get("element_data"), dict):
        return inner
    return data if isinstance(data, dict) else None


async def _runs(conn: asyncpg.Connection, cat: _Catalogue) -> tuple[LegacyRun, ...]:
    bot_name = "botname"
    if not cat.has("run", "botname") and cat.has("run", "bot_id"):
        bot_name = "(SELECT b.bot_name FROM bot b WHERE b.bot_id = run.bot_id)"
    # `is_ended` in both shapes; a run table with only the SaaS `is_active` says it so.
    ended = "COALESCE(is_ended, false)" if cat.has("run", "is_ended") else "NOT is_active"
    rows = await conn.fetch(
        f"SELECT run_id, chat_id, username, {bot_name} AS bot_name, "
        f"{cat.code('run')} AS code, date_inserted, {ended} AS is_ended, "
        f"{cat.col('run', 'ended_at')}, {cat.col('run', 'utm_source')}, "
        f"{cat.col('run', 'utm_campaign')} "
        f"FROM run {cat.where('run', 'chat_id IS NOT NULL')} ORDER BY run_id"
    )
    return tuple(
        LegacyRun(
            run_id=r["run_id"],
            chat_id=r["chat_id"],
            username=r["username"],
            bot_name=r["bot_name"],
            course_code=str(r["code"]),
            started=r["date_inserted"],
            ended=bool(r["is_ended"]),
            ended_at=r["ended_at"],
            utm_source=r["utm_source"],
            utm_campaign=r["utm_campaign"],
        )
        for r in rows
    )


async def _lines(conn: asyncpg.Connection, cat: _Catalogue) -> tuple[LegacyLine, ...]:
    rows = await conn.fetch(
        f"SELECT conversation_id, run_id, chat_id, {cat.code('conversation')} AS code, "
        "element_id, role, report, score, maxscore, date_inserted FROM conversation "
        f"{cat.where('conversation', 'chat_id IS NOT NULL')} ORDER BY conversation_id"
    )
    return tuple(
        LegacyLine(
            conversation_id=r["conversation_id"],
            run_id=r["run_id"],
            chat_id=r["chat_id"],
            course_code=r["code"],
            element_id=r["element_id"],
            role=r["role"],
            report=r["report"],
            score=r["score"],
            maxscore=r["maxscore"],
            at=r["date_inserted"],
        )
        for r in rows
    )


async def _waits(conn: asyncpg.Connection, cat: _Catalogue) -> tuple[LegacyWait, ...]:
    if not cat.has("waiting_element"):
        return ()
    table = "waiting_element"
    rows = await conn.fetch(
        f"SELECT waiting_element_id, chat_id, {cat.col(table, 'run_id')}, "
        f"{cat.code(table)} AS code, botname, element_id, waiting_till_date FROM {table} "
        f"{cat.where(table, 'is_waiting')} ORDER BY waiting_element_id"
    )
    return tuple(
        LegacyWait(
            waiting_id=r["waiting_element_id"],
            chat_id=r["chat_id"],
            run_id=r["run_id"],
            course_code=r["code"],
            bot_name=r["botname"],
            element_id=r["element_id"],
            due=r["waiting_till_date"],
        )
        for r in rows
    )


async def _bans(conn: asyncpg.Connection, cat: _Catalogue) -> tuple[LegacyBan, ...]:
    if not cat.has("bannedparticipants"):
        return ()
    rows = await conn.fetch(
        "SELECT botname, chat_id, ban_reason FROM bannedparticipants "
        f"{cat.where('bannedparticipants', 'excluded = 0')} ORDER BY bannedparticipant_id"
    )
    return tuple(LegacyBan(r["chat_id"], r["botname"], r["ban_reason"]) for r in rows)


async def _allowed(conn: asyncpg.Connection, cat: _Catalogue) -> tuple[LegacyAllowed, ...]:
    table = "courseparticipants"
    if not cat.has(table):
        return ()
    rows = await conn.fetch(
        f"SELECT {cat.code(table)} AS code, username, {cat.col(table, 'chat_id')} "
        f"FROM {table} {cat.where(table)} ORDER BY courseparticipant_id"
    )
    return tuple(LegacyAllowed(r["code"], r["username"] or None, r["chat_id"]) for r in rows)
