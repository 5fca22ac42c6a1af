"""Group commit: transactions scoped to a set of accounts; per-chat backlog indexes; run
state versions.

Revision ID: 0006
Revises: 0005

The runtime now writes the work of many chats, of many accounts, in one transaction
(runtime/journal.py): one transaction per update cost more CPU than everything
else an update needs (docs/benchmarks.md). Such a transaction names its accounts in
`app.account_ids` (a bigint array literal), and a second permissive policy on every tenant
table shows exactly those accounts' rows. `app.account_id` and its policy stay as they were
for everything else; with neither setting, nothing is visible. Both policies now read their
setting in a sub-select, evaluated once per query instead of once per row.

The per-chat questions of the hot path ("is an older update of this chat unprocessed?",
"what does this chat still have to send?") get partial indexes that lead with the chat; they
replace the per-bot ones, which the new ones serve as well.

`run.state_version` grows with every write of `run.state`, by trigger, whoever writes it: the
runtime keeps the runs' parsed states in memory and reads a state again only when its
version moved (parsing the JSON state was a tenth of an update's CPU, docs/benchmarks.md).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copy of the tenant tables as of this revision (0001's and 0002's).
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
    "llm_settings",
    "llm_usage",
)
CURRENT_ACCOUNT = "NULLIF(current_setting('app.account_id', true), '')::bigint"
CURRENT_ACCOUNTS = "NULLIF(current_setting('app.account_ids', true), '')::bigint[]"

_BUMP_STATE_VERSION = """
CREATE FUNCTION run_state_version_bump() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.state_version := OLD.state_version + 1;
    RETURN NEW;
END
$$
"""


def upgrade() -> None:
    for table in TENANT_TABLES:
        key = "id" if table == "account" else "account_id"
        # In a sub-select, the setting is read once per query, not once per row (a second
        # policy read per row made scans of large tables measurably slower).
        op.execute(
            f"CREATE POLICY tenant_batch ON {table} "
            f"USING ({key} = ANY ((SELECT {CURRENT_ACCOUNTS})::bigint[]))"
        )
        op.execute(
            f"ALTER POLICY tenant_isolation ON {table} USING ({key} = (SELECT {CURRENT_ACCOUNT}))"
        )
    op.add_column(
        "run",
        sa.Column("state_version", sa.Integer(), server_default=sa.text("0"), nullable=False),
    )
    op.execute(_BUMP_STATE_VERSION)
    op.execute(
        "CREATE TRIGGER run_state_version BEFORE UPDATE OF state ON run "
        "FOR EACH ROW EXECUTE FUNCTION run_state_version_bump()"
    )
    op.drop_index("ix_processed_update_bot_id_id_unprocessed", table_name="processed_update")
    op.create_index(
        "ix_processed_update_chat_unprocessed",
        "processed_update",
        ["bot_id", "chat_id", "update_id"],
        postgresql_where="processed_at IS NULL",
    )
    op.drop_index("ix_outbox_bot_id_status_id", table_name="outbox")
    op.create_index(
        "ix_outbox_chat_pending",
        "outbox",
        ["bot_id", "chat_id", "id"],
        postgresql_where="status = 'pending'",
    )


def downgrade() -> None:
    op.drop_index("ix_outbox_chat_pending", table_name="outbox")
    op.create_index("ix_outbox_bot_id_status_id", "outbox", ["bot_id", "status", "id"])
    op.drop_index("ix_processed_update_chat_unprocessed", table_name="processed_update")
    op.create_index(
        "ix_processed_update_bot_id_id_unprocessed",
        "processed_update",
        ["bot_id", "id"],
        postgresql_where="processed_at IS NULL",
    )
    op.execute("DROP TRIGGER run_state_version ON run")
    op.execute("DROP FUNCTION run_state_version_bump()")
    op.drop_column("run", "state_version")
    for table in reversed(TENANT_TABLES):
        key = "id" if table == "account" else "account_id"
        op.execute(f"ALTER POLICY tenant_isolation ON {table} USING ({key} = {CURRENT_ACCOUNT})")
        op.execute(f"DROP POLICY tenant_batch ON {table}")
