"""Student commands: the teacher's /help text per deployment, and what each bot's command
menu was last registered as.

Revision ID: 0014
Revises: 0013

`course_deployment.help_text` is what `/help` answers (NULL: the default text).
`bot.commands_hash` is a digest of the command menus last sent to Telegram with
`setMyCommands`, so a runtime restart re-registers them only when they changed.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0014"
down_revision: str | Sequence[str] | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("course_deployment", sa.Column("help_text", sa.Text(), nullable=True))
    op.add_column("bot", sa.Column("commands_hash", sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column("bot", "commands_hash")
    op.drop_column("course_deployment", "help_text")
