"""Shared harness of the web panel tests (no tests here): a browser-like HTTP client that
keeps cookies, logs in the way the login page's script does (posting the signed login it got
from Telegram, with the page's nonce) and posts forms with their CSRF token.
"""

from __future__ import annotations

import html
import json
import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx

from panel_api.app import create_app
from panel_api.auth.telegram_login import widget_hash
from panel_api.context import PanelContext
from tests.integration.test_panel_support import LOGIN_BOT_TOKEN

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
_NONCE = re.compile(r'name="login_nonce" value="([^"]+)"')
_last_auth_date = [2**40]
_TAG = re.compile(r"<[^>]+>")


class Browser:
    """Cookies, CSRF tokens and redirects the way a browser handles them."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client
        self.csrf: str | None = None
        self.login_nonce: str | None = None

    async def get(self, path: str, **kwargs: Any) -> httpx.Response:
        response = await self.client.get(path, **kwargs)
        found = _CSRF.search(response.text)
        if found:
            self.csrf = found.group(1)
        nonce = _NONCE.search(response.text)
        if nonce:
            self.login_nonce = nonce.group(1)
        return response

    async def post(
        self,
        path: str,
        data: dict[str, Any] | None = None,
        *,
        files: dict[str, Any] | None = None,
        csrf: str | None = None,
        follow: bool = False,
    ) -> httpx.Response:
        form = {"csrf_token": csrf if csrf is not None else self.csrf or "", **(data or {})}
        response = await self.client.post(path, data=form, files=files)
        if follow and response.status_code == 303:
            return await self.get(response.headers["location"])
        return response

    async def post_login(
        self, path: str, data: dict[str, Any], *, nonce: str | None = None
    ) -> httpx.Response:
        """A login form as the login page posts it: with the page's nonce, no CSRF token."""
        form = {"login_nonce": self.login_nonce if nonce is None else nonce, **data}
        return await self.client.post(path, data=form)

    async def log_in(
        self, telegram_user_id: int, username: str | None = None, *, next_path: str = ""
    ) -> httpx.Response:
        await self.get("/login")
        response = await self.post_login(
            "/login/telegram",
            {"auth_data": json.dumps(signed_login(telegram_user_id, username)), "next": next_path},
        )
        assert response.status_code == 303, response.text
        await self.get(response.headers["location"])  # as a browser does: new session's token
        return response


def signed_login(telegram_user_id: int, username: str | None = None) -> dict[str, Any]:
    """What Telegram hands the login page for this user, signed by the login bot. Logins are
    single-use, so each call is a new one: dated a second before the previous call's."""
    _last_auth_date[0] = min(int(time.time()), _last_auth_date[0] - 1)
    fields: dict[str, Any] = {
        "id": telegram_user_id,
        "first_name": "Anna",
        "auth_date": _last_auth_date[0],
    }
    if username:
        fields["username"] = username
    return {**fields, "hash": widget_hash(fields, LOGIN_BOT_TOKEN)}


@asynccontextmanager
async def web_browser(ctx: PanelContext, *, accept_language: str = "en") -> AsyncIterator[Browser]:
    transport = httpx.ASGITransport(app=create_app(ctx))
    headers = {"Accept": "text/html", "Accept-Language": accept_language}
    async with httpx.AsyncClient(
        transport=transport, base_url="http://panel", headers=headers
    ) as client:
        yield Browser(client)


def text_of(page: str) -> str:
    """The page's visible text, whitespace collapsed (what a person reads)."""
    body = page.split("<body>", 1)[-1]
    return " ".join(html.unescape(_TAG.sub(" ", body)).split())
