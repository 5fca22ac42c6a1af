"""The application's database role: a non-owner, non-superuser login without BYPASSRLS.

Row-Level Security is skipped for superusers, BYPASSRLS roles and (without FORCE) table owners,
so the app must never connect as the role that ran the migrations. `ensure_app_role` makes
sure such a role exists, holds exactly the privileges the app needs on the current schema, and
returns the URL to connect with (the owner URL with the user swapped).

Privileges say what the app may do even with a bug in a repository: course versions are
immutable (no UPDATE), the audit log is append-only, panel sessions and used logins are
added and deleted but never edited, alembic_version is out of reach.
"""

from __future__ import annotations

import logging
import re

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine
from sqlalchemy.pool import NullPool

from storage.crypto import Secret
from storage.models import GLOBAL_TABLES, PLATFORM_TABLES, TENANT_TABLES

log = logging.getLogger(__name__)

DEFAULT_APP_ROLE = "coursebot_app"
_ROLE_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")
_ROLE_LOCK = 0x636F_7572_7366  # any constant shared by every process (not the migrations')

_READ_WRITE = "SELECT, INSERT, UPDATE, DELETE"
TABLE_PRIVILEGES: dict[str, str] = (
    dict.fromkeys(TENANT_TABLES, _READ_WRITE)
    | {
        "course_version": "SELECT, INSERT, DELETE",
        "course_element": "SELECT, INSERT, DELETE",
        "audit_log": "SELECT, INSERT",
    }
    | dict.fromkeys(GLOBAL_TABLES, "SELECT, INSERT, DELETE")  # sessions, logins: never edited
    | dict.fromkeys(PLATFORM_TABLES, _READ_WRITE)  # heartbeats and leases are renewed
)


class AppRoleError(RuntimeError):
    """The configured app role could bypass Row-Level Security: refusing to use it."""


async def ensure_app_role(
    owner_url: str,
    *,
    password: Secret | None = None,
    app_url: str | None = None,
    role: str = DEFAULT_APP_ROLE,
) -> str:
    """Create/check the app role, grant its privileges, return the app's connection URL.

    With `app_url` (DATABASE_APP_URL) the operator manages that role: we only check it cannot
    bypass RLS and grant privileges. Otherwise `role` is created if missing, with `password`
    (derived from the secret key, so every process computes the same one).
    """
    if app_url is not None:
        role = make_url(app_url).username or ""
    if not _ROLE_NAME.fullmatch(role):
        raise AppRoleError(f"app role name must match {_ROLE_NAME.pattern}, got {role!r}")
    url = app_url or make_url(owner_url).set(
        username=role, password=password.reveal() if password else None
    ).render_as_string(hide_password=False)
    engine = create_async_engine(owner_url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            # Processes starting together (several runners and panels) would otherwise grant
            # at once, and PostgreSQL refuses concurrent catalog updates of one object
            # ("tuple concurrently updated"). Released with the connection.
            await conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": _ROLE_LOCK})
            if app_url is None:
                await _create_role(conn, role, password)
            await _check_role(conn, role)
            await _grant(conn, role)
            if app_url is None and password is not None and not await _can_log_in(url):
                # The secret key changed since the role was created: follow it.
                await conn.execute(text(f'ALTER ROLE "{role}" PASSWORD {_literal(password)}'))
    finally:
        await engine.dispose()
    return url


def _literal(secret: Secret) -> str:
    # Role DDL takes no bind parameters, so the password goes in as a quoted literal.
    return "'" + secret.reveal().replace("'", "''") + "'"


async def _create_role(conn: AsyncConnection, role: str, password: Secret | None) -> None:
    exists = await conn.scalar(text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": role})
    if exists:
        return
    pw_clause = f" PASSWORD {_literal(password)}" if password else ""
    try:
        await conn.execute(
            text(
                f'CREATE ROLE "{role}" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE '
                f"NOBYPASSRLS NOREPLICATION{pw_clause}"
            )
        )
        log.info("created database role %s", role)
    except DBAPIError as exc:
        if _sqlstate(exc) == "42501":  # insufficient_privilege
            raise AppRoleError(
                f"the DATABASE_URL role may not create roles: create a plain login role "
                f"yourself and set DATABASE_APP_URL to connect as it ({exc.orig})"
            ) from exc
        # Another process (another runner, a parallel test run) created it first.
        if _sqlstate(exc) not in {"42710", "23505"}:
            raise


async def _check_role(conn: AsyncConnection, role: str) -> None:
    row = (
        await conn.execute(
            text(
                "SELECT rolsuper, rolbypassrls, "
                "       EXISTS (SELECT 1 FROM pg_tables t WHERE t.tableowner = r.rolname) "
                "FROM pg_roles r WHERE rolname = :r"
            ),
            {"r": role},
        )
    ).first()
    if row is None:
        raise AppRoleError(f"database role {role!r} does not exist")
    is_super, bypass, owns_tables = row
    if is_super or bypass or owns_tables:
        raise AppRoleError(
            f"database role {role!r} is a superuser, has BYPASSRLS or owns tables: "
            "Row-Level Security would not apply to it; use a plain login role for the app"
        )


async def _grant(conn: AsyncConnection, role: str) -> None:
    database = await conn.scalar(text("SELECT current_database()"))
    schema = await conn.scalar(text("SELECT current_schema()"))
    await conn.execute(text(f'GRANT CONNECT ON DATABASE "{database}" TO "{role}"'))
    await conn.execute(text(f'GRANT USAGE ON SCHEMA "{schema}" TO "{role}"'))
    for table, privileges in TABLE_PRIVILEGES.items():
        await conn.execute(text(f'GRANT {privileges} ON "{schema}"."{table}" TO "{role}"'))
    await conn.execute(text(f'GRANT USAGE ON ALL SEQUENCES IN SCHEMA "{schema}" TO "{role}"'))
    # The only functions in our schema are the migration's SECURITY DEFINER `sys_*` helpers,
    # whose EXECUTE the migration revoked from PUBLIC.
    await conn.execute(text(f'GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA "{schema}" TO "{role}"'))


async def _can_log_in(url: str) -> bool:
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        async with engine.connect():
            return True
    except DBAPIError as exc:
        if _sqlstate(exc) in {"28P01", "28000"}:  # invalid_password, invalid_authorization
            return False
        raise
    finally:
        await engine.dispose()


def _sqlstate(exc: DBAPIError) -> str | None:
    orig = exc.orig
    state: str | None = getattr(orig, "sqlstate", None) or getattr(
        getattr(orig, "__cause__", None), "sqlstate", None
    )
    return state
