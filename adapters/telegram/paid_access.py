"""What a payment does to a student's course: a success starts it, a refund ends it.

Called by the payments service inside the transaction that records the provider's verdict,
so the run and the payment commit together (a crash re-delivers the notification and the
grant is applied once). Starting is idempotent: a notification and a student's second tap
may both report the same payment.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from adapters.payments import AccessChange, GrantedAccess
from adapters.telegram import effect_codec
from adapters.telegram.course_cache import CourseCache
from adapters.telegram.enrollment import begin_run
from adapters.telegram.student_texts import Notice, notice_text
from engine.effects import SendText
from storage.repositories import deployments, outbox, participants, runs, tokens

log = logging.getLogger(__name__)

# The hook runs before the grant commits; the chat's worker is woken a moment later (and the
# backlog sweep catches it anyway if that is too early).
_KICK_DELAY_S = 0.3


class PaidAccess:
    def __init__(
        self,
        courses: CourseCache,
        kick: Callable[[int, int], None],
        clock: Callable[[], datetime],
    ) -> None:
        self._courses = courses
        self._kick = kick
        self._clock = clock

    async def __call__(self, session: AsyncSession, change: AccessChange) -> None:
        if isinstance(change, GrantedAccess):
            await self._grant(session, change)
        else:
            await self._revoke(session, change)
        loop = asyncio.get_running_loop()
        loop.call_later(_KICK_DELAY_S, self._kick, change.bot_id, change.chat_id)

    async def _grant(self, session: AsyncSession, change: GrantedAccess) -> None:
        account_id = change.account_id
        now = self._clock()
        current = await runs.get_active(
            session, account_id, change.bot_id, change.chat_id, lock=True
        )
        if current is not None and current.deployment_id == change.deployment_id:
            return  # already started by an earlier report of this payment
        deployment = await deployments.get(session, account_id, change.deployment_id)
        if deployment is None:
            log.warning("paid deployment %s no longer exists", change.deployment_id)
            return
        if current is not None:
            await runs.stop(session, account_id, current.id, now=now)
        participant = await participants.get_by_user(session, account_id, change.telegram_user_id)
        token = (
            await tokens.get(session, account_id, change.token_id)
            if change.token_id is not None
            else None
        )
        await begin_run(
            session,
            self._courses,
            deployment,
            chat_id=change.chat_id,
            telegram_user_id=change.telegram_user_id,
            participant_id=participant.id if participant is not None else None,
            token=token,
            now=now,
        )

    async def _revoke(self, session: AsyncSession, change: AccessChange) -> None:
        account_id = change.account_id
        current = await runs.get_active(
            session, account_id, change.bot_id, change.chat_id, lock=True
        )
        if current is None or current.deployment_id != change.deployment_id:
            return
        await runs.stop(session, account_id, current.id, now=self._clock())
        await outbox.enqueue(
            session,
            account_id,
            bot_id=change.bot_id,
            chat_id=change.chat_id,
            payload=effect_codec.encode(SendText(notice_text(Notice.ACCESS_REFUNDED, None), None)),
        )
