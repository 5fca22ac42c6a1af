"""Enrollment tokens get a label people recognise them by.

Revision ID: 0018
Revises: 0017

Teachers hand out links by class or channel ("7B", "VK ad") and filter runs by that name;
the random token value and the numeric id mean nothing to them. The label is optional and
free text (up to 100 characters); existing tokens have none.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0018"
down_revision: str | Sequence[str] | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("enrollment_token", sa.Column("label", sa.Text(), nullable=True))
    op.create_check_constraint(
        op.f("ck_enrollment_token_label_length"),
        "enrollment_token",
        "label IS NULL OR char_length(label) BETWEEN 1 AND 100",
    )


def downgrade() -> None:
    op.drop_constraint(op.f("ck_enrollment_token_label_length"), "enrollment_token", type_="check")
    op.drop_column("enrollment_token", "label")
