"""Link visits in the journal's batches: who opened a deployment's deep link, and who of them
blocked the bot since (storage/models.py `LinkVisit`).

The broadcast audience "opened the link but did not start" reads them
(storage/broadcasts.py); the journal writes them, one statement per batch each: the
admission's visits (runtime/admission.py decides which starts are visits) and the chats
Telegram refused.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from storage.batch import BatchConnection, columns

# The token is looked up here, by the link's text, whatever its state: a link refused as
# used up or expired is still the link the student came by. A visit again keeps the first
# time, moves the last, takes the latest link's token and the student's profile as now, and
# says the chat reads the bot again.
_RECORD = """
INSERT INTO link_visit (account_id, bot_id, deployment_id, chat_id, telegram_user_id,
                        token_id, utm_source, first_name, username, language_code,
                        first_at, last_at)
SELECT v.account_id, v.bot_id, v.deployment_id, v.chat_id, v.user_id, t.id, t.utm_source,
       v.first_name, v.username, v.language_code, $10, $10
FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[], $5::bigint[], $6::text[],
            $7::text[], $8::text[], $9::text[])
     AS v(account_id, bot_id, deployment_id, chat_id, user_id, token,
          first_name, username, language_code)
LEFT JOIN enrollment_token t
  ON t.account_id = v.account_id AND t.deployment_id = v.deployment_id AND t.token = v.token
ON CONFLICT (deployment_id, chat_id) DO UPDATE
SET telegram_user_id = excluded.telegram_user_id, token_id = excluded.token_id,
    utm_source = excluded.utm_source, first_name = excluded.first_name,
    username = excluded.username, language_code = excluded.language_code,
    last_at = excluded.last_at, blocked_at = NULL
"""

_MARK_BLOCKED = """
UPDATE link_visit v SET blocked_at = $4
FROM unnest($1::bigint[], $2::bigint[], $3::bigint[]) AS x(account_id, bot_id, chat_id)
JOIN course_deployment d ON d.bot_id = x.bot_id AND d.account_id = x.account_id
WHERE v.account_id = x.account_id AND v.deployment_id = d.id AND v.chat_id = x.chat_id
"""


@dataclass(frozen=True, slots=True)
class Visit:
    """A chat that opened a link of an existing deployment of the bot (`token`: the link's
    text, which may name no token), and the student's Telegram profile as they opened it."""

    account_id: int
    bot_id: int
    deployment_id: int
    chat_id: int
    user_id: int
    token: str
    first_name: str | None
    username: str | None
    language_code: str | None


async def record(conn: BatchConnection, visits: Sequence[Visit], now: datetime) -> None:
    """Write the batch's visits (a chat's later visit of one deployment wins), in key
    order, so that batches meeting on the same rows lock them in the same order."""
    latest = {(v.deployment_id, v.chat_id): v for v in visits}  # one upsert may not hit twice
    if latest:
        rows = [
            (
                v.account_id,
                v.bot_id,
                v.deployment_id,
                v.chat_id,
                v.user_id,
                v.token,
                v.first_name,
                v.username,
                v.language_code,
            )
            for _, v in sorted(latest.items())
        ]
        await conn.execute(_RECORD, *columns(rows, 9), now)


async def mark_blocked(
    conn: BatchConnection, chats: Sequence[tuple[int, int, int]], now: datetime
) -> None:
    """(account id, bot id, chat id) that blocked the bot: their visits are marked."""
    if chats:
        await conn.execute(_MARK_BLOCKED, *columns(chats, 3), now)
