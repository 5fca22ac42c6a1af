"""An account's LLM endpoint settings and its monthly token usage."""

from __future__ import annotations

from datetime import date

from sqlalchemy import delete, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from storage.crypto import Secret, SecretBox
from storage.models import LlmSettings, LlmUsage
from storage.repositories._common import rows_changed


def month_of(day: date) -> date:
    return day.replace(day=1)


async def get_settings(session: AsyncSession, account_id: int) -> LlmSettings | None:
    stmt = select(LlmSettings).where(LlmSettings.account_id == account_id)
    return (await session.scalars(stmt)).one_or_none()


async def set_settings(
    session: AsyncSession,
    account_id: int,
    *,
    box: SecretBox,
    base_url: str | None,
    api_key: Secret | None,
    model: str | None,
    transcription_model: str | None = None,
    monthly_token_limit: int | None = None,
    timeout_s: float | None = None,
) -> LlmSettings:
    """Replace the account's settings as a whole; a None `timeout_s` means the process
    default's timeout."""
    values = {
        "base_url": base_url,
        "api_key_ciphertext": box.encrypt(api_key) if api_key is not None else None,
        "model": model,
        "transcription_model": transcription_model,
        "monthly_token_limit": monthly_token_limit,
        "timeout_s": timeout_s,
    }
    stmt = (
        insert(LlmSettings)
        .values(account_id=account_id, **values)
        .on_conflict_do_update(
            index_elements=[LlmSettings.account_id], set_={**values, "updated_at": func.now()}
        )
        .returning(LlmSettings)
    )
    result = await session.scalars(stmt, execution_options={"populate_existing": True})
    return result.one()


async def delete_settings(session: AsyncSession, account_id: int) -> bool:
    """Back to the platform default endpoint (usage rows stay: they are history)."""
    stmt = delete(LlmSettings).where(LlmSettings.account_id == account_id)
    return bool(await rows_changed(session, stmt))


def reveal_api_key(settings: LlmSettings, box: SecretBox) -> Secret | None:
    if settings.api_key_ciphertext is None:
        return None
    return box.decrypt(settings.api_key_ciphertext)


async def record_usage(
    session: AsyncSession,
    account_id: int,
    *,
    day: date,
    prompt_tokens: int,
    completion_tokens: int,
) -> None:
    stmt = insert(LlmUsage).values(
        account_id=account_id,
        month=month_of(day),
        calls=1,
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=[LlmUsage.account_id, LlmUsage.month],
        set_={
            "calls": LlmUsage.calls + 1,
            "prompt_tokens": LlmUsage.prompt_tokens + stmt.excluded.prompt_tokens,
            "completion_tokens": LlmUsage.completion_tokens + stmt.excluded.completion_tokens,
        },
    )
    await session.execute(stmt)


async def tokens_used(session: AsyncSession, account_id: int, *, day: date) -> int:
    stmt = select(LlmUsage.prompt_tokens + LlmUsage.completion_tokens).where(
        LlmUsage.account_id == account_id, LlmUsage.month == month_of(day)
    )
    return int((await session.scalar(stmt)) or 0)
