"""Course media as Telegram saw it: file ids it gave a bot, links it refused."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import BotMedia, RefusedMedia

# A link longer than this is not remembered (adapters/telegram/media_memory.py): ids are for
# the links courses repeat, and the unique index must stay small.
MAX_URL_CHARS = 2048


async def file_ids(session: AsyncSession, account_id: int, bot_id: int) -> dict[str, str]:
    """Every link of the bot Telegram fetched once -> the file id it returned."""
    rows = await session.execute(
        select(BotMedia.url, BotMedia.file_id).where(
            BotMedia.account_id == account_id, BotMedia.bot_id == bot_id
        )
    )
    return {url: file_id for url, file_id in rows.all()}


async def record_refusals(
    session: AsyncSession,
    account_id: int,
    course_version_id: int,
    refused: Iterable[tuple[str, str]],
    reason: str,
) -> None:
    """Note (element id, link) pairs Telegram refused; each is kept once, with its first
    reason."""
    rows = [
        {
            "account_id": account_id,
            "course_version_id": course_version_id,
            "element_id": element_id,
            "url": url[:MAX_URL_CHARS],
            "reason": reason[:300],
        }
        for element_id, url in refused
    ]
    if rows:
        await session.execute(insert(RefusedMedia).on_conflict_do_nothing(), rows)


async def refusals(
    session: AsyncSession, account_id: int, course_version_id: int
) -> list[RefusedMedia]:
    """The version's refused links, in the order they were first refused."""
    result = await session.scalars(
        select(RefusedMedia)
        .where(
            RefusedMedia.account_id == account_id,
            RefusedMedia.course_version_id == course_version_id,
        )
        .order_by(RefusedMedia.id)
    )
    return list(result)
