"""Turning a template and a few values into a page: language, CSRF token, the signed-in user,
the account switcher and the role's rights are added here, the same way for every page.

Handlers pass what their page shows; everything a layout needs comes from the request.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import (
    Environment,
    FileSystemLoader,
    StrictUndefined,
    pass_context,
    select_autoescape,
)
from jinja2.runtime import Context

from panel_api.access import Access
from panel_api.auth.principal import UserPrincipal, authenticate
from panel_api.deps import get_ctx
from panel_api.errors import ApiError
from panel_api.messages import course_problem
from panel_api.permissions import Permission, allows
from panel_api.web import csrf, i18n, language
from panel_api.web.telegram_html import telegram_html
from storage import system
from storage.models import Account

TEMPLATES = Path(__file__).parent / "templates"
# Telegram's login script is the only thing the panel loads from elsewhere; it asks
# oauth.telegram.org for the login when its confirmation window closes without answering.
# No 'unsafe-eval': the widget's `data-onauth` needs eval, so the page calls the script's
# `Telegram.Login.auth` itself (static/panel.js). Images from https: are a course's own
# pictures, shown in the preview as the student will see them.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data: https:; style-src 'self'; "
    "script-src 'self' https://telegram.org; connect-src 'self' https://oauth.telegram.org; "
    "frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
)


def format_datetime(value: datetime | None, zone: str = "UTC") -> str:
    """In the account's zone, named (UTC, MSK, +05): a teacher reads their own clock."""
    if value is None:
        return "—"
    return value.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M %Z")


def page_zone(account: Account | None) -> str:
    """The time zone a page shows times in: its account's (UTC outside any account)."""
    return account.time_zone if account is not None else "UTC"


@pass_context
def _datetime_filter(context: Context, value: datetime | None) -> str:
    return format_datetime(value, page_zone(context.get("account")))


def format_number(value: float | None) -> str:
    if value is None:
        return "—"
    return str(int(value)) if float(value).is_integer() else f"{value:.2f}".rstrip("0")


def format_percent(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


@pass_context
def _say_filter(context: Context, value: i18n.Message | str) -> str:
    """`{{ e|say }}`: an error's Message in the page's language (strings pass through)."""
    translator = context["t"]
    assert isinstance(translator, i18n.Translator)
    return translator.say(value)


@pass_context
def _course_problem_filter(context: Context, d: Any) -> str:
    """`{{ d|course_problem }}`: a course diagnostic (the API's dict or the loader's own)
    in the page's language."""
    translator = context["t"]
    assert isinstance(translator, i18n.Translator)
    get = d.get if isinstance(d, Mapping) else lambda name: getattr(d, name)
    return translator.say(course_problem(get("key"), get("params") or {}, str(get("message"))))


_env = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(("html", "svg")),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
_env.filters["dt"] = _datetime_filter
_env.filters["num"] = format_number
_env.filters["say"] = _say_filter
_env.filters["course_problem"] = _course_problem_filter
_env.filters["pct"] = format_percent
_env.filters["telegram"] = telegram_html
_env.filters["urlquote"] = lambda value: quote(str(value), safe="")


async def current_user(request: Request) -> UserPrincipal | None:
    """The logged-in person, or None (public pages render for anyone)."""
    try:
        principal = await authenticate(request, get_ctx(request))
    except ApiError:
        return None
    return principal if isinstance(principal, UserPrincipal) else None


async def page_language(
    request: Request, user: UserPrincipal | None, account_id: int | None
) -> str:
    cached = getattr(request.state, "page_language", None)
    if cached is not None:
        return cached
    stored = None
    if user is not None and account_id is not None:
        stored = await language.stored(get_ctx(request).db, account_id, user.telegram_user_id)
    chosen = i18n.choose(
        stored, request.cookies.get(language.COOKIE), request.headers.get("accept-language")
    )
    request.state.page_language = chosen
    return chosen


async def page_translator(request: Request, access: Access | None) -> i18n.Translator:
    """The language the page of this request is shown in (for messages made in handlers)."""
    user = await current_user(request)
    return i18n.Translator(
        await page_language(request, user, access.account_id if access else None)
    )


def request_translator(request: Request) -> i18n.Translator:
    """The language of a request that belongs to no account (cookie, then the browser)."""
    return i18n.Translator(
        i18n.choose(
            None, request.cookies.get(language.COOKIE), request.headers.get("accept-language")
        )
    )


async def render(
    request: Request,
    template: str,
    *,
    access: Access | None = None,
    status_code: int = 200,
    title: str | None = None,
    **values: Any,
) -> HTMLResponse:
    ctx = get_ctx(request)
    user = await current_user(request)
    lang = await page_language(request, user, access.account_id if access else None)
    t = i18n.Translator(lang)
    accounts: list[system.UserAccount] = []
    if user is not None:
        async with ctx.db.system() as session:
            accounts = await system.accounts_of_user(session, user.telegram_user_id)
    notice_key = f"notice.{request.query_params.get('notice', '')}"
    html = _env.get_template(template).render(
        request=request,
        t=t,
        lang=lang,
        languages=i18n.LANGUAGE_NAMES,
        csrf_field=csrf.FIELD,
        csrf_token=csrf.token(request),
        user=user,
        accounts=accounts,
        access=access,
        account=access.account if access else None,
        can=_rights(access),
        here=_here(request),
        notice=t(notice_key) if t.has(notice_key) else None,
        title=title,
        **values,
    )
    response = HTMLResponse(html, status_code=status_code, headers=security_headers())
    csrf.remember_anon_seed(request, response, secure=ctx.panel.cookie_secure)
    return response


def security_headers() -> Mapping[str, str]:
    return {
        "Content-Security-Policy": CONTENT_SECURITY_POLICY,
        "X-Frame-Options": "DENY",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "same-origin",
        "Cache-Control": "no-store",
    }


def _rights(access: Access | None) -> Any:
    def can(permission: str) -> bool:
        return access is not None and allows(access.role, Permission(permission))

    return can


def _here(request: Request) -> str:
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")
