"""Errors of page routes as pages: a login redirect for 401, an HTML 403/404 otherwise.

The API's JSON handlers stay in charge of everything else (they are looked up when the web
handlers are installed and called for non-page requests), so /api/v1 answers exactly as
before, including 404s that reveal nothing about other accounts.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from urllib.parse import urlencode

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from panel_api.errors import ApiError
from panel_api.messages import Message
from panel_api.web.csrf import CsrfRejected
from panel_api.web.rendering import render, request_translator
from panel_api.web.routes.common import PageRoute


def is_page(request: Request) -> bool:
    return isinstance(request.scope.get("route"), PageRoute)


def wants_html(request: Request) -> bool:
    """An unmatched URL typed into a browser gets a page; API clients keep their JSON."""
    path = request.url.path
    return not path.startswith("/api/") and "text/html" in request.headers.get("accept", "")


async def error_page(
    request: Request, status: int, message_key: str, detail: Message | None
) -> Response:
    t = request_translator(request)
    return await render(
        request,
        "error.html",
        status_code=status,
        title=t(f"error.{status}" if t.has(f"error.{status}") else "error.other"),
        message=t(message_key),
        detail=detail,
    )


async def _delegate(
    handler: Callable[[Request, Exception], Response | Awaitable[Response]],
    request: Request,
    exc: Exception,
) -> Response:
    """Answer with the API's own handler (Starlette types handlers as sync or async)."""
    answer = handler(request, exc)
    if inspect.isawaitable(answer):
        answer = await answer
    assert isinstance(answer, Response)
    return answer


def install(app: FastAPI) -> None:
    api_error = app.exception_handlers[ApiError]
    validation_error = app.exception_handlers[RequestValidationError]
    http_error = app.exception_handlers[StarletteHTTPException]

    async def on_api_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ApiError)
        if not is_page(request):
            return await _delegate(api_error, request, exc)
        if exc.status == 401:
            target = "/login?" + urlencode({"next": _back_to(request)})
            return RedirectResponse(target, status_code=303)
        if isinstance(exc, CsrfRejected):
            return await error_page(request, 403, "error.csrf", None)
        if exc.status == 404:
            return await error_page(request, 404, "error.not_found", None)
        if exc.status == 403:
            return await error_page(request, 403, "error.forbidden", exc.message)
        if exc.status == 429:
            return await error_page(request, 429, "error.busy", None)
        return await error_page(request, exc.status, "error.failed", exc.message)

    async def on_validation_error(request: Request, exc: Exception) -> Response:
        if not is_page(request):
            return await _delegate(validation_error, request, exc)
        return await error_page(request, 404, "error.not_found", None)

    async def on_http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        if not (is_page(request) or wants_html(request)):
            return await _delegate(http_error, request, exc)
        key = "error.not_found" if exc.status_code == 404 else "error.failed"
        return await error_page(request, exc.status_code, key, None)

    app.add_exception_handler(ApiError, on_api_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)


def _back_to(request: Request) -> str:
    """Where to return after logging in: the page itself (a form post goes back to the page
    it was posted from, which a GET can show)."""
    if request.method == "GET":
        query = request.url.query
        return request.url.path + (f"?{query}" if query else "")
    return "/"
