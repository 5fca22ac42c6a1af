"""API errors as JSON: `{"detail": "<what went wrong>", ...extra}` with the right status.

Services and rules raise `ApiError` (or the helpers below) instead of returning error
responses, so a refusal can come from any depth (a dependency, a service) and still read the
same way. Its status says what kind of refusal it is; the API answers it as JSON here, and a
page says its `message` (a catalog key with parameters, panel_api/messages.py) in the
reader's language, in its form or as an error page (panel_api/web/errors.py). `detail` is
the API's plain English, and what a page shows only when the error has no key.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import IntegrityError

from panel_api.messages import Message, validation_problem

log = logging.getLogger(__name__)


class ApiError(Exception):
    """`extra` goes into the JSON answer and doubles as the message's parameters."""

    def __init__(self, status: int, detail: str, *, key: str | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.key = key
        self.extra = extra

    @property
    def message(self) -> Message:
        return Message(self.key, self.extra, self.detail)


def unauthorized(
    detail: str = "log in first (session cookie or Bearer API key)",
    *,
    key: str = "problem.log_in",
    **extra: Any,
) -> ApiError:
    return ApiError(401, detail, key=key, **extra)


def forbidden(detail: str, *, key: str, **extra: Any) -> ApiError:
    return ApiError(403, detail, key=key, **extra)


def not_found(what: str) -> ApiError:
    """Same text whether the object is missing or belongs to someone else: ids leak nothing."""
    return ApiError(404, f"{what} not found", key="problem.not_found")


def conflict(detail: str, *, key: str | None = None, **extra: Any) -> ApiError:
    return ApiError(409, detail, key=key, **extra)


def unprocessable(detail: str, *, key: str | None = None, **extra: Any) -> ApiError:
    return ApiError(422, detail, key=key, **extra)


async def _api_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return JSONResponse({"detail": exc.detail, **exc.extra}, status_code=exc.status)


async def _integrity_error(request: Request, exc: Exception) -> JSONResponse:
    # A constraint caught what a handler did not check first (usually a race between two
    # requests). The constraint name says which rule; the values stay out of the response.
    orig = getattr(exc, "orig", None)
    constraint = getattr(orig, "constraint_name", None) or getattr(
        getattr(orig, "__cause__", None), "constraint_name", None
    )
    log.info("integrity error on %s %s: %s", request.method, request.url.path, constraint)
    return JSONResponse(
        {"detail": "the change conflicts with existing data", "constraint": constraint},
        status_code=409,
    )


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    # FastAPI's own handler echoes each error's `input` (and `ctx`, `url`): a bot token or an
    # API key in a malformed body would come back in the answer, and into whatever logs it.
    # Where and why is what a client needs to fix its request.
    # `msg` in plain English (the pages' words, without pydantic's "Input should be ...").
    assert isinstance(exc, RequestValidationError)
    from panel_api.web import i18n  # the catalogs live with the pages, which import this

    english = i18n.Translator("en")
    catalog = i18n.catalog("en")
    detail = [
        {
            "loc": e["loc"],
            "msg": english.say(validation_problem(e, catalog, labelled=False)),
            "type": e["type"],
        }
        for e in exc.errors()
    ]
    return JSONResponse({"detail": detail}, status_code=422)


def install(app: FastAPI) -> None:
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(IntegrityError, _integrity_error)
