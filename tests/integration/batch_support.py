"""A journal transaction for tests of the statements the runtime runs (storage/batch.py,
storage/admission_batch.py): the same connection and BEGIN as a journal batch."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from storage.batch import BatchConnection
from storage.db import Database


@asynccontextmanager
async def batch(db: Database, *account_ids: int) -> AsyncIterator[BatchConnection]:
    """A transaction seeing `account_ids`; commits on exit, rolls back on error."""
    connection = await db.connect_batch()
    try:
        await connection.begin(account_ids)
        try:
            yield connection
        except BaseException:
            await connection.rollback()
            raise
        await connection.commit()
    finally:
        await connection.close()
