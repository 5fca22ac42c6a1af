"""Server-side panel sessions, single-use Telegram logins, API keys bound to their maker.

Revision ID: 0007
Revises: 0006

- `panel_session`: a logout now ends the session on the server (a signed cookie stayed valid
  until it expired). `used_login`: each signed Telegram login is accepted once. Both belong
  to a person, not an account: no `account_id`, no Row-Level Security; the app role gets
  SELECT, INSERT, DELETE on them (storage/roles.py).
- `api_key.created_by`: the Telegram user who made the key. Filled from the audit log, which
  recorded every key made through the panel as `api_key.create` by `tg:<id>` (or by
  `api_key:<id>`, whose own maker is then followed). A key the audit log does not explain
  keeps NULL and is refused, with a message saying to make a new one.
- `sys_api_key_by_hash` also returns the maker and the maker's current role in the key's
  account, so authenticating a key checks the membership in the same query.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import context, op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# FORCE ROW LEVEL SECURITY applies to the owner running this migration too (unless it is a
# superuser): the backfill lifts it for the two tables it reads, inside this transaction.
_BACKFILL_MAKERS = """
WITH RECURSIVE made (key_id, maker) AS (
    SELECT k.id, substr(a.actor, 4)::bigint
    FROM api_key k
    JOIN audit_log a ON a.account_id = k.account_id AND a.object_id = k.id::text
    WHERE a.action = 'api_key.create' AND a.object_type = 'api_key'
      AND a.actor ~ '^tg:[0-9]{1,18}$'
  UNION
    SELECT k.id, made.maker
    FROM made
    JOIN audit_log a ON a.actor = 'api_key:' || made.key_id
    JOIN api_key k ON k.account_id = a.account_id AND a.object_id = k.id::text
    WHERE a.action = 'api_key.create' AND a.object_type = 'api_key'
)
UPDATE api_key SET created_by = made.maker FROM made WHERE api_key.id = made.key_id
"""

_KEY_BY_HASH = """
CREATE FUNCTION sys_api_key_by_hash(p_key_hash text)
RETURNS TABLE (
    api_key_id bigint, account_id bigint, role text, created_by bigint, maker_role text
)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = {schema}, pg_temp AS $$
    SELECT k.id, k.account_id, k.role, k.created_by, m.role
    FROM api_key k
    JOIN account a ON a.id = k.account_id
    LEFT JOIN account_member m
      ON m.account_id = k.account_id AND m.telegram_user_id = k.created_by
    WHERE k.key_hash = p_key_hash AND k.revoked_at IS NULL AND a.deleted_at IS NULL
$$
"""

_KEY_BY_HASH_0001 = """
CREATE FUNCTION sys_api_key_by_hash(p_key_hash text)
RETURNS TABLE (api_key_id bigint, account_id bigint, role text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = {schema}, pg_temp AS $$
    SELECT k.id, k.account_id, k.role FROM api_key k JOIN account a ON a.id = k.account_id
    WHERE k.key_hash = p_key_hash AND k.revoked_at IS NULL AND a.deleted_at IS NULL
$$
"""


def _schema() -> str:
    # `--sql` (offline) output has no live connection to ask: it targets the default schema.
    if context.is_offline_mode():
        return '"public"'
    return '"' + op.get_bind().scalar(sa.text("SELECT current_schema()")) + '"'


def _replace_key_lookup(definition: str) -> None:
    op.execute("DROP FUNCTION sys_api_key_by_hash(text)")
    op.execute(definition.format(schema=_schema()))
    op.execute("REVOKE ALL ON FUNCTION sys_api_key_by_hash(text) FROM PUBLIC")


def upgrade() -> None:
    op.create_table(
        "panel_session",
        sa.Column("token_hash", sa.Text(), nullable=False),
        sa.Column("telegram_user_id", sa.BigInteger(), nullable=False),
        sa.Column("username", sa.Text(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_panel_session")),
    )
    op.create_index(op.f("ix_panel_session_expires_at"), "panel_session", ["expires_at"])
    op.create_table(
        "used_login",
        sa.Column("login_hash", sa.Text(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("login_hash", name=op.f("pk_used_login")),
    )
    op.create_index(op.f("ix_used_login_expires_at"), "used_login", ["expires_at"])

    op.add_column("api_key", sa.Column("created_by", sa.BigInteger(), nullable=True))
    for table in ("api_key", "audit_log"):
        op.execute(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")
    op.execute(_BACKFILL_MAKERS)
    for table in ("api_key", "audit_log"):
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
    _replace_key_lookup(_KEY_BY_HASH)


def downgrade() -> None:
    _replace_key_lookup(_KEY_BY_HASH_0001)
    op.drop_column("api_key", "created_by")
    op.drop_index(op.f("ix_used_login_expires_at"), table_name="used_login")
    op.drop_table("used_login")
    op.drop_index(op.f("ix_panel_session_expires_at"), table_name="panel_session")
    op.drop_table("panel_session")
