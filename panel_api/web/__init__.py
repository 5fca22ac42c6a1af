"""The web panel: server-rendered pages for creators and teachers on top of the panel API.

Pages call the API's handlers in-process (same rules, same audit, same errors) and render
Jinja2 templates in the member's language. `mount_web(app)` adds the pages, /static and the
HTML error handling; `create_app` calls it, so `coursebot up` serves the panel at `/`.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from panel_api.web import errors
from panel_api.web.routes import pages_router

STATIC_DIR = Path(__file__).parent / "static"


def mount_web(app: FastAPI) -> list:
    """Add the pages to `app` (after the API's error handlers); returns the page routes so
    the caller can hold them to the same one-rule-per-route check as the API."""
    router = pages_router()
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    errors.install(app)
    return router.routes
