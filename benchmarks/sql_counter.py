"""Counts the transactions and statements an engine runs, via SQLAlchemy's engine events.

Round trips to PostgreSQL are what an update costs most; counting them per update points a
profile at the queries worth removing, and the count (unlike a timing) is the same on
every machine.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine


class SqlCounter:
    """Attach to an engine; `reset()` at the start of a measured window."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine.sync_engine
        self.transactions = 0
        self.statements = 0
        event.listen(self._engine, "begin", self._on_begin)
        event.listen(self._engine, "before_cursor_execute", self._on_statement)

    def _on_begin(self, _connection: Any) -> None:
        self.transactions += 1

    def _on_statement(self, *_args: Any) -> None:
        self.statements += 1

    def reset(self) -> None:
        self.transactions = 0
        self.statements = 0

    def close(self) -> None:
        event.remove(self._engine, "begin", self._on_begin)
        event.remove(self._engine, "before_cursor_execute", self._on_statement)
