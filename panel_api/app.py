"""The FastAPI application served by `coursebot up` beside the Telegram runtime."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse

from panel_api.health import HealthProbe


def create_app(health: HealthProbe) -> FastAPI:
    app = FastAPI(
        title="coursebot panel API",
        version="1",
        docs_url="/docs",
        openapi_url="/openapi.json",
    )

    @app.get("/health", tags=["ops"], summary="Liveness and dependency check")
    async def get_health() -> JSONResponse:
        report: dict[str, Any] = await health.check()
        status_code = 200 if report["status"] == "ok" else 503
        return JSONResponse(report, status_code=status_code)

    return app
