"""Drop the SECURITY DEFINER lookups nothing calls any more.

Revision ID: 0012
Revises: 0011

`sys_bot_by_public_id` served webhook routing, which now reads the bot pool's rows, and
`sys_deep_link_deployment` the old per-update enrollment, which the journal's batch
statements replaced (storage/admission_batch.py). A function that bypasses Row-Level
Security and is never called is attack surface with no use, so both go.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import context, op

revision: str = "0012"
down_revision: str | Sequence[str] | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# As migration 0001 made them, for a downgrade.
_DEFINITIONS = {
    "sys_bot_by_public_id(text)": """
CREATE FUNCTION sys_bot_by_public_id(p_public_id text) RETURNS SETOF bot
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = {schema}, pg_temp AS $$
    SELECT b.* FROM bot b JOIN account a ON a.id = b.account_id
    WHERE b.public_id = p_public_id AND a.deleted_at IS NULL
$$
""",
    "sys_deep_link_deployment(bigint, bigint)": """
CREATE FUNCTION sys_deep_link_deployment(p_deployment_id bigint, p_bot_id bigint)
RETURNS SETOF course_deployment
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = {schema}, pg_temp AS $$
    SELECT d.* FROM course_deployment d JOIN account a ON a.id = d.account_id
    WHERE d.id = p_deployment_id AND d.bot_id = p_bot_id AND a.deleted_at IS NULL
$$
""",
}


def _schema() -> str:
    if context.is_offline_mode():
        return "public"
    return str(op.get_bind().scalar(sa.text("SELECT current_schema()")))


def upgrade() -> None:
    for signature in _DEFINITIONS:
        op.execute(f"DROP FUNCTION {signature}")


def downgrade() -> None:
    schema = f'"{_schema()}"'
    for signature, definition in _DEFINITIONS.items():
        op.execute(definition.format(schema=schema))
        op.execute(f"REVOKE ALL ON FUNCTION {signature} FROM PUBLIC")
