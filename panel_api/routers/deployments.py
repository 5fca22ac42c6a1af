"""Deployments over HTTP; the rules are in panel_api/services/deployments.py."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from panel_api.access import Access, AccountRule
from panel_api.deps import AccountId, Ctx, DeploymentId, EntryId
from panel_api.permissions import Permission
from panel_api.schemas.deployments import (
    DeploymentCreate,
    DeploymentOut,
    DeploymentUpdate,
    DeploymentUpgrade,
    RestrictedEntryOut,
    RestrictedImport,
    RestrictedImportOut,
    UpgradeOut,
)
from panel_api.services import deployments as service

router = APIRouter(prefix="/accounts/{account_id}/deployments", tags=["deployments"])
Read = Annotated[Access, Depends(AccountRule(Permission.DEPLOYMENTS_READ))]
Manage = Annotated[Access, Depends(AccountRule(Permission.DEPLOYMENTS_MANAGE))]
StudentsRead = Annotated[Access, Depends(AccountRule(Permission.STUDENTS_READ))]
StudentsManage = Annotated[Access, Depends(AccountRule(Permission.STUDENTS_MANAGE))]


@router.get("", response_model=list[DeploymentOut], summary="Deployments")
async def list_deployments(
    account_id: AccountId,
    access: Read,
    ctx: Ctx,
    bot_id: int | None = Query(None, ge=1, le=2**63 - 1),
    course_id: int | None = Query(None, ge=1, le=2**63 - 1),
) -> list[DeploymentOut]:
    return await service.list_deployments(ctx, access, bot_id=bot_id, course_id=course_id)


@router.post("", response_model=DeploymentOut, status_code=201, summary="Deploy a version")
async def create_deployment(
    account_id: AccountId, body: DeploymentCreate, access: Manage, ctx: Ctx
) -> DeploymentOut:
    return await service.create_deployment(ctx, access, body)


@router.get("/{deployment_id}", response_model=DeploymentOut, summary="One deployment")
async def get_deployment(
    account_id: AccountId, deployment_id: DeploymentId, access: Read, ctx: Ctx
) -> DeploymentOut:
    return await service.get_deployment(ctx, access, deployment_id)


@router.patch(
    "/{deployment_id}",
    response_model=DeploymentOut,
    summary="Activate/deactivate, restricted, decline text, help text, price",
)
async def update_deployment(
    account_id: AccountId,
    deployment_id: DeploymentId,
    body: DeploymentUpdate,
    access: Manage,
    ctx: Ctx,
) -> DeploymentOut:
    return await service.update_deployment(ctx, access, deployment_id, body)


@router.post(
    "/{deployment_id}/upgrade",
    response_model=UpgradeOut,
    summary="Point the deployment at another version of the same course",
)
async def upgrade_deployment(
    account_id: AccountId,
    deployment_id: DeploymentId,
    body: DeploymentUpgrade,
    access: Manage,
    ctx: Ctx,
) -> UpgradeOut:
    return await service.upgrade_deployment(ctx, access, deployment_id, body)


@router.delete(
    "/{deployment_id}",
    status_code=204,
    summary="Delete a deployment nobody has started (otherwise deactivate it)",
)
async def delete_deployment(
    account_id: AccountId, deployment_id: DeploymentId, access: Manage, ctx: Ctx
) -> Response:
    await service.delete_deployment(ctx, access, deployment_id)
    return Response(status_code=204)


@router.get(
    "/{deployment_id}/restricted",
    response_model=list[RestrictedEntryOut],
    summary="Who may start a restricted deployment",
)
async def list_restricted(
    account_id: AccountId, deployment_id: DeploymentId, access: StudentsRead, ctx: Ctx
) -> list[RestrictedEntryOut]:
    return await service.list_restricted(ctx, access, deployment_id)


@router.post(
    "/{deployment_id}/restricted",
    response_model=RestrictedImportOut,
    summary="Import user ids / @usernames into the restricted list",
)
async def import_restricted(
    account_id: AccountId,
    deployment_id: DeploymentId,
    body: RestrictedImport,
    access: StudentsManage,
    ctx: Ctx,
) -> RestrictedImportOut:
    return await service.import_restricted(ctx, access, deployment_id, body)


@router.delete(
    "/{deployment_id}/restricted/{entry_id}",
    status_code=204,
    summary="Remove one entry from the restricted list",
)
async def delete_restricted(
    account_id: AccountId,
    deployment_id: DeploymentId,
    entry_id: EntryId,
    access: StudentsManage,
    ctx: Ctx,
) -> Response:
    await service.delete_restricted(ctx, access, deployment_id, entry_id)
    return Response(status_code=204)
