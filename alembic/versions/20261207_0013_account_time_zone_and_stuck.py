"""Each account's time zone and its "stuck" threshold.

Revision ID: 0013
Revises: 0012

Teachers read and enter times in their own zone, reminders keep quiet hours in it, and a
run counts as stuck once it has waited for its student longer than the account says (one
rule, storage/run_activity.py, read by the panel, broadcasts, reminders and notifications).
The zone is an IANA name checked by the application (PostgreSQL has no such constraint);
existing accounts keep UTC and a day.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0013"
down_revision: str | Sequence[str] | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "account",
        sa.Column("time_zone", sa.Text(), server_default="UTC", nullable=False),
    )
    op.add_column(
        "account",
        sa.Column("stuck_after_minutes", sa.Integer(), server_default="1440", nullable=False),
    )
    op.create_check_constraint(
        op.f("ck_account_stuck_after_minutes_positive"), "account", "stuck_after_minutes > 0"
    )
    # The panel finds stuck runs by their last step: active runs by age of that step.
    op.create_index(
        "ix_run_account_id_updated_at_active",
        "run",
        ["account_id", "updated_at"],
        postgresql_where=sa.text("is_active"),
    )


def downgrade() -> None:
    op.drop_index("ix_run_account_id_updated_at_active", table_name="run")
    op.drop_constraint(op.f("ck_account_stuck_after_minutes_positive"), "account", type_="check")
    op.drop_column("account", "stuck_after_minutes")
    op.drop_column("account", "time_zone")
