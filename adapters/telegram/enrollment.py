"""A hosted bot as the runtime knows it, and a run begun outside the journal.

Students start courses with `/start`, decided in the journal's batches
(adapters/telegram/admission.py). A payment that succeeds starts the course too, inside the
payments service's own transaction (adapters/telegram/paid_access.py): `begin_run` is that
path, one run at a time through the repositories.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from adapters.telegram.course_cache import CourseCache
from adapters.telegram.transitions import RunPosition, apply_event
from engine.events import Start
from storage.models import CourseDeployment, EnrollmentToken
from storage.repositories import runs


@dataclass(frozen=True, slots=True)
class HostedBot:
    """What the runtime knows about a bot it hosts."""

    bot_id: int
    account_id: int
    username: str
    default_deployment_id: int | None


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
