"""Shared harness of the web panel tests (no tests here): a browser-like HTTP client that
keeps cookies, logs in through the local login form and posts forms with their CSRF token.
"""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx

from panel_api.app import create_app
from panel_api.context import PanelContext

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
_TAG = re.compile(r"<[^>]+>")


class Browser:
    """Cookies, CSRF tokens and redirects the way a browser handles them."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client
        self.csrf: str | None = None

    async def get(self, path: str, **kwargs: Any) -> httpx.Response:
        response = await self.client.get(path, **kwargs)
        found = _CSRF.search(response.text)
        if found:
            self.csrf = found.group(1)
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

    async def log_in(self, telegram_user_id: int, username: str | None = None) -> httpx.Response:
        await self.get("/login")
        data = {"telegram_user_id": str(telegram_user_id)}
        if username:
            data["username"] = username
        response = await self.post("/login/dev", data)
        assert response.status_code == 303, response.text
        await self.get(response.headers["location"])  # as a browser does: new session's token
        return response


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
