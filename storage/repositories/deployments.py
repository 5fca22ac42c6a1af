"""Deployments: a course version served by a bot in an environment (prod | test)."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import CourseDeployment, Environment
from storage.repositories._common import UNSET, Unset, get_scoped, given, update_scoped


async def create(
    session: AsyncSession,
    account_id: int,
    *,
    course_version_id: int,
    bot_id: int,
    environment: Environment | str,
    active: bool = True,
    restricted: bool = False,
    decline_text: str | None = None,
    price_amount: Decimal | None = None,
    price_currency: str | None = None,
    help_text: str | None = None,
) -> CourseDeployment:
    deployment = CourseDeployment(
        account_id=account_id,
        course_version_id=course_version_id,
        bot_id=bot_id,
        environment=Environment(environment).value,
        active=active,
        restricted=restricted,
        decline_text=decline_text,
        price_amount=price_amount,
        price_currency=price_currency,
        help_text=help_text,
    )
    session.add(deployment)
    await session.flush()
    return deployment


async def get(
    session: AsyncSession, account_id: int, deployment_id: int
) -> CourseDeployment | None:
    return await get_scoped(
        session, CourseDeployment, account_id, CourseDeployment.id == deployment_id
    )


async def list_all(
    session: AsyncSession, account_id: int, *, bot_id: int | None = None
) -> list[CourseDeployment]:
    stmt = select(CourseDeployment).where(CourseDeployment.account_id == account_id)
    if bot_id is not None:
        stmt = stmt.where(CourseDeployment.bot_id == bot_id)
    return list((await session.scalars(stmt.order_by(CourseDeployment.id))).all())


async def update_deployment(
    session: AsyncSession,
    account_id: int,
    deployment_id: int,
    *,
    course_version_id: int | Unset = UNSET,
    active: bool | Unset = UNSET,
    restricted: bool | Unset = UNSET,
    decline_text: str | Unset | None = UNSET,
    price_amount: Decimal | Unset | None = UNSET,
    price_currency: str | Unset | None = UNSET,
    help_text: str | Unset | None = UNSET,
) -> CourseDeployment | None:
    """Pointing a deployment at a new version affects new runs only: runs pin their version."""
    values = given(
        course_version_id=course_version_id,
        active=active,
        restricted=restricted,
        decline_text=decline_text,
        price_amount=price_amount,
        price_currency=price_currency,
        help_text=help_text,
    )
    return await update_scoped(session, CourseDeployment, account_id, deployment_id, values)
