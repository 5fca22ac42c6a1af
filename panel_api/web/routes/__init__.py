"""The panel's pages, one module per area; `pages_router()` gathers them."""

from __future__ import annotations

from fastapi import APIRouter

from panel_api.web.routes import (
    accounts,
    analytics,
    api_keys,
    auth,
    bots,
    broadcasts,
    course_editor,
    courses,
    deployments,
    integrations,
    runs,
    simulator,
    students,
    webhooks,
)

MODULES = (
    auth,
    accounts,
    bots,
    courses,
    course_editor,
    simulator,
    deployments,
    runs,
    students,
    analytics,
    broadcasts,
    integrations,
    webhooks,
    api_keys,
)


def pages_router() -> APIRouter:
    router = APIRouter()
    for module in MODULES:
        router.include_router(module.router)
    return router
