"""Outbox rows can be `cancelled`: dropped because their run was stopped.

Revision ID: 0008
Revises: 0007

Stopping a run (the panel's stop, a ban that stops runs, `/start` of another course, a
refund) must silence it at once (DESIGN §10), so its unsent messages are dropped in the
stopping transaction. A status of their own keeps them apart from messages Telegram refused
(`failed`), which the operator may want to look into. A cancelled row with `sent_at` set is
the one message that was already on its way to Telegram when the stop came.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_constraint(op.f("ck_outbox_status"), "outbox", type_="check")
    op.create_check_constraint(
        op.f("ck_outbox_status"), "outbox", "status IN ('pending', 'sent', 'failed', 'cancelled')"
    )


def downgrade() -> None:
    op.execute(
        "UPDATE outbox SET status = 'failed', "
        "last_error = COALESCE(last_error, 'cancelled: its run was stopped') "
        "WHERE status = 'cancelled'"
    )
    op.drop_constraint(op.f("ck_outbox_status"), "outbox", type_="check")
    op.create_check_constraint(
        op.f("ck_outbox_status"), "outbox", "status IN ('pending', 'sent', 'failed')"
    )
