"""Runners and bot leases: several runner processes share the bots of one database.

Revision ID: 0016
Revises: 0015

DESIGN §8: each polling or webhook bot is hosted by exactly one runner at a time, the holder
of its row in `bot_lease` (renewed every few seconds; a lease past `expires_at` is anyone's).
`runner` is every live runner's heartbeat, so each can aim at its even share of the bots.
Both belong to the platform, not to an account: no `account_id`, no Row-Level Security; the
app role may read and write them (storage/roles.py). No foreign key to `bot`: a lease must
be takeable without touching (and locking) the tenant's bot row, and leases of bots that
are gone are dropped by their holder.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0016"
down_revision: str | Sequence[str] | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "runner",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column(
            "started_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_runner")),
    )
    op.create_table(
        "bot_lease",
        sa.Column("bot_id", sa.BigInteger(), nullable=False),
        sa.Column("holder", sa.Text(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("bot_id", name=op.f("pk_bot_lease")),
    )
    op.create_index(op.f("ix_bot_lease_holder"), "bot_lease", ["holder"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_bot_lease_holder"), table_name="bot_lease")
    op.drop_table("bot_lease")
    op.drop_table("runner")
