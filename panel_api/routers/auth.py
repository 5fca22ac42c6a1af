"""Log in with the Telegram Login Widget, log out, and say who I am."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response

from panel_api.access import PublicRule, UserRule
from panel_api.auth import sessions
from panel_api.auth.principal import UserPrincipal
from panel_api.auth.telegram_login import LoginError, verify_login
from panel_api.deps import Ctx
from panel_api.errors import ApiError, unauthorized
from panel_api.permissions import GlobalRule
from panel_api.schemas.auth import AccountSummary, MeOut, TelegramLoginIn, UserOut
from storage import logins, system

router = APIRouter(tags=["auth"])


@router.post(
    "/auth/telegram",
    response_model=MeOut,
    summary="Log in with Telegram Login Widget data (a JSON body); sets the session cookie",
    description="Each signed login is accepted once: the same data again is refused (401).",
    dependencies=[Depends(PublicRule())],
)
async def login(body: TelegramLoginIn, response: Response, ctx: Ctx) -> MeOut:
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
    sessions.set_cookie(response, ctx, await sessions.start(ctx, identity.id, identity.username))
    return await _me(ctx, user)


@router.post(
    "/auth/logout",
    status_code=204,
    summary="End the session (its cookie stops working everywhere)",
    dependencies=[Depends(PublicRule())],
)
async def logout(request: Request, ctx: Ctx) -> Response:
    await sessions.end(ctx, request)
    response = Response(status_code=204)
    sessions.clear_cookie(response, ctx)
    return response


@router.get("/me", response_model=MeOut, summary="The logged-in user and their accounts")
async def me(
    user: Annotated[UserPrincipal, Depends(UserRule(GlobalRule.AUTHENTICATED))], ctx: Ctx
) -> MeOut:
    return await _me(ctx, user)


async def _me(ctx: Ctx, user: UserPrincipal) -> MeOut:
    async with ctx.db.system() as session:
        rows = await system.accounts_of_user(session, user.telegram_user_id, include_deleted=True)
    return MeOut(
        user=UserOut(
            telegram_user_id=user.telegram_user_id,
            username=user.username,
            superadmin=user.superadmin,
        ),
        accounts=[
            AccountSummary(
                id=row.account_id,
                slug=row.slug,
                name=row.name,
                role=row.role,
                deleted=row.deleted_at is not None,
            )
            for row in rows
        ],
    )
