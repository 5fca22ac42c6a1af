"""Writing an old installation's snapshot into one account, in one RLS-scoped transaction.

A bulk migration may insert rows directly (the one-writer rule is about live events), but
it goes in through `Database.tenant`, as every other writer, so PostgreSQL itself keeps it
inside the account. Everything happens in one transaction: a failure leaves nothing, and a
dry run is the same work rolled back.

Idempotence comes from natural keys, so a second run adds nothing: a bot is its token, a
course its slug (a new version only when the old source changed), a deployment its
(version, bot, prod), a run its (deployment, chat, start time); a run's history and timers
come only with the run. Bans and allow-list entries are unique rows already.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import Any

from sqlalchemy import insert, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from courses import jobs
from engine import progress
from engine.model import Course as EngineCourse
from engine.state import RunState
from legacy_import.course_source import NoSource, course_slug, course_source
from legacy_import.history import (
    current_runs,
    lines_by_run,
    started_at_of,
    waits_by_run,
)
from legacy_import.legacy_db import (
    LegacyCourse,
    LegacyLine,
    LegacyRun,
    LegacySnapshot,
    LegacyWait,
)
from legacy_import.positions import PendingDelay, Unplaceable, answers_of, place
from legacy_import.summary import Summary
from storage import system
from storage.crypto import Secret, SecretBox
from storage.db import Database
from storage.models import (
    CourseDeployment,
    Environment,
    Restricted,
    Run,
    RunStatus,
    SourceFormat,
    Waiting,
)
from storage.repositories import bans, bots, courses, deployments

# The start of a run that has no date and no lines: fixed, so that a second import finds it.
UNKNOWN_START = datetime(1970, 1, 1)
_TOKEN = re.compile(r"^(\d{1,20}):[A-Za-z0-9_-]{10,}$")
_USERNAME = re.compile(r"^[a-z0-9_]{1,64}$")


@dataclass(frozen=True)
class ImportOptions:
    account_slug: str
    timezone: tzinfo  # the old server's: its timestamps are naive local time
    # Bot tokens given on the command line: by old bot name, or under None for the only bot.
    bot_tokens: Mapping[str | None, Secret] = field(default_factory=dict)
    dry_run: bool = False


class AccountNotFound(LookupError):
    pass


class _DryRun(Exception):
    """Raised at the end of a dry run so the transaction rolls back."""


async def import_snapshot(
    db: Database, box: SecretBox, snapshot: LegacySnapshot, options: ImportOptions, now: datetime
) -> Summary:
    """Move `snapshot` into the account `options.account_slug`; the summary says what moved."""
    account_id = await _account_id(db, options.account_slug)
    summary = Summary(dry_run=options.dry_run, shape=snapshot.shape)
    try:
        async with db.tenant(account_id) as session:
            await _Import(session, account_id, box, snapshot, options, summary, now).run()
            if options.dry_run:
                raise _DryRun
    except _DryRun:
        pass
    return summary


async def _account_id(db: Database, slug: str) -> int:
    async with db.system() as session:
        for account in await system.list_accounts(session):
            if account.slug == slug:
                return account.id
    raise AccountNotFound(f"no account with slug {slug!r}")


@dataclass(frozen=True)
class _Version:
    id: int
    course: EngineCourse


class _Import:
    def __init__(
        self,
        session: AsyncSession,
        account_id: int,
        box: SecretBox,
        snapshot: LegacySnapshot,
        options: ImportOptions,
        summary: Summary,
        now: datetime,
    ) -> None:
        self.session = session
        self.account_id = account_id
        self.box = box
        self.old = snapshot
        self.options = options
        self.summary = summary
        self.now = now
        self.bot_ids: dict[str, int] = {}
        self.versions: dict[str, _Version] = {}
        self.deployments: dict[tuple[str, str], int] = {}

    def local(self, naive: datetime) -> datetime:
        return naive.replace(tzinfo=self.options.timezone) if naive.tzinfo is None else naive

    async def run(self) -> None:
        await self.import_bots()
        await self.import_courses()
        await self.import_deployments()
        await self.import_allow_lists()
        await self.import_bans()
        await self.import_runs()

    # --- bots ---------------------------------------------------------------------------

    def bot_names(self) -> list[str]:
        names = {b.name for b in self.old.bots}
        names |= {c.bot_name for c in self.old.courses if c.bot_name}
        names |= {r.bot_name for r in self.old.runs if r.bot_name}
        names |= {b.bot_name for b in self.old.bans}
        return sorted(names)

    def token_for(self, name: str, names: Sequence[str]) -> str | None:
        given = self.options.bot_tokens.get(name)
        if given is None and len(names) == 1:
            given = self.options.bot_tokens.get(None)
        if given is not None:
            return given.reveal()
        stored = next((b.token for b in self.old.bots if b.name == name), None)
        return stored if stored and _TOKEN.match(stored) else None

    async def import_bots(self) -> None:
        names = self.bot_names()
        for name in names:
            token = self.token_for(name, names)
            match = _TOKEN.match(token) if token else None
            if token is None or match is None:
                self.summary.unmapped(
                    "bots", f"bot {name}: no usable token (give --bot-token {name}=TOKEN)"
                )
                continue
            secret = Secret(token)
            found = await bots.get_by_token(self.session, self.account_id, secret)
            if found is not None:
                self.bot_ids[name] = found.id
                self.summary.existing("bots")
                continue
            try:
                async with self.session.begin_nested():
                    bot = await bots.create(
                        self.session,
                        self.account_id,
                        token=secret,
                        box=self.box,
                        telegram_id=int(match.group(1)),
                        username=name,
                    )
            except IntegrityError:
                self.summary.unmapped("bots", f"bot {name}: already connected to another account")
                continue
            self.bot_ids[name] = bot.id
            self.summary.imported("bots")

    # --- courses ------------------------------------------------------------------------

    async def import_courses(self) -> None:
        for old in self.old.courses:
            try:
                source = course_source(old)
            except NoSource as exc:
                self.summary.unmapped("courses", str(exc))
                continue
            checked = jobs.check(source, old.code)
            course = (
                jobs.build(checked.elements_json)
                if checked.ok and checked.elements_json is not None
                else None
            )
            if checked.elements_json is None or course is None:
                first = next((d for d in checked.diagnostics if d.is_error), None)
                why = f": {first.message} (line {first.line})" if first else ""
                self.summary.unmapped("courses", f"course {old.code}: does not load{why}")
                continue
            version_id = await self.store_course(old, source, checked.elements_json)
            self.versions[old.code] = _Version(version_id, course)

    async def store_course(self, old: LegacyCourse, source: str, elements_json: str) -> int:
        slug = course_slug(old.code)
        checksum = courses.source_checksum(source)
        row = await courses.get_by_slug(self.session, self.account_id, slug)
        if row is None:
            row = await courses.create(
                self.session, self.account_id, title=old.title or old.code, slug=slug
            )
        else:
            latest = await courses.latest_version(self.session, self.account_id, row.id)
            if latest is not None and latest.checksum == checksum:
                self.summary.existing("courses")
                return latest.id
        version = await courses.add_version(
            self.session,
            self.account_id,
            row.id,
            source_text=source,
            source_format=SourceFormat.YAML,
            elements=elements_json,
            checksum=checksum,
        )
        self.summary.imported("courses")
        return version.id

    # --- deployments and who may use them ---------------------------------------------

    def course_bot_pairs(self) -> list[tuple[str, str]]:
        pairs = {(c.code, c.bot_name) for c in self.old.courses if c.bot_name}
        pairs |= {(r.course_code, r.bot_name) for r in self.old.runs if r.bot_name}
        return sorted(pairs)

    async def import_deployments(self) -> None:
        restricted = {a.course_code for a in self.old.allowed}
        for code, bot_name in self.course_bot_pairs():
            version = self.versions.get(code)
            bot_id = self.bot_ids.get(bot_name)
            if version is None or bot_id is None:
                missing = "course" if version is None else "bot"
                self.summary.unmapped(
                    "deployments", f"course {code} on bot {bot_name}: the {missing} is not imported"
                )
                continue
            existing = await self.session.scalar(
                select(CourseDeployment.id).where(
                    CourseDeployment.account_id == self.account_id,
                    CourseDeployment.course_version_id == version.id,
                    CourseDeployment.bot_id == bot_id,
                    CourseDeployment.environment == Environment.PROD.value,
                )
            )
            if existing is not None:
                self.deployments[(code, bot_name)] = existing
                self.summary.existing("deployments")
                continue
            row = await deployments.create(
                self.session,
                self.account_id,
                course_version_id=version.id,
                bot_id=bot_id,
                environment=Environment.PROD,
                restricted=code in restricted,
            )
            self.deployments[(code, bot_name)] = row.id
            self.summary.imported("deployments")

    async def import_allow_lists(self) -> None:
        for entry in self.old.allowed:
            targets = [d for (code, _), d in self.deployments.items() if code == entry.course_code]
            username = bans.normalise_username(entry.username) if entry.username else None
            if username is not None and not _USERNAME.match(username):
                username = None
            if not targets or (username is None and entry.chat_id is None):
                why = "its course is not deployed" if not targets else "no valid username or id"
                self.summary.unmapped(
                    "allow-list entries",
                    f"allow-list entry {entry.username or entry.chat_id} of course "
                    f"{entry.course_code}: {why}",
                )
                continue
            for deployment_id in targets:
                if await self.is_allowed(deployment_id, entry.chat_id, username):
                    self.summary.existing("allow-list entries")
                    continue
                await bans.allow(
                    self.session,
                    self.account_id,
                    deployment_id=deployment_id,
                    telegram_user_id=entry.chat_id,
                    username=username,
                )
                self.summary.imported("allow-list entries")

    async def is_allowed(
        self, deployment_id: int, user_id: int | None, username: str | None
    ) -> bool:
        stmt = select(Restricted.id).where(
            Restricted.account_id == self.account_id,
            Restricted.deployment_id == deployment_id,
            Restricted.telegram_user_id.is_(None)
            if user_id is None
            else Restricted.telegram_user_id == user_id,
            Restricted.username.is_(None) if username is None else Restricted.username == username,
        )
        return (await self.session.scalar(stmt.limit(1))) is not None

    async def import_bans(self) -> None:
        banned = {
            (b.telegram_user_id, b.bot_id)
            for b in await bans.list_banned(self.session, self.account_id)
        }
        for old in self.old.bans:
            bot_id = self.bot_ids.get(old.bot_name)
            if bot_id is None:
                self.summary.unmapped(
                    "bans", f"ban of {old.chat_id} on bot {old.bot_name}: the bot is not imported"
                )
            elif (old.chat_id, bot_id) in banned:
                self.summary.existing("bans")
            else:
                await bans.ban(
                    self.session,
                    self.account_id,
                    telegram_user_id=old.chat_id,
                    bot_id=bot_id,
                    reason=old.reason,
                )
                banned.add((old.chat_id, bot_id))
                self.summary.imported("bans")

    # --- runs, their history and timers -------------------------------------------------

    async def import_runs(self) -> None:
        lines = lines_by_run(self.old.runs, self.old.lines)
        orphans = len(self.old.lines) - sum(len(v) for v in lines.values())
        if orphans:
            self.summary.unmapped(
                "conversation lines",
                f"{orphans} conversation line(s) belong to no known run",
                n=orphans,
            )
        waits = waits_by_run(self.old.runs, self.old.waits)
        for wait in set(self.old.waits) - set(waits.values()):
            self.summary.unmapped(
                "pending delays",
                f"pending delay {wait.waiting_id} (chat {wait.chat_id}): no "
                "unfinished run of that chat, course and bot",
            )
        current = current_runs(self.old.runs)
        known = await self.known_runs()
        busy = await self.active_chats()
        new_runs: list[dict[str, Any]] = []
        histories: list[list[LegacyLine]] = []
        for old in self.old.runs:
            run_lines = lines.get(old.run_id, [])
            deployment_id = self.deployments.get((old.course_code, old.bot_name or ""))
            if deployment_id is None:
                self.summary.unmapped(
                    "runs",
                    f"run {old.run_id} (chat {old.chat_id}): course {old.course_code} "
                    f"on bot {old.bot_name} is not deployed",
                )
                self.summary.unmapped("conversation lines", n=len(run_lines))
                if old.run_id in waits:
                    self.summary.unmapped("pending delays")
                continue
            started_at = self.local(started_at_of(old, run_lines) or UNKNOWN_START)
            if (deployment_id, old.chat_id, started_at) in known:
                self.summary.existing("runs")
                self.summary.existing("conversation lines", len(run_lines))
                if old.run_id in waits:
                    self.summary.existing("pending delays")
                continue
            row = self.run_row(old, deployment_id, started_at, run_lines)
            is_current = old.run_id in current
            self.settle(old, row, run_lines, waits.get(old.run_id), is_current, busy)
            new_runs.append(row)
            histories.append(run_lines)
        await self.link_participants(new_runs)
        ids = await self.insert_runs(new_runs)
        await self.insert_history(ids, histories)
        await self.insert_waits(ids, new_runs)

    def run_row(
        self, old: LegacyRun, deployment_id: int, started_at: datetime, lines: Sequence[LegacyLine]
    ) -> dict[str, Any]:
        """The run as finished (completed or stopped); `settle` says which, or makes it active."""
        last_at = next((ln.at for ln in reversed(lines) if ln.at is not None), None)
        return {
            "account_id": self.account_id,
            "deployment_id": deployment_id,
            "course_version_id": self.versions[old.course_code].id,
            "bot_id": self.bot_ids[old.bot_name or ""],
            "chat_id": old.chat_id,
            "telegram_user_id": old.chat_id,  # the old bot ran in private chats
            "_username": old.username,
            "started_at": started_at,
            "utm_source": old.utm_source,
            "utm_campaign": old.utm_campaign,
            "is_active": False,
            "finished_at": self.local(old.ended_at or last_at or started_at),
        }

    def settle(
        self,
        old: LegacyRun,
        row: dict[str, Any],
        lines: Sequence[LegacyLine],
        wait: LegacyWait | None,
        is_current: bool,
        busy: set[tuple[int, int]],
    ) -> None:
        """Completed, stopped (left behind, or not placeable) or active at its place; a
        pending delay moves only with an active run."""
        status = self.place_run(old, row, lines, wait, is_current, busy)
        if status is not RunStatus.ACTIVE:
            self.finish(row, self.versions[old.course_code].course, lines, status)
            if wait is not None:
                self.summary.unmapped(
                    "pending delays",
                    f"pending delay {wait.waiting_id} (chat {old.chat_id}): its run is "
                    f"imported as {status.value}",
                )
            return
        self.summary.imported("  active")
        if wait is not None:
            self.summary.imported("pending delays")
        elif row["state"]["waits"]:
            self.summary.imported("prompts to re-send")

    def place_run(
        self,
        old: LegacyRun,
        row: dict[str, Any],
        lines: Sequence[LegacyLine],
        wait: LegacyWait | None,
        is_current: bool,
        busy: set[tuple[int, int]],
    ) -> RunStatus:
        """Make `row` active at its place, or say how it ends instead."""
        if old.ended:
            return RunStatus.COMPLETED
        if not is_current:
            return RunStatus.STOPPED
        due = self.local(wait.due) if wait is not None and wait.due is not None else self.now
        delay = PendingDelay(wait.element_id, due) if wait is not None else None
        try:
            position = place(self.versions[old.course_code].course, lines, delay, self.now)
        except Unplaceable as exc:
            self.summary.problems.append(f"run {old.run_id} (chat {old.chat_id}): {exc}; stopped")
            return RunStatus.STOPPED
        if position.finished:
            return RunStatus.COMPLETED
        if (row["bot_id"], old.chat_id) in busy:
            self.summary.problems.append(
                f"run {old.run_id} (chat {old.chat_id}): the chat already has an active run "
                "in this bot; stopped"
            )
            return RunStatus.STOPPED
        busy.add((row["bot_id"], old.chat_id))
        row.update(
            status=RunStatus.ACTIVE.value,
            is_active=True,
            finished_at=None,
            state=position.state.to_dict(),
            current_element=progress.position(position.state),
        )
        return RunStatus.ACTIVE

    def finish(
        self,
        row: dict[str, Any],
        course: EngineCourse,
        lines: Sequence[LegacyLine],
        status: RunStatus,
    ) -> None:
        last = next((ln.element_id for ln in reversed(lines) if ln.element_id in course), None)
        state = RunState(
            current=last,
            answers=answers_of(course, lines),
            finished=True,
            status="completed" if status is RunStatus.COMPLETED else "stopped",
        )
        row.update(
            status=status.value, state=state.to_dict(), current_element=progress.position(state)
        )
        self.summary.imported(f"  {status.value}")

    async def known_runs(self) -> set[tuple[int, int, datetime]]:
        if not self.deployments:
            return set()
        stmt = select(Run.deployment_id, Run.chat_id, Run.started_at).where(
            Run.account_id == self.account_id,
            Run.deployment_id.in_(list(self.deployments.values())),
        )
        return {(d, c, s) for d, c, s in (await self.session.execute(stmt)).all()}

    async def active_chats(self) -> set[tuple[int, int]]:
        stmt = select(Run.bot_id, Run.chat_id).where(
            Run.account_id == self.account_id, Run.is_active
        )
        return {(b, c) for b, c in (await self.session.execute(stmt)).all()}

    async def link_participants(self, rows: list[dict[str, Any]]) -> None:
        """Each student once per account (the students page lists them); a student this
        account already knows keeps the profile the live bot last saw."""
        usernames: dict[int, str | None] = {}
        for row in rows:
            usernames[row["telegram_user_id"]] = row.pop("_username")
        if not usernames:
            return
        ids = list(usernames)
        names = [u if u and u != "--empty--" else None for u in usernames.values()]
        found = await self.session.execute(
            _UPSERT_PARTICIPANTS, {"account_id": self.account_id, "ids": ids, "names": names}
        )
        participant_ids = {user_id: pid for pid, user_id in found.all()}
        for row in rows:
            row["participant_id"] = participant_ids[row["telegram_user_id"]]

    async def insert_runs(self, rows: list[dict[str, Any]]) -> list[int]:
        if not rows:
            return []
        self.summary.imported("runs", len(rows))
        stmt = insert(Run).returning(Run.id, sort_by_parameter_order=True)
        result = await self.session.execute(stmt, rows)
        return [r.id for r in result.all()]

    async def insert_history(self, run_ids: list[int], histories: list[list[LegacyLine]]) -> None:
        cols: dict[str, list[Any]] = defaultdict(list)
        for run_id, lines in zip(run_ids, histories, strict=True):
            for line in lines:
                cols["run_id"].append(run_id)
                cols["element_id"].append(line.element_id or "")
                cols["role"].append("user" if line.role == "user" else "bot")
                cols["text"].append(line.report or "")
                cols["score"].append(line.score)
                cols["maxscore"].append(line.maxscore)
                cols["created_at"].append(self.local(line.at) if line.at else self.now)
        if not cols:
            return
        await self.session.execute(_INSERT_LINES, {"account_id": self.account_id, **cols})
        self.summary.imported("conversation lines", len(cols["run_id"]))

    async def insert_waits(self, run_ids: list[int], rows: list[dict[str, Any]]) -> None:
        waits = [
            {
                "account_id": self.account_id,
                "run_id": run_id,
                "wait_id": wait[0],
                "due_at": datetime.fromisoformat(wait[1]),
                "goto": wait[2],
            }
            for run_id, row in zip(run_ids, rows, strict=True)
            if row["is_active"]
            for wait in row["state"].get("waits", ())
        ]
        if waits:
            await self.session.execute(insert(Waiting), waits)


_UPSERT_PARTICIPANTS = text(
    """
WITH given AS (
    SELECT * FROM unnest(CAST(:ids AS bigint[]), CAST(:names AS text[])) AS g(user_id, username)
), added AS (
    INSERT INTO participant (account_id, telegram_user_id, username)
    SELECT :account_id, user_id, username FROM given
    ON CONFLICT (account_id, telegram_user_id) DO NOTHING
    RETURNING id, telegram_user_id
)
SELECT id, telegram_user_id FROM added
UNION ALL
SELECT p.id, p.telegram_user_id FROM participant p JOIN given ON p.telegram_user_id = given.user_id
WHERE p.account_id = :account_id
"""
)

# Conversation lines go in as one INSERT over arrays: 100,000 lines are one statement, not
# 100,000 parameter sets (COPY is not allowed into a table under row-level security).
_INSERT_LINES = text(
    """
INSERT INTO conversation (account_id, run_id, element_id, role, text, score, maxscore, created_at)
SELECT :account_id, * FROM unnest(
    CAST(:run_id AS bigint[]), CAST(:element_id AS text[]), CAST(:role AS text[]),
    CAST(:text AS text[]), CAST(:score AS float8[]), CAST(:maxscore AS float8[]),
    CAST(:created_at AS timestamptz[])
)
"""
)
