"""Tenant isolation and the roles table, checked on EVERY route of the OpenAPI schema.

The routes are read from `app.openapi()`, not listed here: a new route is covered the day it
is added, and a route without a rule fails `test_every_route_has_a_rule`.
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest

from panel_api.app import API_PREFIX, create_app
from panel_api.permissions import (
    ROLE_RIGHTS,
    ROLES,
    GlobalRule,
    Permission,
    roles_table_markdown,
)
from storage.models import MemberRole
from tests.integration.test_panel_support import (
    SUPERADMIN_ID,
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


async def test_every_route_has_a_rule(db, secret_box):
    known = {p.value for p in Permission} | {g.value for g in GlobalRule}
    ops = operations(db, secret_box)
    assert len(ops) > 60
    missing = [(m, p) for m, p, rule in ops if rule not in known]
    assert missing == []


async def test_ids_of_another_account_are_404_on_every_route(db, secret_box, seed_account):
    """A user of account A naming B (or B's objects, inside A's path) gets 404 and nothing
    else — as owner, as viewer (who would otherwise get 403s) and with an API key."""
    a = await build_world(db, await seed_account())
    b = await build_world(db, await seed_account())
    ctx = panel_context(db, secret_box)
    principals = {
        "owner": user_headers(ctx, a.users[MemberRole.OWNER]),
        "viewer": user_headers(ctx, a.users[MemberRole.VIEWER]),
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
                    body = response.json() if response.content else {}
                    leaks = b.seed.token in response.text or str(b.seed.chat_id) in response.text
                    if response.status_code != 404 or set(body) != {"detail"} or leaks:
                        failures.append((who, method, url, response.status_code, body))
    assert checked > 150
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
                        user_headers(ctx, world.users[role])
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
                user = await _call(client, method, url, user_headers(ctx, 5_000_001))
                if anonymous.status_code != 401 or not _expected_ok(user.status_code):
                    failures.append((method, path, anonymous.status_code, user.status_code))
            elif rule == GlobalRule.SUPERADMIN:
                user = await _call(client, method, url, user_headers(ctx, 5_000_001))
                admin = await _call(client, method, url, user_headers(ctx, SUPERADMIN_ID))
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
    headers = user_headers(ctx, owner)
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
