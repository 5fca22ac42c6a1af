"""CSRF protection of the panel's forms: a per-session token in every form, checked on POST.

The session cookie is already SameSite=Lax, which stops most cross-site posts; the token is
the second lock (older browsers, same-site subdomains). It is an HMAC of the session cookie,
so it needs no storage and changes whenever the session does. A visitor who is not logged in
yet (the login and language forms) gets a random `cb_anon` cookie to bind the token to.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from fastapi import Request
from starlette.datastructures import FormData
from starlette.responses import Response

from panel_api.auth.sessions import COOKIE_NAME
from panel_api.deps import get_ctx
from panel_api.errors import ApiError

ANON_COOKIE = "cb_anon"
FIELD = "csrf_token"
_PURPOSE = "panel-web-csrf"


class CsrfRejected(ApiError):
    """The form carried no valid token (stale page, or a post from another site)."""

    def __init__(self) -> None:
        super().__init__(
            403, "the form has expired or did not come from this panel", key="error.csrf"
        )


def _seed(request: Request) -> str | None:
    return request.cookies.get(COOKIE_NAME) or request.cookies.get(ANON_COOKIE)


def _token_for(request: Request, seed: str) -> str:
    key = get_ctx(request).box.derive(_PURPOSE).reveal().encode()
    return hmac.new(key, seed.encode(), hashlib.sha256).hexdigest()


def token(request: Request) -> str:
    """The token to embed in this page's forms; makes an anonymous seed if needed."""
    seed = _seed(request) or getattr(request.state, "new_anon_seed", None)
    if seed is None:
        seed = secrets.token_urlsafe(24)
        request.state.new_anon_seed = seed
    return _token_for(request, seed)


def remember_anon_seed(request: Request, response: Response, *, secure: bool) -> None:
    """Send the anonymous seed a page just made, so the form it shows can be posted."""
    seed = getattr(request.state, "new_anon_seed", None)
    if seed is not None:
        response.set_cookie(
            ANON_COOKIE, seed, httponly=True, samesite="lax", secure=secure, path="/"
        )


async def checked_form(request: Request) -> FormData:
    """The posted form, if its token matches this browser's session (403 otherwise)."""
    form = await request.form()
    given = form.get(FIELD)
    seed = _seed(request)
    if not isinstance(given, str) or seed is None:
        raise CsrfRejected()
    if not hmac.compare_digest(given.encode(), _token_for(request, seed).encode()):
        raise CsrfRejected()
    return form
