"""The panel's language per member (`account_member.ui_language`).

Revision ID: 0003
Revises: 0002

NULL means "follow the browser's Accept-Language". A format check rather than a list of
languages: adding a translation to the panel then needs no migration.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("account_member", sa.Column("ui_language", sa.Text(), nullable=True))
    op.create_check_constraint(
        "ck_account_member_ui_language_format", "account_member", "ui_language ~ '^[a-z]{2}$'"
    )


def downgrade() -> None:
    op.drop_constraint("ck_account_member_ui_language_format", "account_member", type_="check")
    op.drop_column("account_member", "ui_language")
