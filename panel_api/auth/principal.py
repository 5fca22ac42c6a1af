"""Resolve the caller of a request: a Telegram user (session cookie) or an API key.

An `Authorization` header wins over a cookie, and a present-but-invalid one is refused rather
than falling back to the cookie: a script with a revoked key should fail loudly, not act as
whoever last logged in on that machine.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

from panel_api.auth import sessions
from panel_api.context import PanelContext
from panel_api.errors import ApiError, unauthorized
from panel_api.permissions import role_covers
from storage import system
from storage.crypto import token_hash
from storage.models import MemberRole


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
    """A key acts only inside its own account, with the role it was created with, for the
    member who made it (`made_by`), and only while that member's role covers the key's."""

    api_key_id: int
    account_id: int
    role: str
    made_by: int

    @property
    def actor(self) -> str:
        return f"api_key:{self.api_key_id}"


Principal = UserPrincipal | ApiKeyPrincipal


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
        return ApiKeyPrincipal(
            owner.api_key_id, owner.account_id, owner.role, _live_maker(owner, ctx)
        )
    cookie = request.cookies.get(sessions.COOKIE_NAME)
    if cookie:
        user = await sessions.user_of(ctx, cookie)
        if user is None:
            raise unauthorized("the session has ended; log in again")
        return UserPrincipal(
            user.telegram_user_id,
            user.username,
            superadmin=user.telegram_user_id in ctx.panel.superadmins,
        )
    raise unauthorized()


def _live_maker(owner: system.ApiKeyOwner, ctx: PanelContext) -> int:
    """The key's maker, if they may still hold such a key: a member of its account (a
    platform super-admin counts as owner) whose role has every right the key's role has."""
    if owner.created_by is None:
        raise _dead_key("nobody knows who made this API key")
    if owner.created_by in ctx.panel.superadmins:
        maker_role: str | None = MemberRole.OWNER
    else:
        maker_role = owner.maker_role
    if maker_role is None:
        raise _dead_key("the member who made this API key has left the account")
    if not role_covers(maker_role, owner.role):
        raise _dead_key("the member who made this API key no longer has the role it needs")
    return owner.created_by


def _dead_key(why: str) -> ApiError:
    return unauthorized(f"{why}; make a new key")
