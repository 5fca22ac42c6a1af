"""Tenant isolation and the roles table, checked on EVERY route of the OpenAPI schema.

The routes are read from `app.openapi()` (and, for the rules, from the app `coursebot up`
serves), not listed here: a new route, body field or query filter naming an object is covered
the day it is added, and a route without a rule fails `test_every_route_has_a_rule` or
`test_every_route_served_by_up_has_a_rule_or_a_reason`.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts

from panel_api.access import route_rules
from panel_api.app import API_PREFIX, create_app
from panel_api.permissions import (
    ROLE_RIGHTS,
    ROLES,
    GlobalRule,
    Permission,
    roles_table_markdown,
)
from process import build_process
from storage.models import MemberRole
from tests.integration.conftest import process_settings
from tests.integration.test_panel_support import (
    SUPERADMIN_ID,
    PanelWorld,
    build_world,
    fill_path,
    key_headers,
    panel_client,
    panel_context,
    user_headers,
)

pytestmark = pytest.mark.integration

_PARAM = re.compile(r"{(\w+)}")


def operations(db, secret_box) -> list[tuple[str, str, str | None]]:
    schema = create_app(panel_context(db, secret_box)).openapi()
    return [
        (method.upper(), path, op.get("x-permission"))
        for path, item in schema["paths"].items()
        for method, op in item.items()
        if path.startswith(API_PREFIX)
    ]


def _body(method: str) -> dict | None:
    return {} if method in {"POST", "PATCH", "PUT"} else None


async def _call(client, method, path, headers):
    return await client.request(method, path, json=_body(method), headers=headers)


KNOWN_RULES = {p.value for p in Permission} | {g.value for g in GlobalRule}


async def test_every_route_has_a_rule(db, secret_box):
    ops = operations(db, secret_box)
    assert len(ops) > 60
    missing = [(m, p) for m, p, rule in ops if rule not in KNOWN_RULES]
    assert missing == []


# Routes of `coursebot up` that answer without any rule of the roles table, and why that is
# safe. A new route needs a rule, or a line here that a reviewer will read.
OUTSIDE_THE_RULES = {
    ("POST", "/telegram/webhook/{public_id}"): "Telegram's push: the bot's secret header",
    (
        "POST",
        "/api/v1/payments/yookassa/{account_id}",
    ): "trusted only once re-fetched from YooKassa",
    ("GET", "/metrics"): "Prometheus scrape: process-wide counters, no account data",
    ("GET", "/health"): "liveness probe: up/down of the database and Redis",
    ("GET", "/openapi.json"): "the API's schema, the same for everyone",
    ("HEAD", "/openapi.json"): "the API's schema, the same for everyone",
    ("GET", "/docs"): "the schema's viewer page",
    ("*", "/docs/assets/{path}"): "the schema viewer's files (swagger-ui-bundle)",
    ("*", "/static/{path}"): "the pages' CSS and JavaScript files",
}


@pytest.fixture
async def served_app(test_database, service_urls, tmp_path) -> AsyncIterator[FastAPI]:
    """The app exactly as `coursebot up` assembles it (runtime not started: no bot runs)."""
    settings = process_settings(
        test_database,
        service_urls.redis_url,
        tmp_path,
        telegram_api_base="http://127.0.0.1:9",  # nothing may reach Telegram
    )
    process = await build_process(settings)
    try:
        yield process.app
    finally:
        await process.stop()


async def test_every_route_served_by_up_has_a_rule_or_a_reason(served_app):
    """Beyond the API: the web pages (their 404s are tests/integration/test_web_isolation.py's)
    and what the runtime, payments and metrics add to the app hold exactly one rule of the
    table each, unless listed with a reason in OUTSIDE_THE_RULES."""
    served: dict[tuple[str, str], list[str]] = {}
    for route in iter_route_contexts(served_app.routes):
        original = route.original_route
        rules = (
            [r.name for r in route_rules(original.dependant)]
            if hasattr(original, "dependant")
            else []
        )
        for method in route.methods or {"*"}:
            served[(method, route.path_format)] = rules
    unguarded = sorted(
        key
        for key, rules in served.items()
        if key not in OUTSIDE_THE_RULES and (len(rules) != 1 or rules[0] not in KNOWN_RULES)
    )
    assert unguarded == []
    assert set(OUTSIDE_THE_RULES) <= set(served), "stale entries in OUTSIDE_THE_RULES"
    assert [key for key in OUTSIDE_THE_RULES if served[key]] == []  # listed, yet has a rule
    pages = [key for key, rules in served.items() if rules and not key[1].startswith(API_PREFIX)]
    assert len(served) > 120 and len(pages) > 40


def _is_bare_404(response: httpx.Response) -> bool:
    """A 404 saying nothing more than that the object is not there."""
    return (
        response.status_code == 404
        and response.headers.get("content-type") == "application/json"
        and set(response.json()) == {"detail"}
    )


def _leaks(world: PanelWorld, text: str) -> bool:
    """Whether an answer carries one of the world's secrets or its student's chat id."""
    secrets = (
        world.seed.token,
        world.seed.bot_token.reveal(),
        world.seed.webhook_secret.reveal(),
        world.seed.payment_secret.reveal(),
        world.seed.hook_secret.reveal() if world.seed.hook_secret else "",
        str(world.seed.chat_id),
    )
    return any(secret in text for secret in secrets)


async def test_ids_of_another_account_are_404_on_every_route(db, secret_box, seed_account):
    """A user of account A naming B (or B's objects, inside A's path) gets 404 and nothing
    else — as owner, as viewer (who would otherwise get 403s) and with an API key."""
    a = await build_world(db, await seed_account())
    b = await build_world(db, await seed_account())
    ctx = panel_context(db, secret_box)
    principals = {
        "owner": await user_headers(ctx, a.users[MemberRole.OWNER]),
        "viewer": await user_headers(ctx, a.users[MemberRole.VIEWER]),
        "owner key": key_headers(a.keys[MemberRole.OWNER]),
    }
    failures = []
    checked = 0
    async with panel_client(ctx) as client:
        for method, path, _rule in operations(db, secret_box):
            params = _PARAM.findall(path)
            if not params:
                continue
            variants = [fill_path(path, b.ids)]
            if params != ["account_id"]:
                variants.append(fill_path(path, {**b.ids, "account_id": a.account_id}))
            for who, headers in principals.items():
                for url in variants:
                    response = await _call(client, method, url, headers)
                    checked += 1
                    if not _is_bare_404(response) or _leaks(b, response.text):
                        failures.append((who, method, url, response.status_code, response.text))
    assert checked > 150
    assert failures == []


# Fields named `*_id` that are not an object of the account, so not part of the checks below:
# a Telegram user id names a person (the same person may be a student of both accounts),
# `shop_id` is YooKassa's, and `before_id` is a cursor into the caller's own audit log.
NOT_OBJECT_IDS = frozenset({"telegram_user_id", "bound_telegram_user_id", "shop_id", "before_id"})
# `*_id` fields named differently from the path parameter of the object they point to.
ID_KINDS = {"course_version_id": "version_id", "default_deployment_id": "deployment_id"}
MISSING_ID = 2**31 - 1


def _object_ids(names: list[str]) -> list[str]:
    return [name for name in names if name.endswith("_id") and name not in NOT_OBJECT_IDS]


def _resolve(schema: dict, components: dict) -> dict:
    if "$ref" in schema:
        return components[schema["$ref"].rsplit("/", 1)[1]]
    return schema


def _example(schema: dict, components: dict) -> object:
    """A plausible value for a required field, enough for validation to let the body in."""
    schema = _resolve(schema, components)
    if "enum" in schema:
        return schema["enum"][0]
    if schema.get("type") == "integer":
        return int(schema.get("minimum", 1))
    if schema.get("type") == "string" and "pattern" not in schema:
        return "x" * int(schema.get("minLength", 1))
    raise AssertionError(f"teach _example a value for {schema}")


def body_id_cases(schema: dict) -> list[tuple[str, str, str, dict]]:
    """(method, path, id field, body schema) of every JSON body field naming an object."""
    components = schema["components"]["schemas"]
    cases = []
    for path, item in schema["paths"].items():
        for method, op in item.items():
            content = op.get("requestBody", {}).get("content", {}).get("application/json")
            if content is None:
                continue
            body_schema = _resolve(content["schema"], components)
            for name in _object_ids(list(body_schema.get("properties", {}))):
                cases.append((method.upper(), path, name, body_schema))
    return cases


def _kind(field: str) -> str:
    return ID_KINDS.get(field, field)


def _naming_body(
    body_schema: dict, components: dict, own: dict[str, int], field: str, value: int
) -> dict:
    """`field` set to `value`, and the required fields: ids of objects from `own`, the rest
    with plausible values."""
    body: dict[str, object] = {}
    for name in body_schema.get("required", []):
        if name in _object_ids([name]):
            body[name] = own[_kind(name)]
        else:
            body[name] = _example(body_schema["properties"][name], components)
    return {**body, field: value}


async def test_ids_of_another_account_in_bodies_are_404(db, secret_box, seed_account):
    """Naming B's object in a request body (deploy B's version on A's bot, make B's
    deployment A's bot's default, ban on B's bot) is 404 as for a path id, for a session and
    for an API key; the same body with A's own id then goes through, so the 404 is the id's
    and not a body the builder got wrong."""
    ctx = panel_context(db, secret_box)
    schema = create_app(ctx).openapi()
    components = schema["components"]["schemas"]
    cases = body_id_cases(schema)
    b = await build_world(db, await seed_account())
    failures = []
    async with panel_client(ctx) as client:
        for method, path, field, body_schema in cases:
            a = await build_world(db, await seed_account())  # fresh: the controls write
            url = fill_path(path, a.ids)
            owner = await user_headers(ctx, a.users[MemberRole.OWNER])
            foreign = _naming_body(body_schema, components, a.ids, field, b.ids[_kind(field)])
            for headers in (owner, key_headers(a.keys[MemberRole.OWNER])):
                response = await client.request(method, url, json=foreign, headers=headers)
                if not _is_bare_404(response) or _leaks(b, response.text):
                    failures.append((method, path, field, response.status_code, response.text))
            own = _naming_body(body_schema, components, a.ids, field, a.ids[_kind(field)])
            control = await client.request(method, url, json=own, headers=owner)
            if not control.is_success:
                failures.append(("own", method, path, field, control.status_code, control.text))
    assert len(cases) >= 5
    assert failures == []


def query_id_cases(schema: dict) -> list[tuple[str, str]]:
    """(path, parameter) of every GET query parameter naming an object."""
    return [
        (path, name)
        for path, item in schema["paths"].items()
        for name in _object_ids(
            [p["name"] for p in item.get("get", {}).get("parameters", []) if p["in"] == "query"]
        )
    ]


async def test_ids_of_another_account_in_queries_find_nothing(db, secret_box, seed_account):
    """Filtering A's lists by B's object (runs of B's deployment, deployments of B's bot, the
    funnel of B's version) answers exactly as for an id that exists nowhere: a bare 404 or
    the same empty 200, so the answer neither carries B's data nor tells that the id exists."""
    ctx = panel_context(db, secret_box)
    cases = query_id_cases(create_app(ctx).openapi())
    a = await build_world(db, await seed_account())
    b = await build_world(db, await seed_account())
    principals = (
        await user_headers(ctx, a.users[MemberRole.OWNER]),
        key_headers(a.keys[MemberRole.OWNER]),
    )
    failures = []
    async with panel_client(ctx) as client:
        for path, name in cases:
            url = fill_path(path, a.ids)
            for headers in principals:
                foreign = await client.get(url, params={name: b.ids[_kind(name)]}, headers=headers)
                missing = await client.get(url, params={name: MISSING_ID}, headers=headers)
                answer = (foreign.status_code, foreign.content)
                if (
                    foreign.status_code not in (200, 404)
                    or (foreign.status_code == 404 and not _is_bare_404(foreign))
                    or answer != (missing.status_code, missing.content)
                    or _leaks(b, foreign.text)
                ):
                    failures.append((path, name, foreign.status_code, foreign.text, missing.text))
    assert len(cases) >= 8
    assert failures == []


def _expected_ok(status: int) -> bool:
    return status < 500 and status not in (401, 403, 404)


async def test_each_role_gets_exactly_the_rights_of_the_table(db, secret_box, seed_account):
    """Per route, each role is refused (403) exactly when the table says so, and an allowed
    role gets through (no 401/403/404). Writes use a fresh account each time so one role's
    DELETE never decides the next role's answer."""
    ctx = panel_context(db, secret_box)
    shared = await build_world(db, await seed_account())
    failures = []
    async with panel_client(ctx) as client:
        for method, path, rule in operations(db, secret_box):
            if rule not in {p.value for p in Permission}:
                continue
            allowed = ROLE_RIGHTS[Permission(rule)]
            for role in sorted(ROLES, key=lambda r: r in allowed):  # refused roles first
                for kind in ("user", "key"):
                    world = shared
                    if role in allowed and method != "GET":
                        world = await build_world(db, await seed_account())
                    headers = (
                        await user_headers(ctx, world.users[role])
                        if kind == "user"
                        else key_headers(world.keys[role])
                    )
                    label = f"{role} {kind}"
                    response = await _call(client, method, fill_path(path, world.ids), headers)
                    ok = (
                        _expected_ok(response.status_code)
                        if role in allowed
                        else response.status_code == 403
                    )
                    if not ok:
                        failures.append((label, method, path, response.status_code, response.text))
    assert failures == []


async def test_global_rules(db, secret_box, make_account):
    ctx = panel_context(db, secret_box)
    await make_account(owner_telegram_user_id=SUPERADMIN_ID)
    failures = []
    async with panel_client(ctx) as client:
        for method, path, rule in operations(db, secret_box):
            url = fill_path(path, {"account_id": 1})
            if rule == GlobalRule.AUTHENTICATED:
                anonymous = await _call(client, method, url, {})
                user = await _call(client, method, url, await user_headers(ctx, 5_000_001))
                if anonymous.status_code != 401 or not _expected_ok(user.status_code):
                    failures.append((method, path, anonymous.status_code, user.status_code))
            elif rule == GlobalRule.SUPERADMIN:
                user = await _call(client, method, url, await user_headers(ctx, 5_000_001))
                admin = await _call(client, method, url, await user_headers(ctx, SUPERADMIN_ID))
                if (
                    user.status_code != 404
                    or admin.status_code >= 500
                    or admin.status_code
                    in (
                        401,
                        403,
                    )
                ):
                    failures.append((method, path, user.status_code, admin.status_code))
            elif rule == GlobalRule.PUBLIC:
                anonymous = await _call(client, method, url, {})
                if anonymous.status_code in (401, 403) and path.endswith("logout"):
                    failures.append((method, path, anonymous.status_code))
    assert failures == []


@pytest.mark.parametrize("document", ["docs/panel.md", "README.md"])
def test_docs_show_the_roles_table_of_the_code(document):
    text = (Path(__file__).resolve().parents[2] / document).read_text(encoding="utf-8")
    assert roles_table_markdown() in text


async def test_bad_input_is_a_clear_4xx_not_a_crash(db, secret_box, make_account):
    owner = 95_000_001
    account_id = await make_account(owner_telegram_user_id=owner)
    ctx = panel_context(db, secret_box)
    ctx.panel = replace(ctx.panel, max_body_bytes=4096)
    headers = await user_headers(ctx, owner)
    async with panel_client(ctx) as client:
        nul = await client.post("/api/v1/accounts", json={"name": "a\x00b"}, headers=headers)
        assert nul.status_code == 422 and "NUL" in nul.text
        query = await client.get(
            f"/api/v1/accounts/{account_id}/students", params={"q": "x\x00"}, headers=headers
        )
        assert query.status_code == 422
        huge = await client.post(
            f"/api/v1/accounts/{account_id}/courses/validate",
            json={"source": "a" * 10_000},
            headers=headers,
        )
        assert huge.status_code == 413
        not_json = await client.post(
            f"/api/v1/accounts/{account_id}/courses/validate",
            content=b"{not json",
            headers={**headers, "Content-Type": "application/json"},
        )
        assert not_json.status_code == 422


async def test_422_says_where_and_why_but_never_echoes_what_was_sent(db, secret_box, make_account):
    """A bot token or API key in a malformed body (a list instead of a string, a typo in the
    field name, a key pasted with a space) is refused without being reflected: a 422 names
    the field and the reason only, so the secret lands neither in the answer nor in its logs."""
    owner = 95_000_002
    account_id = await make_account(owner_telegram_user_id=owner)
    ctx = panel_context(db, secret_box)
    headers = await user_headers(ctx, owner)
    secret = "7312345678:AAsecret-never-echoed-0123456789"
    base = f"/api/v1/accounts/{account_id}"
    requests = [
        ("POST", f"{base}/bots", {"token": [secret]}, ["body", "token"]),
        ("POST", f"{base}/bots", {"tokn": secret}, ["body", "token"]),
        (
            "PUT",
            f"{base}/integrations/llm",
            {"base_url": "https://llm.example/v1", "api_key": f"{secret} "},
            ["body", "api_key"],
        ),
    ]
    async with panel_client(ctx) as client:
        for method, url, body, where in requests:
            response = await client.request(method, url, json=body, headers=headers)
            assert response.status_code == 422
            assert secret not in response.text
            errors = response.json()["detail"]
            assert all(set(error) == {"loc", "msg", "type"} for error in errors)
            assert where in [error["loc"] for error in errors]
