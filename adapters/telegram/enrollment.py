"""`/start [cd_<deployment>_<token>]`: who may start which course, and the run it creates.

Checks run cheapest-and-least-destructive first, and the token's use is counted last, so a
refused student never burns a seat of a group token and never loses the run they have.
Policy for a chat that already has an active run (documented in the README):
- the same deployment again: the student is told to carry on; nothing is created or counted;
- another deployment: the old run ends as `stopped` and the new one starts, in one
  transaction, so a student can never end up with two active runs or with none;
- a bare `/start` (Telegram's Start button, or a student retyping it mid-course): carry on.
  Only a deep link switches courses, so a confused tap never costs anyone their progress.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from adapters.telegram import effect_codec
from adapters.telegram.course_cache import CourseCache
from adapters.telegram.deeplink import parse_start_payload
from adapters.telegram.effect_codec import OfferPayment
from adapters.telegram.student_texts import Notice, notice_text
from adapters.telegram.transitions import RunPosition, apply_event
from adapters.telegram.updates import Inbound, StartRequest, Student
from engine.effects import SendText
from engine.events import Start
from storage import plans
from storage.models import CourseDeployment, EnrollmentToken, RunStatus
from storage.repositories import (
    bans,
    deployments,
    outbox,
    participants,
    payments,
    runs,
    tokens,
)
from storage.repositories.tokens import TokenRefusal

log = logging.getLogger(__name__)

_REFUSALS = {
    TokenRefusal.NOT_FOUND: Notice.INVALID_LINK,
    TokenRefusal.REVOKED: Notice.TOKEN_REVOKED,
    TokenRefusal.EXPIRED: Notice.TOKEN_EXPIRED,
    TokenRefusal.EXHAUSTED: Notice.TOKEN_EXHAUSTED,
    TokenRefusal.WRONG_USER: Notice.TOKEN_NOT_YOURS,
}


@dataclass(frozen=True, slots=True)
class HostedBot:
    """What the runtime knows about a bot it hosts."""

    bot_id: int
    account_id: int
    username: str
    default_deployment_id: int | None


class Enrollment:
    def __init__(self, courses: CourseCache) -> None:
        self._courses = courses

    async def start(
        self,
        session: AsyncSession,
        bot: HostedBot,
        inbound: Inbound,
        request: StartRequest,
        now: datetime,
    ) -> RunPosition | None:
        """Create and begin a run, or tell the student why not (None). Writes only rows."""
        account_id = bot.account_id
        student = inbound.student

        async def say(notice: Notice, custom: str | None = None) -> None:
            text = custom or notice_text(notice, student.language_code)
            await outbox.enqueue(
                session,
                account_id,
                bot_id=bot.bot_id,
                chat_id=inbound.chat_id,
                payload=effect_codec.encode(SendText(text, None)),
            )

        token_text: str | None = None
        if request.payload is None:
            if await runs.get_active(session, account_id, bot.bot_id, inbound.chat_id):
                await say(Notice.ALREADY_RUNNING)
                return None
            if bot.default_deployment_id is None:
                await say(Notice.NO_DEFAULT_COURSE)
                return None
            deployment_id = bot.default_deployment_id
        else:
            link = parse_start_payload(request.payload)
            if link is None:
                log.info("bot %s: ignored malformed start payload", bot.bot_id)
                await say(Notice.INVALID_LINK)
                return None
            deployment_id, token_text = link.deployment_id, link.token

        deployment = await deployments.get(session, account_id, deployment_id)
        if deployment is None or deployment.bot_id != bot.bot_id:
            await say(Notice.INVALID_LINK)
            return None
        if not deployment.active:
            await say(Notice.COURSE_UNAVAILABLE)
            return None
        if await bans.is_banned(
            session, account_id, telegram_user_id=student.telegram_user_id, bot_id=bot.bot_id
        ):
            await say(Notice.BANNED, deployment.decline_text)
            return None
        if deployment.restricted and not await bans.is_allowed(
            session,
            account_id,
            deployment_id=deployment.id,
            telegram_user_id=student.telegram_user_id,
            username=student.username,
        ):
            await say(Notice.NOT_ALLOWED, deployment.decline_text)
            return None

        current = await runs.get_active(session, account_id, bot.bot_id, inbound.chat_id, lock=True)
        if current is not None and current.deployment_id == deployment.id:
            await say(Notice.ALREADY_RUNNING)
            return None

        if current is None and not await _has_room_for(session, account_id, student):
            await say(Notice.COURSE_FULL)
            return None

        token: EnrollmentToken | None = None
        if token_text is not None:
            use = await tokens.use(
                session,
                account_id,
                deployment_id=deployment.id,
                token=token_text,
                telegram_user_id=student.telegram_user_id,
                now=now,
            )
            if not use.ok:
                await say(_REFUSALS[use.refusal or TokenRefusal.NOT_FOUND])
                return None
            token = use.token

        if deployment.price_amount is not None and not await payments.has_access(
            session, account_id, deployment.id, student.telegram_user_id
        ):
            # The checkout link needs an HTTP call to the provider: made after commit, from
            # the outbox. The run starts when the payment succeeds (see paid_access).
            await outbox.enqueue(
                session,
                account_id,
                bot_id=bot.bot_id,
                chat_id=inbound.chat_id,
                payload=effect_codec.encode(
                    OfferPayment(
                        deployment.id,
                        student.telegram_user_id,
                        token.id if token is not None else None,
                        student.language_code,
                    )
                ),
            )
            return None

        if current is not None:
            await runs.finish(session, account_id, current.id, RunStatus.STOPPED, now=now)
            await say(Notice.PREVIOUS_RUN_ENDED)
        return await self._begin(session, bot, inbound, deployment, token, now)

    async def _begin(
        self,
        session: AsyncSession,
        bot: HostedBot,
        inbound: Inbound,
        deployment: CourseDeployment,
        token: EnrollmentToken | None,
        now: datetime,
    ) -> RunPosition:
        student = inbound.student
        participant = await participants.upsert(
            session,
            bot.account_id,
            telegram_user_id=student.telegram_user_id,
            username=student.username,
            first_name=student.first_name,
            language_code=student.language_code,
        )
        return await begin_run(
            session,
            self._courses,
            deployment,
            chat_id=inbound.chat_id,
            telegram_user_id=student.telegram_user_id,
            participant_id=participant.id,
            token=token,
            now=now,
        )


async def _has_room_for(session: AsyncSession, account_id: int, student: Student) -> bool:
    """The plan's active-student limit; the account row is locked so that concurrent starts
    cannot all take the last seat. A student already active elsewhere takes no new seat."""
    account = await plans.lock_account(session, account_id)
    if account is None:
        return False
    limit = plans.effective_limits(account).max_active_students
    if limit is None:
        return True
    if (await plans.usage(session, account_id)).active_students < limit:
        return True
    return await runs.has_active_run_of_user(session, account_id, student.telegram_user_id)


async def begin_run(
    session: AsyncSession,
    courses: CourseCache,
    deployment: CourseDeployment,
    *,
    chat_id: int,
    telegram_user_id: int,
    participant_id: int | None,
    token: EnrollmentToken | None,
    now: datetime,
) -> RunPosition:
    """Create the chat's run of `deployment` (pinning its current version) and take the
    first step. The chat must have no active run; enrollment and paid access ensure that."""
    account_id = deployment.account_id
    utm = (
        {
            "source": token.utm_source,
            "medium": token.utm_medium,
            "campaign": token.utm_campaign,
            "content": token.utm_content,
            "term": token.utm_term,
        }
        if token is not None
        else None
    )
    run = await runs.start(
        session,
        account_id,
        deployment_id=deployment.id,
        course_version_id=deployment.course_version_id,
        bot_id=deployment.bot_id,
        chat_id=chat_id,
        telegram_user_id=telegram_user_id,
        participant_id=participant_id,
        token_id=token.id if token is not None else None,
        utm=utm,
    )
    if run is None:  # the caller ended any previous run, so only a race lands here
        raise RuntimeError(f"chat {chat_id} of bot {deployment.bot_id} got a run meanwhile")
    course = await courses.get(session, account_id, deployment.course_version_id)
    outcome = await apply_event(session, run, course, Start(None), now)
    return RunPosition(run.id, outcome.state.current, outcome.finished)
