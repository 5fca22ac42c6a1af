"""The panel's pages, one module per area; `pages_router()` gathers them."""

from __future__ import annotations

from fastapi import APIRouter

from panel_api.web.routes import (
    account_settings,
    accounts,
    admin,
    analytics,
    api_keys,
    audit,
    auth,
    bots,
    broadcasts,
    course_editor,
    courses,
    deployment_changes,
    deployments,
    integrations,
    members,
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
    # members, audit log, deployment upgrade/price/allow-list, operator area
    members,
    audit,
    deployment_changes,
    admin,
    account_settings,
)


def pages_router() -> APIRouter:
    router = APIRouter()
    for module in MODULES:
        router.include_router(module.router)
    return router
