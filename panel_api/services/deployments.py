"""Deployments: a course version served by a bot in prod or test; activate, upgrade (moving
running students along when asked), restricted list, decline text, price."""

from __future__ import annotations

import re

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from panel_api.access import Access
from panel_api.audit import record
from panel_api.context import PanelContext
from panel_api.errors import conflict, not_found, unprocessable
from panel_api.queries import deployments as deployment_queries
from panel_api.queries.deployment_needs import Plan, lacks
from panel_api.schemas.deployments import (
    DeploymentCreate,
    DeploymentOut,
    DeploymentUpdate,
    DeploymentUpgrade,
    RestrictedEntryOut,
    RestrictedImport,
    RestrictedImportOut,
    UpgradeOut,
    UpgradePreview,
)
from storage import inbox_events
from storage.models import Bot, CourseDeployment, Restricted, Run
from storage.repositories import bans, bots, courses, deployments

_USER_ID = re.compile(r"[0-9]{1,18}")
_USERNAME = re.compile(r"@?([A-Za-z][A-Za-z0-9_]{3,31})")


async def list_deployments(
    ctx: PanelContext, access: Access, *, bot_id: int | None = None, course_id: int | None = None
) -> list[DeploymentOut]:
    async with ctx.db.tenant(access.account_id) as session:
        return await _query_out(ctx, session, access.account_id, bot_id=bot_id, course_id=course_id)


async def create_deployment(
    ctx: PanelContext, access: Access, body: DeploymentCreate
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
            help_text=body.help_text,
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
        return await _one_out(ctx, session, access.account_id, row.id)


async def get_deployment(ctx: PanelContext, access: Access, deployment_id: int) -> DeploymentOut:
    async with ctx.db.tenant(access.account_id) as session:
        return await _one_out(ctx, session, access.account_id, deployment_id)


async def update_deployment(
    ctx: PanelContext, access: Access, deployment_id: int, body: DeploymentUpdate
) -> DeploymentOut:
    if body.clear_decline_text and body.decline_text is not None:
        raise unprocessable(
            "give decline_text or clear_decline_text, not both", key="problem.decline_text_both"
        )
    if body.clear_help_text and body.help_text is not None:
        raise unprocessable(
            "give help_text or clear_help_text, not both", key="problem.help_text_both"
        )
    changes = body.model_dump(
        exclude_unset=True, exclude={"clear_decline_text", "clear_help_text"}, exclude_none=False
    )
    for key in ("active", "restricted", "decline_text", "help_text"):
        if changes.get(key, "unset") is None:
            changes.pop(key)  # null means "no change" for these; use clear_*_text
    if body.clear_decline_text:
        changes["decline_text"] = None
    if body.clear_help_text:
        changes["help_text"] = None
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
        return await _one_out(ctx, session, access.account_id, deployment_id)


async def upgrade_deployment(
    ctx: PanelContext, access: Access, deployment_id: int, body: DeploymentUpgrade
) -> UpgradeOut:
    """Point the deployment at another version of the same course; with `migrate_running`,
    active runs move too where they can (storage/inbox_events.repin_deployment)."""
    async with ctx.db.tenant(access.account_id) as session:
        current = await deployments.get(session, access.account_id, deployment_id)
        assert current is not None
        old = await courses.get_version(session, access.account_id, current.course_version_id)
        new = await courses.get_version(session, access.account_id, body.course_version_id)
        if new is None:
            raise not_found("course version")
        if old is None or new.course_id != old.course_id:
            raise unprocessable(
                "course_version_id must be a version of the deployed course",
                key="problem.version_of_other_course",
            )
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
        out = await _one_out(ctx, session, access.account_id, deployment_id)
    return UpgradeOut(deployment=out, migrated_runs=migrated, pinned_runs=pinned)


async def upgrade_preview(
    ctx: PanelContext, access: Access, deployment_id: int, version_id: int
) -> UpgradePreview:
    """What `upgrade_deployment` to the version would do, told before it is done: the same
    checks (a version of the deployed course), the active runs it concerns and how many of
    them could move, and what the deployment would lack on that version."""
    async with ctx.db.tenant(access.account_id) as session:
        current = await deployments.get(session, access.account_id, deployment_id)
        assert current is not None
        old = await courses.get_version(session, access.account_id, current.course_version_id)
        new = await courses.get_version(session, access.account_id, version_id)
        if new is None:
            raise not_found("course version")
        if old is None or new.course_id != old.course_id:
            raise unprocessable(
                "course_version_id must be a version of the deployed course",
                key="problem.version_of_other_course",
            )
        elsewhere, movable = await inbox_events.repin_preview(
            session, access.account_id, deployment_id, new.id
        )
        plan = Plan(new.id, current.price_amount is not None, current.restricted, current.id)
        (lacking,) = await lacks(
            session,
            access.account_id,
            [plan],
            platform_model=ctx.settings.llm_base_url is not None,
        )
    return UpgradePreview(
        from_version=old.number,
        to_version=new.number,
        course_version_id=new.id,
        active_runs=elsewhere,
        movable_runs=movable,
        lacks=[lack.value for lack in lacking],
    )


async def runs_started(ctx: PanelContext, access: Access, deployment_id: int) -> int:
    """How many runs ever started here: any, and the deployment can only be deactivated."""
    async with ctx.db.tenant(access.account_id) as session:
        return await deployment_queries.runs_started(session, access.account_id, deployment_id)


async def delete_deployment(ctx: PanelContext, access: Access, deployment_id: int) -> None:
    """Only while nobody has started it (otherwise it is deactivated instead)."""
    async with ctx.db.tenant(access.account_id) as session:
        runs_count = await deployment_queries.runs_started(
            session, access.account_id, deployment_id
        )
        if runs_count:
            raise conflict(
                f"students have started here {runs_count} "
                f"{'time' if runs_count == 1 else 'times'}; deactivate the deployment instead",
                key="problem.deployment_has_runs",
                count=runs_count,
            )
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


async def list_restricted(
    ctx: PanelContext, access: Access, deployment_id: int
) -> list[RestrictedEntryOut]:
    async with ctx.db.tenant(access.account_id) as session:
        rows = await bans.list_allowed(session, access.account_id, deployment_id)
    return [_entry_out(row) for row in rows]


async def import_restricted(
    ctx: PanelContext, access: Access, deployment_id: int, body: RestrictedImport
) -> RestrictedImportOut:
    items = list(body.entries) + re.split(r"[\s,;]+", body.text or "")
    user_ids, usernames, invalid = _parse_entries(items)
    if invalid:
        raise unprocessable(
            f"{len(invalid)} {'entry is' if len(invalid) == 1 else 'entries are'} neither a "
            "Telegram user id nor a @username",
            key="problem.allow_list_entries",
            count=len(invalid),
            invalid=invalid[:50],
        )
    if not user_ids and not usernames and not body.replace:
        raise unprocessable("nothing to import", key="problem.allow_list_empty")
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


async def delete_restricted(
    ctx: PanelContext, access: Access, deployment_id: int, entry_id: int
) -> None:
    async with ctx.db.tenant(access.account_id) as session:
        await bans.disallow(session, access.account_id, entry_id)
        await record(
            session, access, "restricted.remove", "deployment", deployment_id, entry_id=entry_id
        )


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
    ctx: PanelContext,
    session: AsyncSession,
    account_id: int,
    *,
    deployment_id: int | None = None,
    bot_id: int | None = None,
    course_id: int | None = None,
) -> list[DeploymentOut]:
    rows = await deployment_queries.listed(
        session, account_id, deployment_id=deployment_id, bot_id=bot_id, course_id=course_id
    )
    plans = [
        Plan(d.course_version_id, d.price_amount is not None, d.restricted, d.id) for d, *_ in rows
    ]
    found = await lacks(
        session, account_id, plans, platform_model=ctx.settings.llm_base_url is not None
    )
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
            help_text=d.help_text,
            price_amount=d.price_amount,
            price_currency=d.price_currency,
            created_at=d.created_at,
            updated_at=d.updated_at,
            lacks=[lack.value for lack in lacking],
        )
        for (d, course_id_, number, username), lacking in zip(rows, found, strict=True)
    ]


async def _one_out(
    ctx: PanelContext, session: AsyncSession, account_id: int, deployment_id: int
) -> DeploymentOut:
    rows = await _query_out(ctx, session, account_id, deployment_id=deployment_id)
    assert rows, "the access rule checked the deployment exists"
    return rows[0]


def _entry_out(row: Restricted) -> RestrictedEntryOut:
    return RestrictedEntryOut(
        id=row.id,
        telegram_user_id=row.telegram_user_id,
        username=row.username,
        created_at=row.created_at,
    )
