"""Small shared request dependencies and path-parameter types."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Request

from panel_api.context import PanelContext
from panel_api.errors import ApiError

MAX_ID = 2**63 - 1  # BIGINT: a larger id cannot exist, and asyncpg would refuse to send it


def reject_nul_query(request: Request) -> None:
    """Query strings are text too, and `%00` would reach PostgreSQL as an invalid byte."""
    if any("\x00" in key or "\x00" in value for key, value in request.query_params.multi_items()):
        raise ApiError(
            422, "query parameters must not contain NUL characters", key="problem.text_nul"
        )


def get_ctx(request: Request) -> PanelContext:
    return request.app.state.ctx


Ctx = Annotated[PanelContext, Depends(get_ctx)]


def _id(description: str) -> object:
    return Path(ge=1, le=MAX_ID, description=description)


AccountId = Annotated[int, _id("account id")]
BotId = Annotated[int, _id("bot id")]
CourseId = Annotated[int, _id("course id")]
VersionId = Annotated[int, _id("course version id (of this course)")]
DeploymentId = Annotated[int, _id("deployment id")]
TokenId = Annotated[int, _id("enrollment token id (of this deployment)")]
RunId = Annotated[int, _id("run id")]
ApiKeyIdParam = Annotated[int, _id("API key id")]
MemberUserId = Annotated[int, _id("the member's Telegram user id")]
BanId = Annotated[int, _id("ban id")]
StudentUserId = Annotated[int, _id("the student's Telegram user id")]
EntryId = Annotated[int, _id("restricted-list entry id (of this deployment)")]
EndpointId = Annotated[int, _id("webhook endpoint id")]
DeliveryId = Annotated[int, _id("webhook delivery id")]
ReminderId = Annotated[int, _id("reminder id (of this deployment)")]
BroadcastId = Annotated[int, _id("broadcast id")]
