"""Outgoing webhooks: endpoints per account and the deliveries of their events.

Revision ID: 0015
Revises: 0014

`webhook_endpoint` is where an account wants its events POSTed (the signing secret sealed
by storage/crypto); `webhook_delivery` holds one row per event and endpoint, written in the
transaction of the change it reports and claimed by the runners' delivery loops with
`sys_claim_webhook_deliveries` (FOR UPDATE SKIP LOCKED, a few per account at a time, so one
account's backlog never fills a runner). Both are tenant tables under Row-Level Security.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from alembic import context, op

revision: str = "0015"
down_revision: str | Sequence[str] | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CURRENT_ACCOUNT = "NULLIF(current_setting('app.account_id', true), '')::bigint"
CURRENT_ACCOUNTS = "NULLIF(current_setting('app.account_ids', true), '')::bigint[]"
TABLES = ("webhook_endpoint", "webhook_delivery")
CLAIM_SIGNATURE = "sys_claim_webhook_deliveries(timestamptz, integer, integer, bigint[], integer[])"

# Due deliveries, oldest first, at most `p_per_account` of each account counting the
# `p_inflight` attempts the caller still has going for the accounts in `p_busy`. The ranking
# reads the due rows without locks; the lock (SKIP LOCKED) is taken on the picked ones only.
_CLAIM = """
CREATE FUNCTION sys_claim_webhook_deliveries(
    p_now timestamptz, p_limit integer, p_per_account integer, p_busy bigint[],
    p_inflight integer[]
)
RETURNS TABLE (id bigint, account_id bigint)
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = {schema}, pg_temp AS $$
    SELECT d.id, d.account_id FROM webhook_delivery d
    WHERE d.id IN (
        SELECT ranked.id FROM (
            SELECT w.id, w.account_id, row_number() OVER (
                PARTITION BY w.account_id ORDER BY w.next_attempt_at, w.id
            ) AS place
            FROM webhook_delivery w
            WHERE w.status = 'pending' AND w.next_attempt_at <= p_now
        ) ranked
        LEFT JOIN unnest(p_busy, p_inflight) AS b(account_id, n)
          ON b.account_id = ranked.account_id
        WHERE ranked.place <= p_per_account - COALESCE(b.n, 0)
    )
      AND d.status = 'pending' AND d.next_attempt_at <= p_now
      AND EXISTS (SELECT 1 FROM account a WHERE a.id = d.account_id AND a.deleted_at IS NULL)
    ORDER BY d.next_attempt_at, d.id
    LIMIT p_limit
    FOR UPDATE OF d SKIP LOCKED
$$
"""


def _schema() -> str:
    if context.is_offline_mode():
        return "public"
    return op.get_bind().scalar(sa.text("SELECT current_schema()"))


def upgrade() -> None:
    op.create_table(
        "webhook_endpoint",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("secret_ciphertext", sa.Text(), nullable=False),
        sa.Column("events", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["account.id"],
            name="fk_webhook_endpoint_account_id",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_webhook_endpoint"),
        sa.UniqueConstraint("account_id", "id", name="uq_webhook_endpoint_account_id_id"),
    )
    op.create_table(
        "webhook_delivery",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("endpoint_id", sa.BigInteger(), nullable=False),
        sa.Column("event_id", sa.Text(), nullable=False),
        sa.Column("event_type", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), server_default="pending", nullable=False),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_status", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.CheckConstraint(
            "status IN ('pending', 'delivered', 'failed')", name="ck_webhook_delivery_status"
        ),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["account.id"],
            name="fk_webhook_delivery_account_id",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["account_id", "endpoint_id"],
            ["webhook_endpoint.account_id", "webhook_endpoint.id"],
            name="fk_webhook_delivery_account_id_endpoint_id",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_webhook_delivery"),
        sa.UniqueConstraint("account_id", "id", name="uq_webhook_delivery_account_id_id"),
    )
    op.create_index(
        "ix_webhook_delivery_account_id_endpoint_id_id",
        "webhook_delivery",
        ["account_id", "endpoint_id", "id"],
    )
    op.create_index(
        "ix_webhook_delivery_due",
        "webhook_delivery",
        ["next_attempt_at"],
        postgresql_where=sa.text("status = 'pending'"),
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
    op.execute(_CLAIM.format(schema=f'"{_schema()}"'))
    op.execute(f"REVOKE ALL ON FUNCTION {CLAIM_SIGNATURE} FROM PUBLIC")


def downgrade() -> None:
    op.execute(f"DROP FUNCTION {CLAIM_SIGNATURE}")
    for table in reversed(TABLES):
        op.drop_table(table)
