"""Logging in (Telegram Login Widget, or the local form in development), out, and choosing
the panel's language.

Both ways in end in the API's own `/auth/telegram` handler, so the signature and freshness
checks and the session cookie are exactly the API's. The local form exists only while
COURSEBOT_PRODUCTION is off: it signs the widget fields itself, with the configured login
bot token or, without one, with a development token derived from the secret key.
"""

from __future__ import annotations

import dataclasses
import re
import time
from typing import Any
from urllib.parse import urlencode

from fastapi import Depends, Request, Response
from pydantic import ValidationError

from panel_api.access import PublicRule
from panel_api.auth.telegram_login import widget_hash
from panel_api.context import PanelContext
from panel_api.deps import Ctx
from panel_api.errors import ApiError, not_found
from panel_api.routers import auth as auth_api
from panel_api.schemas.auth import TelegramLoginIn
from panel_api.web import i18n, language
from panel_api.web.rendering import current_user, render, request_translator
from panel_api.web.routes.common import Form, field, page_router, safe_next, see_other
from storage import system

router = page_router()
Public = [Depends(PublicRule())]
DEV_TOKEN_PURPOSE = "panel-web-dev-login-bot-token"
_USERNAME = re.compile(r"[A-Za-z0-9_]{1,32}")


@router.get("/", dependencies=Public)
async def home(request: Request) -> Response:
    user = await current_user(request)
    return see_other("/accounts" if user else "/login")


@router.get("/login", dependencies=Public)
async def login_page(request: Request, ctx: Ctx) -> Response:
    next_path = safe_next(request.query_params.get("next"), "")
    if await current_user(request) is not None:
        return see_other(next_path or "/accounts")
    return await _login_page(request, ctx, next_path)


async def _login_page(
    request: Request, ctx: PanelContext, next_path: str, *, error: str | None = None
) -> Response:
    web = request.app.state.web_settings
    widget_bot = web.login_bot_username if ctx.panel.login_bot_token else None
    auth_url = "/login/telegram" + (f"?{urlencode({'next': next_path})}" if next_path else "")
    return await render(
        request,
        "login.html",
        status_code=401 if error else 200,
        widget_bot=widget_bot,
        auth_url=auth_url,
        next_path=next_path,
        error=error,
    )


@router.get("/login/telegram", dependencies=Public)
async def widget_callback(request: Request, ctx: Ctx) -> Response:
    """The widget's `data-auth-url`: Telegram sends the browser here with the signed fields."""
    signed = {k: v for k, v in request.query_params.items() if k != "next"}
    next_path = safe_next(request.query_params.get("next"), "")
    return await _log_in(request, ctx, signed, next_path)


@router.post("/login/dev", dependencies=Public)
async def dev_login(request: Request, form: Form, ctx: Ctx) -> Response:
    if ctx.settings.production:
        raise not_found("page")
    next_path = safe_next(field(form, "next"), "")
    t = request_translator(request)
    user_id = field(form, "telegram_user_id") or ""
    username = field(form, "username")
    if not (user_id.isascii() and user_id.isdigit() and 0 < int(user_id) < 2**63):
        return await _login_page(request, ctx, next_path, error=t("login.dev_bad_id"))
    if username is not None and not _USERNAME.fullmatch(username.removeprefix("@")):
        return await _login_page(request, ctx, next_path, error=t("login.dev_bad_username"))
    login_ctx = _dev_login_context(ctx)
    fields: dict[str, Any] = {"id": int(user_id), "auth_date": int(time.time())}
    if username:
        fields["username"] = username.removeprefix("@")
    fields["hash"] = widget_hash(fields, login_ctx.panel.login_bot_token)  # type: ignore[arg-type]
    return await _log_in(request, login_ctx, fields, next_path)


def _dev_login_context(ctx: PanelContext) -> PanelContext:
    if ctx.panel.login_bot_token is not None:
        return ctx
    dev_token = ctx.box.derive(DEV_TOKEN_PURPOSE)
    return dataclasses.replace(ctx, panel=dataclasses.replace(ctx.panel, login_bot_token=dev_token))


async def _log_in(
    request: Request, ctx: PanelContext, signed: dict[str, Any], next_path: str
) -> Response:
    t = request_translator(request)
    try:
        body = TelegramLoginIn.model_validate(signed)
        session_carrier = Response()
        me = await auth_api.login(body, session_carrier, ctx)
    except ValidationError:
        return await _login_page(request, ctx, next_path, error=t("login.bad_data"))
    except ApiError as exc:
        return await _login_page(request, ctx, next_path, error=f"{t('login.failed')} {exc.detail}")
    live = [a for a in me.accounts if not a.deleted]
    default = f"/accounts/{live[0].id}" if len(live) == 1 else "/accounts"
    response = see_other(next_path or default)
    for cookie in session_carrier.headers.getlist("set-cookie"):
        response.headers.append("set-cookie", cookie)
    return response


@router.post("/logout", dependencies=Public)
async def logout(request: Request, form: Form, ctx: Ctx) -> Response:
    cleared = await auth_api.logout(ctx)
    response = see_other("/login")
    for cookie in cleared.headers.getlist("set-cookie"):
        response.headers.append("set-cookie", cookie)
    return response


@router.post("/language", dependencies=Public)
async def switch_language(request: Request, form: Form, ctx: Ctx) -> Response:
    """Save the choice on the person's memberships and in a cookie, then go back."""
    lang = i18n.supported(field(form, "lang"))
    back = safe_next(field(form, "next"), "/")
    if lang is None:
        return see_other(back)
    user = await current_user(request)
    if user is not None:
        async with ctx.db.system() as session:
            mine = await system.accounts_of_user(session, user.telegram_user_id)
        await language.save(ctx.db, [a.account_id for a in mine], user.telegram_user_id, lang)
    response = see_other(back)
    response.set_cookie(
        language.COOKIE,
        lang,
        max_age=language.COOKIE_MAX_AGE_S,
        samesite="lax",
        secure=ctx.panel.cookie_secure,
        path="/",
    )
    return response
