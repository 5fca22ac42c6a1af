"""Panel logins: server-side sessions and the signed Telegram logins already used.

Both belong to a person, not to an account, so they live outside the tenant repositories
and Row-Level Security; use them in a `db.system()` session. Expired rows are pruned
whenever someone logs in (an indexed delete), so neither table grows with time.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from storage.crypto import Secret, token_hash
from storage.models import PanelSession, UsedLogin


@dataclass(frozen=True)
class SessionUser:
    telegram_user_id: int
    username: str | None


async def open_session(
    session: AsyncSession,
    *,
    telegram_user_id: int,
    username: str | None,
    now: datetime,
    max_age: timedelta,
) -> Secret:
    """A new session; returns its token, which exists nowhere else after this call."""
    await session.execute(delete(PanelSession).where(PanelSession.expires_at < now))
    token = Secret(secrets.token_urlsafe(32))
    session.add(
        PanelSession(
            token_hash=token_hash(token),
            telegram_user_id=telegram_user_id,
            username=username,
            expires_at=now + max_age,
        )
    )
    await session.flush()
    return token


async def session_user(session: AsyncSession, token: str, now: datetime) -> SessionUser | None:
    """Who the session of this token belongs to; None when it ended, expired or never was."""
    row = (
        await session.execute(
            select(PanelSession.telegram_user_id, PanelSession.username).where(
                PanelSession.token_hash == token_hash(token), PanelSession.expires_at > now
            )
        )
    ).first()
    return SessionUser(row.telegram_user_id, row.username) if row else None


async def close_session(session: AsyncSession, token: str) -> None:
    await session.execute(delete(PanelSession).where(PanelSession.token_hash == token_hash(token)))


async def claim_login(
    session: AsyncSession, signature: str, *, expires_at: datetime, now: datetime
) -> bool:
    """True the first time a signed login is presented, False ever after (until it expires,
    when the signature check refuses it anyway). Two concurrent claims: one wins."""
    await session.execute(delete(UsedLogin).where(UsedLogin.expires_at < now))
    claimed = await session.execute(
        insert(UsedLogin)
        .values(login_hash=token_hash(signature), expires_at=expires_at)
        .on_conflict_do_nothing()
        .returning(UsedLogin.login_hash)
    )
    return claimed.first() is not None
