"""Runs: a filterable table (with the API's CSV export of the same filter), one run as a chat
transcript with its scores, stopping a run."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date, datetime, time, timedelta
from typing import Annotated
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from engine.limits import MAX_UNATTENDED_STEPS
from panel_api.access import Access
from panel_api.deps import MAX_ID, Ctx
from panel_api.errors import ApiError
from panel_api.permissions import Permission
from panel_api.queries import runs as run_queries
from panel_api.queries import students as student_queries
from panel_api.queries.runs import RunFilter
from panel_api.schemas.common import Page
from panel_api.schemas.runs import RunOut
from panel_api.services import courses as courses_service
from panel_api.services import deployments as deployments_service
from panel_api.services import outreach as outreach_service
from panel_api.services import runs as runs_service
from panel_api.services import students as students_service
from panel_api.web import lookups
from panel_api.web.i18n import Translator
from panel_api.web.rendering import page_translator, render
from panel_api.web.routes.common import Form, Said, page_router, problems, rule, see_other
from storage.models import RunStatus

router = page_router()
Read = Annotated[Access, rule(Permission.RUNS_READ)]
Manage = Annotated[Access, rule(Permission.RUNS_MANAGE)]
PAGE_SIZE = 50
MAX_OFFSET = 1_000_000


FILTER_FIELDS = (
    "status",
    "deployment_id",
    "token",
    "student",
    "started_from",
    "started_to",
    "finished_from",
    "finished_to",
)
# Older links (and the students' list before usernames) name a token or a student by id.
LEGACY_FIELDS = ("token_id", "telegram_user_id")
PAGING_FIELDS = ("offset", "notice")
ECHO_CHARS = 60
STUCK, DROPPED = "stuck", "dropped"
"""`status` values beyond the runs' own: stuck runs, runs that ended unfinished."""


@dataclass(frozen=True)
class ReadFilters:
    filters: RunFilter
    shown: dict[str, str]
    """The values to show back in the form."""
    not_understood: list[str]
    """What was not understood, in words; the page then lists nothing."""


async def read_filters(
    ctx: Ctx, access: Access, query: dict[str, str], t: Translator
) -> ReadFilters:
    """The filter a person typed: token labels and usernames, days of the account's zone."""
    shown = {k: v.strip() for k, v in query.items() if isinstance(v, str) and v.strip()}
    zone = ZoneInfo(access.account.time_zone)
    not_understood: list[str] = []

    def bad(name: str) -> None:
        not_understood.append(
            t("runs.bad_filter", field=t(f"runs.filter.{name}"), value=_echo(shown[name]))
        )

    def number(name: str) -> int | None:
        raw = shown.get(name)
        if raw is None:
            return None
        if raw.isascii() and raw.isdigit() and 1 <= int(raw) <= MAX_ID:
            return int(raw)
        bad(name)
        return None

    def day(name: str, *, next_day: bool = False) -> datetime | None:
        raw = shown.get(name)
        if raw is None:
            return None
        try:
            start = date.fromisoformat(raw) + timedelta(days=1 if next_day else 0)
        except (ValueError, OverflowError):
            bad(name)
            return None
        return datetime.combine(start, time(), tzinfo=zone)

    for name in shown:
        if name not in (*FILTER_FIELDS, *LEGACY_FIELDS, *PAGING_FIELDS):
            not_understood.append(t("runs.unknown_filter", name=_echo(name)))
    status = shown.get("status")
    if status is not None and status not in {*(s.value for s in RunStatus), STUCK, DROPPED}:
        bad("status")
        status = None
    user_id = number("telegram_user_id")
    student = shown.get("student")
    token = shown.get("token")
    async with ctx.db.tenant(access.account_id) as session:
        if student is not None:
            user_id = await _student_id(session, access.account_id, student)
            if user_id is None:
                not_understood.append(t("runs.unknown_student", value=_echo(student)))
        if token is not None and not await run_queries.token_exists(
            session, access.account_id, token
        ):
            not_understood.append(t("runs.unknown_token", value=_echo(token)))
    filters = RunFilter(
        status=None if status in (STUCK, DROPPED) else status,
        deployment_id=number("deployment_id"),
        token_id=number("token_id"),
        token=token,
        telegram_user_id=user_id,
        started_from=day("started_from"),
        started_to=day("started_to", next_day=True),  # the form's "to" day is inclusive
        finished_from=day("finished_from"),
        finished_to=day("finished_to", next_day=True),
        dropped=status == DROPPED,
        stuck_at=ctx.clock() if status == STUCK else None,
    )
    return ReadFilters(filters, shown, not_understood)


def _echo(typed: str) -> str:
    """What was typed, short enough to quote back in a message."""
    return typed if len(typed) <= ECHO_CHARS else typed[: ECHO_CHARS - 1] + "…"


async def _student_id(session: AsyncSession, account_id: int, text: str) -> int | None:
    """A Telegram id as typed, or the id of the student with that @username."""
    if text.isascii() and text.isdigit():
        return int(text) if 1 <= int(text) <= MAX_ID else None
    found = await student_queries.participant_by_username(
        session, account_id, text.removeprefix("@")
    )
    return None if found is None else found[0]


def api_query(filters: RunFilter) -> str:
    """The same filter for the API's CSV export."""
    params: dict[str, object] = {
        key: value.isoformat() if isinstance(value, datetime) else value
        for key, value in asdict(filters).items()
        if value is not None and key not in ("dropped", "stuck_at")
    }
    if filters.dropped:
        params["dropped"] = "true"
    if filters.stuck_at is not None:
        params["stuck"] = "true"
    return urlencode(params)


@router.get("/accounts/{account_id}/runs")
async def runs_page(request: Request, account_id: int, access: Read, ctx: Ctx) -> Response:
    t = await page_translator(request, access)
    read = await read_filters(ctx, access, dict(request.query_params), t)
    filters, shown = read.filters, read.shown
    offset_raw = request.query_params.get("offset", "0")
    offset = int(offset_raw) if offset_raw.isdigit() and int(offset_raw) <= MAX_OFFSET else 0
    if read.not_understood:  # a filter not understood lists nothing rather than everything
        page = Page[RunOut](items=[], total=0, limit=PAGE_SIZE, offset=0)
    else:
        page = await runs_service.list_runs(ctx, access, filters, limit=PAGE_SIZE, offset=offset)
    deployments = await deployments_service.list_deployments(ctx, access)
    async with ctx.db.tenant(access.account_id) as session:
        titles = await lookups.course_titles(session, access.account_id)
    keep = {k: v for k, v in shown.items() if k not in PAGING_FIELDS}
    return await render(
        request,
        "runs.html",
        access=access,
        status_code=422 if read.not_understood else 200,
        page=page,
        deployments={d.id: d for d in deployments},
        titles=titles,
        shown=shown,
        errors=read.not_understood,
        statuses=[*(s.value for s in RunStatus), STUCK, DROPPED],
        export_url=f"/api/v1/accounts/{access.account_id}/runs/export.csv?{api_query(filters)}",
        previous_url=_page_url(keep, offset - PAGE_SIZE) if offset > 0 else None,
        next_url=_page_url(keep, offset + PAGE_SIZE) if offset + PAGE_SIZE < page.total else None,
    )


def _page_url(query: dict[str, str], offset: int) -> str:
    return "?" + urlencode({**query, "offset": max(offset, 0)})


@router.get("/accounts/{account_id}/runs/{run_id}")
async def run_page(
    request: Request, account_id: int, run_id: int, access: Read, ctx: Ctx
) -> Response:
    return await _run_page(request, access, ctx, run_id)


async def _run_page(
    request: Request, access: Read, ctx: Ctx, run_id: int, *, errors: Said | None = None
) -> Response:
    run = await runs_service.get_run(ctx, access, run_id)
    lines = await runs_service.get_conversation(ctx, access, run_id)
    deployment = await deployments_service.get_deployment(ctx, access, run.deployment_id)
    bans = [
        ban
        for ban in await students_service.list_bans(ctx, access)
        if ban.telegram_user_id == run.telegram_user_id
    ]
    async with ctx.db.tenant(access.account_id) as session:
        titles = await lookups.course_titles(session, access.account_id)
    return await render(
        request,
        "run.html",
        access=access,
        status_code=409 if errors else 200,
        run=run,
        lines=lines,
        deployment=deployment,
        course_title=titles.get(deployment.course_id, ""),
        bans=bans,
        refused=await courses_service.refused_media(ctx, access, run.course_version_id),
        errors=errors or [],
        unattended_steps=MAX_UNATTENDED_STEPS,  # named by the note of a halted run
        reminders=await outreach_service.run_reminders(ctx, access, run_id),
    )


@router.post("/accounts/{account_id}/runs/{run_id}/stop")
async def stop_run(
    request: Request, account_id: int, run_id: int, access: Manage, form: Form, ctx: Ctx
) -> Response:
    try:
        await runs_service.stop_run(ctx, access, run_id)
    except ApiError as exc:
        return await _run_page(request, access, ctx, run_id, errors=problems(exc))
    return see_other(f"/accounts/{access.account_id}/runs/{run_id}", "run_stopped")
