"""Logging in with the Telegram Login Widget (each signed login accepted once), and who the
logged-in user is with their accounts."""

from __future__ import annotations

import ipaddress
from datetime import timedelta

from panel_api.auth import sessions
from panel_api.auth.principal import UserPrincipal
from panel_api.auth.telegram_login import LoginError, verify_login
from panel_api.context import PanelContext
from panel_api.errors import ApiError, not_found, unauthorized
from panel_api.schemas.auth import MeOut, TelegramLoginIn, UserOut
from panel_api.services.accounts import list_my_accounts
from storage import logins


async def login(ctx: PanelContext, body: TelegramLoginIn) -> tuple[MeOut, str]:
    """Who logged in, and the token of their new session (for the cookie)."""
    token = ctx.panel.login_bot_token
    if token is None:
        raise ApiError(
            503,
            "Telegram login is not set up on this server (its operator sets "
            "COURSEBOT_LOGIN_BOT_TOKEN)",
            key="problem.login_off",
        )
    max_age = timedelta(seconds=ctx.panel.login_max_age_s)
    now = ctx.clock()
    try:
        identity = verify_login(
            body.model_dump(exclude_unset=True), token, max_age=max_age, now=now
        )
    except LoginError as exc:
        raise unauthorized(str(exc), key="problem.login_not_valid") from None
    async with ctx.db.system() as session:
        first_use = await logins.claim_login(
            session, identity.signature, expires_at=identity.signed_at + max_age, now=now
        )
    if not first_use:
        raise unauthorized(
            "this login was already used; log in with Telegram again", key="problem.login_used"
        )
    user = UserPrincipal(identity.id, identity.username, identity.id in ctx.panel.superadmins)
    session_token = await sessions.start(ctx, identity.id, identity.username)
    return await me(ctx, user), session_token


async def me(ctx: PanelContext, user: UserPrincipal) -> MeOut:
    return MeOut(
        user=UserOut(
            telegram_user_id=user.telegram_user_id,
            username=user.username,
            superadmin=user.superadmin,
        ),
        accounts=await list_my_accounts(ctx, user),
    )


def dev_login_available(ctx: PanelContext) -> bool:
    """Logging in as any Telegram user id without Telegram, for a panel on one's own machine:
    not in production, no login bot configured (a panel with one has real users to
    impersonate) and listening on loopback only (nobody but this machine reaches it). The
    login form and the API's /auth/dev share this one guard."""
    return (
        not ctx.settings.production
        and ctx.panel.login_bot_token is None
        and _is_loopback(ctx.settings.panel_host)
    )


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


async def dev_login(
    ctx: PanelContext, telegram_user_id: int, username: str | None
) -> tuple[MeOut, str]:
    """A session for this user id where `dev_login_available`; elsewhere the way in does not
    exist (404, like any unknown path)."""
    if not dev_login_available(ctx):
        raise not_found("page")
    session_token = await sessions.start(ctx, telegram_user_id, username)
    user = UserPrincipal(telegram_user_id, username, telegram_user_id in ctx.panel.superadmins)
    return await me(ctx, user), session_token
