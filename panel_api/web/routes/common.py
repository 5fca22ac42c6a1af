"""What every page module shares: the page route class, form parsing, redirects, messages."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends
from fastapi.responses import RedirectResponse
from fastapi.routing import APIRoute
from pydantic import ValidationError
from starlette.datastructures import FormData, UploadFile

from panel_api.access import AccountRule
from panel_api.errors import ApiError
from panel_api.messages import Message, validation_problem
from panel_api.permissions import Permission
from panel_api.web import csrf, i18n


class PageRoute(APIRoute):
    """A route that answers with HTML: its errors become pages, not JSON (see web.errors)."""


def page_router() -> APIRouter:
    """Pages are not part of the API contract, so they stay out of OpenAPI."""
    return APIRouter(include_in_schema=False, route_class=PageRoute)


def rule(permission: Permission) -> Any:
    """The page's one authorization rule: the API's own, so a page cannot drift from it.
    Used as `Annotated[Access, rule(...)]`, which a type checker reads as `Access`."""
    return Depends(AccountRule(permission))


Form = Annotated[FormData, Depends(csrf.checked_form)]


def see_other(path: str, notice: str | None = None, **query: object) -> RedirectResponse:
    """Post/redirect/get: a reload after a successful form never posts it twice."""
    params = {k: v for k, v in query.items() if v is not None}
    if notice:
        params["notice"] = notice
    joiner = "&" if "?" in path else "?"
    url = path + (f"{joiner}{urlencode(params)}" if params else "")
    return RedirectResponse(url, status_code=303)


def safe_next(value: object, default: str) -> str:
    """Only a path on this site: `next=//evil.example` must not turn login into a redirector."""
    if isinstance(value, str) and value.startswith("/") and not value.startswith(("//", "/\\")):
        return value
    return default


def field(form: FormData, name: str) -> str | None:
    """A text field, stripped; empty means "not given" (the API's models decide defaults)."""
    value = form.get(name)
    if isinstance(value, str):
        value = value.strip()
        return value or None
    return None


def fields(form: FormData, names: Iterable[str]) -> dict[str, str]:
    return {name: value for name in names if (value := field(form, name)) is not None}


async def upload_text(form: FormData, name: str) -> str | None:
    """An uploaded file's text (UTF-8), None when no file was chosen."""
    upload = form.get(name)
    if not isinstance(upload, UploadFile) or not upload.filename:
        return None
    data = await upload.read()
    if not data:
        return None
    return data.decode("utf-8-sig")


Said = Sequence[Message | str]
"""What a page's error list holds: Messages (said in the page's language by `|say`), or
words already in it."""


def problems(exc: ValidationError | ApiError) -> list[Message | str]:
    """What a form's refusal says to the person, one Message per problem (templates show
    them with `|say`): the service's own key, or each of pydantic's errors in plain words."""
    if isinstance(exc, ApiError):
        return [exc.message]
    known = i18n.catalog(i18n.DEFAULT_LANGUAGE)
    return [validation_problem(error, known) for error in exc.errors()]
