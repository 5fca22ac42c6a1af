"""Per-account LLM call timeout (`llm_settings.timeout_s`).

Revision ID: 0005
Revises: 0004

An account's own endpoint may be a slow self-hosted model that needs longer than the
process default, or one whose students should hear "try again" sooner. NULL keeps the
process default, so existing rows behave as before.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("llm_settings", sa.Column("timeout_s", sa.Double(), nullable=True))
    op.create_check_constraint(
        "ck_llm_settings_timeout_positive", "llm_settings", "timeout_s IS NULL OR timeout_s > 0"
    )


def downgrade() -> None:
    op.drop_constraint("ck_llm_settings_timeout_positive", "llm_settings", type_="check")
    op.drop_column("llm_settings", "timeout_s")
