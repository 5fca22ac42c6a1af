"""Deployments: a course version served by a bot in prod or test; activate, upgrade,
restricted list, decline text, price."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response
from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from panel_api.access import Access, AccountRule
from panel_api.audit import record
from panel_api.deps import AccountId, Ctx, DeploymentId, EntryId
from panel_api.errors import conflict, not_found, unprocessable
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
from storage import inbox_events
from storage.models import Bot, CourseDeployment, CourseVersion, Restricted, Run
from storage.repositories import bans, bots, courses, deployments

router = APIRouter(prefix="/accounts/{account_id}/deployments", tags=["deployments"])
Read = Annotated[Access, Depends(AccountRule(Permission.DEPLOYMENTS_READ))]
Manage = Annotated[Access, Depends(AccountRule(Permission.DEPLOYMENTS_MANAGE))]
StudentsRead = Annotated[Access, Depends(AccountRule(Permission.STUDENTS_READ))]
StudentsManage = Annotated[Access, Depends(AccountRule(Permission.STUDENTS_MANAGE))]

_USER_ID = re.compile(r"[0-9]{1,18}")
_USERNAME = re.compile(r"@?([A-Za-z][A-Za-z0-9_]{3,31})")


@router.get("", response_model=list[DeploymentOut], summary="Deployments")
async def list_deployments(
    account_id: AccountId,
    access: Read,
    ctx: Ctx,
    bot_id: int | None = Query(None, ge=1, le=2**63 - 1),
    course_id: int | None = Query(None, ge=1, le=2**63 - 1),
) -> list[DeploymentOut]:
    async with ctx.db.tenant(access.account_id) as session:
        return await _query_out(session, access.account_id, bot_id=bot_id, course_id=course_id)


@router.post("", response_model=DeploymentOut, status_code=201, summary="Deploy a version")
async def create_deployment(
    account_id: AccountId, body: DeploymentCreate, access: Manage, ctx: Ctx
) -> DeploymentOut:
    async with ctx.db.tenant(access.account_id) as session:
        if await courses.get_version(session, access.account_id, body.course_version_id) is None:
            raise not_found("course version")
        if await bots.get(session, access.account_id, body.bot_id) is None:
            raise not_found("bot")
        row = await deployments.create(
            session,
            access.account_id,
            course_version_id=body.course_version_id,
            bot_id=body.bot_id,
            environment=body.environment,
            active=body.active,
            restricted=body.restricted,
            decline_text=body.decline_text,
            price_amount=body.price_amount,
            price_currency=body.price_currency,
        )
        await record(
            session,
            access,
            "deployment.create",
            "deployment",
            row.id,
            course_version_id=body.course_version_id,
            bot_id=body.bot_id,
            environment=body.environment.value,
        )
        return await _one_out(session, access.account_id, row.id)


@router.get("/{deployment_id}", response_model=DeploymentOut, summary="One deployment")
async def get_deployment(
    account_id: AccountId, deployment_id: DeploymentId, access: Read, ctx: Ctx
) -> DeploymentOut:
    async with ctx.db.tenant(access.account_id) as session:
        return await _one_out(session, access.account_id, deployment_id)


@router.patch(
    "/{deployment_id}",
    response_model=DeploymentOut,
    summary="Activate/deactivate, restricted, decline text, price",
)
async def update_deployment(
    account_id: AccountId,
    deployment_id: DeploymentId,
    body: DeploymentUpdate,
    access: Manage,
    ctx: Ctx,
) -> DeploymentOut:
    if body.clear_decline_text and body.decline_text is not None:
        raise unprocessable("give decline_text or clear_decline_text, not both")
    changes = body.model_dump(
        exclude_unset=True, exclude={"clear_decline_text"}, exclude_none=False
    )
    for key in ("active", "restricted", "decline_text"):
        if changes.get(key, "unset") is None:
            changes.pop(key)  # null means "no change" for these; use clear_decline_text
    if body.clear_decline_text:
        changes["decline_text"] = None
    async with ctx.db.tenant(access.account_id) as session:
        await deployments.update_deployment(session, access.account_id, deployment_id, **changes)
        if changes:
            await record(
                session,
                access,
                "deployment.update",
                "deployment",
                deployment_id,
                fields=sorted(changes),
            )
        return await _one_out(session, access.account_id, deployment_id)


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
    async with ctx.db.tenant(access.account_id) as session:
        current = await deployments.get(session, access.account_id, deployment_id)
        assert current is not None
        old = await courses.get_version(session, access.account_id, current.course_version_id)
        new = await courses.get_version(session, access.account_id, body.course_version_id)
        if new is None:
            raise not_found("course version")
        if old is None or new.course_id != old.course_id:
            raise unprocessable("course_version_id must be a version of the deployed course")
        await deployments.update_deployment(
            session, access.account_id, deployment_id, course_version_id=new.id
        )
        migrated = 0
        if body.migrate_running:  # applied by the runtime in each run's order
            migrated = await inbox_events.repin_deployment(
                session, access.account_id, deployment_id, new.id
            )
        on_other_versions = await session.scalar(
            select(func.count()).where(
                Run.account_id == access.account_id,
                Run.deployment_id == deployment_id,
                Run.is_active,
                Run.course_version_id != new.id,
            )
        )
        pinned = (on_other_versions or 0) - migrated
        await record(
            session,
            access,
            "deployment.upgrade",
            "deployment",
            deployment_id,
            from_version=old.number,
            to_version=new.number,
            migrated_runs=migrated,
        )
        out = await _one_out(session, access.account_id, deployment_id)
    return UpgradeOut(deployment=out, migrated_runs=migrated, pinned_runs=pinned)


@router.delete(
    "/{deployment_id}",
    status_code=204,
    summary="Delete a deployment nobody has started (otherwise deactivate it)",
)
async def delete_deployment(
    account_id: AccountId, deployment_id: DeploymentId, access: Manage, ctx: Ctx
) -> Response:
    async with ctx.db.tenant(access.account_id) as session:
        runs_count = await session.scalar(
            select(func.count()).where(
                Run.account_id == access.account_id, Run.deployment_id == deployment_id
            )
        )
        if runs_count:
            raise conflict(f"{runs_count} run(s) started here; deactivate the deployment instead")
        await session.execute(
            update(Bot)
            .where(Bot.account_id == access.account_id, Bot.default_deployment_id == deployment_id)
            .values(default_deployment_id=None)
        )
        await session.execute(
            delete(CourseDeployment).where(
                CourseDeployment.account_id == access.account_id,
                CourseDeployment.id == deployment_id,
            )
        )
        await record(session, access, "deployment.delete", "deployment", deployment_id)
    return Response(status_code=204)


@router.get(
    "/{deployment_id}/restricted",
    response_model=list[RestrictedEntryOut],
    summary="Who may start a restricted deployment",
)
async def list_restricted(
    account_id: AccountId, deployment_id: DeploymentId, access: StudentsRead, ctx: Ctx
) -> list[RestrictedEntryOut]:
    async with ctx.db.tenant(access.account_id) as session:
        rows = await bans.list_allowed(session, access.account_id, deployment_id)
    return [_entry_out(row) for row in rows]


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
    items = list(body.entries) + re.split(r"[\s,;]+", body.text or "")
    user_ids, usernames, invalid = _parse_entries(items)
    if invalid:
        raise unprocessable(
            f"{len(invalid)} entr{'y is' if len(invalid) == 1 else 'ies are'} neither a "
            "Telegram user id nor a @username",
            invalid=invalid[:50],
        )
    if not user_ids and not usernames and not body.replace:
        raise unprocessable("nothing to import")
    async with ctx.db.tenant(access.account_id) as session:
        if body.replace:
            await session.execute(
                delete(Restricted).where(
                    Restricted.account_id == access.account_id,
                    Restricted.deployment_id == deployment_id,
                )
            )
        rows = [{"telegram_user_id": uid} for uid in user_ids] + [
            {"username": name} for name in usernames
        ]
        added = 0
        if rows:
            result = await session.execute(
                insert(Restricted)
                .values(
                    [
                        {
                            "account_id": access.account_id,
                            "deployment_id": deployment_id,
                            "telegram_user_id": None,
                            "username": None,
                            **r,
                        }
                        for r in rows
                    ]
                )
                .on_conflict_do_nothing()
                .returning(Restricted.id)
            )
            added = len(result.all())
        total = await session.scalar(
            select(func.count()).where(
                Restricted.account_id == access.account_id,
                Restricted.deployment_id == deployment_id,
            )
        )
        await record(
            session,
            access,
            "restricted.import",
            "deployment",
            deployment_id,
            added=added,
            replaced=body.replace,
        )
    return RestrictedImportOut(added=added, already_listed=len(rows) - added, total=total or 0)


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
    async with ctx.db.tenant(access.account_id) as session:
        await bans.disallow(session, access.account_id, entry_id)
        await record(
            session, access, "restricted.remove", "deployment", deployment_id, entry_id=entry_id
        )
    return Response(status_code=204)


def _parse_entries(items: list[str]) -> tuple[list[int], list[str], list[str]]:
    user_ids: dict[int, None] = {}
    usernames: dict[str, None] = {}
    invalid: list[str] = []
    for raw in items:
        item = raw.strip()
        if not item:
            continue
        if _USER_ID.fullmatch(item) and int(item) > 0:
            user_ids[int(item)] = None
        elif match := _USERNAME.fullmatch(item):
            usernames[bans.normalise_username(match.group(1))] = None
        else:
            invalid.append(item[:64])
    return list(user_ids), list(usernames), invalid


async def _query_out(
    session: AsyncSession,
    account_id: int,
    *,
    deployment_id: int | None = None,
    bot_id: int | None = None,
    course_id: int | None = None,
) -> list[DeploymentOut]:
    stmt = (
        select(CourseDeployment, CourseVersion.course_id, CourseVersion.number, Bot.username)
        .join(CourseVersion, CourseVersion.id == CourseDeployment.course_version_id)
        .join(Bot, Bot.id == CourseDeployment.bot_id)
        .where(CourseDeployment.account_id == account_id)
        .order_by(CourseDeployment.id)
    )
    if deployment_id is not None:
        stmt = stmt.where(CourseDeployment.id == deployment_id)
    if bot_id is not None:
        stmt = stmt.where(CourseDeployment.bot_id == bot_id)
    if course_id is not None:
        stmt = stmt.where(CourseVersion.course_id == course_id)
    rows = (await session.execute(stmt)).all()
    return [
        DeploymentOut(
            id=d.id,
            course_id=course_id_,
            course_version_id=d.course_version_id,
            version_number=number,
            bot_id=d.bot_id,
            bot_username=username,
            environment=d.environment,
            active=d.active,
            restricted=d.restricted,
            decline_text=d.decline_text,
            price_amount=d.price_amount,
            price_currency=d.price_currency,
            created_at=d.created_at,
            updated_at=d.updated_at,
        )
        for d, course_id_, number, username in rows
    ]


async def _one_out(session: AsyncSession, account_id: int, deployment_id: int) -> DeploymentOut:
    rows = await _query_out(session, account_id, deployment_id=deployment_id)
    assert rows, "the access rule checked the deployment exists"
    return rows[0]


def _entry_out(row: Restricted) -> RestrictedEntryOut:
    return RestrictedEntryOut(
        id=row.id,
        telegram_user_id=row.telegram_user_id,
        username=row.username,
        created_at=row.created_at,
    )
