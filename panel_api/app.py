"""The FastAPI application served by `coursebot up` beside the Telegram runtime.

`create_app(ctx)` mounts /health, the versioned API under /api/v1 (OpenAPI at /docs) and the
web panel's pages at / (panel_api.web).
Each route's authorization rule is stamped into its OpenAPI operation (`x-permission`) and
checked at start-up: a route without one refuses to start the app rather than serve unguarded.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, FastAPI
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from panel_api import errors
from panel_api.access import Rule, rule_table, stamp_openapi
from panel_api.context import PanelContext
from panel_api.deps import reject_nul_query
from panel_api.openapi import describe, mount_docs, operation_id
from panel_api.routers import (
    accounts,
    admin,
    analytics,
    api_keys,
    audit_log,
    auth,
    bots,
    broadcasts,
    courses,
    deployments,
    integrations,
    members,
    outreach,
    runs,
    students,
    tokens,
    webhooks,
)
from panel_api.web import mount_web

API_PREFIX = "/api/v1"
ROUTERS = (
    auth,
    accounts,
    admin,
    members,
    api_keys,
    bots,
    courses,
    integrations,
    deployments,
    outreach,
    tokens,
    runs,
    students,
    analytics,
    broadcasts,
    audit_log,
    webhooks,
)


def create_app(ctx: PanelContext) -> FastAPI:
    app = FastAPI(
        title="coursebot panel API",
        version="1",
        docs_url=None,  # panel_api/openapi.py serves it without a CDN
        redoc_url=None,
        openapi_url="/openapi.json",
        generate_unique_id_function=operation_id,
    )
    app.state.ctx = ctx
    mount_docs(app)

    @app.get("/health", tags=["ops"], summary="Liveness and dependency check")
    async def get_health() -> JSONResponse:
        report: dict[str, Any] = await ctx.health.check()
        status_code = 200 if report["status"] == "ok" else 503
        return JSONResponse(report, status_code=status_code)

    api = APIRouter(prefix=API_PREFIX, dependencies=[Depends(reject_nul_query)])
    for module in ROUTERS:
        api.include_router(module.router)
    app.include_router(api)
    _publish_rules(app, rule_table(app.routes, API_PREFIX))
    errors.install(app)
    # The web pages (at /, after the API's error handlers): each page holds one rule of the
    # same table, checked here like the API's, but pages stay out of the OpenAPI schema.
    rule_table(mount_web(app), "")
    app.add_middleware(BodyLimit, max_bytes=ctx.panel.max_body_bytes)
    return app


def _publish_rules(app: FastAPI, table: dict[tuple[str, str], Rule]) -> None:
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = generate()
        stamp_openapi(schema, table)
        describe(schema, table)
        return schema

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented override


class BodyLimit:
    """413 for request bodies over the limit, counted as they stream in (no Content-Length
    trust): a course is at most 1 MB of text, nothing the panel takes needs more."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._too_large(send)
            return
        received = 0

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise _TooLarge
            return message

        try:
            await self.app(scope, limited, send)
        except _TooLarge:
            await self._too_large(send)

    async def _too_large(self, send: Send) -> None:
        response = JSONResponse(
            {"detail": f"request body over {self.max_bytes} bytes"}, status_code=413
        )
        await response({"type": "http"}, _no_receive, send)


class _TooLarge(Exception):
    pass


async def _no_receive() -> Message:
    return {"type": "http.disconnect"}
