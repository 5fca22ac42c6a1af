"""Members and roles. Owners are protected: only an owner may make, change or remove an
owner, and the last owner can be neither demoted nor removed (an account without an owner
could never be deleted or handed over)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from panel_api.access import Access
from panel_api.audit import record
from panel_api.context import PanelContext
from panel_api.errors import conflict, forbidden, not_found, unprocessable
from panel_api.queries import students as student_queries
from panel_api.schemas.members import MemberInvite, MemberOut, MemberRoleChange
from storage.models import AccountMember, MemberRole
from storage.repositories import members


async def list_members(ctx: PanelContext, access: Access) -> list[MemberOut]:
    async with ctx.db.tenant(access.account_id) as session:
        rows = await members.list_all(session, access.account_id)
    return [_out(row) for row in rows]


async def invite(ctx: PanelContext, access: Access, body: MemberInvite) -> MemberOut:
    if body.role is MemberRole.OWNER and not access.is_owner:
        raise forbidden("only an owner can make someone an owner", key="problem.owner_makes_owner")
    async with ctx.db.tenant(access.account_id) as session:
        user_id, username = body.telegram_user_id, None
        if body.username is not None:
            user_id, username = await _resolve_username(session, access.account_id, body.username)
        assert user_id is not None
        if await members.get(session, access.account_id, user_id) is not None:
            raise conflict(
                "this user is already a member; change their role instead",
                key="problem.already_member",
            )
        member = await members.add(
            session, access.account_id, telegram_user_id=user_id, role=body.role, username=username
        )
        await record(session, access, "member.add", "member", user_id, role=body.role.value)
    return _out(member)


async def change_role(
    ctx: PanelContext, access: Access, member_user_id: int, body: MemberRoleChange
) -> MemberOut:
    async with ctx.db.tenant(access.account_id) as session:
        target = await _target(session, access, member_user_id)
        if body.role is MemberRole.OWNER and not access.is_owner:
            raise forbidden(
                "only an owner can make someone an owner", key="problem.owner_makes_owner"
            )
        if target.role == MemberRole.OWNER and body.role is not MemberRole.OWNER:
            await _keep_an_owner(session, access.account_id)
        member = await members.set_role(session, access.account_id, member_user_id, body.role)
        assert member is not None
        await record(session, access, "member.role", "member", member_user_id, role=body.role.value)
    return _out(member)


async def remove(ctx: PanelContext, access: Access, member_user_id: int) -> None:
    async with ctx.db.tenant(access.account_id) as session:
        target = await _target(session, access, member_user_id)
        if target.role == MemberRole.OWNER:
            await _keep_an_owner(session, access.account_id)
        await members.remove(session, access.account_id, member_user_id)
        await record(session, access, "member.remove", "member", member_user_id)


async def _target(session: AsyncSession, access: Access, user_id: int) -> AccountMember:
    target = await members.get(session, access.account_id, user_id)
    if target is None:
        raise not_found("member")
    if target.role == MemberRole.OWNER and not access.is_owner:
        raise forbidden(
            "only an owner can change or remove an owner", key="problem.owner_changes_owner"
        )
    return target


async def _keep_an_owner(session: AsyncSession, account_id: int) -> None:
    """Refuse if the target is the last owner. Owner rows are locked so two owners demoting
    each other at the same moment cannot leave the account with none."""
    owners = await session.scalars(
        select(AccountMember.id)
        .where(AccountMember.account_id == account_id, AccountMember.role == MemberRole.OWNER)
        .with_for_update()
    )
    if len(owners.all()) <= 1:
        raise conflict(
            "an account needs at least one owner; make someone else owner first",
            key="problem.last_owner",
        )


async def _resolve_username(
    session: AsyncSession, account_id: int, username: str
) -> tuple[int, str]:
    """Telegram has no username lookup for bots: we know the users who wrote to our bots."""
    name = username.removeprefix("@")
    found = await student_queries.participant_by_username(session, account_id, name)
    if found is None:
        raise unprocessable(
            f"no user @{name} has written to this account's bots yet; ask them to send /start "
            "to one of your bots, or invite them by Telegram user id",
            key="problem.username_unknown",
            username=name,
        )
    return found


def _out(member: AccountMember) -> MemberOut:
    return MemberOut(
        telegram_user_id=member.telegram_user_id,
        username=member.username,
        role=member.role,
        created_at=member.created_at,
    )
