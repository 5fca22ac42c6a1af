"""One writer: events other than Telegram updates in the inbox; `run.current_element`.

Revision ID: 0010
Revises: 0009

Every change to a run is applied by the journal (DESIGN §5 "One writer"). A timer falling
due, a payment verdict, a panel action (stop, ban, upgrade) and a student blocking the bot
become rows of the inbox
(`processed_update`) beside Telegram's updates, written in their producer's transaction:
- `kind` says what a row is (`telegram` for Telegram's updates, the default);
- such an event takes its `update_id` from the sequence `inbox_event_update_id`, which counts
  up from the lowest bigint: Telegram's ids are positive, so (bot_id, update_id) stays unique,
  and a chat's events are handled in the order they were written, before the updates that
  wait in its inbox (a chat's rows are handled in update_id order);
- inserting an event NOTIFYs `coursebot_inbox` with `<bot_id>:<chat_id>` (delivered on
  commit), so a runtime in any process handles it at once instead of at its next sweep.

`run.current_element` is the element the run stands on, written with every state by the
journal, so that the panel's readers need no key of the engine's state JSON (backfilled here
from the state's `current`).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_KINDS = "kind IN ('telegram', 'timer', 'grant', 'refund', 'stop', 'repin', 'blocked')"

_NOTIFY = """
CREATE FUNCTION inbox_event_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('coursebot_inbox', NEW.bot_id || ':' || NEW.chat_id);
    RETURN NULL;
END
$$
"""


def upgrade() -> None:
    op.add_column(
        "processed_update",
        sa.Column("kind", sa.Text(), server_default=sa.text("'telegram'"), nullable=False),
    )
    op.create_check_constraint(op.f("ck_processed_update_kind"), "processed_update", _KINDS)
    op.execute(
        "CREATE SEQUENCE inbox_event_update_id AS bigint "
        "MINVALUE -9223372036854775808 MAXVALUE -1 START -9223372036854775808"
    )
    op.execute(_NOTIFY)
    op.execute(
        "CREATE TRIGGER inbox_event_notify AFTER INSERT ON processed_update "
        "FOR EACH ROW WHEN (NEW.kind <> 'telegram') EXECUTE FUNCTION inbox_event_notify()"
    )
    op.add_column("run", sa.Column("current_element", sa.Text(), nullable=True))
    # Not a write of `state`: the state version (0006's trigger) stays as it is.
    op.execute("UPDATE run SET current_element = state->>'current' WHERE state ? 'current'")


def downgrade() -> None:
    op.drop_column("run", "current_element")
    op.execute("DROP TRIGGER inbox_event_notify ON processed_update")
    op.execute("DROP FUNCTION inbox_event_notify()")
    op.execute("DROP SEQUENCE inbox_event_update_id")
    # The older schema knows Telegram's updates only: events still waiting are dropped.
    op.execute("DELETE FROM processed_update WHERE kind <> 'telegram'")
    op.drop_constraint(op.f("ck_processed_update_kind"), "processed_update", type_="check")
    op.drop_column("processed_update", "kind")
