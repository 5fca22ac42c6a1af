"""Authorization: every route declares exactly one rule, as a dependency.

For account routes (`/accounts/{account_id}/...`) `AccountRule(permission)` does, in order:
1. authenticate (401);
2. find the caller's role in the account: membership, the API key's own account, or a
   platform super-admin (acts as owner) — no role means 404, never 403, so account ids leak
   nothing;
3. check that every other id in the path names an object of THIS account (and of the parent
   in the path, e.g. a version of this course) — 404 otherwise, before any role check, so a
   viewer probing another account's bot id learns as little as an owner would;
4. only then check the role against `ROLE_RIGHTS`: 403 for a right the role lacks.
`create_app` stamps each rule into the OpenAPI operation as `x-permission`, which is what the
generated isolation test reads.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from fastapi import routing as fastapi_routing
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from sqlalchemy import ColumnElement, select
from sqlalchemy.ext.asyncio import AsyncSession

from panel_api.auth.principal import ApiKeyPrincipal, Principal, UserPrincipal, authenticate
from panel_api.deps import MAX_ID, get_ctx
from panel_api.errors import ApiError, forbidden, not_found
from panel_api.permissions import DESCRIPTIONS, GlobalRule, Permission, allows
from storage.models import (
    Account,
    AccountMember,
    ApiKey,
    Banned,
    Bot,
    Broadcast,
    Course,
    CourseDeployment,
    CourseVersion,
    EnrollmentToken,
    MemberRole,
    Participant,
    ReminderRule,
    Restricted,
    Run,
    WebhookDelivery,
    WebhookEndpoint,
)
from storage.repositories import accounts, api_keys, members


@dataclass(frozen=True)
class PathObject:
    """How to check that a path id names an object of the account (and of its path parent)."""

    label: str
    key: Any
    parent: tuple[str, Any] | None = None


PATH_OBJECTS: dict[str, PathObject] = {
    "bot_id": PathObject("bot", Bot.id),
    "course_id": PathObject("course", Course.id),
    "version_id": PathObject(
        "course version", CourseVersion.id, ("course_id", CourseVersion.course_id)
    ),
    "deployment_id": PathObject("deployment", CourseDeployment.id),
    "token_id": PathObject(
        "enrollment token", EnrollmentToken.id, ("deployment_id", EnrollmentToken.deployment_id)
    ),
    "run_id": PathObject("run", Run.id),
    "api_key_id": PathObject("API key", ApiKey.id),
    "member_user_id": PathObject("member", AccountMember.telegram_user_id),
    "ban_id": PathObject("ban", Banned.id),
    "student_user_id": PathObject("student", Participant.telegram_user_id),
    "broadcast_id": PathObject("broadcast", Broadcast.id),
    "entry_id": PathObject(
        "restricted-list entry", Restricted.id, ("deployment_id", Restricted.deployment_id)
    ),
    "endpoint_id": PathObject("webhook endpoint", WebhookEndpoint.id),
    "delivery_id": PathObject("webhook delivery", WebhookDelivery.id),
    "reminder_id": PathObject(
        "reminder", ReminderRule.id, ("deployment_id", ReminderRule.deployment_id)
    ),
}


@dataclass(frozen=True)
class Access:
    """The outcome of an account rule: who acts, in which account, with which role."""

    account_id: int
    role: str
    principal: Principal
    account: Account

    @property
    def actor(self) -> str:
        return self.principal.actor

    @property
    def is_owner(self) -> bool:
        return self.role == MemberRole.OWNER


class Rule:
    """Base of the route rules; `name` is what lands in the OpenAPI `x-permission`."""

    name: str


class AccountRule(Rule):
    def __init__(self, permission: Permission, *, allow_deleted: bool = False) -> None:
        self.permission = permission
        self.name = permission.value
        self.allow_deleted = allow_deleted

    async def __call__(self, request: Request) -> Access:
        ctx = get_ctx(request)
        principal = await authenticate(request, ctx)
        account_id = _parse_id(request.path_params.get("account_id"))
        if account_id is None:
            raise not_found("account")
        async with ctx.db.tenant(account_id) as session:
            account = await accounts.get(session, account_id)
            role = await _role_of(session, principal, account_id) if account else None
            if account is None or role is None:
                raise not_found("account")
            if account.deleted_at is not None and not self.allow_deleted:
                raise ApiError(
                    404, "account is deleted; restore it first", key="problem.account_deleted"
                )
            await _check_path_objects(session, account_id, request.path_params)
            if isinstance(principal, ApiKeyPrincipal):
                await api_keys.touch(session, account_id, principal.api_key_id)
        if not allows(role, self.permission):
            raise forbidden(
                f"role {role!r} may not {DESCRIPTIONS[self.permission]}",
                key="problem.role_may_not",
            )
        return Access(account_id, role, principal, account)


class UserRule(Rule):
    """Routes outside any account: any logged-in user, or platform super-admins only."""

    def __init__(self, rule: GlobalRule) -> None:
        if rule is GlobalRule.PUBLIC:
            raise ValueError("use PublicRule for public routes")
        self.rule = rule
        self.name = rule.value

    async def __call__(self, request: Request) -> UserPrincipal:
        principal = await authenticate(request, get_ctx(request))
        if self.rule is GlobalRule.SUPERADMIN:
            if not (isinstance(principal, UserPrincipal) and principal.superadmin):
                raise not_found("page")  # the operator area does not exist for others
            return principal
        if not isinstance(principal, UserPrincipal):
            raise forbidden(
                "this needs a logged-in Telegram user, not an API key", key="problem.needs_person"
            )
        return principal


class PublicRule(Rule):
    name = GlobalRule.PUBLIC.value

    async def __call__(self) -> None:
        return None


async def _role_of(session: AsyncSession, principal: Principal, account_id: int) -> str | None:
    if isinstance(principal, ApiKeyPrincipal):
        return principal.role if principal.account_id == account_id else None
    if principal.superadmin:
        return MemberRole.OWNER.value
    member = await members.get(session, account_id, principal.telegram_user_id)
    return member.role if member else None


async def _check_path_objects(
    session: AsyncSession, account_id: int, path_params: dict[str, Any]
) -> None:
    for name, raw in path_params.items():
        if name == "account_id":
            continue
        spec = PATH_OBJECTS[name]
        value = _parse_id(raw)
        if value is None:
            continue  # not an id at all: the route's own validation answers 422
        criteria: list[ColumnElement[bool]] = [spec.key == value]
        if spec.parent is not None:
            parent_value = _parse_id(path_params.get(spec.parent[0]))
            criteria.append(spec.parent[1] == parent_value)
        table = spec.key.class_
        found = await session.scalar(
            select(spec.key).where(table.account_id == account_id, *criteria).limit(1)
        )
        if found is None:
            raise not_found(spec.label)


def _parse_id(raw: object) -> int | None:
    if not isinstance(raw, str) or not raw.isascii() or not raw.isdigit():
        return None
    value = int(raw)
    return value if 1 <= value <= MAX_ID else None


def route_rules(dependant: Dependant) -> Iterator[Rule]:
    for dep in dependant.dependencies:
        if isinstance(dep.call, Rule):
            yield dep.call
        yield from route_rules(dep)


def _api_routes(routes: list[Any]) -> Iterator[Any]:
    """Every API route with its full path, also inside included routers (which recent
    FastAPI keeps as lazily-expanded `_IncludedRouter`s rather than copying)."""
    iter_contexts = getattr(fastapi_routing, "iter_route_contexts", None)
    if iter_contexts is None:  # older FastAPI: include_router copied the routes
        yield from (route for route in routes if isinstance(route, APIRoute))
        return
    for context in iter_contexts(routes):
        if isinstance(context.original_route, APIRoute):
            yield context


def rule_table(routes: list[Any], prefix: str) -> dict[tuple[str, str], Rule]:
    """(method, path) -> rule of every route under `prefix`; refuses a route with none or
    several, and an account route with a path id `PATH_OBJECTS` does not know (that id would
    skip the ownership check)."""
    table: dict[tuple[str, str], Rule] = {}
    for route in _api_routes(routes):
        path = route.path_format
        if not path.startswith(prefix):
            continue
        rules = list(route_rules(route.dependant))
        if len(rules) != 1:
            raise RuntimeError(f"{route.methods} {path}: needs exactly one rule, has {rules}")
        rule = rules[0]
        if isinstance(rule, AccountRule):
            params = set(route.param_convertors)
            unknown = params - {"account_id"} - set(PATH_OBJECTS)
            if "account_id" not in params or unknown:
                raise RuntimeError(f"{path}: account route with unchecked ids {unknown}")
        for method in route.methods:
            table[(method.lower(), path)] = rule
    return table


def stamp_openapi(schema: dict[str, Any], table: dict[tuple[str, str], Rule]) -> None:
    """Write each route's rule into its OpenAPI operation as `x-permission`."""
    for (method, path), rule in table.items():
        operation = schema.get("paths", {}).get(path, {}).get(method)
        if operation is not None:
            operation["x-permission"] = rule.name
