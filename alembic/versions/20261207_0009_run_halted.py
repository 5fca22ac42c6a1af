"""Runs the engine halts: status `halted` and `run.note`.

Revision ID: 0009
Revises: 0008

A run that goes on for a bounded number of steps without any answer from the student (a
course that loops on its own, e.g. a delay whose goto is itself) is ended by the engine
(engine/limits.py). It gets its own final status so the teacher can find such runs, and
`note` says why (a short code the panel words, e.g. `no_student_input`). Existing rows keep
a NULL note.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_OLD_STATUSES = "status IN ('active', 'completed', 'stopped', 'blocked', 'declined')"
_NEW_STATUSES = "status IN ('active', 'completed', 'stopped', 'blocked', 'declined', 'halted')"


def upgrade() -> None:
    op.drop_constraint(op.f("ck_run_status"), "run", type_="check")
    op.create_check_constraint(op.f("ck_run_status"), "run", _NEW_STATUSES)
    op.add_column("run", sa.Column("note", sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column("run", "note")
    op.drop_constraint(op.f("ck_run_status"), "run", type_="check")
    # The older schema has no such status: a halted run reads as stopped there.
    op.execute("UPDATE run SET status = 'stopped' WHERE status = 'halted'")
    op.create_check_constraint(op.f("ck_run_status"), "run", _OLD_STATUSES)
