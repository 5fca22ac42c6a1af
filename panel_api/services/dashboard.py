"""The account's overview in numbers, with "today" as the account's own day."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from panel_api.access import Access
from panel_api.context import PanelContext
from panel_api.queries import dashboard
from panel_api.schemas.accounts import DashboardOut


def today_start(now: datetime, zone: str) -> datetime:
    """Midnight of the day `now` falls on in `zone` (an aware moment)."""
    tz = ZoneInfo(zone)
    return datetime.combine(now.astimezone(tz).date(), time(), tzinfo=tz)


async def get_dashboard(ctx: PanelContext, access: Access) -> DashboardOut:
    now = ctx.clock()
    start = today_start(now, access.account.time_zone)
    async with ctx.db.tenant(access.account_id) as session:
        found = await dashboard.counts(session, access.account_id, now, start)
    return DashboardOut(
        day=start.date(),
        day_starts_at=start,
        day_ends_at=today_start(start + timedelta(hours=36), access.account.time_zone),
        time_zone=access.account.time_zone,
        stuck_after_minutes=access.account.stuck_after_minutes,
        **found.__dict__,
    )
