"""What changes a live deployment: upgrading it to a newer version of its course (told first
what changes, how many active runs there are and what happens to them), its price and
decline text, and the allow-list of a restricted deployment."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Request, Response
from pydantic import ValidationError

from panel_api.access import Access
from panel_api.deps import Ctx
from panel_api.errors import ApiError
from panel_api.messages import Message
from panel_api.permissions import Permission
from panel_api.schemas.courses import DiffOut
from panel_api.schemas.deployments import (
    DeploymentUpdate,
    DeploymentUpgrade,
    RestrictedImport,
    UpgradeOut,
)
from panel_api.services import courses as courses_service
from panel_api.services import deployments as deployments_service
from panel_api.web import lookups
from panel_api.web.diff_view import diff_lines
from panel_api.web.rendering import page_translator, render
from panel_api.web.routes.common import (
    Form,
    Said,
    field,
    fields,
    page_router,
    problems,
    rule,
    see_other,
)
from panel_api.web.routes.deployments import deployment_page_with_errors

router = page_router()
Manage = Annotated[Access, rule(Permission.DEPLOYMENTS_MANAGE)]
StudentsManage = Annotated[Access, rule(Permission.STUDENTS_MANAGE)]
STAY, MOVE = "stay", "move"


def _url(access: Access, deployment_id: int, tail: str = "") -> str:
    return f"/accounts/{access.account_id}/deployments/{deployment_id}{tail}"


def _messages(exc: ValidationError | ApiError) -> list[Message | str]:
    if isinstance(exc, ValidationError):
        return problems(exc)
    return [*problems(exc), *(str(item) for item in exc.extra.get("invalid", []))]


# --- upgrade --------------------------------------------------------------------------------


@router.get("/accounts/{account_id}/deployments/{deployment_id}/upgrade")
async def upgrade_page(
    request: Request, account_id: int, deployment_id: int, access: Manage, ctx: Ctx
) -> Response:
    """Without `version`: the newer versions to choose from; with it: what that upgrade
    would change, before anything is done."""
    t = await page_translator(request, access)
    raw = request.query_params.get("version") or ""
    chosen = int(raw) if raw.isascii() and raw.isdigit() and 0 < int(raw) < 2**63 else None
    errors = [t("upgrade.bad_version")] if raw and chosen is None else []
    return await _upgrade_page(request, access, ctx, deployment_id, chosen, errors=errors)


async def _upgrade_page(
    request: Request,
    access: Access,
    ctx: Ctx,
    deployment_id: int,
    version_id: int | None,
    *,
    errors: Said | None = None,
    result: UpgradeOut | None = None,
    choice: str = STAY,
) -> Response:
    deployment = await deployments_service.get_deployment(ctx, access, deployment_id)
    errors = list(errors or [])
    preview = diff = None
    if version_id is not None and result is None:
        try:
            preview = await deployments_service.upgrade_preview(
                ctx, access, deployment_id, version_id
            )
            diff = DiffOut.model_validate_json(
                await courses_service.diff_versions(
                    ctx,
                    access,
                    deployment.course_id,
                    preview.from_version,
                    preview.to_version,
                    3,
                )
            )
        except ApiError as exc:
            errors.extend(problems(exc))
            preview = None
    async with ctx.db.tenant(access.account_id) as session:
        title = (await lookups.course_titles(session, access.account_id)).get(
            deployment.course_id, ""
        )
        versions = await lookups.versions_of(session, access.account_id, deployment.course_id)
    return await render(
        request,
        "upgrade.html",
        access=access,
        status_code=422 if errors else 200,
        deployment=deployment,
        course_title=title,
        newer=[(vid, number) for vid, number in versions if number > deployment.version_number],
        preview=preview,
        diff=diff,
        diff_text=diff_lines(diff.unified) if diff else None,
        result=result,
        choice=choice,
        errors=errors,
    )


@router.post("/accounts/{account_id}/deployments/{deployment_id}/upgrade")
async def upgrade(
    request: Request, account_id: int, deployment_id: int, access: Manage, form: Form, ctx: Ctx
) -> Response:
    """Answers with the outcome itself (how many runs moved, how many stay): the counts are
    of this upgrade, and a reload must not repeat it."""
    t = await page_translator(request, access)
    choice = field(form, "runs") or ""
    raw_version = field(form, "course_version_id")
    version_id = int(raw_version) if raw_version and raw_version.isdigit() else None
    if choice not in (STAY, MOVE):
        return await _upgrade_page(
            request, access, ctx, deployment_id, version_id, errors=[t("upgrade.choose_runs")]
        )
    try:
        body = DeploymentUpgrade.model_validate(
            {"course_version_id": raw_version, "migrate_running": choice == MOVE}
        )
        result = await deployments_service.upgrade_deployment(ctx, access, deployment_id, body)
    except (ValidationError, ApiError) as exc:
        return await _upgrade_page(
            request, access, ctx, deployment_id, version_id, errors=_messages(exc), choice=choice
        )
    return await _upgrade_page(
        request, access, ctx, deployment_id, None, result=result, choice=choice
    )


# --- price, decline text, restricted --------------------------------------------------------


@router.post("/accounts/{account_id}/deployments/{deployment_id}/settings")
async def change_settings(
    request: Request, account_id: int, deployment_id: int, access: Manage, form: Form, ctx: Ctx
) -> Response:
    values = fields(form, ("price_amount", "price_currency", "decline_text"))
    body: dict[str, Any] = {"restricted": form.get("restricted") == "on"}
    amount = values.get("price_amount", "").replace(",", ".").replace(" ", "")
    if amount:
        body["price_amount"] = amount
        body["price_currency"] = values.get("price_currency")
    else:  # an empty price makes the course free again
        body["price_amount"] = body["price_currency"] = None
    if "decline_text" in values:
        body["decline_text"] = values["decline_text"]
    else:
        body["clear_decline_text"] = True
    try:
        update = DeploymentUpdate.model_validate(body)
        await deployments_service.update_deployment(ctx, access, deployment_id, update)
    except (ValidationError, ApiError) as exc:
        return await deployment_page_with_errors(
            request, access, ctx, deployment_id, "settings", _messages(exc), values
        )
    return see_other(_url(access, deployment_id), "deployment_updated")


@router.post("/accounts/{account_id}/deployments/{deployment_id}/delete")
async def delete_deployment(
    request: Request, account_id: int, deployment_id: int, access: Manage, form: Form, ctx: Ctx
) -> Response:
    """Only while nobody has started it; the page offers it only then, and says why not."""
    t = await page_translator(request, access)
    try:
        await deployments_service.delete_deployment(ctx, access, deployment_id)
    except ApiError as exc:
        message = t("deployment.delete_refused") if exc.status == 409 else exc.message
        return await deployment_page_with_errors(
            request, access, ctx, deployment_id, "delete", [message], {}
        )
    return see_other(f"/accounts/{access.account_id}/deployments", "deployment_deleted")


# --- allow-list -----------------------------------------------------------------------------


@router.post("/accounts/{account_id}/deployments/{deployment_id}/allow-list")
async def import_allow_list(
    request: Request,
    account_id: int,
    deployment_id: int,
    access: StudentsManage,
    form: Form,
    ctx: Ctx,
) -> Response:
    values = fields(form, ("entries",))
    try:
        body = RestrictedImport(text=values.get("entries"), replace=form.get("replace") == "on")
        out = await deployments_service.import_restricted(ctx, access, deployment_id, body)
    except (ValidationError, ApiError) as exc:
        return await deployment_page_with_errors(
            request, access, ctx, deployment_id, "allow_list", _messages(exc), values
        )
    return see_other(
        _url(access, deployment_id),
        "allow_list_imported",
        added=out.added,
        already=out.already_listed,
    )


@router.post("/accounts/{account_id}/deployments/{deployment_id}/allow-list/{entry_id}/remove")
async def remove_allow_list_entry(
    request: Request,
    account_id: int,
    deployment_id: int,
    entry_id: int,
    access: StudentsManage,
    form: Form,
    ctx: Ctx,
) -> Response:
    await deployments_service.delete_restricted(ctx, access, deployment_id, entry_id)
    return see_other(_url(access, deployment_id), "allow_list_entry_removed")
