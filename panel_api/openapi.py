"""What /docs and /openapi.json tell a script writer beyond FastAPI's defaults.

- /docs is Swagger UI served from the `swagger-ui-bundle` package: FastAPI's default page
  loads it from a CDN, so it was blank on a machine without internet (and ReDoc, CDN-only,
  is not offered).
- Operation ids are the handlers' names (`create_deployment`), not FastAPI's generated
  `create_deployment_api_v1_accounts__account_id__deployments_post`: client generators name
  their methods after them, so they must stay the same when a path changes. Two handlers
  with one name refuse to start the app.
- Both ways in are declared (the session cookie, an API key as Bearer), and each operation
  lists the refusals it can answer, read from the same rule table that guards it.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import swagger_ui_bundle
from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles

from panel_api.access import PublicRule, Rule
from panel_api.auth.sessions import COOKIE_NAME

DOCS_PATH = "/docs"
_ASSETS = f"{DOCS_PATH}/assets"

SECURITY_SCHEMES: dict[str, dict[str, str]] = {
    "session": {
        "type": "apiKey",
        "in": "cookie",
        "name": COOKIE_NAME,
        "description": "Set by logging in (POST /api/v1/auth/telegram, or /auth/dev locally).",
    },
    "apiKey": {
        "type": "http",
        "scheme": "bearer",
        "description": "An API key made on the account's API keys page.",
    },
}

_ERROR_SCHEMA = {
    "title": "Error",
    "type": "object",
    "properties": {"detail": {"type": "string", "description": "what went wrong, in words"}},
    "required": ["detail"],
}
_ERROR_REF = {"$ref": "#/components/schemas/Error"}
_REFUSALS = {
    "401": "Not logged in, or the session or API key is no longer valid.",
    "403": "Logged in, but your role may not do this.",
    "404": "No such object in this account (another account's objects are not found either).",
    "409": "The change conflicts with existing data.",
    "422": "The request is not valid; `detail` says what to fix.",
}
_WRITES = {"post", "put", "patch", "delete"}


def operation_id(route: APIRoute) -> str:
    return route.name


def describe(schema: dict[str, Any], table: dict[tuple[str, str], Rule]) -> None:
    """Security schemes, and each guarded operation's refusals, into the generated schema."""
    _check_operation_ids(schema)
    components = schema.setdefault("components", {})
    components.setdefault("securitySchemes", {}).update(SECURITY_SCHEMES)
    components.setdefault("schemas", {})["Error"] = _ERROR_SCHEMA
    for (method, path), rule in table.items():
        operation = schema.get("paths", {}).get(path, {}).get(method)
        if operation is None:
            continue
        codes = _refusals(method, path, operation, public=isinstance(rule, PublicRule))
        responses = operation.setdefault("responses", {})
        for code in codes:
            if code == "422" and code in responses:
                continue  # FastAPI's own entry describes the field errors
            responses[code] = {
                "description": _REFUSALS[code],
                "content": {"application/json": {"schema": _ERROR_REF}},
            }
        operation["security"] = (
            [] if isinstance(rule, PublicRule) else [{name: []} for name in SECURITY_SCHEMES]
        )


def _check_operation_ids(schema: dict[str, Any]) -> None:
    ids = Counter(
        operation.get("operationId")
        for item in schema.get("paths", {}).values()
        for operation in item.values()
        if isinstance(operation, dict)
    )
    repeated = sorted(str(name) for name, count in ids.items() if count > 1)
    if repeated:
        raise RuntimeError(f"API handlers share names (operation ids): {repeated}")


def _refusals(method: str, path: str, operation: dict[str, Any], *, public: bool) -> list[str]:
    codes = [] if public else ["401", "403"]
    if "{" in path:
        codes.append("404")
    if method in _WRITES:
        codes.append("409")
    if operation.get("parameters") or operation.get("requestBody"):
        codes.append("422")
    return codes


def mount_docs(app: FastAPI) -> None:
    """Swagger UI at /docs with its files from the installed package."""
    app.mount(_ASSETS, StaticFiles(directory=swagger_ui_bundle.swagger_ui_path), name="docs")

    @app.get(DOCS_PATH, include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=f"{app.title} (docs)",
            swagger_js_url=f"{_ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{_ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{_ASSETS}/favicon-32x32.png",
        )
