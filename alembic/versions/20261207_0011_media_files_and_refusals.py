"""Media Telegram fetched once (its file ids, per bot) and media it refused (per version).

Revision ID: 0011
Revises: 0010

`bot_media` keeps the `file_id` Telegram returned for a course's media link, so the next
student gets the file by id instead of Telegram downloading the link again. `refused_media`
records, once per course version, element and link, that Telegram would not send it, for the
creator to see. Both are tenant tables under the same Row-Level Security as the others.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0011"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CURRENT_ACCOUNT = "NULLIF(current_setting('app.account_id', true), '')::bigint"
CURRENT_ACCOUNTS = "NULLIF(current_setting('app.account_ids', true), '')::bigint[]"
TABLES = ("bot_media", "refused_media")


def _tenant_table(name: str, parent: str, parent_column: str, *columns: sa.Column) -> None:
    op.create_table(
        name,
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column(parent_column, sa.BigInteger(), nullable=False),
        *columns,
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["account_id"], ["account.id"], name=f"fk_{name}_account_id", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["account_id", parent_column],
            [f"{parent}.account_id", f"{parent}.id"],
            name=f"fk_{name}_account_id_{parent_column}",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=f"pk_{name}"),
    )


def upgrade() -> None:
    _tenant_table(
        "bot_media",
        "bot",
        "bot_id",
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("file_id", sa.Text(), nullable=False),
    )
    op.create_unique_constraint("uq_bot_media_bot_id_url", "bot_media", ["bot_id", "url"])
    _tenant_table(
        "refused_media",
        "course_version",
        "course_version_id",
        sa.Column("element_id", sa.Text(), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
    )
    op.create_unique_constraint(
        "uq_refused_media_course_version_id_element_id_url",
        "refused_media",
        ["course_version_id", "element_id", "url"],
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


def downgrade() -> None:
    for table in reversed(TABLES):
        op.drop_table(table)
