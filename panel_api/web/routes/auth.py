"""Logging in (Telegram, or the local form of a development panel), out, and choosing the
panel's language.

The Telegram login ends in the API's own `/auth/telegram` handler, so the signature,
freshness and single-use checks and the session are exactly the API's. Telegram's script
hands the signed login to the page (static/panel.js), which posts it: signed data never
travels in a URL, where access logs would keep it. Every login post must carry the nonce of
the login page this browser opened (`login_nonce`).

The local form logs in as any Telegram user id without Telegram, so it exists only where
nobody else can use it (`dev_login_available`); everywhere else it is a 404.
"""

from __future__ import annotations

import json
import re

from fastapi import Depends, Request, Response
from pydantic import ValidationError

from panel_api.access import PublicRule
from panel_api.auth import sessions
from panel_api.context import PanelContext
from panel_api.deps import Ctx
from panel_api.errors import ApiError, not_found
from panel_api.schemas.auth import TelegramLoginIn
from panel_api.services import auth as auth_service
from panel_api.services.auth import dev_login_available
from panel_api.web import i18n, language, login_nonce
from panel_api.web.rendering import current_user, render, request_translator
from panel_api.web.routes.common import Form, field, page_router, safe_next, see_other
from storage import system

router = page_router()
Public = [Depends(PublicRule())]
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
    request: Request,
    ctx: PanelContext,
    next_path: str,
    *,
    error: str | None = None,
    status_code: int = 401,
) -> Response:
    """The page, with a fresh nonce in its forms and in this browser's cookie."""
    nonce = login_nonce.new()
    response = await render(
        request,
        "login.html",
        status_code=status_code if error else 200,
        login_bot_id=ctx.panel.login_bot_id,
        dev_login=dev_login_available(ctx),
        nonce_field=login_nonce.FIELD,
        nonce=nonce,
        next_path=next_path,
        error=error,
    )
    login_nonce.keep(response, nonce, secure=ctx.panel.cookie_secure)
    return response


@router.post("/login/telegram", dependencies=Public)
async def telegram_login(request: Request, ctx: Ctx) -> Response:
    """The login page's form, filled with the signed login Telegram handed to the page."""
    if ctx.panel.login_bot_token is None:
        raise not_found("page")
    form = await request.form()
    next_path = safe_next(field(form, "next"), "")
    t = request_translator(request)
    if not login_nonce.matches(request, form):
        return await _login_page(
            request, ctx, next_path, error=t("login.other_browser"), status_code=403
        )
    try:
        signed = json.loads(field(form, "auth_data") or "")
        body = TelegramLoginIn.model_validate(signed)
    except (ValueError, ValidationError):  # not JSON, not an object, or fields missing
        return await _login_page(request, ctx, next_path, error=t("login.bad_data"))
    carrier = Response()
    try:
        me, session_token = await auth_service.login(ctx, body)
    except ApiError as exc:
        return await _login_page(
            request, ctx, next_path, error=f"{t('login.failed')} {t.say(exc.message)}"
        )
    sessions.set_cookie(carrier, ctx, session_token)
    live = [a.id for a in me.accounts if not a.deleted]
    return _signed_in(ctx, carrier, live, next_path)


@router.post("/login/dev", dependencies=Public)
async def dev_login(request: Request, ctx: Ctx) -> Response:
    if not dev_login_available(ctx):
        raise not_found("page")
    form = await request.form()
    next_path = safe_next(field(form, "next"), "")
    t = request_translator(request)
    if not login_nonce.matches(request, form):
        return await _login_page(
            request, ctx, next_path, error=t("login.other_browser"), status_code=403
        )
    user_id = field(form, "telegram_user_id") or ""
    username = field(form, "username")
    if not (user_id.isascii() and user_id.isdigit() and 0 < int(user_id) < 2**63):
        return await _login_page(request, ctx, next_path, error=t("login.dev_bad_id"))
    if username is not None and not _USERNAME.fullmatch(username.removeprefix("@")):
        return await _login_page(request, ctx, next_path, error=t("login.dev_bad_username"))
    name = username.removeprefix("@") if username else None
    carrier = Response()
    me, session_token = await auth_service.dev_login(ctx, int(user_id), name)
    sessions.set_cookie(carrier, ctx, session_token)
    live = [a.id for a in me.accounts if not a.deleted]
    return _signed_in(ctx, carrier, live, next_path)


def _signed_in(ctx: PanelContext, carrier: Response, live: list[int], next_path: str) -> Response:
    """Where a new session lands: the page it came for, the only account, or the list."""
    default = f"/accounts/{live[0]}" if len(live) == 1 else "/accounts"
    response = see_other(next_path or default)
    for cookie in carrier.headers.getlist("set-cookie"):
        response.headers.append("set-cookie", cookie)
    login_nonce.spend(response, secure=ctx.panel.cookie_secure)
    return response


@router.post("/logout", dependencies=Public)
async def logout(request: Request, form: Form, ctx: Ctx) -> Response:
    await sessions.end(ctx, request)
    response = see_other("/login")
    sessions.clear_cookie(response, ctx)
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
