"""Tenant isolation and the roles table on EVERY page of the web panel, like the API's test.

The pages are read from the app (`pages_router()`), not listed here: a new page is covered
the day it is added. Each page carries one rule of the API's table (the app refuses to start
otherwise), and here each page is called with another account's ids (404, nothing leaked)
and by each role (403 exactly where the table says so).
"""

from __future__ import annotations

import re
from contextlib import AsyncExitStack

import pytest

from panel_api.access import AccountRule, PublicRule, UserRule, rule_table
from panel_api.permissions import ROLE_RIGHTS, ROLES
from panel_api.web.routes import pages_router
from storage.models import MemberRole
from tests.integration.test_panel_support import build_world, fill_path, panel_context
from tests.integration.test_web_support import Browser, web_browser

pytestmark = pytest.mark.integration

_PARAM = re.compile(r"{(\w+)}")
# What each page may do, as the roles table names it: the same right as the API operation the
# page performs (a page that adds a bot needs bots.manage, like POST /bots). A new page must be
# added here, so its right is decided on purpose.
EXPECTED_RULES: dict[tuple[str, str], str] = {
    ("GET", "/"): "public",
    ("GET", "/accounts"): "authenticated",
    ("POST", "/accounts"): "authenticated",
    ("GET", "/accounts/{account_id}"): "account.read",
    ("GET", "/accounts/{account_id}/analytics"): "analytics.read",
    ("GET", "/accounts/{account_id}/settings"): "account.update",
    ("POST", "/accounts/{account_id}/settings"): "account.update",
    ("GET", "/accounts/{account_id}/api-keys"): "api_keys.manage",
    ("POST", "/accounts/{account_id}/api-keys"): "api_keys.manage",
    ("POST", "/accounts/{account_id}/api-keys/{api_key_id}/revoke"): "api_keys.manage",
    ("GET", "/accounts/{account_id}/broadcasts"): "broadcasts.read",
    ("POST", "/accounts/{account_id}/broadcasts"): "broadcasts.send",
    ("GET", "/accounts/{account_id}/broadcasts/{broadcast_id}"): "broadcasts.read",
    ("POST", "/accounts/{account_id}/broadcasts/{broadcast_id}/cancel"): "broadcasts.send",
    ("POST", "/accounts/{account_id}/bans"): "students.manage",
    ("POST", "/accounts/{account_id}/bans/{ban_id}/delete"): "students.manage",
    ("GET", "/accounts/{account_id}/bots"): "bots.read",
    ("POST", "/accounts/{account_id}/bots"): "bots.manage",
    ("POST", "/accounts/{account_id}/bots/{bot_id}"): "bots.manage",
    ("GET", "/accounts/{account_id}/courses"): "courses.read",
    ("POST", "/accounts/{account_id}/courses"): "courses.write",
    ("POST", "/accounts/{account_id}/courses/import-sheet"): "courses.write",
    ("GET", "/accounts/{account_id}/courses/{course_id}"): "courses.read",
    ("POST", "/accounts/{account_id}/courses/{course_id}/versions"): "courses.write",
    ("POST", "/accounts/{account_id}/courses/{course_id}/versions/import-sheet"): "courses.write",
    ("GET", "/accounts/{account_id}/courses/{course_id}/versions/{version_id}"): "courses.read",
    ("GET", "/accounts/{account_id}/courses/{course_id}/versions/{version_id}/simulator"): (
        "courses.read"
    ),
    ("POST", "/accounts/{account_id}/courses/{course_id}/versions/{version_id}/simulator"): (
        "courses.read"
    ),
    ("GET", "/accounts/{account_id}/courses/{course_id}/edit"): "courses.write",
    ("POST", "/accounts/{account_id}/courses/{course_id}/edit"): "courses.write",
    ("POST", "/accounts/{account_id}/courses/{course_id}/edit/check"): "courses.write",
    ("GET", "/accounts/{account_id}/deployments"): "deployments.read",
    ("POST", "/accounts/{account_id}/deployments"): "deployments.manage",
    ("GET", "/accounts/{account_id}/deployments/{deployment_id}"): "deployments.read",
    ("POST", "/accounts/{account_id}/deployments/{deployment_id}"): "deployments.manage",
    ("POST", "/accounts/{account_id}/deployments/{deployment_id}/reminders"): "deployments.manage",
    (
        "POST",
        "/accounts/{account_id}/deployments/{deployment_id}/reminders/{reminder_id}/delete",
    ): "deployments.manage",
    (
        "POST",
        "/accounts/{account_id}/deployments/{deployment_id}/notifications",
    ): "deployments.read",
    ("GET", "/accounts/{account_id}/deployments/{deployment_id}/analytics"): "analytics.read",
    ("GET", "/accounts/{account_id}/deployments/{deployment_id}/analytics.csv"): "analytics.read",
    ("POST", "/accounts/{account_id}/deployments/{deployment_id}/tokens"): "tokens.manage",
    ("POST", "/accounts/{account_id}/deployments/{deployment_id}/help"): "deployments.manage",
    (
        "GET",
        "/accounts/{account_id}/deployments/{deployment_id}/tokens/{token_id}/qr.svg",
    ): "tokens.read",
    (
        "POST",
        "/accounts/{account_id}/deployments/{deployment_id}/tokens/{token_id}/revoke",
    ): "tokens.manage",
    ("GET", "/accounts/{account_id}/integrations"): "integrations.read",
    ("POST", "/accounts/{account_id}/integrations/google-sheets"): "integrations.manage",
    ("POST", "/accounts/{account_id}/integrations/llm"): "integrations.manage",
    ("POST", "/accounts/{account_id}/integrations/llm/delete"): "integrations.manage",
    ("POST", "/accounts/{account_id}/integrations/yookassa"): "integrations.manage",
    ("POST", "/accounts/{account_id}/integrations/yookassa/delete"): "integrations.manage",
    ("GET", "/accounts/{account_id}/runs"): "runs.read",
    ("GET", "/accounts/{account_id}/runs/{run_id}"): "runs.read",
    ("POST", "/accounts/{account_id}/runs/{run_id}/stop"): "runs.manage",
    ("GET", "/accounts/{account_id}/students"): "students.read",
    ("GET", "/accounts/{account_id}/students/{student_user_id}"): "students.read",
    # members, audit log, deployment upgrade/price/allow-list, course delete/compare, operator
    ("GET", "/accounts/{account_id}/members"): "members.read",
    ("POST", "/accounts/{account_id}/members"): "members.manage",
    ("POST", "/accounts/{account_id}/members/{member_user_id}"): "members.manage",
    ("POST", "/accounts/{account_id}/members/{member_user_id}/remove"): "members.manage",
    ("GET", "/accounts/{account_id}/audit"): "audit.read",
    ("GET", "/accounts/{account_id}/deployments/{deployment_id}/upgrade"): "deployments.manage",
    ("POST", "/accounts/{account_id}/deployments/{deployment_id}/upgrade"): "deployments.manage",
    ("POST", "/accounts/{account_id}/deployments/{deployment_id}/settings"): "deployments.manage",
    ("POST", "/accounts/{account_id}/deployments/{deployment_id}/allow-list"): "students.manage",
    (
        "POST",
        "/accounts/{account_id}/deployments/{deployment_id}/allow-list/{entry_id}/remove",
    ): "students.manage",
    ("POST", "/accounts/{account_id}/courses/{course_id}/delete"): "courses.write",
    ("GET", "/accounts/{account_id}/courses/{course_id}/compare"): "courses.read",
    ("POST", "/accounts/{account_id}/delete"): "account.delete",
    ("POST", "/accounts/{account_id}/restore"): "account.delete",
    ("POST", "/accounts/{account_id}/purge"): "account.delete",
    ("POST", "/accounts/{account_id}/deployments/{deployment_id}/delete"): "deployments.manage",
    ("POST", "/accounts/{account_id}/bots/{bot_id}/token"): "bots.manage",
    ("POST", "/accounts/{account_id}/bots/{bot_id}/default"): "bots.manage",
    ("GET", "/admin"): "superadmin",
    ("POST", "/admin/accounts/{account_id}"): "superadmin",
    ("POST", "/admin/accounts/{account_id}/suspend"): "superadmin",
    ("POST", "/admin/accounts/{account_id}/restore"): "superadmin",
    ("POST", "/language"): "public",
    ("GET", "/login"): "public",
    ("POST", "/login/dev"): "public",
    ("POST", "/login/telegram"): "public",
    ("POST", "/logout"): "public",
    ("GET", "/switch"): "authenticated",
    ("GET", "/accounts/{account_id}/webhooks"): "integrations.read",
    ("POST", "/accounts/{account_id}/webhooks"): "integrations.manage",
    ("GET", "/accounts/{account_id}/webhooks/{endpoint_id}"): "integrations.read",
    ("POST", "/accounts/{account_id}/webhooks/{endpoint_id}/delete"): "integrations.manage",
    ("POST", "/accounts/{account_id}/webhooks/{endpoint_id}/secret"): "integrations.manage",
    (
        "POST",
        "/accounts/{account_id}/webhooks/{endpoint_id}/deliveries/{delivery_id}/replay",
    ): "integrations.manage",
}


def pages() -> list[tuple[str, str, object]]:
    table = rule_table(pages_router().routes, "")
    return sorted((method.upper(), path, rule) for (method, path), rule in table.items())


async def call(browser: Browser, method: str, url: str):
    if method == "GET":
        return await browser.get(url)
    return await browser.post(url, {})


async def logged_in(stack: AsyncExitStack, ctx, user_id: int) -> Browser:
    browser = await stack.enter_async_context(web_browser(ctx))
    await browser.log_in(user_id)
    await browser.get("/accounts")  # picks up this session's CSRF token
    return browser


def test_every_page_has_exactly_one_rule_of_the_table():
    found = pages()
    assert {(method, path): rule.name for method, path, rule in found} == EXPECTED_RULES
    kinds = {type(rule) for _, _, rule in found}
    assert kinds <= {AccountRule, UserRule, PublicRule}
    account_pages = [path for _, path, rule in found if isinstance(rule, AccountRule)]
    assert all(path.startswith("/accounts/{account_id}") for path in account_pages)


async def test_another_accounts_ids_are_404_on_every_page(db, secret_box, seed_account):
    a = await build_world(db, await seed_account())
    b = await build_world(db, await seed_account())
    ctx = panel_context(db, secret_box)
    failures = []
    checked = 0
    async with AsyncExitStack() as stack:
        owner = await logged_in(stack, ctx, a.users[MemberRole.OWNER])
        viewer = await logged_in(stack, ctx, a.users[MemberRole.VIEWER])
        for method, path, rule in pages():
            params = _PARAM.findall(path)
            if not isinstance(rule, AccountRule):
                continue
            variants = [fill_path(path, b.ids)]
            if params != ["account_id"]:
                variants.append(fill_path(path, {**b.ids, "account_id": a.account_id}))
            for who, browser in (("owner", owner), ("viewer", viewer)):
                for url in variants:
                    response = await call(browser, method, url)
                    checked += 1
                    # The page echoes its own address (the language form comes back to
                    # it), which holds the student's id on a student's page.
                    shown = response.text.replace(url, "")
                    leaks = b.seed.token in shown or str(b.seed.chat_id) in shown
                    if response.status_code != 404 or leaks:
                        failures.append((who, method, url, response.status_code))
    assert checked > 80
    assert failures == []


async def test_each_role_sees_exactly_the_pages_the_table_allows(db, secret_box, seed_account):
    """A refused role gets the 403 page; an allowed one gets through (no 401/403/404, no
    5xx). Form posts of allowed roles run in a fresh account each time, so one role's
    revoke or unban never decides the next role's answer."""
    ctx = panel_context(db, secret_box)
    shared = await build_world(db, await seed_account())
    failures = []
    async with AsyncExitStack() as stack:
        browsers = {role: await logged_in(stack, ctx, shared.users[role]) for role in ROLES}
        for method, path, rule in pages():
            if not isinstance(rule, AccountRule):
                continue
            allowed = ROLE_RIGHTS[rule.permission]
            for role in ROLES:
                world, browser = shared, browsers[role]
                if role in allowed and method == "POST":
                    world = await build_world(db, await seed_account())
                    browser = await logged_in(stack, ctx, world.users[role])
                response = await call(browser, method, fill_path(path, world.ids))
                status = response.status_code
                ok = (
                    status < 500 and status not in (401, 403, 404)
                    if role in allowed
                    else status == 403
                )
                if not ok:
                    failures.append((role, method, path, status))
    assert failures == []


async def test_pages_without_a_session_send_the_browser_to_the_login(db, secret_box, make_account):
    account_id = await make_account()
    ctx = panel_context(db, secret_box)
    async with web_browser(ctx) as anonymous:
        await anonymous.get("/login")
        for method, path, rule in pages():
            if isinstance(rule, PublicRule):
                continue
            url = fill_path(path, {"account_id": account_id, "bot_id": 1, "course_id": 1})
            url = re.sub(r"{\w+}", "1", url)
            response = await call(anonymous, method, url)
            assert response.status_code == 303, (method, path, response.status_code)
            assert response.headers["location"].startswith("/login?next=")
