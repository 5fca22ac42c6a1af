"""Set-based statements for `/start` in the runtime's group commit: what enrollment needs to
know about each start (deployment, bans, allow-list, paid access, plan room), counting
token uses, and the rows an admitted start writes (participant, run).

The rules that read these facts live in runtime/admission.py; these statements
only gather and write, one statement for all the starts of a batch (see storage/batch.py).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, NamedTuple

from storage.batch import BatchConnection, columns
from storage.models import RunStatus
from storage.repositories.payments import GRANTS_ACCESS

_START_FACTS = f"""
SELECT s.n, d.id AS deployment_id, d.bot_id, d.active, d.restricted, d.decline_text,
       d.price_amount, d.course_version_id, a.plan, a.limits::text AS limits,
       EXISTS (SELECT 1 FROM banned b
               WHERE b.account_id = s.account_id AND b.telegram_user_id = s.user_id
                 AND (b.bot_id IS NULL OR b.bot_id = s.bot_id)) AS banned,
       EXISTS (SELECT 1 FROM restricted r
               WHERE r.account_id = s.account_id AND r.deployment_id = s.deployment_id
                 AND (r.telegram_user_id = s.user_id OR r.username = s.username)) AS allowed,
       EXISTS (SELECT 1 FROM payment p
               WHERE p.account_id = s.account_id AND p.deployment_id = s.deployment_id
                 AND p.telegram_user_id = s.user_id AND {GRANTS_ACCESS}) AS paid,
       EXISTS (SELECT 1 FROM run u
               WHERE u.account_id = s.account_id AND u.telegram_user_id = s.user_id
                 AND u.is_active) AS student_active
FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::text[], $5::bigint[]) WITH ORDINALITY
     AS s(account_id, bot_id, user_id, username, deployment_id, n)
JOIN account a ON a.id = s.account_id
LEFT JOIN course_deployment d ON d.id = s.deployment_id AND d.account_id = s.account_id
"""

# The account rows stay locked until commit, so that concurrent starts cannot all take the
# plan's last seat.
_LOCK_ACCOUNTS_USAGE = """
SELECT a.id,
       (SELECT count(DISTINCT r.telegram_user_id) FROM run r
        WHERE r.account_id = a.id AND r.is_active) AS active_students
FROM account a WHERE a.id = ANY($1::bigint[])
ORDER BY a.id
FOR UPDATE OF a
"""

# A use is counted by a conditional UPDATE: the row lock it takes serialises concurrent
# starts, and PostgreSQL re-checks the WHERE clause (uses < max_uses, not revoked, not
# expired, right user) on the updated row, so a group token with max_uses=10 admits exactly
# ten students however many press /start at once; a start rolled back un-counts its use.
# Each token at most once per statement (an UPDATE ... FROM matching one row twice updates
# it once): the caller runs rounds.
_USE_TOKENS = """
UPDATE enrollment_token t SET uses = t.uses + 1
FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::text[], $5::bigint[])
     AS s(key, account_id, deployment_id, token, user_id)
WHERE t.account_id = s.account_id AND t.deployment_id = s.deployment_id AND t.token = s.token
  AND t.revoked_at IS NULL AND (t.expires_at IS NULL OR t.expires_at > $6)
  AND (t.max_uses IS NULL OR t.uses < t.max_uses)
  AND (t.bound_telegram_user_id IS NULL OR t.bound_telegram_user_id = s.user_id)
RETURNING s.key, t.id, t.utm_source, t.utm_medium, t.utm_campaign, t.utm_content, t.utm_term
"""

_FIND_TOKENS = """
SELECT s.key, t.revoked_at, t.expires_at, t.max_uses, t.uses
FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::text[])
     AS s(key, account_id, deployment_id, token)
JOIN enrollment_token t
  ON t.account_id = s.account_id AND t.deployment_id = s.deployment_id AND t.token = s.token
"""

# A stopped run (a teacher, a ban, a refund, another course begun) says nothing more: its
# timers are cancelled and its unsent messages dropped (DESIGN §10). Delivery learns of the
# drop when it records the message it was sending (storage/batch.py `_MARK_SENT`), so that
# one message may still arrive. A run that completes keeps its outbox: its last messages are
# queued by the very step that finishes it.
_STOP_RUNS = """
WITH stopped AS (
    UPDATE run r SET status = $3, is_active = false, finished_at = now(), updated_at = now()
    FROM unnest($1::bigint[], $2::bigint[]) AS s(id, account_id)
    WHERE r.id = s.id AND r.account_id = s.account_id AND r.is_active
    RETURNING r.id, r.account_id, r.bot_id, r.chat_id
), timers AS (
    UPDATE waiting w SET status = 'cancelled'
    FROM stopped WHERE w.run_id = stopped.id AND w.account_id = stopped.account_id
      AND w.status = 'pending'
)
UPDATE outbox o SET status = 'cancelled'
FROM stopped
WHERE o.bot_id = stopped.bot_id AND o.chat_id = stopped.chat_id
  AND o.account_id = stopped.account_id AND o.status = 'pending' AND o.run_id = stopped.id
"""

_UPSERT_PARTICIPANTS = """
INSERT INTO participant (account_id, telegram_user_id, username, first_name, language_code)
SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[], $5::text[])
ON CONFLICT (account_id, telegram_user_id) DO UPDATE
SET username = excluded.username, first_name = excluded.first_name,
    language_code = excluded.language_code, updated_at = now()
RETURNING id, account_id, telegram_user_id
"""

_INSERT_RUNS = """
INSERT INTO run (account_id, deployment_id, course_version_id, bot_id, chat_id,
                 telegram_user_id, participant_id, token_id,
                 utm_source, utm_medium, utm_campaign, utm_content, utm_term)
SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[], $5::bigint[],
                     $6::bigint[], $7::bigint[], $8::bigint[],
                     $9::text[], $10::text[], $11::text[], $12::text[], $13::text[])
ON CONFLICT (bot_id, chat_id) WHERE is_active DO NOTHING
RETURNING id, bot_id, chat_id,
          EXISTS (SELECT 1 FROM webhook_endpoint w
                  WHERE w.account_id = run.account_id AND w.active) AS hooked
"""

# A paid course's token was counted when the payment was offered: only its UTM is read.
_TOKENS_BY_ID = """
SELECT s.key, t.id, t.utm_source, t.utm_medium, t.utm_campaign, t.utm_content, t.utm_term
FROM unnest($1::bigint[], $2::bigint[], $3::bigint[]) AS s(key, account_id, id)
JOIN enrollment_token t ON t.id = s.id AND t.account_id = s.account_id
"""

_PARTICIPANT_IDS = """
SELECT p.id, p.account_id, p.telegram_user_id
FROM unnest($1::bigint[], $2::bigint[]) AS s(account_id, user_id)
JOIN participant p ON p.account_id = s.account_id AND p.telegram_user_id = s.user_id
"""

UTM_KEYS = ("source", "medium", "campaign", "content", "term")


@dataclass(frozen=True, slots=True)
class StartQuestion:
    """One start to gather facts for (`deployment_id` None: the link named none)."""

    account_id: int
    bot_id: int
    user_id: int
    username: str | None  # normalised, as the allow-list stores it
    deployment_id: int | None


@dataclass(frozen=True, slots=True)
class DeploymentFacts:
    id: int
    bot_id: int
    active: bool
    restricted: bool
    decline_text: str | None
    price_amount: Decimal | None
    course_version_id: int


@dataclass(frozen=True, slots=True)
class StartFacts:
    deployment: DeploymentFacts | None
    plan: str
    plan_overrides: dict[str, Any]
    banned: bool
    allowed: bool
    paid: bool
    student_active: bool  # the student has an active run in this account already


@dataclass(frozen=True, slots=True)
class TokenWanted:
    account_id: int
    deployment_id: int
    token: str
    user_id: int


@dataclass(frozen=True, slots=True)
class CountedToken:
    id: int
    utm: dict[str, str | None]


@dataclass(frozen=True, slots=True)
class TokenState:
    """A refused token as stored (why it was refused is decided from this)."""

    revoked_at: datetime | None
    expires_at: datetime | None
    max_uses: int | None
    uses: int


@dataclass(frozen=True, slots=True)
class NewRun:
    account_id: int
    deployment_id: int
    course_version_id: int
    bot_id: int
    chat_id: int
    user_id: int
    participant_id: int | None
    token: CountedToken | None


@dataclass(frozen=True, slots=True)
class Profile:
    account_id: int
    user_id: int
    username: str | None
    first_name: str | None
    language_code: str | None


async def start_facts(
    conn: BatchConnection, questions: Sequence[StartQuestion]
) -> list[StartFacts]:
    """Facts per question, in order."""
    rows = [(q.account_id, q.bot_id, q.user_id, q.username, q.deployment_id) for q in questions]
    found = {r["n"]: r for r in await conn.fetch(_START_FACTS, *columns(rows, 5))}
    facts = []
    for n in range(1, len(questions) + 1):
        r = found[n]
        deployment = (
            DeploymentFacts(
                r["deployment_id"],
                r["bot_id"],
                r["active"],
                r["restricted"],
                r["decline_text"],
                r["price_amount"],
                r["course_version_id"],
            )
            if r["deployment_id"] is not None
            else None
        )
        facts.append(
            StartFacts(
                deployment,
                r["plan"],
                json.loads(r["limits"]) or {},
                r["banned"],
                r["allowed"],
                r["paid"],
                r["student_active"],
            )
        )
    return facts


async def lock_accounts_usage(conn: BatchConnection, account_ids: set[int]) -> dict[int, int]:
    """Lock the accounts; account id -> students with an active run."""
    if not account_ids:
        return {}
    rows = await conn.fetch(_LOCK_ACCOUNTS_USAGE, sorted(account_ids))
    return {r["id"]: r["active_students"] for r in rows}


async def use_tokens(
    conn: BatchConnection, wanted: Mapping[int, TokenWanted], now: datetime
) -> dict[int, CountedToken]:
    """Count a use of each wanted token that is valid now for its student; the caller's
    key -> the counted token. The n-th use of one token in a batch goes in the n-th
    statement."""
    rounds: list[list[tuple[int, TokenWanted]]] = []
    uses: Counter[tuple[int, int, str]] = Counter()
    for key, w in wanted.items():
        token = (w.account_id, w.deployment_id, w.token)
        number = uses[token]
        uses[token] += 1
        if number == len(rounds):
            rounds.append([])
        rounds[number].append((key, w))
    counted: dict[int, CountedToken] = {}
    for round_ in rounds:
        rows = [(key, w.account_id, w.deployment_id, w.token, w.user_id) for key, w in round_]
        for r in await conn.fetch(_USE_TOKENS, *columns(rows, 5), now):
            utm = {name: r[f"utm_{name}"] for name in UTM_KEYS}
            counted[r["key"]] = CountedToken(r["id"], utm)
    return counted


async def token_states(
    conn: BatchConnection, refused: Mapping[int, TokenWanted]
) -> dict[int, TokenState]:
    """The caller's key -> the stored token (absent: no such token)."""
    if not refused:
        return {}
    rows = [(key, w.account_id, w.deployment_id, w.token) for key, w in refused.items()]
    found = await conn.fetch(_FIND_TOKENS, *columns(rows, 4))
    return {
        r["key"]: TokenState(r["revoked_at"], r["expires_at"], r["max_uses"], r["uses"])
        for r in found
    }


async def tokens_by_id(
    conn: BatchConnection, wanted: Mapping[int, tuple[int, int]]
) -> dict[int, CountedToken]:
    """The caller's key -> (account id, token id)'s token, as counted (absent: deleted)."""
    if not wanted:
        return {}
    rows = [(key, account_id, token_id) for key, (account_id, token_id) in wanted.items()]
    found = await conn.fetch(_TOKENS_BY_ID, *columns(rows, 3))
    return {
        r["key"]: CountedToken(r["id"], {name: r[f"utm_{name}"] for name in UTM_KEYS})
        for r in found
    }


async def participant_ids(
    conn: BatchConnection, students: Sequence[tuple[int, int]]
) -> dict[tuple[int, int], int]:
    """(account id, user id) -> participant id, for the students who have one."""
    rows = sorted(set(students))
    if not rows:
        return {}
    found = await conn.fetch(_PARTICIPANT_IDS, *columns(rows, 2))
    return {(r["account_id"], r["telegram_user_id"]): r["id"] for r in found}


async def stop_runs(
    conn: BatchConnection, runs: Sequence[tuple[int, int]], status: str = RunStatus.STOPPED
) -> None:
    """End (run id, account id) as `status` (`stopped`, or `blocked` by the student),
    cancel their timers and drop their unsent messages."""
    if runs:
        await conn.execute(_STOP_RUNS, *columns(runs, 2), RunStatus(status).value)


async def upsert_participants(
    conn: BatchConnection, profiles: Sequence[Profile]
) -> dict[tuple[int, int], int]:
    """(account id, user id) -> participant id; one row per student per account."""
    latest = {(p.account_id, p.user_id): p for p in profiles}  # one upsert may not hit twice
    if not latest:
        return {}
    rows = [
        (p.account_id, p.user_id, p.username, p.first_name, p.language_code)
        for p in latest.values()
    ]
    found = await conn.fetch(_UPSERT_PARTICIPANTS, *columns(rows, 5))
    return {(r["account_id"], r["telegram_user_id"]): r["id"] for r in found}


class BegunRun(NamedTuple):
    """A run just inserted; `hooked`: its account has a webhook endpoint (as
    `ActiveRun.hooked`)."""

    id: int
    hooked: bool


async def insert_runs(
    conn: BatchConnection, runs: Sequence[NewRun]
) -> dict[tuple[int, int], BegunRun]:
    """(bot id, chat id) -> the new run; a chat that got an active run meanwhile is absent."""
    if not runs:
        return {}
    rows = [
        (
            r.account_id,
            r.deployment_id,
            r.course_version_id,
            r.bot_id,
            r.chat_id,
            r.user_id,
            r.participant_id,
            r.token.id if r.token is not None else None,
            *(r.token.utm[key] if r.token is not None else None for key in UTM_KEYS),
        )
        for r in runs
    ]
    found = await conn.fetch(_INSERT_RUNS, *columns(rows, 13))
    return {(r["bot_id"], r["chat_id"]): BegunRun(r["id"], r["hooked"]) for r in found}
