"""Reminders: nudge a student a run has waited for too long, through the one writer.

A deployment's `reminder_rule` says "if a run waits for its student `after_minutes`, send
this text, at most `max_count` times", outside the rule's quiet hours (in the account's time
zone). "Waits for its student" is storage/run_activity.py's rule (active, no timer pending);
the wait is measured from the run's last step (`run.updated_at`), so any reply or progress
starts the count again.

Two halves, so that a nudge obeys per-chat order, durability and rate limits like every
message (DESIGN §5 "One writer"):
- the sweep (`post_due`, in a runner) claims rules with FOR UPDATE SKIP LOCKED (several
  runners share them), and for each run that is due writes a `remind` event into the run's
  chat inbox and marks the run's `run_reminder` row queued, all in one transaction;
- the journal applies the event (`record_sent`): only if the run has not moved since the
  sweep saw it does it count the nudge and queue the message; a student who answered
  meanwhile gets nothing.

The sweep reads a deployment's active runs by the age of their last step
(`ix_run_deployment_id_updated_at_active`), and only those whose silence began within the
rule's reach (`after_minutes` × `max_count`, plus a day for quiet hours and outages): runs
that went quiet long before never come into it, however many there are.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import NamedTuple
from zoneinfo import ZoneInfo

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from storage.batch import BatchConnection, columns
from storage.models import InboxKind, ReminderRule, RunReminder

# A nudge queued this long ago and never applied (its event failed) no longer holds the
# run's next one back.
QUEUED_FOR = timedelta(minutes=10)
# How far past a rule's last nudge a silence may have begun and still be nudged: quiet
# hours and a runner outage shift nudges by up to this.
REACH_SLACK = timedelta(days=1)


# ---- quiet hours (the one rule; the sweep and the run page both ask it) ------------------


@dataclass(frozen=True, slots=True)
class QuietHours:
    """Minutes of the day (0..1439) in a time zone; `start` > `end` spans midnight."""

    start: int
    end: int
    zone: str

    def holds(self, moment: datetime) -> bool:
        local = moment.astimezone(ZoneInfo(self.zone))
        minute = local.hour * 60 + local.minute
        if self.start <= self.end:
            return self.start <= minute < self.end
        return minute >= self.start or minute < self.end

    def after(self, moment: datetime) -> datetime:
        """`moment`, or the end of the quiet hours it falls in."""
        if not self.holds(moment):
            return moment
        zone = ZoneInfo(self.zone)
        local = moment.astimezone(zone)
        end = datetime.combine(local.date(), _clock(self.end), tzinfo=zone)
        if end <= local:
            end += timedelta(days=1)
        return end.astimezone(moment.tzinfo)


def _clock(minute: int) -> time:
    return time(minute // 60, minute % 60)


def quiet_hours(rule: ReminderRule, zone: str) -> QuietHours | None:
    if rule.quiet_start is None or rule.quiet_end is None:
        return None
    return QuietHours(rule.quiet_start, rule.quiet_end, zone)


# ---- the sweep -----------------------------------------------------------------------------

_CLAIM = text("SELECT id, account_id FROM sys_claim_reminder_rules(:now, :limit)")
_NAME_ACCOUNTS = text("SELECT set_config('app.account_ids', :ids, true)")
_RULES = text(
    "SELECT rr.id, rr.quiet_start, rr.quiet_end, a.time_zone FROM reminder_rule rr "
    "JOIN account a ON a.id = rr.account_id WHERE rr.id = ANY(:ids)"
)
_NEXT_LOOK = text("UPDATE reminder_rule SET sweep_at = :next WHERE id = ANY(:ids)")

# A run is due when it waits for its student (active, no timer) `after_minutes` since its
# last step, has no nudge waiting in its inbox, and has had fewer than `max_count` nudges for
# this silence, the last at least `after_minutes` ago. Its `run_reminder` row is looked up by
# primary key, run by run (the LIMIT keeps the lookup a per-run index probe): as a join, a
# planner that thinks the young table empty loops over all of it for every run.
_POST_DUE = text(f"""
WITH due AS (
    SELECT r.id AS run_id, r.account_id, r.bot_id, r.chat_id, r.updated_at, rr.id AS rule_id
    FROM reminder_rule rr
    CROSS JOIN LATERAL (
        SELECT r.id, r.account_id, r.bot_id, r.chat_id, r.updated_at FROM run r
        LEFT JOIN LATERAL (
            SELECT s.since, s.sent, s.last_sent_at, s.queued_at FROM run_reminder s
            WHERE s.run_id = r.id AND s.rule_id = rr.id AND s.account_id = r.account_id
            LIMIT 1
        ) s ON true
        WHERE r.deployment_id = rr.deployment_id AND r.account_id = rr.account_id
          AND r.is_active
          AND r.updated_at <= CAST(:now AS timestamptz) - make_interval(mins => rr.after_minutes)
          AND r.updated_at > CAST(:now AS timestamptz)
              - make_interval(mins => rr.after_minutes * rr.max_count) - CAST(:slack AS interval)
          AND NOT EXISTS (
              SELECT 1 FROM waiting w
              WHERE w.account_id = r.account_id AND w.run_id = r.id AND w.status = 'pending')
          AND NOT COALESCE(
              s.queued_at > CAST(:now AS timestamptz) - CAST(:queued_for AS interval)
              OR (s.since = r.updated_at AND (s.sent >= rr.max_count
                  OR s.last_sent_at > CAST(:now AS timestamptz)
                                      - make_interval(mins => rr.after_minutes))),
              false)
        ORDER BY r.updated_at
        LIMIT :limit
    ) r
    WHERE rr.id = ANY(:rule_ids)
), marked AS (
    INSERT INTO run_reminder (account_id, run_id, rule_id, since, queued_at)
    SELECT account_id, run_id, rule_id, updated_at, :now FROM due
    ON CONFLICT (run_id, rule_id) DO UPDATE SET queued_at = EXCLUDED.queued_at
), events AS (
    INSERT INTO processed_update (account_id, bot_id, update_id, chat_id, kind, payload)
    SELECT account_id, bot_id, nextval('inbox_event_update_id'), chat_id,
           '{InboxKind.REMIND.value}',
           jsonb_build_object('run_id', run_id, 'rule_id', rule_id, 'since', updated_at)
    FROM due
    ORDER BY updated_at, run_id
)
SELECT count(*) FROM due
""")


async def post_due(
    session: AsyncSession, now: datetime, *, rules: int, runs: int, look_again: timedelta
) -> int:
    """In the caller's (system) transaction: claim up to `rules` reminder rules due a look,
    queue a nudge event for up to `runs` due runs of each rule that is not in its quiet
    hours, and set when each rule is looked at again; how many nudges were queued."""
    claimed = (await session.execute(_CLAIM, {"now": now, "limit": rules})).all()
    if not claimed:
        return 0
    accounts = "{" + ",".join(str(a) for a in sorted({c.account_id for c in claimed})) + "}"
    await session.execute(_NAME_ACCOUNTS, {"ids": accounts})
    ids = [c.id for c in claimed]
    open_ids = [
        r.id
        for r in (await session.execute(_RULES, {"ids": ids})).all()
        if r.quiet_start is None
        or not QuietHours(r.quiet_start, r.quiet_end, r.time_zone).holds(now)
    ]
    queued = 0
    if open_ids:
        params = {
            "now": now,
            "rule_ids": open_ids,
            "limit": runs,
            "slack": REACH_SLACK,
            "queued_for": QUEUED_FOR,
        }
        queued = int((await session.execute(_POST_DUE, params)).scalar_one())
    # A rule with more due runs than one look takes comes back at once.
    again = now if queued >= runs else now + look_again
    await session.execute(_NEXT_LOOK, {"next": again, "ids": ids})
    return queued


# ---- the journal's half --------------------------------------------------------------------

# The nudge counts only if the run has not moved since the sweep saw it (`since`); the
# queued mark goes either way. A newer silence than the counted one starts again at 1.
_RECORD_SENT = """
UPDATE run_reminder s SET
    sent = CASE WHEN r.id IS NULL OR rr.id IS NULL THEN s.sent
                WHEN s.since = x.since::timestamptz THEN s.sent + 1 ELSE 1 END,
    since = CASE WHEN r.id IS NULL OR rr.id IS NULL THEN s.since
                 ELSE x.since::timestamptz END,
    last_sent_at = CASE WHEN r.id IS NULL OR rr.id IS NULL THEN s.last_sent_at ELSE $5 END,
    queued_at = NULL
FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::text[])
     AS x(run_id, account_id, rule_id, since)
LEFT JOIN run r ON r.id = x.run_id AND r.account_id = x.account_id AND r.is_active
     AND r.updated_at = x.since::timestamptz
LEFT JOIN reminder_rule rr ON rr.id = x.rule_id AND rr.account_id = x.account_id
WHERE s.run_id = x.run_id AND s.rule_id = x.rule_id AND s.account_id = x.account_id
RETURNING s.run_id, rr.text, r.id IS NOT NULL AND rr.id IS NOT NULL AS due
"""


class DueNudge(NamedTuple):
    """A `remind` event the journal is applying to its (locked, active) run."""

    run_id: int
    account_id: int
    rule_id: int
    since: str  # the run's `updated_at` the sweep saw, as the event carries it


async def record_sent(
    conn: BatchConnection, nudges: Sequence[DueNudge], now: datetime
) -> dict[int, str]:
    """Count the nudges whose runs have not moved since the sweep; run id -> the text to
    send (the others are dropped)."""
    if not nudges:
        return {}
    rows = [(n.run_id, n.account_id, n.rule_id, n.since) for n in nudges]
    found = await conn.fetch(_RECORD_SENT, *columns(rows, 4), now)
    return {r["run_id"]: r["text"] for r in found if r["due"]}


# ---- the run page --------------------------------------------------------------------------


class RunNudges(NamedTuple):
    """One rule as a run stands with it: nudges sent for the current silence, and when the
    next one is due (None: no more)."""

    rule_id: int
    text: str
    sent: int
    max_count: int
    next_due: datetime | None


async def run_nudges(
    session: AsyncSession,
    account_id: int,
    deployment_id: int,
    run_id: int,
    *,
    last_step: datetime,
    waits_for_student: bool,
    zone: str,
) -> list[RunNudges]:
    """The deployment's rules as they stand for the run (its last step at `last_step`)."""
    rules = (
        await session.scalars(
            select(ReminderRule)
            .where(
                ReminderRule.account_id == account_id, ReminderRule.deployment_id == deployment_id
            )
            .order_by(ReminderRule.after_minutes, ReminderRule.id)
        )
    ).all()
    states = {
        s.rule_id: s
        for s in await session.scalars(
            select(RunReminder).where(
                RunReminder.account_id == account_id, RunReminder.run_id == run_id
            )
        )
    }
    out = []
    for rule in rules:
        state = states.get(rule.id)
        current = state is not None and state.since == last_step
        sent = state.sent if state is not None and current else 0
        wait = timedelta(minutes=rule.after_minutes)
        next_due: datetime | None = None
        if waits_for_student and sent < rule.max_count:
            last = state.last_sent_at if state is not None and current else None
            next_due = (last or last_step) + wait
            quiet = quiet_hours(rule, zone)
            if quiet is not None:
                next_due = quiet.after(next_due)
        out.append(RunNudges(rule.id, rule.text, sent, rule.max_count, next_due))
    return out
