"""Log in with the Telegram Login Widget, log out, and say who I am."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Response

from panel_api.access import PublicRule, UserRule
from panel_api.auth.principal import UserPrincipal, session_codec
from panel_api.auth.sessions import COOKIE_NAME
from panel_api.auth.telegram_login import LoginError, verify_login
from panel_api.deps import Ctx
from panel_api.errors import ApiError, unauthorized
from panel_api.permissions import GlobalRule
from panel_api.schemas.auth import AccountSummary, MeOut, TelegramLoginIn, UserOut
from storage import system

router = APIRouter(tags=["auth"])


@router.post(
    "/auth/telegram",
    response_model=MeOut,
    summary="Log in with Telegram Login Widget data; sets the session cookie",
    dependencies=[Depends(PublicRule())],
)
async def login(body: TelegramLoginIn, response: Response, ctx: Ctx) -> MeOut:
    token = ctx.panel.login_bot_token
    if token is None:
        raise ApiError(503, "Telegram login is not configured (set COURSEBOT_LOGIN_BOT_TOKEN)")
    try:
        identity = verify_login(
            body.model_dump(exclude_unset=True),
            token,
            max_age=timedelta(seconds=ctx.panel.login_max_age_s),
            now=ctx.clock(),
        )
    except LoginError as exc:
        raise unauthorized(str(exc)) from None
    user = UserPrincipal(identity.id, identity.username, identity.id in ctx.panel.superadmins)
    response.set_cookie(
        COOKIE_NAME,
        session_codec(ctx).encode(identity.id, identity.username, ctx.clock()),
        max_age=ctx.panel.session_max_age_s,
        httponly=True,
        samesite="lax",
        secure=ctx.panel.cookie_secure,
        path="/",
    )
    return await _me(ctx, user)


@router.post(
    "/auth/logout",
    status_code=204,
    summary="Forget the session cookie",
    dependencies=[Depends(PublicRule())],
)
async def logout(ctx: Ctx) -> Response:
    response = Response(status_code=204)
    response.delete_cookie(
        COOKIE_NAME, path="/", httponly=True, samesite="lax", secure=ctx.panel.cookie_secure
    )
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
