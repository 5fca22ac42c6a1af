"""The account's integrations: the Google service account creators share their sheets with,
its own OpenAI-compatible LLM endpoint (key, model, monthly token budget) and its YooKassa shop.

Secrets (the service account key, the LLM API key, the shop's secret key) are write-only:
stored encrypted by the repositories, never returned, never audited or logged. The LLM
endpoint must be one the outbound policy allows (https, public addresses, unless the operator
lists it); the runtime's guarded client checks it again on every call.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from panel_api.access import Access
from panel_api.audit import record
from panel_api.context import PanelContext
from panel_api.errors import unprocessable
from panel_api.schemas.courses import SheetsAccessIn, SheetsAccessOut
from panel_api.schemas.integrations import (
    LlmSettingsIn,
    LlmSettingsOut,
    NotificationUrlStatus,
    YooKassaIn,
    YooKassaOut,
)
from panel_api.services.sheets_access import (
    check_service_account,
    load_credentials,
    save_credentials,
)
from storage.crypto import Secret
from storage.models import LlmSettings, PaymentCredentials
from storage.outbound import OutboundError
from storage.public_urls import notification_url
from storage.repositories import llm as llm_repo
from storage.repositories import payments as payments_repo

# --- Google Sheets ------------------------------------------------------------------------


async def get_sheets_access(ctx: PanelContext, access: Access) -> SheetsAccessOut:
    async with ctx.db.tenant(access.account_id) as session:
        info = await load_credentials(session, access.account_id, ctx.box)
    if info is None:
        return SheetsAccessOut(configured=False)
    return SheetsAccessOut(configured=True, client_email=info.get("client_email"))


async def put_sheets_access(
    ctx: PanelContext, access: Access, body: SheetsAccessIn
) -> SheetsAccessOut:
    try:
        email = check_service_account(body.service_account)
    except ValueError as exc:
        raise unprocessable(str(exc), key="problem.sheets_key_bad") from None
    async with ctx.db.tenant(access.account_id) as session:
        await save_credentials(session, access.account_id, body.service_account, ctx.box)
        await record(
            session,
            access,
            "sheets.credentials.set",
            "account",
            access.account_id,
            client_email=email,
        )
    return SheetsAccessOut(configured=True, client_email=email)


async def delete_sheets_access(ctx: PanelContext, access: Access) -> None:
    async with ctx.db.tenant(access.account_id) as session:
        await save_credentials(session, access.account_id, None, ctx.box)
        await record(session, access, "sheets.credentials.delete", "account", access.account_id)


# --- LLM endpoint -------------------------------------------------------------------------


async def _llm_out(
    session: AsyncSession, access: Access, ctx: PanelContext, settings: LlmSettings | None
) -> LlmSettingsOut:
    today = ctx.clock().date()
    used = await llm_repo.tokens_used(session, access.account_id, day=today)
    limit = settings.monthly_token_limit if settings is not None else None
    common = {
        "period_start": llm_repo.month_of(today),
        "tokens_used": used,
        "tokens_left": max(limit - used, 0) if limit is not None else None,
    }
    if settings is None:
        return LlmSettingsOut(configured=False, **common)
    return LlmSettingsOut(
        configured=True,
        base_url=settings.base_url,
        api_key_set=settings.api_key_ciphertext is not None,
        model=settings.model,
        transcription_model=settings.transcription_model,
        monthly_token_limit=limit,
        timeout_s=settings.timeout_s,
        updated_at=settings.updated_at,
        **common,
    )


async def get_llm_settings(ctx: PanelContext, access: Access) -> LlmSettingsOut:
    async with ctx.db.tenant(access.account_id) as session:
        settings = await llm_repo.get_settings(session, access.account_id)
        return await _llm_out(session, access, ctx, settings)


async def put_llm_settings(
    ctx: PanelContext, access: Access, body: LlmSettingsIn
) -> LlmSettingsOut:
    if body.api_key is not None and body.base_url is None:
        raise unprocessable(
            "an API key needs a base URL: the platform's default endpoint uses its own key",
            key="problem.llm_key_needs_url",
        )
    if body.base_url is not None:
        try:
            await ctx.outbound.policy.check_url(body.base_url)
        except OutboundError as exc:
            raise unprocessable(
                f"base_url: {exc}", key=f"problem.address_{exc.kind}", host=exc.host
            ) from None
    async with ctx.db.tenant(access.account_id) as session:
        current = await llm_repo.get_settings(session, access.account_id)
        key: Secret | None = Secret(body.api_key) if body.api_key is not None else None
        kept = False
        if (
            key is None
            and current is not None
            and body.base_url is not None
            and current.base_url == body.base_url
        ):
            # Same endpoint, no new key: keep the stored one (a form need not re-enter it).
            # Another endpoint never inherits a key that was meant for a different host.
            key = llm_repo.reveal_api_key(current, ctx.box)
            kept = key is not None
        settings = await llm_repo.set_settings(
            session,
            access.account_id,
            box=ctx.box,
            base_url=body.base_url,
            api_key=key,
            model=body.model,
            transcription_model=body.transcription_model,
            monthly_token_limit=body.monthly_token_limit,
            timeout_s=body.timeout_s,
        )
        await record(
            session,
            access,
            "llm.settings.set",
            "account",
            access.account_id,
            base_url=body.base_url,
            model=body.model,
            transcription_model=body.transcription_model,
            monthly_token_limit=body.monthly_token_limit,
            timeout_s=body.timeout_s,
            api_key="replaced" if body.api_key is not None else ("kept" if kept else "none"),
        )
        return await _llm_out(session, access, ctx, settings)


async def delete_llm_settings(ctx: PanelContext, access: Access) -> None:
    async with ctx.db.tenant(access.account_id) as session:
        await llm_repo.delete_settings(session, access.account_id)
        await record(session, access, "llm.settings.delete", "account", access.account_id)


# --- YooKassa -----------------------------------------------------------------------------


def _notification(
    ctx: PanelContext, account_id: int
) -> tuple[str | None, NotificationUrlStatus, str | None]:
    base = (ctx.settings.public_base_url or "").strip()
    if not base:
        note = (
            "COURSEBOT_PUBLIC_URL is not set on this server, so there is no address YooKassa "
            "could notify: ask the operator to set it to the panel's public https URL"
        )
        return None, "public_url_missing", note
    url = notification_url(base, account_id)
    if not url.startswith("https://"):
        note = (
            "YooKassa sends notifications only to https addresses, and COURSEBOT_PUBLIC_URL "
            "is not https: payments will not be confirmed until it is"
        )
        return url, "public_url_not_https", note
    return url, "ok", None


def _yookassa_out(
    ctx: PanelContext, account_id: int, credentials: PaymentCredentials | None
) -> YooKassaOut:
    url, status, note = _notification(ctx, account_id)
    common = {
        "notification_url": url,
        "notification_url_status": status,
        "notification_url_note": note,
    }
    if credentials is None:
        return YooKassaOut(configured=False, **common)
    return YooKassaOut(
        configured=True,
        shop_id=credentials.shop_id,
        secret_key_set=True,
        updated_at=credentials.updated_at,
        **common,
    )


async def get_yookassa(ctx: PanelContext, access: Access) -> YooKassaOut:
    async with ctx.db.tenant(access.account_id) as session:
        credentials = await payments_repo.get_credentials(session, access.account_id)
    return _yookassa_out(ctx, access.account_id, credentials)


async def put_yookassa(ctx: PanelContext, access: Access, body: YooKassaIn) -> YooKassaOut:
    async with ctx.db.tenant(access.account_id) as session:
        credentials = await payments_repo.set_credentials(
            session,
            access.account_id,
            shop_id=body.shop_id,
            secret=Secret(body.secret_key),
            box=ctx.box,
        )
        await record(
            session,
            access,
            "yookassa.credentials.set",
            "account",
            access.account_id,
            shop_id=body.shop_id,
        )
    return _yookassa_out(ctx, access.account_id, credentials)


async def delete_yookassa(ctx: PanelContext, access: Access) -> None:
    async with ctx.db.tenant(access.account_id) as session:
        await payments_repo.delete_credentials(session, access.account_id)
        await record(session, access, "yookassa.credentials.delete", "account", access.account_id)
