"""Where a member's panel language is kept: `account_member.ui_language`, plus a cookie.

The row is the member's choice; the `cb_lang` cookie carries the same choice to pages that
belong to no account (login, account picker) and to a browser that is not logged in.
Switching the language saves it on every membership of the person, so it does not change
when they switch accounts.
"""

from __future__ import annotations

from sqlalchemy import select, update

from storage.db import Database
from storage.models import AccountMember

COOKIE = "cb_lang"
COOKIE_MAX_AGE_S = 365 * 24 * 3600


async def stored(db: Database, account_id: int, telegram_user_id: int) -> str | None:
    async with db.tenant(account_id) as session:
        return await session.scalar(
            select(AccountMember.ui_language).where(
                AccountMember.account_id == account_id,
                AccountMember.telegram_user_id == telegram_user_id,
            )
        )


async def save(db: Database, account_ids: list[int], telegram_user_id: int, lang: str) -> None:
    """One short transaction per account: RLS shows each membership only in its account."""
    for account_id in account_ids:
        async with db.tenant(account_id) as session:
            await session.execute(
                update(AccountMember)
                .where(
                    AccountMember.account_id == account_id,
                    AccountMember.telegram_user_id == telegram_user_id,
                )
                .values(ui_language=lang)
            )
