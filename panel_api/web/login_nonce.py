"""A login finishes only in the browser that opened the login page.

The login page puts a random value in a short-lived HttpOnly, SameSite=Strict cookie (sent
to /login... only) and the same value in its forms; a login post must carry both. Another
site can neither read nor set that cookie, so a signed login it holds (someone else's, or
its own, to plant in a victim's browser) cannot be completed here; and a login page left
open for long asks to start again. The value is spent by the login it guarded.
"""

from __future__ import annotations

import hmac
import secrets

from fastapi import Request, Response
from starlette.datastructures import FormData

COOKIE = "cb_login"
FIELD = "login_nonce"
MAX_AGE_S = 15 * 60  # time to confirm in Telegram, with room to spare
_PATH = "/login"


def new() -> str:
    return secrets.token_urlsafe(32)


def keep(response: Response, nonce: str, *, secure: bool) -> None:
    """Send the nonce the page's forms carry as this browser's cookie."""
    response.set_cookie(
        COOKIE,
        nonce,
        max_age=MAX_AGE_S,
        httponly=True,
        samesite="strict",
        secure=secure,
        path=_PATH,
    )


def spend(response: Response, *, secure: bool) -> None:
    response.delete_cookie(COOKIE, path=_PATH, httponly=True, samesite="strict", secure=secure)


def matches(request: Request, form: FormData) -> bool:
    """True when the post carries this browser's nonce (constant-time compare)."""
    given = form.get(FIELD)
    kept = request.cookies.get(COOKIE)
    if not isinstance(given, str) or not given or not kept:
        return False
    return hmac.compare_digest(given.encode(), kept.encode())
