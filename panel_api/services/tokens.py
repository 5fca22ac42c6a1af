"""Enrollment tokens of a deployment, each with its ready-to-share deep link."""

from __future__ import annotations

from datetime import UTC

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from botapi.deeplink import build_start_link
from panel_api.access import Access
from panel_api.audit import record
from panel_api.context import PanelContext
from panel_api.errors import conflict, unprocessable
from panel_api.queries import tokens as token_queries
from panel_api.schemas.tokens import TokenCreate, TokenOut
from storage.models import TokenKind
from storage.repositories import tokens

_UTM = ("source", "medium", "campaign", "content", "term")


async def list_tokens(ctx: PanelContext, access: Access, deployment_id: int) -> list[TokenOut]:
    async with ctx.db.tenant(access.account_id) as session:
        return await _out(session, access.account_id, deployment_id)


async def create_token(
    ctx: PanelContext, access: Access, deployment_id: int, body: TokenCreate
) -> TokenOut:
    max_uses = _check_kind(body)
    expires_at = body.expires_at
    if expires_at is not None:
        if expires_at.tzinfo is None:
            expires_at = expires_at.replace(tzinfo=UTC)
        if expires_at <= ctx.clock():
            raise unprocessable("the expiry time is in the past", key="problem.expiry_past")
    utm = body.utm.model_dump(exclude_none=True) if body.utm else {}
    try:
        async with ctx.db.tenant(access.account_id) as session:
            row = await tokens.create(
                session,
                access.account_id,
                deployment_id=deployment_id,
                kind=body.kind,
                token=body.token,
                label=body.label,
                max_uses=max_uses,
                bound_telegram_user_id=body.bound_telegram_user_id,
                expires_at=expires_at,
                utm=utm,
            )
            await record(
                session,
                access,
                "token.create",
                "enrollment_token",
                row.id,
                deployment_id=deployment_id,
                kind=body.kind.value,
                max_uses=max_uses,
            )
            (out,) = await _out(session, access.account_id, deployment_id, token_id=row.id)
    except IntegrityError:
        raise conflict(
            "this deployment already has a token with that value", key="problem.token_taken"
        ) from None
    return out


async def get_token(
    ctx: PanelContext, access: Access, deployment_id: int, token_id: int
) -> TokenOut:
    async with ctx.db.tenant(access.account_id) as session:
        (out,) = await _out(session, access.account_id, deployment_id, token_id=token_id)
    return out


async def revoke_token(
    ctx: PanelContext, access: Access, deployment_id: int, token_id: int
) -> TokenOut:
    """Revoked tokens start no new runs; the runs they started go on."""
    async with ctx.db.tenant(access.account_id) as session:
        if await tokens.revoke(session, access.account_id, token_id, now=ctx.clock()):
            await record(session, access, "token.revoke", "enrollment_token", token_id)
        (out,) = await _out(session, access.account_id, deployment_id, token_id=token_id)
    return out


def _check_kind(body: TokenCreate) -> int | None:
    """The max_uses to store, after checking the fields fit the kind."""
    if body.kind is TokenKind.PUBLIC:
        if body.max_uses is not None or body.bound_telegram_user_id is not None:
            raise unprocessable(
                "a public token has no max_uses and no bound user; use group",
                key="problem.token_public_limited",
            )
        return None
    if body.kind is TokenKind.GROUP:
        if body.max_uses is None:
            raise unprocessable(
                "a group token needs max_uses (how many students may join)",
                key="problem.token_group_needs_uses",
            )
        if body.bound_telegram_user_id is not None:
            raise unprocessable(
                "a group token is not bound to one user; use personal",
                key="problem.token_group_bound",
            )
        return body.max_uses
    if body.kind is TokenKind.PERSONAL:
        if body.bound_telegram_user_id is None:
            if body.max_uses not in (None, 1):
                raise unprocessable(
                    "an unbound personal token is single-use (max_uses 1)",
                    key="problem.token_personal_uses",
                )
            return 1
        return body.max_uses
    return body.max_uses  # external


async def _out(
    session: AsyncSession, account_id: int, deployment_id: int, *, token_id: int | None = None
) -> list[TokenOut]:
    return [
        TokenOut(
            id=t.id,
            deployment_id=t.deployment_id,
            kind=t.kind,
            token=t.token,
            label=t.label,
            deep_link=build_start_link(username, t.deployment_id, t.token),
            max_uses=t.max_uses,
            uses=t.uses,
            runs_started=runs_started,
            runs_completed=runs_completed,
            bound_telegram_user_id=t.bound_telegram_user_id,
            expires_at=t.expires_at,
            revoked_at=t.revoked_at,
            created_at=t.created_at,
            utm={key: getattr(t, f"utm_{key}") for key in _UTM},
        )
        for t, username, runs_started, runs_completed in await token_queries.listed(
            session, account_id, deployment_id, token_id=token_id
        )
    ]
