"""Resolve the caller of a request: a Telegram user (session cookie) or an API key.

An `Authorization` header wins over a cookie, and a present-but-invalid one is refused rather
than falling back to the cookie: a script with a revoked key should fail loudly, not act as
whoever last logged in on that machine.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from fastapi import Request

from panel_api.auth.sessions import COOKIE_NAME, SessionCodec
from panel_api.context import PanelContext
from panel_api.errors import unauthorized
from storage import system
from storage.crypto import token_hash


@dataclass(frozen=True)
class UserPrincipal:
    telegram_user_id: int
    username: str | None
    superadmin: bool

    @property
    def actor(self) -> str:
        return f"tg:{self.telegram_user_id}"


@dataclass(frozen=True)
class ApiKeyPrincipal:
    """A key acts only inside its own account, with the role it was created with."""

    api_key_id: int
    account_id: int
    role: str

    @property
    def actor(self) -> str:
        return f"api_key:{self.api_key_id}"


Principal = UserPrincipal | ApiKeyPrincipal


def session_codec(ctx: PanelContext) -> SessionCodec:
    return SessionCodec(ctx.box, timedelta(seconds=ctx.panel.session_max_age_s))


async def authenticate(request: Request, ctx: PanelContext) -> Principal:
    """The caller, or 401. Cached on the request: several dependencies may ask."""
    cached = getattr(request.state, "principal", None)
    if cached is not None:
        return cached
    principal = await _resolve(request, ctx)
    request.state.principal = principal
    return principal


async def _resolve(request: Request, ctx: PanelContext) -> Principal:
    header = request.headers.get("authorization")
    if header is not None:
        scheme, _, key = header.partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            raise unauthorized("Authorization header must be 'Bearer <API key>'")
        async with ctx.db.system() as session:
            owner = await system.api_key_by_hash(session, token_hash(key.strip()))
        if owner is None:
            raise unauthorized("unknown or revoked API key")
        return ApiKeyPrincipal(owner.api_key_id, owner.account_id, owner.role)
    cookie = request.cookies.get(COOKIE_NAME)
    if cookie:
        user = session_codec(ctx).decode(cookie, ctx.clock())
        if user is None:
            raise unauthorized("the session has expired; log in again")
        return UserPrincipal(
            user.telegram_user_id,
            user.username,
            superadmin=user.telegram_user_id in ctx.panel.superadmins,
        )
    raise unauthorized()
