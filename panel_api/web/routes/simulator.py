"""The simulator: a version tried as a student, one chosen answer at a time.

Every action posts the actions taken so far in a sealed form field (panel_api/web/sealed.py:
bound to the version and the person, so it cannot be edited, replayed elsewhere, or grown
past MAX_ACTIONS) plus the new one; a worker replays them through the engine
(preview.simulate) and the page shows the chat and what can be done next. Nothing is stored
and no language model is called: a dialog gets a stub reply.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Request, Response

from panel_api.access import Access
from panel_api.deps import Ctx
from panel_api.errors import ApiError
from panel_api.permissions import Permission
from panel_api.services import course_work
from panel_api.services import courses as courses_service
from panel_api.web import preview
from panel_api.web.rendering import page_translator, render
from panel_api.web.routes.common import Form, page_router, rule
from panel_api.web.sealed import seal, unseal

router = page_router()
Read = Annotated[Access, rule(Permission.COURSES_READ)]

PURPOSE = "simulator"
MAX_STATE_CHARS = 4 * (preview.MAX_ACTIONS * (preview.MAX_TYPED * 4 + 40)) // 3 + 400
"""The longest state the page can have made (every action a longest typed answer, each
character four UTF-8 bytes, base64); anything longer was not made here."""
MAX_START_CHARS = 200


@router.get("/accounts/{account_id}/courses/{course_id}/versions/{version_id}/simulator")
async def simulator_page(
    request: Request, account_id: int, course_id: int, version_id: int, access: Read, ctx: Ctx
) -> Response:
    """A fresh run, from the first element or from `?start=`."""
    start = request.query_params.get("start") or None
    if start is not None and len(start) > MAX_START_CHARS:
        start = None
    return await _play(request, access, ctx, course_id, version_id, start, ())


@router.post("/accounts/{account_id}/courses/{course_id}/versions/{version_id}/simulator")
async def simulator_step(
    request: Request,
    account_id: int,
    course_id: int,
    version_id: int,
    access: Read,
    form: Form,
    ctx: Ctx,
) -> Response:
    t = await page_translator(request, access)
    state = form.get("state")
    opened = unseal(
        ctx.box,
        PURPOSE,
        state if isinstance(state, str) else "",
        max_chars=MAX_STATE_CHARS,
    )
    kept = _opened(opened, version_id, access.actor)
    if kept is None:
        raise ApiError(422, t("simulator.bad_state"), key="simulator.bad_state")
    start, actions = kept
    action = _action(form)
    if action is None:
        raise ApiError(422, t("simulator.bad_action"), key="simulator.bad_action")
    if len(actions) >= preview.MAX_ACTIONS:
        return await _play(request, access, ctx, course_id, version_id, start, actions, full=True)
    return await _play(request, access, ctx, course_id, version_id, start, (*actions, action))


def _opened(
    opened: Any, version_id: int, actor: str
) -> tuple[str | None, tuple[preview.Action, ...]] | None:
    """The start and actions of a state this page made for this version and this person."""
    if not isinstance(opened, dict) or opened.get("v") != version_id or opened.get("u") != actor:
        return None
    start, actions = opened.get("s"), opened.get("a")
    if not (start is None or isinstance(start, str)) or not isinstance(actions, list):
        return None
    if len(actions) > preview.MAX_ACTIONS or not all(
        isinstance(a, list) and len(a) == 2 and all(isinstance(x, str) for x in a) for a in actions
    ):
        return None
    return start, tuple((kind, value) for kind, value in actions)


def _action(form: Any) -> preview.Action | None:
    """The action the pressed submit button names, with its value from the form."""
    match form.get("do"):
        case str(pressed) if pressed.startswith("button:"):
            return ("button", pressed.removeprefix("button:"))
        case "poll":
            chosen = [value for value in form.getlist("option") if isinstance(value, str)]
            return ("poll", ",".join(chosen)) if chosen else None
        case "text":
            text = form.get("text")
            if isinstance(text, str) and text.strip():
                return ("text", text.strip()[: preview.MAX_TYPED])
            return None
        case "fire" | "webapp" as kind:
            return (kind, "")
    return None


async def _play(
    request: Request,
    access: Access,
    ctx: Ctx,
    course_id: int,
    version_id: int,
    start: str | None,
    actions: tuple[preview.Action, ...],
    *,
    full: bool = False,
) -> Response:
    t = await page_translator(request, access)
    course = await courses_service.get_course(ctx, access, course_id)
    version = await courses_service.get_version(ctx, access, version_id)
    simulation = await course_work.run(
        ctx,
        access.account_id,
        preview.simulate,
        version.source_text,
        f"v{version.number}",
        start,
        actions,
        t("preview.dialog_reply"),
        t("preview.sample_name"),
    )
    state = None
    if simulation is not None:
        state = seal(
            ctx.box,
            PURPOSE,
            {
                "v": version_id,
                "u": access.actor,
                "s": simulation.start,
                "a": [list(a) for a in simulation.actions],
            },
        )
    return await render(
        request,
        "simulator.html",
        access=access,
        course=course,
        version=version,
        simulation=simulation,
        state=state,
        full=full,
        status_code=200 if simulation is None or simulation.accepted else 422,
    )
