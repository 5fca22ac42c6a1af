"""What a deployment needs that its account lacks: one check, read by the API, the deployment
pages and the deploy form.

A `dialog` with no language model answers every student "couldn't answer, try later"; a
price without a YooKassa shop cannot be paid; a restricted deployment with an empty
allow-list turns every student away. Each deploys without error, so the teacher is told on
every page that shows the deployment, until the lack is fixed.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import CourseElement, LlmSettings, PaymentCredentials, Restricted


class Lack(enum.StrEnum):
    LANGUAGE_MODEL = "language_model"
    PAYMENTS = "payments"
    ALLOW_LIST = "allow_list"


@dataclass(frozen=True)
class Plan:
    """A deployment as it is or as the deploy form would make it."""

    course_version_id: int
    priced: bool
    restricted: bool
    deployment_id: int | None = None


async def lacks(
    session: AsyncSession, account_id: int, plans: Sequence[Plan], *, platform_model: bool
) -> list[list[Lack]]:
    """The lacks of each plan, in order (three queries, however many plans)."""
    if not plans:
        return []
    versions = {p.course_version_id for p in plans}
    with_dialogs = set(
        await session.scalars(
            select(CourseElement.version_id)
            .where(
                CourseElement.account_id == account_id,
                CourseElement.version_id.in_(versions),
                CourseElement.type == "dialog",
            )
            .distinct()
        )
    )
    own_model = await session.scalar(
        select(func.count()).where(
            LlmSettings.account_id == account_id, LlmSettings.base_url.is_not(None)
        )
    )
    shop = await session.scalar(
        select(func.count()).where(PaymentCredentials.account_id == account_id)
    )
    listed = set(
        await session.scalars(
            select(Restricted.deployment_id)
            .where(
                Restricted.account_id == account_id,
                Restricted.deployment_id.in_(
                    [p.deployment_id for p in plans if p.deployment_id is not None]
                ),
            )
            .distinct()
        )
    )
    has_model = platform_model or bool(own_model)
    return [
        [
            lack
            for lack, missing in (
                (Lack.LANGUAGE_MODEL, p.course_version_id in with_dialogs and not has_model),
                (Lack.PAYMENTS, p.priced and not shop),
                (Lack.ALLOW_LIST, p.restricted and p.deployment_id not in listed),
            )
            if missing
        ]
        for p in plans
    ]
