"""Link visits: who opened a deployment's deep link, for the audience "not started".

Revision ID: 0020
Revises: 0019

`link_visit` keeps one row per deployment and chat that opened the deployment's link
(`/start cd_<deployment>_<token>`), written by the journal's admission whether or not a run
began (the payment offered and not paid, the course full, the link used up...): the first
and the latest visit, the latest link's token and UTM source, the student's Telegram
profile as last seen (names and language: a `participant` row is written only when a run
begins, so a broadcast to those who never started reads them here, by the student's latest
visit in the account), and `blocked_at` when Telegram refused a message to the chat since
(the student blocked the bot). Banned students are never recorded.

The broadcast audience `not_started` is the visits of a deployment whose chat has no run of
it. Its recipients are materialised in batches keyed by link_visit id: the same
`broadcast.materialized_through` cursor holds a link_visit id for that audience.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0020"
down_revision: str | Sequence[str] | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CURRENT_ACCOUNT = "NULLIF(current_setting('app.account_id', true), '')::bigint"
CURRENT_ACCOUNTS = "NULLIF(current_setting('app.account_ids', true), '')::bigint[]"

# 0019 named the check through the naming convention a second time; it gets the name the
# models give it (storage/models.py `enum_check`) as it is widened.
_OLD_NAME = "ck_broadcast_ck_broadcast_audience"
_NEW_NAME = "ck_broadcast_audience"
_OLD_AUDIENCES = "audience IN ('all', 'active', 'finished', 'stuck')"
_NEW_AUDIENCES = "audience IN ('all', 'active', 'finished', 'stuck', 'not_started')"


def upgrade() -> None:
    op.create_table(
        "link_visit",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("bot_id", sa.BigInteger(), nullable=False),
        sa.Column("deployment_id", sa.BigInteger(), nullable=False),
        sa.Column("chat_id", sa.BigInteger(), nullable=False),
        sa.Column("telegram_user_id", sa.BigInteger(), nullable=False),
        sa.Column("token_id", sa.BigInteger(), nullable=True),
        sa.Column("utm_source", sa.Text(), nullable=True),
        sa.Column("first_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("blocked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("first_name", sa.Text(), nullable=True),
        sa.Column("username", sa.Text(), nullable=True),
        sa.Column("language_code", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"], ["account.id"], name="fk_link_visit_account_id", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["account_id", "bot_id"],
            ["bot.account_id", "bot.id"],
            name="fk_link_visit_account_id_bot_id",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["account_id", "deployment_id"],
            ["course_deployment.account_id", "course_deployment.id"],
            name="fk_link_visit_account_id_deployment_id",
            ondelete="CASCADE",
        ),
        # As run.token_id: a token goes only with its deployment, and so do its visits.
        sa.ForeignKeyConstraint(
            ["account_id", "token_id"],
            ["enrollment_token.account_id", "enrollment_token.id"],
            name="fk_link_visit_account_id_token_id",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_link_visit"),
        sa.UniqueConstraint("deployment_id", "chat_id", name="uq_link_visit_deployment_id_chat_id"),
    )
    op.create_index("ix_link_visit_bot_id_id", "link_visit", ["bot_id", "id"])
    op.create_index(
        "ix_link_visit_account_id_telegram_user_id_last_at",
        "link_visit",
        ["account_id", "telegram_user_id", "last_at"],
    )
    op.execute("ALTER TABLE link_visit ENABLE ROW LEVEL SECURITY")
    op.execute("ALTER TABLE link_visit FORCE ROW LEVEL SECURITY")
    op.execute(
        "CREATE POLICY tenant_isolation ON link_visit "
        f"USING (account_id = (SELECT {CURRENT_ACCOUNT}))"
    )
    op.execute(
        "CREATE POLICY tenant_batch ON link_visit "
        f"USING (account_id = ANY ((SELECT {CURRENT_ACCOUNTS})::bigint[]))"
    )
    op.drop_constraint(op.f(_OLD_NAME), "broadcast", type_="check")
    op.create_check_constraint(op.f(_NEW_NAME), "broadcast", _NEW_AUDIENCES)


def downgrade() -> None:
    # Broadcasts to the audience this revision brought cannot be kept without it.
    op.execute("DELETE FROM broadcast WHERE audience = 'not_started'")
    op.drop_constraint(op.f(_NEW_NAME), "broadcast", type_="check")
    op.create_check_constraint(op.f(_OLD_NAME), "broadcast", _OLD_AUDIENCES)
    op.drop_table("link_visit")
