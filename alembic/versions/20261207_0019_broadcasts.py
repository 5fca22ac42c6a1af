"""Broadcasts: a message to an audience of students, each student at most once.

Revision ID: 0019
Revises: 0018

`broadcast` is what a teacher wrote (the message as the outbox stores one, already encoded),
to whom (a deployment or a whole bot, an audience and optional filters) and when. Its
recipients are materialised into `broadcast_recipient` by the runtime in batches of runs
(keyset on run id: `materialized_through`), never in one long transaction; UNIQUE
(broadcast_id, chat_id) is what makes "at most once per student" hold across restarts.

A recipient goes `queued` -> `posted` (a `broadcast` event is in its chat's inbox; the
journal turns it into an outbox row carrying `outbox.broadcast_recipient_id`) -> `sent`,
`failed`, `blocked` or `cancelled`. The outbox row's fate is copied onto its recipient by a
trigger, so the runtime's hot statements stay as they are: sent -> sent, failed with the
blocked error -> blocked, any other failure -> failed.

`broadcast` events NOTIFY no one: the runtime that posts them hosts their bot and hands them
to the chats itself (a NOTIFY per student made every one of them a database read); the
backlog sweep finds any a crash left behind.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

from alembic import op

revision: str = "0019"
down_revision: str | Sequence[str] | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CURRENT_ACCOUNT = "NULLIF(current_setting('app.account_id', true), '')::bigint"
CURRENT_ACCOUNTS = "NULLIF(current_setting('app.account_ids', true), '')::bigint[]"
TABLES = ("broadcast", "broadcast_recipient")

_OLD_KINDS = (
    "kind IN ('telegram', 'timer', 'grant', 'refund', 'stop', 'repin', 'blocked', "
    "'remind', 'notify')"
)
_NEW_KINDS = (
    "kind IN ('telegram', 'timer', 'grant', 'refund', 'stop', 'repin', 'blocked', "
    "'remind', 'notify', 'broadcast', 'broadcast_test')"
)

# Must match storage/repositories/outbox.py BLOCKED_ERROR.
_FOLLOW_OUTBOX = """
CREATE FUNCTION broadcast_recipient_follow_outbox() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE broadcast_recipient SET
        status = CASE
            WHEN NEW.status = 'sent' THEN 'sent'
            WHEN NEW.status = 'failed' AND NEW.last_error = 'blocked by the user' THEN 'blocked'
            WHEN NEW.status = 'failed' THEN 'failed'
            ELSE 'cancelled' END,
        finished_at = now()
    WHERE id = NEW.broadcast_recipient_id AND account_id = NEW.account_id
      AND status = 'posted';
    RETURN NULL;
END
$$
"""


def upgrade() -> None:
    op.create_table(
        "broadcast",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("bot_id", sa.BigInteger(), nullable=False),
        sa.Column("deployment_id", sa.BigInteger(), nullable=True),
        sa.Column("created_by", sa.BigInteger(), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("message", JSONB(), nullable=False),
        sa.Column("audience", sa.Text(), nullable=False),
        sa.Column("filters", JSONB(), server_default=sa.text("'{}'::jsonb"), nullable=False),
        sa.Column("status", sa.Text(), server_default="scheduled", nullable=False),
        sa.Column("send_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("total", sa.Integer(), server_default="0", nullable=False),
        sa.Column("materialized_through", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("materialized_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["account_id"], ["account.id"], name="fk_broadcast_account_id", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["account_id", "bot_id"],
            ["bot.account_id", "bot.id"],
            name="fk_broadcast_account_id_bot_id",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["account_id", "deployment_id"],
            ["course_deployment.account_id", "course_deployment.id"],
            name="fk_broadcast_account_id_deployment_id",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_broadcast"),
        sa.UniqueConstraint("account_id", "id", name="uq_broadcast_account_id_id"),
        sa.CheckConstraint(
            "status IN ('scheduled', 'sending', 'done', 'cancelled')", name="ck_broadcast_status"
        ),
        sa.CheckConstraint(
            "audience IN ('all', 'active', 'finished', 'stuck')", name="ck_broadcast_audience"
        ),
    )
    op.create_index("ix_broadcast_account_id_id", "broadcast", ["account_id", "id"])
    op.create_index(
        "ix_broadcast_bot_id_unfinished",
        "broadcast",
        ["bot_id"],
        postgresql_where=sa.text("status IN ('scheduled', 'sending')"),
    )
    op.create_table(
        "broadcast_recipient",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("broadcast_id", sa.BigInteger(), nullable=False),
        sa.Column("bot_id", sa.BigInteger(), nullable=False),
        sa.Column("chat_id", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.Text(), server_default="queued", nullable=False),
        sa.Column("posted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["account.id"],
            name="fk_broadcast_recipient_account_id",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["account_id", "broadcast_id"],
            ["broadcast.account_id", "broadcast.id"],
            name="fk_broadcast_recipient_account_id_broadcast_id",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_broadcast_recipient"),
        sa.UniqueConstraint(
            "broadcast_id", "chat_id", name="uq_broadcast_recipient_broadcast_id_chat_id"
        ),
        sa.CheckConstraint(
            "status IN ('queued', 'posted', 'sent', 'failed', 'blocked', 'cancelled')",
            name="ck_broadcast_recipient_status",
        ),
    )
    # The feed takes a bot's queued recipients in order and counts those on their way.
    op.create_index(
        "ix_broadcast_recipient_bot_id_waiting",
        "broadcast_recipient",
        ["bot_id", "status", "id"],
        postgresql_where=sa.text("status IN ('queued', 'posted')"),
    )
    op.create_index(
        "ix_broadcast_recipient_broadcast_id_status",
        "broadcast_recipient",
        ["broadcast_id", "status"],
    )
    for table in TABLES:
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
        op.execute(
            f"CREATE POLICY tenant_isolation ON {table} "
            f"USING (account_id = (SELECT {CURRENT_ACCOUNT}))"
        )
        op.execute(
            f"CREATE POLICY tenant_batch ON {table} "
            f"USING (account_id = ANY ((SELECT {CURRENT_ACCOUNTS})::bigint[]))"
        )
    op.add_column("outbox", sa.Column("broadcast_recipient_id", sa.BigInteger(), nullable=True))
    op.execute(_FOLLOW_OUTBOX)
    op.execute(
        "CREATE TRIGGER broadcast_recipient_follow_outbox AFTER UPDATE OF status ON outbox "
        "FOR EACH ROW WHEN (NEW.broadcast_recipient_id IS NOT NULL "
        "AND NEW.status IS DISTINCT FROM OLD.status) "
        "EXECUTE FUNCTION broadcast_recipient_follow_outbox()"
    )
    op.drop_constraint(op.f("ck_processed_update_kind"), "processed_update", type_="check")
    op.create_check_constraint(op.f("ck_processed_update_kind"), "processed_update", _NEW_KINDS)
    _notify_when("NEW.kind NOT IN ('telegram', 'broadcast')")


def _notify_when(condition: str) -> None:
    op.execute("DROP TRIGGER inbox_event_notify ON processed_update")
    op.execute(
        "CREATE TRIGGER inbox_event_notify AFTER INSERT ON processed_update "
        f"FOR EACH ROW WHEN ({condition}) EXECUTE FUNCTION inbox_event_notify()"
    )


def downgrade() -> None:
    _notify_when("NEW.kind <> 'telegram'")
    op.execute("DELETE FROM processed_update WHERE kind IN ('broadcast', 'broadcast_test')")
    op.drop_constraint(op.f("ck_processed_update_kind"), "processed_update", type_="check")
    op.create_check_constraint(op.f("ck_processed_update_kind"), "processed_update", _OLD_KINDS)
    op.execute("DROP TRIGGER broadcast_recipient_follow_outbox ON outbox")
    op.execute("DROP FUNCTION broadcast_recipient_follow_outbox()")
    op.drop_column("outbox", "broadcast_recipient_id")
    for table in reversed(TABLES):
        op.drop_table(table)
