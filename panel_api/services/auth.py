"""Logging in with the Telegram Login Widget (each signed login accepted once), and who the
logged-in user is with their accounts."""

from __future__ import annotations

from datetime import timedelta

from panel_api.auth import sessions
from panel_api.auth.principal import UserPrincipal
from panel_api.auth.telegram_login import LoginError, verify_login
from panel_api.context import PanelContext
from panel_api.errors import ApiError, unauthorized
from panel_api.schemas.auth import MeOut, TelegramLoginIn, UserOut
from panel_api.services.accounts import list_my_accounts
from storage import logins


async def login(ctx: PanelContext, body: TelegramLoginIn) -> tuple[MeOut, str]:
    """Who logged in, and the token of their new session (for the cookie)."""
    token = ctx.panel.login_bot_token
    if token is None:
        raise ApiError(503, "Telegram login is not configured (set COURSEBOT_LOGIN_BOT_TOKEN)")
    max_age = timedelta(seconds=ctx.panel.login_max_age_s)
    now = ctx.clock()
    try:
        identity = verify_login(
            body.model_dump(exclude_unset=True), token, max_age=max_age, now=now
        )
    except LoginError as exc:
        raise unauthorized(str(exc)) from None
    async with ctx.db.system() as session:
        first_use = await logins.claim_login(
            session, identity.signature, expires_at=identity.signed_at + max_age, now=now
        )
    if not first_use:
        raise unauthorized("this login was already used; log in with Telegram again")
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
