"""Counts the transactions and statements a `Database` runs: through SQLAlchemy (engine
events) and through its batch connections (the journal's group commits, storage/batch.py).

Round trips to PostgreSQL are what an update costs most; counting them per update points a
profile at the queries worth removing, and the count (unlike a timing) is the same on
every machine.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event

from storage.db import Database


class SqlCounter:
    """Attach to a database; `reset()` at the start of a measured window."""

    def __init__(self, db: Database) -> None:
        self._engine = db.engine.sync_engine
        self._batch = db.batch_stats
        self._sqlalchemy_transactions = 0
        self._sqlalchemy_statements = 0
        self._batch_base = (0, 0)
        event.listen(self._engine, "begin", self._on_begin)
        event.listen(self._engine, "before_cursor_execute", self._on_statement)

    def _on_begin(self, _connection: Any) -> None:
        self._sqlalchemy_transactions += 1

    def _on_statement(self, *_args: Any) -> None:
        self._sqlalchemy_statements += 1

    @property
    def transactions(self) -> int:
        return self._sqlalchemy_transactions + self._batch.transactions - self._batch_base[0]

    @property
    def statements(self) -> int:
        return self._sqlalchemy_statements + self._batch.statements - self._batch_base[1]

    def reset(self) -> None:
        self._sqlalchemy_transactions = 0
        self._sqlalchemy_statements = 0
        self._batch_base = (self._batch.transactions, self._batch.statements)

    def close(self) -> None:
        event.remove(self._engine, "begin", self._on_begin)
        event.remove(self._engine, "before_cursor_execute", self._on_statement)
