"""Reminders for students who went quiet, and notifications for teachers.

Revision ID: 0017
Revises: 0016

- `reminder_rule`: a deployment's nudges ("after N minutes of waiting for the student, send
  this, at most K times", with quiet hours in the account's time zone); `run_reminder`: how
  many a run got since its last step.
- `member_notification`: a member's opt-in per deployment (finished / failed a test / stuck,
  or a daily digest); `member_notice`: what was told about which run, so nothing is told twice.
- inbox kinds `remind` and `notify`: both are messages the journal sends (DESIGN §5).
- `sys_claim_reminder_rules` and `sys_claim_member_notifications`: the runners' sweeps claim
  the rules and opt-ins due a look across accounts with FOR UPDATE SKIP LOCKED.
- indexes that keep the sweeps cheap at a million runs: a deployment's active runs by their
  last step, its finished runs by finish time, and the scored lines of `test` elements.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import context, op

revision: str = "0017"
down_revision: str | Sequence[str] | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CURRENT_ACCOUNT = "NULLIF(current_setting('app.account_id', true), '')::bigint"
CURRENT_ACCOUNTS = "NULLIF(current_setting('app.account_ids', true), '')::bigint[]"
TABLES = ("reminder_rule", "run_reminder", "member_notification", "member_notice")

_OLD_KINDS = "kind IN ('telegram', 'timer', 'grant', 'refund', 'stop', 'repin', 'blocked')"
_NEW_KINDS = (
    "kind IN ('telegram', 'timer', 'grant', 'refund', 'stop', 'repin', 'blocked', "
    "'remind', 'notify')"
)

# A claimed row's next look is set by the caller in the same transaction.
_CLAIM = """
CREATE FUNCTION sys_claim_{name}(p_now timestamptz, p_limit integer)
RETURNS TABLE (id bigint, account_id bigint)
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = {schema}, pg_temp AS $$
    SELECT t.id, t.account_id FROM {table} t
    WHERE t.sweep_at <= p_now
      AND EXISTS (SELECT 1 FROM account a WHERE a.id = t.account_id AND a.deleted_at IS NULL)
    ORDER BY t.sweep_at, t.id
    LIMIT p_limit
    FOR UPDATE OF t SKIP LOCKED
$$
"""
_CLAIMS = {"reminder_rules": "reminder_rule", "member_notifications": "member_notification"}


def _schema() -> str:
    if context.is_offline_mode():
        return "public"
    return op.get_bind().scalar(sa.text("SELECT current_schema()"))


def _account_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["account_id"], ["account.id"], name=f"fk_{table}_account_id", ondelete="CASCADE"
    )


def _tenant_fk(table: str, column: str, target: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["account_id", column],
        [f"{target}.account_id", f"{target}.id"],
        name=f"fk_{table}_account_id_{column}",
        ondelete="CASCADE",
    )


def _created_at() -> sa.Column:
    return sa.Column(
        "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
    )


def _sweep_at() -> sa.Column:
    return sa.Column(
        "sweep_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
    )


def upgrade() -> None:
    op.create_table(
        "reminder_rule",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("deployment_id", sa.BigInteger(), nullable=False),
        sa.Column("after_minutes", sa.Integer(), nullable=False),
        sa.Column("max_count", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("quiet_start", sa.Integer(), nullable=True),
        sa.Column("quiet_end", sa.Integer(), nullable=True),
        _sweep_at(),
        _created_at(),
        _account_fk("reminder_rule"),
        _tenant_fk("reminder_rule", "deployment_id", "course_deployment"),
        sa.CheckConstraint("after_minutes > 0", name="ck_reminder_rule_after_minutes_positive"),
        sa.CheckConstraint("max_count BETWEEN 1 AND 20", name="ck_reminder_rule_max_count_range"),
        sa.CheckConstraint(
            "(quiet_start IS NULL) = (quiet_end IS NULL)", name="ck_reminder_rule_quiet_pair"
        ),
        sa.CheckConstraint(
            "quiet_start BETWEEN 0 AND 1439", name="ck_reminder_rule_quiet_start_range"
        ),
        sa.CheckConstraint("quiet_end BETWEEN 0 AND 1439", name="ck_reminder_rule_quiet_end_range"),
        sa.PrimaryKeyConstraint("id", name="pk_reminder_rule"),
        sa.UniqueConstraint("account_id", "id", name="uq_reminder_rule_account_id_id"),
    )
    op.create_index("ix_reminder_rule_deployment_id", "reminder_rule", ["deployment_id"])
    op.create_index("ix_reminder_rule_sweep_at", "reminder_rule", ["sweep_at"])
    op.create_table(
        "run_reminder",
        sa.Column("run_id", sa.BigInteger(), nullable=False),
        sa.Column("rule_id", sa.BigInteger(), nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("since", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("last_sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("queued_at", sa.DateTime(timezone=True), nullable=True),
        _account_fk("run_reminder"),
        _tenant_fk("run_reminder", "run_id", "run"),
        _tenant_fk("run_reminder", "rule_id", "reminder_rule"),
        sa.PrimaryKeyConstraint("run_id", "rule_id", name="pk_run_reminder"),
    )
    op.create_table(
        "member_notification",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("deployment_id", sa.BigInteger(), nullable=False),
        sa.Column("telegram_user_id", sa.BigInteger(), nullable=False),
        sa.Column("on_finish", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("on_fail", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("fail_below", sa.Integer(), nullable=True),
        sa.Column("on_stuck", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("digest_hour", sa.Integer(), nullable=True),
        _sweep_at(),
        sa.Column("last_digest_on", sa.Date(), nullable=True),
        sa.Column("refused_at", sa.DateTime(timezone=True), nullable=True),
        _created_at(),
        _account_fk("member_notification"),
        _tenant_fk("member_notification", "deployment_id", "course_deployment"),
        sa.ForeignKeyConstraint(
            ["account_id", "telegram_user_id"],
            ["account_member.account_id", "account_member.telegram_user_id"],
            name="fk_member_notification_account_id_telegram_user_id",
            ondelete="CASCADE",
        ),
        sa.CheckConstraint(
            "fail_below BETWEEN 1 AND 100", name="ck_member_notification_fail_below_range"
        ),
        sa.CheckConstraint(
            "digest_hour BETWEEN 0 AND 23", name="ck_member_notification_digest_hour_range"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_member_notification"),
        sa.UniqueConstraint("account_id", "id", name="uq_member_notification_account_id_id"),
        sa.UniqueConstraint(
            "deployment_id",
            "telegram_user_id",
            name="uq_member_notification_deployment_id_telegram_user_id",
        ),
    )
    op.create_index("ix_member_notification_sweep_at", "member_notification", ["sweep_at"])
    op.create_table(
        "member_notice",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("notification_id", sa.BigInteger(), nullable=False),
        sa.Column("run_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("episode", sa.DateTime(timezone=True), nullable=False),
        _created_at(),
        _account_fk("member_notice"),
        _tenant_fk("member_notice", "notification_id", "member_notification"),
        _tenant_fk("member_notice", "run_id", "run"),
        sa.PrimaryKeyConstraint("id", name="pk_member_notice"),
        sa.UniqueConstraint(
            "notification_id",
            "run_id",
            "kind",
            "episode",
            name="uq_member_notice_notification_id_run_id_kind_episode",
        ),
    )
    op.create_index(
        "ix_run_deployment_id_updated_at_active",
        "run",
        ["deployment_id", "updated_at"],
        postgresql_where=sa.text("is_active"),
    )
    op.create_index(
        "ix_run_deployment_id_finished_at",
        "run",
        ["deployment_id", "finished_at"],
        postgresql_where=sa.text("finished_at IS NOT NULL"),
    )
    op.create_index(
        "ix_conversation_account_id_created_at_scored",
        "conversation",
        ["account_id", "created_at"],
        postgresql_where=sa.text("role = 'bot' AND maxscore IS NOT NULL"),
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
    op.drop_constraint(op.f("ck_processed_update_kind"), "processed_update", type_="check")
    op.create_check_constraint(op.f("ck_processed_update_kind"), "processed_update", _NEW_KINDS)
    schema = f'"{_schema()}"'
    for name, table in _CLAIMS.items():
        op.execute(_CLAIM.format(name=name, table=table, schema=schema))
        op.execute(f"REVOKE ALL ON FUNCTION sys_claim_{name}(timestamptz, integer) FROM PUBLIC")


def downgrade() -> None:
    for name in _CLAIMS:
        op.execute(f"DROP FUNCTION sys_claim_{name}(timestamptz, integer)")
    op.execute("DELETE FROM processed_update WHERE kind IN ('remind', 'notify')")
    op.drop_constraint(op.f("ck_processed_update_kind"), "processed_update", type_="check")
    op.create_check_constraint(op.f("ck_processed_update_kind"), "processed_update", _OLD_KINDS)
    op.drop_index("ix_conversation_account_id_created_at_scored", table_name="conversation")
    op.drop_index("ix_run_deployment_id_finished_at", table_name="run")
    op.drop_index("ix_run_deployment_id_updated_at_active", table_name="run")
    for table in reversed(TABLES):
        op.drop_table(table)
