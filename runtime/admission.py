"""`/start [cd_<deployment>_<token>]`: who may start which course, for all the starts of a
journal batch at once.

Checks run cheapest-and-least-destructive first, and the token's use is counted last, so a
refused student never burns a seat of a group token and never loses the run they have.
Policy for a chat that already has an active run (documented in the README):
- the same deployment again: the student is told to carry on; nothing is created or counted;
- another deployment: the old run ends as `stopped` (its unsent messages dropped, as for
  every stopped run) and the new one starts, in one transaction, so a student can never end
  up with two active runs or with none;
- a bare `/start` (Telegram's Start button, or a student retyping it mid-course): carry on.
  Only a deep link switches courses, so a confused tap never costs anyone their progress;
- a confirmed `/restart` (`Restart`): the same deployment begins again, checked like the
  `/start` of its deep link (the run keeps its seat; its token is checked and counted).

The plan's active-student limit is checked with the account rows locked, so concurrent
starts cannot all take the last seat. Within one batch the seats are handed out in order
before the tokens are counted, so a start refused for its token may have kept a later start
of the same batch from the account's very last seat (it is told the course is full and can
try again).

A paid course begins when its payment succeeds (`admit_grants`, for the payment's event in
the chat's inbox), through the same statements.

Every start by a deep link of an existing deployment of the bot is a link visit, whatever
follows (the payment offered and not paid, the course full, the link used up, not on the
allow-list...), except a banned student's: one statement writes a batch's visits
(storage/link_visits.py), for the broadcasts to those who opened the link but did not start.
A bare `/start` and a restart are no visits.

The facts come from storage/admission_batch.py in a fixed number of statements per batch;
`admit_starts` and `admit_grants` return what each start or grant writes, and the journal
takes the first step of the runs they begin.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from botapi.deeplink import parse_start_payload
from engine.effects import SendText
from runtime import effect_codec
from runtime.effect_codec import OfferPayment
from runtime.hosted_bot import HostedBot
from runtime.inbound import Inbound, StartRequest
from runtime.student_texts import Notice, notice_text
from storage import admission_batch as facts_sql
from storage import link_visits
from storage.admission_batch import (
    BegunRun,
    CountedToken,
    DeploymentFacts,
    NewRun,
    Profile,
    StartFacts,
    StartQuestion,
    TokenWanted,
)
from storage.batch import ActiveRun, BatchConnection
from storage.inbox_events import AccessGranted
from storage.link_visits import Visit
from storage.plans import limits_of
from storage.repositories.bans import normalise_username
from storage.repositories.tokens import TokenRefusal, refusal_of

log = logging.getLogger(__name__)

_REFUSALS = {
    TokenRefusal.NOT_FOUND: Notice.INVALID_LINK,
    TokenRefusal.REVOKED: Notice.TOKEN_REVOKED,
    TokenRefusal.EXPIRED: Notice.TOKEN_EXPIRED,
    TokenRefusal.EXHAUSTED: Notice.TOKEN_EXHAUSTED,
    TokenRefusal.WRONG_USER: Notice.TOKEN_NOT_YOURS,
}


@dataclass(frozen=True, slots=True)
class Restart:
    """A confirmed `/restart` (runtime/commands.py): the chat's run of `deployment_id` ends
    and the deployment begins again, admitted like a `/start` of its deep link with the
    run's token (`token`; None: the run began without one), so bans, deactivation and the
    token's state and uses count as they would for that `/start`. A restart that is refused
    leaves the run as it was."""

    deployment_id: int
    token: str | None


@dataclass(frozen=True, slots=True)
class Start:
    """A `/start` (or a restart) to decide: the bot, its chat's active run (locked), what
    the student sent."""

    bot: HostedBot
    inbound: Inbound
    request: StartRequest | Restart
    current: ActiveRun | None


@dataclass(frozen=True, slots=True)
class Grant:
    """A payment's grant to apply: the bot, the chat, its active run (locked), the grant."""

    bot: HostedBot
    chat_id: int
    access: AccessGranted
    current: ActiveRun | None


@dataclass(slots=True)
class Admission:
    """What one start writes: messages for the chat (outside any run), maybe a run to stop,
    and maybe a run to begin (`begun`: the run once inserted)."""

    messages: list[dict[str, Any]] = field(default_factory=list)
    stop: ActiveRun | None = None
    begin: NewRun | None = None
    begun: BegunRun | None = None


def _say(admission: Admission, inbound: Inbound, notice: Notice, custom: str | None = None) -> None:
    text = custom or notice_text(notice, inbound.student.language_code)
    admission.messages.append(effect_codec.encode(SendText(text, None)))


def _wanted_deployment(start: Start, admission: Admission) -> tuple[int, str | None] | None:
    """(deployment id, token) the start asks for, or None when it was answered already."""
    if isinstance(start.request, Restart):
        return start.request.deployment_id, start.request.token
    if start.request.payload is None:
        if start.current is not None:
            _say(admission, start.inbound, Notice.ALREADY_RUNNING)
            return None
        if start.bot.default_deployment_id is None:
            _say(admission, start.inbound, Notice.NO_DEFAULT_COURSE)
            return None
        return start.bot.default_deployment_id, None
    link = parse_start_payload(start.request.payload)
    if link is None:
        log.info("bot %s: ignored malformed start payload", start.bot.bot_id)
        _say(admission, start.inbound, Notice.INVALID_LINK)
        return None
    return link.deployment_id, link.token


def _refusal(start: Start, facts: StartFacts) -> tuple[Notice, str | None] | None:
    """Why the deployment is not for this student (before seats and tokens), if it is not."""
    deployment = facts.deployment
    if deployment is None or deployment.bot_id != start.bot.bot_id:
        return Notice.INVALID_LINK, None
    if not deployment.active:
        return Notice.COURSE_UNAVAILABLE, None
    if facts.banned:
        return Notice.BANNED, deployment.decline_text
    if deployment.restricted and not facts.allowed:
        return Notice.NOT_ALLOWED, deployment.decline_text
    if (
        start.current is not None
        and start.current.deployment_id == deployment.id
        and not isinstance(start.request, Restart)
    ):
        return Notice.ALREADY_RUNNING, None
    return None


def _visit(start: Start, facts: StartFacts, token: str | None) -> Visit | None:
    """The start as a link visit: a deep link (a bare `/start` names no token) to a
    deployment of this bot, by a student who is not banned."""
    deployment = facts.deployment
    if (
        not isinstance(start.request, StartRequest)
        or token is None
        or deployment is None
        or deployment.bot_id != start.bot.bot_id
        or facts.banned
    ):
        return None
    student = start.inbound.student
    return Visit(
        start.bot.account_id,
        start.bot.bot_id,
        deployment.id,
        start.inbound.chat_id,
        student.telegram_user_id,
        token,
        student.first_name,
        student.username,
        student.language_code,
    )


class _Seats:
    """The plan's active-student limit per account, as seats are handed out in the batch."""

    def __init__(self, used: dict[int, int]) -> None:
        self._used = used
        self._new_students: dict[int, set[int]] = {}

    def take(self, account_id: int, user_id: int, limit: int | None, active: bool) -> bool:
        if limit is None or active:
            return True
        taken = self._new_students.setdefault(account_id, set())
        if user_id in taken:
            return True
        if self._used.get(account_id, 0) + len(taken) >= limit:
            return False
        taken.add(user_id)
        return True


async def admit_starts(
    conn: BatchConnection, starts: list[Start], now: datetime
) -> list[Admission]:
    """Decide every start in order; returns each one's writes. Runs to stop and participants
    are written here; the runs to begin are inserted here and stepped by the caller."""
    admissions = [Admission() for _ in starts]
    asked: list[tuple[int, int, str | None]] = []  # (index, deployment id, token)
    for index, start in enumerate(starts):
        wanted = _wanted_deployment(start, admissions[index])
        if wanted is not None:
            asked.append((index, *wanted))
    if not asked:
        return admissions
    questions = [_question(starts[i], deployment_id) for i, deployment_id, _ in asked]
    facts = await facts_sql.start_facts(conn, questions)

    checked: list[tuple[int, DeploymentFacts, str | None, StartFacts]] = []
    visits: list[Visit] = []
    for (index, _, token), fact in zip(asked, facts, strict=True):
        visit = _visit(starts[index], fact, token)
        if visit is not None:
            visits.append(visit)
        refusal = _refusal(starts[index], fact)
        if refusal is not None:
            _say(admissions[index], starts[index].inbound, *refusal)
        else:
            assert fact.deployment is not None
            checked.append((index, fact.deployment, token, fact))
    await link_visits.record(conn, visits, now)
    seats = _Seats(await facts_sql.lock_accounts_usage(conn, _limited_accounts(starts, checked)))
    seated = []
    for index, deployment, token, fact in checked:
        start = starts[index]
        limit = limits_of(fact.plan, fact.plan_overrides).max_active_students
        user_id = start.inbound.student.telegram_user_id
        if start.current is None and not seats.take(
            start.bot.account_id, user_id, limit, fact.student_active
        ):
            _say(admissions[index], start.inbound, Notice.COURSE_FULL)
        else:
            seated.append((index, deployment, token, fact))

    counted = await _count_tokens(conn, starts, admissions, seated, now)
    beginning = []
    for index, deployment, used, fact in counted:
        start, admission = starts[index], admissions[index]
        if deployment.price_amount is None or fact.paid:
            beginning.append((index, deployment, used))
            continue
        # The checkout link needs an HTTP call to the provider: made after commit, from the
        # outbox. The run starts when the payment succeeds (`admit_grants`).
        student = start.inbound.student
        offer = OfferPayment(
            deployment.id,
            student.telegram_user_id,
            used.id if used is not None else None,
            student.language_code,
        )
        admission.messages.append(effect_codec.encode(offer))
    profiles = [_profile(starts[index]) for index, _, _ in beginning]
    participants = await facts_sql.upsert_participants(conn, profiles)
    for index, deployment, used in beginning:
        start, admission = starts[index], admissions[index]
        if start.current is not None:
            admission.stop = start.current
            again = isinstance(start.request, Restart)
            _say(admission, start.inbound, Notice.RESTARTED if again else Notice.PREVIOUS_RUN_ENDED)
        user_id = start.inbound.student.telegram_user_id
        admission.begin = NewRun(
            start.bot.account_id,
            deployment.id,
            deployment.course_version_id,
            start.bot.bot_id,
            start.inbound.chat_id,
            user_id,
            participants[(start.bot.account_id, user_id)],
            used,
        )
    await _write_runs(conn, admissions)
    return admissions


async def admit_grants(conn: BatchConnection, grants: list[Grant]) -> list[Admission]:
    """Begin the paid courses; returns each grant's writes. The student passed every check
    when the payment was offered (its token was counted then) and has paid, so only the
    deployment is looked up; a run of another deployment in the chat ends."""
    admissions = [Admission() for _ in grants]
    wanted = [
        (index, grant)
        for index, grant in enumerate(grants)
        if grant.current is None or grant.current.deployment_id != grant.access.deployment_id
    ]  # the same deployment: begun by an earlier report of this payment
    if not wanted:
        return admissions
    questions = [
        StartQuestion(
            g.bot.account_id, g.bot.bot_id, g.access.telegram_user_id, None, g.access.deployment_id
        )
        for _, g in wanted
    ]
    facts = await facts_sql.start_facts(conn, questions)
    tokens = await facts_sql.tokens_by_id(
        conn,
        {
            index: (g.bot.account_id, g.access.token_id)
            for index, g in wanted
            if g.access.token_id is not None
        },
    )
    participants = await facts_sql.participant_ids(
        conn, [(g.bot.account_id, g.access.telegram_user_id) for _, g in wanted]
    )
    for (index, grant), fact in zip(wanted, facts, strict=True):
        deployment = fact.deployment
        if deployment is None or deployment.bot_id != grant.bot.bot_id:
            log.warning("paid deployment %s no longer exists", grant.access.deployment_id)
            continue
        user_id = grant.access.telegram_user_id
        admissions[index].stop = grant.current
        admissions[index].begin = NewRun(
            grant.bot.account_id,
            deployment.id,
            deployment.course_version_id,
            grant.bot.bot_id,
            grant.chat_id,
            user_id,
            participants.get((grant.bot.account_id, user_id)),
            tokens.get(index),
        )
    await _write_runs(conn, admissions)
    return admissions


async def _write_runs(conn: BatchConnection, admissions: list[Admission]) -> None:
    """Stop the runs the admissions end, insert those they begin (`begun`: the new runs)."""
    await facts_sql.stop_runs(conn, [(a.stop.id, a.stop.account_id) for a in admissions if a.stop])
    begins = [a.begin for a in admissions if a.begin is not None]
    begun = await facts_sql.insert_runs(conn, begins)
    for admission in admissions:
        if admission.begin is not None:
            key = (admission.begin.bot_id, admission.begin.chat_id)
            if key not in begun:  # the caller stopped any run, so only a race lands here
                raise RuntimeError(f"chat {key[1]} of bot {key[0]} got a run meanwhile")
            admission.begun = begun[key]


def _question(start: Start, deployment_id: int) -> StartQuestion:
    student = start.inbound.student
    username = normalise_username(student.username) if student.username else None
    return StartQuestion(
        start.bot.account_id, start.bot.bot_id, student.telegram_user_id, username, deployment_id
    )


def _profile(start: Start) -> Profile:
    student = start.inbound.student
    return Profile(
        start.bot.account_id,
        student.telegram_user_id,
        student.username,
        student.first_name,
        student.language_code,
    )


def _limited_accounts(
    starts: list[Start], checked: list[tuple[int, DeploymentFacts, str | None, StartFacts]]
) -> set[int]:
    """Accounts whose seats must be counted (under lock) for this batch's starts."""
    return {
        starts[index].bot.account_id
        for index, _, _, fact in checked
        if starts[index].current is None
        and not fact.student_active
        and limits_of(fact.plan, fact.plan_overrides).max_active_students is not None
    }


async def _count_tokens(
    conn: BatchConnection,
    starts: list[Start],
    admissions: list[Admission],
    seated: list[tuple[int, DeploymentFacts, str | None, StartFacts]],
    now: datetime,
) -> list[tuple[int, DeploymentFacts, CountedToken | None, StartFacts]]:
    """Count the seated starts' tokens; those refused are told why and drop out."""
    wanted = {
        index: TokenWanted(
            starts[index].bot.account_id,
            deployment.id,
            token,
            starts[index].inbound.student.telegram_user_id,
        )
        for index, deployment, token, _ in seated
        if token is not None
    }
    counted = await facts_sql.use_tokens(conn, wanted, now)
    refused = {index: w for index, w in wanted.items() if index not in counted}
    states = await facts_sql.token_states(conn, refused)
    admitted = []
    for index, deployment, _, fact in seated:
        if index not in refused:
            admitted.append((index, deployment, counted.get(index), fact))
            continue
        state = states.get(index)
        reason = (
            TokenRefusal.NOT_FOUND
            if state is None
            else refusal_of(state.revoked_at, state.expires_at, state.max_uses, state.uses, now)
        )
        _say(admissions[index], starts[index].inbound, _REFUSALS[reason])
    return admitted
