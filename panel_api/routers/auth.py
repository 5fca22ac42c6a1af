"""Log in with the Telegram Login Widget, log out, and say who I am (the session cookie is
set and cleared here; the rules are in panel_api/services/auth.py)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response

from panel_api.access import PublicRule, UserRule
from panel_api.auth import sessions
from panel_api.auth.principal import UserPrincipal
from panel_api.deps import Ctx
from panel_api.permissions import GlobalRule
from panel_api.schemas.auth import DevLoginIn, MeOut, TelegramLoginIn
from panel_api.services import auth as service

router = APIRouter(tags=["auth"])


@router.post(
    "/auth/telegram",
    response_model=MeOut,
    summary="Log in with Telegram Login Widget data (a JSON body); sets the session cookie",
    description="Each signed login is accepted once: the same data again is refused (401).",
    dependencies=[Depends(PublicRule())],
)
async def login(body: TelegramLoginIn, response: Response, ctx: Ctx) -> MeOut:
    me, session_token = await service.login(ctx, body)
    sessions.set_cookie(response, ctx, session_token)
    return me


@router.post(
    "/auth/dev",
    response_model=MeOut,
    summary="Development only: log in as a Telegram user id; sets the session cookie",
    description=(
        "For scripts against a panel on your own machine: it exists only when the panel is "
        "not in production, has no login bot (COURSEBOT_LOGIN_BOT_TOKEN unset) and listens on "
        "a loopback address, exactly like the login page's local form; everywhere else 404."
    ),
    dependencies=[Depends(PublicRule())],
)
async def dev_login(body: DevLoginIn, response: Response, ctx: Ctx) -> MeOut:
    username = body.username.removeprefix("@") if body.username else None
    me, session_token = await service.dev_login(ctx, body.telegram_user_id, username)
    sessions.set_cookie(response, ctx, session_token)
    return me


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
    return await service.me(ctx, user)
