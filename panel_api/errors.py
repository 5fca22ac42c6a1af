"""API errors as JSON: `{"detail": "<what went wrong>", ...extra}` with the right status.

Services and rules raise `ApiError` (or the helpers below) instead of returning error
responses, so a refusal can come from any depth (a dependency, a service) and still read the
same way. Its status says what kind of refusal it is; the API answers it as JSON here, and a
page shows `detail` in its form or as an error page (panel_api/web/errors.py).
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import IntegrityError

log = logging.getLogger(__name__)


class ApiError(Exception):
    def __init__(self, status: int, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.extra = extra


def unauthorized(detail: str = "log in first (session cookie or Bearer API key)") -> ApiError:
    return ApiError(401, detail)


def forbidden(detail: str) -> ApiError:
    return ApiError(403, detail)


def not_found(what: str) -> ApiError:
    """Same text whether the object is missing or belongs to someone else: ids leak nothing."""
    return ApiError(404, f"{what} not found")


def conflict(detail: str, **extra: Any) -> ApiError:
    return ApiError(409, detail, **extra)


def unprocessable(detail: str, **extra: Any) -> ApiError:
    return ApiError(422, detail, **extra)


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
    assert isinstance(exc, RequestValidationError)
    detail = [{"loc": e["loc"], "msg": e["msg"], "type": e["type"]} for e in exc.errors()]
    return JSONResponse({"detail": detail}, status_code=422)


def install(app: FastAPI) -> None:
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(IntegrityError, _integrity_error)
