"""Enrollment tokens over HTTP; the rules are in panel_api/services/tokens.py."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from panel_api.access import Access, AccountRule
from panel_api.deps import AccountId, Ctx, DeploymentId, TokenId
from panel_api.permissions import Permission
from panel_api.schemas.tokens import TokenCreate, TokenOut
from panel_api.services import tokens as service

router = APIRouter(
    prefix="/accounts/{account_id}/deployments/{deployment_id}/tokens", tags=["tokens"]
)
Read = Annotated[Access, Depends(AccountRule(Permission.TOKENS_READ))]
Manage = Annotated[Access, Depends(AccountRule(Permission.TOKENS_MANAGE))]


@router.get("", response_model=list[TokenOut], summary="Tokens with deep links and usage")
async def list_tokens(
    account_id: AccountId, deployment_id: DeploymentId, access: Read, ctx: Ctx
) -> list[TokenOut]:
    return await service.list_tokens(ctx, access, deployment_id)


@router.post("", response_model=TokenOut, status_code=201, summary="Create a token")
async def create_token(
    account_id: AccountId,
    deployment_id: DeploymentId,
    body: TokenCreate,
    access: Manage,
    ctx: Ctx,
) -> TokenOut:
    return await service.create_token(ctx, access, deployment_id, body)


@router.get("/{token_id}", response_model=TokenOut, summary="One token")
async def get_token(
    account_id: AccountId, deployment_id: DeploymentId, token_id: TokenId, access: Read, ctx: Ctx
) -> TokenOut:
    return await service.get_token(ctx, access, deployment_id, token_id)


@router.post("/{token_id}/revoke", response_model=TokenOut, summary="Revoke: no new starts")
async def revoke_token(
    account_id: AccountId,
    deployment_id: DeploymentId,
    token_id: TokenId,
    access: Manage,
    ctx: Ctx,
) -> TokenOut:
    return await service.revoke_token(ctx, access, deployment_id, token_id)
