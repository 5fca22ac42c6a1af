"""Initial schema: the whole data model, Row-Level Security and the system functions.

Revision ID: 0001
Revises:
Create Date: 2026-11-23

Besides the tables (DESIGN.md §4) this creates:
- RLS on every table, ENABLEd and FORCEd, with one policy: a row is visible only while the
  transaction's `app.account_id` names its account. Unset means nothing is visible.
- SECURITY DEFINER `sys_*` functions for the few reads that must cross accounts (bot pool,
  webhook ingress, timer claims, deep links, login, API keys, account creation, the
  super-admin account listing). They run as the owner (this migration's role) with a pinned
  search_path; EXECUTE is revoked from PUBLIC and granted to the app role by storage/roles.py.
- `definer_*` policies letting that owner role, and only it, read the rows those functions need.
  A superuser owner bypasses RLS anyway; a plain owner (managed PostgreSQL) needs them, since
  FORCE applies RLS to the owner too.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from alembic import context, op

# revision identifiers, used by Alembic.
revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copy of the model's table list as of this revision (migrations never import models).
TENANT_TABLES = (
    "account",
    "account_member",
    "api_key",
    "audit_log",
    "bot",
    "course",
    "participant",
    "payment_credentials",
    "banned",
    "course_version",
    "processed_update",
    "course_deployment",
    "course_element",
    "enrollment_token",
    "restricted",
    "run",
    "conversation",
    "outbox",
    "payment",
    "waiting",
)
# Empty string, not NULL, is what a custom setting reads after a SET LOCAL'd transaction ended
# on a pooled connection: NULLIF keeps both "unset" forms from raising a cast error.
CURRENT_ACCOUNT = "NULLIF(current_setting('app.account_id', true), '')::bigint"

DEFINER_SELECT = ("account", "account_member", "api_key", "bot", "course_deployment", "waiting")

SYSTEM_FUNCTIONS = (
    "sys_active_bots()",
    "sys_bot_by_public_id(text)",
    "sys_claim_due_waiting(timestamptz)",
    "sys_deep_link_deployment(bigint, bigint)",
    "sys_accounts_of_user(bigint, boolean)",
    "sys_api_key_by_hash(text)",
    "sys_create_account(text, text, text)",
    "sys_list_accounts(boolean)",
)

# One statement per string: asyncpg prepares each statement and refuses several at once.
_FUNCTION_DEFINITIONS = (
    """
CREATE FUNCTION sys_active_bots() RETURNS SETOF bot
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = {schema}, pg_temp AS $$
    SELECT b.* FROM bot b JOIN account a ON a.id = b.account_id
    WHERE b.active AND a.deleted_at IS NULL
    ORDER BY b.id
$$
""",
    """
CREATE FUNCTION sys_bot_by_public_id(p_public_id text) RETURNS SETOF bot
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = {schema}, pg_temp AS $$
    SELECT b.* FROM bot b JOIN account a ON a.id = b.account_id
    WHERE b.public_id = p_public_id AND a.deleted_at IS NULL
$$
""",
    """
-- Locks the row until the caller's transaction ends: the caller switches app.account_id to
-- the returned account and fires the wait in that same transaction.
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
""",
    """
CREATE FUNCTION sys_deep_link_deployment(p_deployment_id bigint, p_bot_id bigint)
RETURNS SETOF course_deployment
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = {schema}, pg_temp AS $$
    SELECT d.* FROM course_deployment d JOIN account a ON a.id = d.account_id
    WHERE d.id = p_deployment_id AND d.bot_id = p_bot_id AND a.deleted_at IS NULL
$$
""",
    """
CREATE FUNCTION sys_accounts_of_user(p_telegram_user_id bigint, p_include_deleted boolean)
RETURNS TABLE (account_id bigint, slug text, name text, role text, deleted_at timestamptz)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = {schema}, pg_temp AS $$
    SELECT a.id, a.slug, a.name, m.role, a.deleted_at
    FROM account_member m JOIN account a ON a.id = m.account_id
    WHERE m.telegram_user_id = p_telegram_user_id
      AND (p_include_deleted OR a.deleted_at IS NULL)
    ORDER BY a.id
$$
""",
    """
CREATE FUNCTION sys_api_key_by_hash(p_key_hash text)
RETURNS TABLE (api_key_id bigint, account_id bigint, role text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = {schema}, pg_temp AS $$
    SELECT k.id, k.account_id, k.role FROM api_key k JOIN account a ON a.id = k.account_id
    WHERE k.key_hash = p_key_hash AND k.revoked_at IS NULL AND a.deleted_at IS NULL
$$
""",
    """
-- A new account has no id yet to scope an insert by, so creation goes through the owner.
CREATE FUNCTION sys_create_account(p_slug text, p_name text, p_plan text) RETURNS SETOF account
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = {schema}, pg_temp AS $$
    INSERT INTO account (slug, name, plan) VALUES (p_slug, p_name, p_plan) RETURNING *
$$
""",
    """
-- Platform super-admins list every account (the panel checks who may call it).
CREATE FUNCTION sys_list_accounts(p_include_deleted boolean) RETURNS SETOF account
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = {schema}, pg_temp AS $$
    SELECT * FROM account WHERE p_include_deleted OR deleted_at IS NULL ORDER BY id
$$
""",
)


def _enable_row_level_security() -> None:
    for table in TENANT_TABLES:
        key = "id" if table == "account" else "account_id"
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
        op.execute(f"CREATE POLICY tenant_isolation ON {table} USING ({key} = {CURRENT_ACCOUNT})")
    for table in DEFINER_SELECT:
        op.execute(
            f"CREATE POLICY definer_select ON {table} FOR SELECT TO CURRENT_USER USING (true)"
        )
    # SELECT ... FOR UPDATE also checks UPDATE policies.
    op.execute("CREATE POLICY definer_claim ON waiting FOR UPDATE TO CURRENT_USER USING (true)")
    op.execute(
        "CREATE POLICY definer_insert ON account FOR INSERT TO CURRENT_USER WITH CHECK (true)"
    )


def _create_system_functions() -> None:
    # `--sql` (offline) output has no live connection to ask: it targets the default schema.
    if context.is_offline_mode():
        schema = "public"
    else:
        schema = op.get_bind().scalar(sa.text("SELECT current_schema()"))
    for definition in _FUNCTION_DEFINITIONS:
        op.execute(definition.format(schema=f'"{schema}"'))
    for signature in SYSTEM_FUNCTIONS:
        op.execute(f"REVOKE ALL ON FUNCTION {signature} FROM PUBLIC")


def upgrade() -> None:
    """Upgrade schema."""
    # ### commands auto generated by Alembic - please adjust! ###
    op.create_table(
        "account",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("slug", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("plan", sa.Text(), server_default="free", nullable=False),
        sa.Column(
            "limits",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sheets_credentials_ciphertext", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "slug ~ '^[a-z0-9][a-z0-9-]{1,62}$'", name=op.f("ck_account_slug_format")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_account")),
        sa.UniqueConstraint("slug", name=op.f("uq_account_slug")),
    )
    op.create_table(
        "account_member",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("telegram_user_id", sa.BigInteger(), nullable=False),
        sa.Column("username", sa.Text(), nullable=True),
        sa.Column("role", sa.Text(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "role IN ('owner', 'admin', 'creator', 'teacher', 'viewer')",
            name=op.f("ck_account_member_role"),
        ),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["account.id"],
            name=op.f("fk_account_member_account_id"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_account_member")),
        sa.UniqueConstraint(
            "account_id",
            "telegram_user_id",
            name=op.f("uq_account_member_account_id_telegram_user_id"),
        ),
    )
    op.create_index(
        op.f("ix_account_member_telegram_user_id"),
        "account_member",
        ["telegram_user_id"],
        unique=False,
    )
    op.create_table(
        "api_key",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("key_hash", sa.Text(), nullable=False),
        sa.Column("role", sa.Text(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "role IN ('owner', 'admin', 'creator', 'teacher', 'viewer')",
            name=op.f("ck_api_key_role"),
        ),
        sa.ForeignKeyConstraint(
            ["account_id"], ["account.id"], name=op.f("fk_api_key_account_id"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_key")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_api_key_key_hash")),
    )
    op.create_index(op.f("ix_api_key_account_id"), "api_key", ["account_id"], unique=False)
    op.create_table(
        "audit_log",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("action", sa.Text(), nullable=False),
        sa.Column("object_type", sa.Text(), nullable=False),
        sa.Column("object_id", sa.Text(), nullable=True),
        sa.Column(
            "details",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column(
            "at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["account_id"], ["account.id"], name=op.f("fk_audit_log_account_id"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    op.create_index(
        op.f("ix_audit_log_account_id_at"), "audit_log", ["account_id", "at"], unique=False
    )
    op.create_table(
        "bot",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("token_ciphertext", sa.Text(), nullable=False),
        sa.Column("token_hash", sa.Text(), nullable=False),
        sa.Column("telegram_id", sa.BigInteger(), nullable=False),
        sa.Column("username", sa.Text(), nullable=False),
        sa.Column("mode", sa.Text(), server_default="polling", nullable=False),
        sa.Column("webhook_secret_ciphertext", sa.Text(), nullable=True),
        sa.Column("public_id", sa.Text(), nullable=False),
        sa.Column("active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("default_deployment_id", sa.BigInteger(), nullable=True),
        sa.Column("last_update_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("mode IN ('polling', 'webhook')", name=op.f("ck_bot_mode")),
        sa.ForeignKeyConstraint(
            ["account_id"], ["account.id"], name=op.f("fk_bot_account_id"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bot")),
        sa.UniqueConstraint("account_id", "id", name=op.f("uq_bot_account_id_id")),
        sa.UniqueConstraint("public_id", name=op.f("uq_bot_public_id")),
        sa.UniqueConstraint("telegram_id", name=op.f("uq_bot_telegram_id")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_bot_token_hash")),
    )
    op.create_table(
        "course",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("slug", sa.Text(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["account_id"], ["account.id"], name=op.f("fk_course_account_id"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_course")),
        sa.UniqueConstraint("account_id", "id", name=op.f("uq_course_account_id_id")),
        sa.UniqueConstraint("account_id", "slug", name=op.f("uq_course_account_id_slug")),
    )
    op.create_table(
        "participant",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("telegram_user_id", sa.BigInteger(), nullable=False),
        sa.Column("username", sa.Text(), nullable=True),
        sa.Column("first_name", sa.Text(), nullable=True),
        sa.Column("last_name", sa.Text(), nullable=True),
        sa.Column("language_code", sa.Text(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["account.id"],
            name=op.f("fk_participant_account_id"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_participant")),
        sa.UniqueConstraint("account_id", "id", name=op.f("uq_participant_account_id_id")),
        sa.UniqueConstraint(
            "account_id",
            "telegram_user_id",
            name=op.f("uq_participant_account_id_telegram_user_id"),
        ),
    )
    op.create_table(
        "payment_credentials",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("provider", sa.Text(), server_default="yookassa", nullable=False),
        sa.Column("shop_id", sa.Text(), nullable=False),
        sa.Column("secret_ciphertext", sa.Text(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["account.id"],
            name=op.f("fk_payment_credentials_account_id"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_credentials")),
        sa.UniqueConstraint(
            "account_id", "provider", name=op.f("uq_payment_credentials_account_id_provider")
        ),
    )
    op.create_table(
        "banned",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("telegram_user_id", sa.BigInteger(), nullable=False),
        sa.Column("bot_id", sa.BigInteger(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["account_id", "bot_id"],
            ["bot.account_id", "bot.id"],
            name=op.f("fk_banned_account_id_bot_id"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["account_id"], ["account.id"], name=op.f("fk_banned_account_id"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_banned")),
        sa.UniqueConstraint(
            "account_id",
            "telegram_user_id",
            "bot_id",
            name=op.f("uq_banned_account_id_telegram_user_id_bot_id"),
            postgresql_nulls_not_distinct=True,
        ),
    )
    op.create_table(
        "course_version",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("course_id", sa.BigInteger(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("source_text", sa.Text(), nullable=False),
        sa.Column("source_format", sa.Text(), nullable=False),
        sa.Column("elements", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("checksum", sa.Text(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "source_format IN ('yaml', 'gsheet')", name=op.f("ck_course_version_source_format")
        ),
        sa.ForeignKeyConstraint(
            ["account_id", "course_id"],
            ["course.account_id", "course.id"],
            name=op.f("fk_course_version_account_id_course_id"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["account.id"],
            name=op.f("fk_course_version_account_id"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_course_version")),
        sa.UniqueConstraint("account_id", "id", name=op.f("uq_course_version_account_id_id")),
        sa.UniqueConstraint("course_id", "number", name=op.f("uq_course_version_course_id_number")),
    )
    op.create_table(
        "processed_update",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("bot_id", sa.BigInteger(), nullable=False),
        sa.Column("update_id", sa.BigInteger(), nullable=False),
        sa.Column("chat_id", sa.BigInteger(), nullable=True),
        sa.Column("payload", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column(
            "received_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id", "bot_id"],
            ["bot.account_id", "bot.id"],
            name=op.f("fk_processed_update_account_id_bot_id"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["account.id"],
            name=op.f("fk_processed_update_account_id"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_processed_update")),
        sa.UniqueConstraint(
            "bot_id", "update_id", name=op.f("uq_processed_update_bot_id_update_id")
        ),
    )
    op.create_index(
        "ix_processed_update_bot_id_id_unprocessed",
        "processed_update",
        ["bot_id", "id"],
        unique=False,
        postgresql_where=sa.text("processed_at IS NULL"),
    )
    op.create_table(
        "course_deployment",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("course_version_id", sa.BigInteger(), nullable=False),
        sa.Column("bot_id", sa.BigInteger(), nullable=False),
        sa.Column("environment", sa.Text(), nullable=False),
        sa.Column("active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("restricted", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("decline_text", sa.Text(), nullable=True),
        sa.Column("price_amount", sa.Numeric(precision=12, scale=2), nullable=True),
        sa.Column("price_currency", sa.Text(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "environment IN ('prod', 'test')", name=op.f("ck_course_deployment_environment")
        ),
        sa.CheckConstraint(
            "price_currency ~ '^[A-Z]{3}$'", name=op.f("ck_course_deployment_price_currency_format")
        ),
        sa.CheckConstraint(
            "(price_amount IS NULL) = (price_currency IS NULL)",
            name=op.f("ck_course_deployment_price_pair"),
        ),
        sa.CheckConstraint(
            "price_amount IS NULL OR price_amount > 0",
            name=op.f("ck_course_deployment_price_positive"),
        ),
        sa.ForeignKeyConstraint(
            ["account_id", "bot_id"],
            ["bot.account_id", "bot.id"],
            name=op.f("fk_course_deployment_account_id_bot_id"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["account_id", "course_version_id"],
            ["course_version.account_id", "course_version.id"],
            name=op.f("fk_course_deployment_account_id_course_version_id"),
        ),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["account.id"],
            name=op.f("fk_course_deployment_account_id"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_course_deployment")),
        sa.UniqueConstraint("account_id", "id", name=op.f("uq_course_deployment_account_id_id")),
    )
    op.create_index(
        op.f("ix_course_deployment_bot_id"), "course_deployment", ["bot_id"], unique=False
    )
    # bot <-> course_deployment reference each other: this side is added once both exist.
    op.create_foreign_key(
        op.f("fk_bot_account_id_default_deployment_id"),
        "bot",
        "course_deployment",
        ["account_id", "default_deployment_id"],
        ["account_id", "id"],
    )
    op.create_table(
        "course_element",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("version_id", sa.BigInteger(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("element_id", sa.Text(), nullable=False),
        sa.Column("type", sa.Text(), nullable=False),
        sa.Column("data", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id", "version_id"],
            ["course_version.account_id", "course_version.id"],
            name=op.f("fk_course_element_account_id_version_id"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["account.id"],
            name=op.f("fk_course_element_account_id"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_course_element")),
        sa.UniqueConstraint(
            "version_id", "element_id", name=op.f("uq_course_element_version_id_element_id")
        ),
        sa.UniqueConstraint(
            "version_id", "position", name=op.f("uq_course_element_version_id_position")
        ),
    )
    op.create_table(
        "enrollment_token",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("deployment_id", sa.BigInteger(), nullable=False),
        sa.Column("token", sa.Text(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("max_uses", sa.Integer(), nullable=True),
        sa.Column("uses", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("bound_telegram_user_id", sa.BigInteger(), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("utm_source", sa.Text(), nullable=True),
        sa.Column("utm_medium", sa.Text(), nullable=True),
        sa.Column("utm_campaign", sa.Text(), nullable=True),
        sa.Column("utm_content", sa.Text(), nullable=True),
        sa.Column("utm_term", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "kind IN ('public', 'group', 'personal', 'external')",
            name=op.f("ck_enrollment_token_kind"),
        ),
        sa.CheckConstraint(
            "token ~ '^[A-Za-z0-9_-]{1,32}$'", name=op.f("ck_enrollment_token_token_format")
        ),
        sa.CheckConstraint(
            "max_uses IS NULL OR max_uses > 0", name=op.f("ck_enrollment_token_max_uses_positive")
        ),
        sa.CheckConstraint("uses >= 0", name=op.f("ck_enrollment_token_uses_non_negative")),
        sa.ForeignKeyConstraint(
            ["account_id", "deployment_id"],
            ["course_deployment.account_id", "course_deployment.id"],
            name=op.f("fk_enrollment_token_account_id_deployment_id"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["account.id"],
            name=op.f("fk_enrollment_token_account_id"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_enrollment_token")),
        sa.UniqueConstraint("account_id", "id", name=op.f("uq_enrollment_token_account_id_id")),
        sa.UniqueConstraint(
            "deployment_id", "token", name=op.f("uq_enrollment_token_deployment_id_token")
        ),
    )
    op.create_table(
        "restricted",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("deployment_id", sa.BigInteger(), nullable=False),
        sa.Column("telegram_user_id", sa.BigInteger(), nullable=True),
        sa.Column("username", sa.Text(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "username ~ '^[a-z0-9_]{1,64}$'", name=op.f("ck_restricted_username_normalised")
        ),
        sa.CheckConstraint(
            "telegram_user_id IS NOT NULL OR username IS NOT NULL",
            name=op.f("ck_restricted_user_or_username"),
        ),
        sa.ForeignKeyConstraint(
            ["account_id", "deployment_id"],
            ["course_deployment.account_id", "course_deployment.id"],
            name=op.f("fk_restricted_account_id_deployment_id"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["account.id"],
            name=op.f("fk_restricted_account_id"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_restricted")),
    )
    op.create_index(
        "uq_restricted_deployment_id_telegram_user_id",
        "restricted",
        ["deployment_id", "telegram_user_id"],
        unique=True,
        postgresql_where=sa.text("telegram_user_id IS NOT NULL"),
    )
    op.create_index(
        "uq_restricted_deployment_id_username",
        "restricted",
        ["deployment_id", "username"],
        unique=True,
        postgresql_where=sa.text("username IS NOT NULL"),
    )
    op.create_table(
        "run",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("deployment_id", sa.BigInteger(), nullable=False),
        sa.Column("course_version_id", sa.BigInteger(), nullable=False),
        sa.Column("bot_id", sa.BigInteger(), nullable=False),
        sa.Column("chat_id", sa.BigInteger(), nullable=False),
        sa.Column("telegram_user_id", sa.BigInteger(), nullable=False),
        sa.Column("participant_id", sa.BigInteger(), nullable=True),
        sa.Column("token_id", sa.BigInteger(), nullable=True),
        sa.Column("status", sa.Text(), server_default="active", nullable=False),
        sa.Column("is_active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column(
            "state",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column(
            "started_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("utm_source", sa.Text(), nullable=True),
        sa.Column("utm_medium", sa.Text(), nullable=True),
        sa.Column("utm_campaign", sa.Text(), nullable=True),
        sa.Column("utm_content", sa.Text(), nullable=True),
        sa.Column("utm_term", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "is_active = (status = 'active')", name=op.f("ck_run_is_active_matches_status")
        ),
        sa.CheckConstraint(
            "status IN ('active', 'completed', 'stopped', 'blocked', 'declined')",
            name=op.f("ck_run_status"),
        ),
        sa.CheckConstraint(
            "(finished_at IS NULL) = is_active", name=op.f("ck_run_finished_at_iff_inactive")
        ),
        sa.ForeignKeyConstraint(
            ["account_id", "bot_id"],
            ["bot.account_id", "bot.id"],
            name=op.f("fk_run_account_id_bot_id"),
        ),
        sa.ForeignKeyConstraint(
            ["account_id", "course_version_id"],
            ["course_version.account_id", "course_version.id"],
            name=op.f("fk_run_account_id_course_version_id"),
        ),
        sa.ForeignKeyConstraint(
            ["account_id", "deployment_id"],
            ["course_deployment.account_id", "course_deployment.id"],
            name=op.f("fk_run_account_id_deployment_id"),
        ),
        sa.ForeignKeyConstraint(
            ["account_id", "participant_id"],
            ["participant.account_id", "participant.id"],
            name=op.f("fk_run_account_id_participant_id"),
        ),
        sa.ForeignKeyConstraint(
            ["account_id", "token_id"],
            ["enrollment_token.account_id", "enrollment_token.id"],
            name=op.f("fk_run_account_id_token_id"),
        ),
        sa.ForeignKeyConstraint(
            ["account_id"], ["account.id"], name=op.f("fk_run_account_id"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_run")),
        sa.UniqueConstraint("account_id", "id", name=op.f("uq_run_account_id_id")),
    )
    op.create_index(
        op.f("ix_run_account_id_deployment_id_started_at"),
        "run",
        ["account_id", "deployment_id", "started_at"],
        unique=False,
    )
    op.create_index(
        op.f("ix_run_account_id_telegram_user_id"),
        "run",
        ["account_id", "telegram_user_id"],
        unique=False,
    )
    op.create_index(
        "uq_run_bot_id_chat_id_active",
        "run",
        ["bot_id", "chat_id"],
        unique=True,
        postgresql_where=sa.text("is_active"),
    )
    op.create_table(
        "conversation",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("run_id", sa.BigInteger(), nullable=False),
        sa.Column("element_id", sa.Text(), nullable=False),
        sa.Column("role", sa.Text(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("score", sa.Double(), nullable=True),
        sa.Column("maxscore", sa.Double(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("role IN ('bot', 'user')", name=op.f("ck_conversation_role")),
        sa.ForeignKeyConstraint(
            ["account_id", "run_id"],
            ["run.account_id", "run.id"],
            name=op.f("fk_conversation_account_id_run_id"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["account.id"],
            name=op.f("fk_conversation_account_id"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_conversation")),
    )
    op.create_index(
        op.f("ix_conversation_run_id_id"), "conversation", ["run_id", "id"], unique=False
    )
    op.create_table(
        "outbox",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("bot_id", sa.BigInteger(), nullable=False),
        sa.Column("chat_id", sa.BigInteger(), nullable=False),
        sa.Column("run_id", sa.BigInteger(), nullable=True),
        sa.Column("payload", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("status", sa.Text(), server_default="pending", nullable=False),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('pending', 'sent', 'failed')", name=op.f("ck_outbox_status")
        ),
        sa.ForeignKeyConstraint(
            ["account_id", "bot_id"],
            ["bot.account_id", "bot.id"],
            name=op.f("fk_outbox_account_id_bot_id"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["account_id", "run_id"],
            ["run.account_id", "run.id"],
            name=op.f("fk_outbox_account_id_run_id"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["account_id"], ["account.id"], name=op.f("fk_outbox_account_id"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
    )
    op.create_index(
        op.f("ix_outbox_bot_id_status_id"), "outbox", ["bot_id", "status", "id"], unique=False
    )
    op.create_table(
        "payment",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("deployment_id", sa.BigInteger(), nullable=False),
        sa.Column("run_id", sa.BigInteger(), nullable=True),
        sa.Column("chat_id", sa.BigInteger(), nullable=True),
        sa.Column("telegram_user_id", sa.BigInteger(), nullable=True),
        sa.Column("provider", sa.Text(), server_default="yookassa", nullable=False),
        sa.Column("provider_payment_id", sa.Text(), nullable=True),
        sa.Column("idempotence_key", sa.Text(), nullable=False),
        sa.Column("amount", sa.Numeric(precision=12, scale=2), nullable=False),
        sa.Column("currency", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), server_default="pending", nullable=False),
        sa.Column(
            "refunded_amount",
            sa.Numeric(precision=12, scale=2),
            server_default=sa.text("0"),
            nullable=False,
        ),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("return_url", sa.Text(), nullable=True),
        sa.Column("confirmation_url", sa.Text(), nullable=True),
        sa.Column(
            "metadata",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("currency ~ '^[A-Z]{3}$'", name=op.f("ck_payment_currency_format")),
        sa.CheckConstraint(
            "status IN ('pending', 'waiting_for_capture', 'succeeded', 'canceled')",
            name=op.f("ck_payment_status"),
        ),
        sa.CheckConstraint("amount > 0", name=op.f("ck_payment_amount_positive")),
        sa.CheckConstraint(
            "refunded_amount >= 0 AND refunded_amount <= amount",
            name=op.f("ck_payment_refund_within_amount"),
        ),
        sa.ForeignKeyConstraint(
            ["account_id", "deployment_id"],
            ["course_deployment.account_id", "course_deployment.id"],
            name=op.f("fk_payment_account_id_deployment_id"),
        ),
        sa.ForeignKeyConstraint(
            ["account_id", "run_id"],
            ["run.account_id", "run.id"],
            name=op.f("fk_payment_account_id_run_id"),
        ),
        sa.ForeignKeyConstraint(
            ["account_id"], ["account.id"], name=op.f("fk_payment_account_id"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment")),
        sa.UniqueConstraint(
            "account_id", "idempotence_key", name=op.f("uq_payment_account_id_idempotence_key")
        ),
        sa.UniqueConstraint(
            "account_id",
            "provider_payment_id",
            name=op.f("uq_payment_account_id_provider_payment_id"),
        ),
    )
    op.create_index(
        op.f("ix_payment_account_id_deployment_id_telegram_user_id"),
        "payment",
        ["account_id", "deployment_id", "telegram_user_id"],
        unique=False,
    )
    op.create_table(
        "waiting",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("run_id", sa.BigInteger(), nullable=False),
        sa.Column("wait_id", sa.Text(), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("goto", sa.Text(), nullable=True),
        sa.Column("status", sa.Text(), server_default="pending", nullable=False),
        sa.Column("fired_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "status IN ('pending', 'fired', 'cancelled')", name=op.f("ck_waiting_status")
        ),
        sa.ForeignKeyConstraint(
            ["account_id", "run_id"],
            ["run.account_id", "run.id"],
            name=op.f("fk_waiting_account_id_run_id"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["account_id"], ["account.id"], name=op.f("fk_waiting_account_id"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_waiting")),
    )
    op.create_index(
        "ix_waiting_due_at_pending",
        "waiting",
        ["due_at"],
        unique=False,
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.create_index(
        "ix_waiting_run_id_pending",
        "waiting",
        ["run_id"],
        unique=False,
        postgresql_where=sa.text("status = 'pending'"),
    )
    # ### end Alembic commands ###
    _enable_row_level_security()
    _create_system_functions()


def downgrade() -> None:
    """Downgrade schema."""
    for signature in SYSTEM_FUNCTIONS:
        op.execute(f"DROP FUNCTION IF EXISTS {signature}")
    op.drop_constraint(op.f("fk_bot_account_id_default_deployment_id"), "bot", type_="foreignkey")
    # ### commands auto generated by Alembic - please adjust! ###
    op.drop_index(
        "ix_waiting_run_id_pending",
        table_name="waiting",
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.drop_index(
        "ix_waiting_due_at_pending",
        table_name="waiting",
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.drop_table("waiting")
    op.drop_index(
        op.f("ix_payment_account_id_deployment_id_telegram_user_id"), table_name="payment"
    )
    op.drop_table("payment")
    op.drop_index(op.f("ix_outbox_bot_id_status_id"), table_name="outbox")
    op.drop_table("outbox")
    op.drop_index(op.f("ix_conversation_run_id_id"), table_name="conversation")
    op.drop_table("conversation")
    op.drop_index(
        "uq_run_bot_id_chat_id_active", table_name="run", postgresql_where=sa.text("is_active")
    )
    op.drop_index(op.f("ix_run_account_id_telegram_user_id"), table_name="run")
    op.drop_index(op.f("ix_run_account_id_deployment_id_started_at"), table_name="run")
    op.drop_table("run")
    op.drop_index(
        "uq_restricted_deployment_id_username",
        table_name="restricted",
        postgresql_where=sa.text("username IS NOT NULL"),
    )
    op.drop_index(
        "uq_restricted_deployment_id_telegram_user_id",
        table_name="restricted",
        postgresql_where=sa.text("telegram_user_id IS NOT NULL"),
    )
    op.drop_table("restricted")
    op.drop_table("enrollment_token")
    op.drop_table("course_element")
    op.drop_index(op.f("ix_course_deployment_bot_id"), table_name="course_deployment")
    op.drop_table("course_deployment")
    op.drop_index(
        "ix_processed_update_bot_id_id_unprocessed",
        table_name="processed_update",
        postgresql_where=sa.text("processed_at IS NULL"),
    )
    op.drop_table("processed_update")
    op.drop_table("course_version")
    op.drop_table("banned")
    op.drop_table("payment_credentials")
    op.drop_table("participant")
    op.drop_table("course")
    op.drop_table("bot")
    op.drop_index(op.f("ix_audit_log_account_id_at"), table_name="audit_log")
    op.drop_table("audit_log")
    op.drop_index(op.f("ix_api_key_account_id"), table_name="api_key")
    op.drop_table("api_key")
    op.drop_index(op.f("ix_account_member_telegram_user_id"), table_name="account_member")
    op.drop_table("account_member")
    op.drop_table("account")
    # ### end Alembic commands ###
