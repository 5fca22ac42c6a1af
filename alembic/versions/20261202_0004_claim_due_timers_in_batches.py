"""Claim due timers in batches (`sys_claim_due_waitings(now, limit)`).

Revision ID: 0004
Revises: 0003

Firing one timer per transaction spent most of its time opening and committing the
transaction; the scheduler now fires up to `limit` due timers in one. Same locking as the
function it replaces: FOR UPDATE SKIP LOCKED, so several runners still share the work.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import context, op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BATCH = """
CREATE FUNCTION sys_claim_due_waitings(p_now timestamptz, p_limit integer)
RETURNS TABLE (id bigint, account_id bigint, run_id bigint)
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = {schema}, pg_temp AS $$
    SELECT w.id, w.account_id, w.run_id FROM waiting w
    WHERE w.status = 'pending' AND w.due_at <= p_now
      AND EXISTS (SELECT 1 FROM account a WHERE a.id = w.account_id AND a.deleted_at IS NULL)
    ORDER BY w.due_at, w.id
    LIMIT p_limit
    FOR UPDATE OF w SKIP LOCKED
$$
"""

_SINGLE = """
CREATE FUNCTION sys_claim_due_waiting(p_now timestamptz)
RETURNS TABLE (id bigint, account_id bigint, run_id bigint)
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = {schema}, pg_temp AS $$
    SELECT w.id, w.account_id, w.run_id FROM waiting w
    WHERE w.status = 'pending' AND w.due_at <= p_now
      AND EXISTS (SELECT 1 FROM account a WHERE a.id = w.account_id AND a.deleted_at IS NULL)
    ORDER BY w.due_at, w.id
    LIMIT 1
    FOR UPDATE OF w SKIP LOCKED
$$
"""


def _schema() -> str:
    if context.is_offline_mode():
        return "public"
    return op.get_bind().scalar(sa.text("SELECT current_schema()"))


def upgrade() -> None:
    op.execute(_BATCH.format(schema=f'"{_schema()}"'))
    op.execute("REVOKE ALL ON FUNCTION sys_claim_due_waitings(timestamptz, integer) FROM PUBLIC")
    op.execute("DROP FUNCTION sys_claim_due_waiting(timestamptz)")


def downgrade() -> None:
    op.execute(_SINGLE.format(schema=f'"{_schema()}"'))
    op.execute("REVOKE ALL ON FUNCTION sys_claim_due_waiting(timestamptz) FROM PUBLIC")
    op.execute("DROP FUNCTION sys_claim_due_waitings(timestamptz, integer)")
