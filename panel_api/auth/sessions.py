"""The panel session: a random token in an HttpOnly cookie, the session itself in PostgreSQL.

A server-side session rather than a signed cookie, so that logging out ends it everywhere:
a copied cookie is refused the moment its session row is gone (`storage.logins`). Every
request looks its session up with one indexed read; membership and role are checked per
request anyway, so removing a member needs no session to be touched.
"""

from __future__ import annotations

from datetime import timedelta

from fastapi import Request, Response

from panel_api.context import PanelContext
from storage import logins
from storage.logins import SessionUser

COOKIE_NAME = "cb_session"


async def start(ctx: PanelContext, telegram_user_id: int, username: str | None) -> str:
    """Open a session for this person; returns the token the cookie must carry."""
    async with ctx.db.system() as session:
        token = await logins.open_session(
            session,
            telegram_user_id=telegram_user_id,
            username=username,
            now=ctx.clock(),
            max_age=timedelta(seconds=ctx.panel.session_max_age_s),
        )
    return token.reveal()


async def user_of(ctx: PanelContext, token: str) -> SessionUser | None:
    async with ctx.db.system() as session:
        return await logins.session_user(session, token, ctx.clock())


async def end(ctx: PanelContext, request: Request) -> None:
    """Delete the session of this request's cookie, if it has one."""
    token = request.cookies.get(COOKIE_NAME)
    if token:
        async with ctx.db.system() as session:
            await logins.close_session(session, token)


def set_cookie(response: Response, ctx: PanelContext, token: str) -> None:
    response.set_cookie(
        COOKIE_NAME,
        token,
        max_age=ctx.panel.session_max_age_s,
        httponly=True,
        samesite="lax",
        secure=ctx.panel.cookie_secure,
        path="/",
    )


def clear_cookie(response: Response, ctx: PanelContext) -> None:
    response.delete_cookie(
        COOKIE_NAME, path="/", httponly=True, samesite="lax", secure=ctx.panel.cookie_secure
    )
