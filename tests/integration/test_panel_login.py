"""Logging in safely: each signed Telegram login works once, only in the browser that opened
the login page and never through a URL; logging out ends the session on the server; the
development login exists only where nobody else can reach it; login data reaches no log line.

Browsers are driven as `test_web_support` does, but the forms are read off the pages here
(`hidden_fields`), so each test states exactly what a browser would post.
"""

from __future__ import annotations

import asyncio
import dataclasses
import io
import itertools
import json
import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import urlencode

import httpx
import pytest
import uvicorn

from observability.logs import configure_logging
from panel_api.app import create_app
from panel_api.context import PanelContext
from tests.integration.test_panel_support import LOGIN_BOT_TOKEN, panel_client, panel_context
from tests.integration.test_web_support import signed_login, text_of, web_browser

pytestmark = pytest.mark.integration

_HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)"')
_users = itertools.count(98_000_000)


def hidden_fields(page: str, action: str) -> dict[str, str]:
    """The hidden inputs of the page's form posting to `action` (nonce, CSRF token, next)."""
    form = page[page.index(f'action="{action}"') :]
    form = form[: form.index("</form>")]
    return dict(_HIDDEN.findall(form))


async def telegram_login(browser_client: httpx.AsyncClient, data: dict) -> httpx.Response:
    """What the login page's script does with the login Telegram handed it."""
    page = await browser_client.get("/login")
    form = {**hidden_fields(page.text, "/login/telegram"), "auth_data": json.dumps(data)}
    return await browser_client.post("/login/telegram", data=form)


def session_cookie(response: httpx.Response) -> str | None:
    return next(
        (c for c in response.headers.get_list("set-cookie") if c.startswith("cb_session=")), None
    )


# --- each signed login once ------------------------------------------------------------------


async def test_a_signed_login_is_accepted_once(db, secret_box):
    ctx = panel_context(db, secret_box)
    data = signed_login(next(_users))
    async with panel_client(ctx) as client:
        first = await client.post("/api/v1/auth/telegram", json=data)
        again = await client.post("/api/v1/auth/telegram", json=data)
        upper = await client.post(
            "/api/v1/auth/telegram", json={**data, "hash": data["hash"].upper()}
        )
    assert first.status_code == 200
    for replay in (again, upper):
        assert replay.status_code == 401
        assert replay.json()["detail"] == "this login was already used; log in with Telegram again"
        assert session_cookie(replay) is None


async def test_the_login_page_and_the_api_share_the_used_logins(db, secret_box):
    ctx = panel_context(db, secret_box)
    data = signed_login(next(_users))
    async with web_browser(ctx) as browser:
        assert (await telegram_login(browser.client, data)).status_code == 303
    async with web_browser(ctx) as elsewhere:
        replayed = await telegram_login(elsewhere.client, data)
        assert replayed.status_code == 401 and session_cookie(replayed) is None
        assert "already used" in text_of(replayed.text)
    async with panel_client(ctx) as client:
        assert (await client.post("/api/v1/auth/telegram", json=data)).status_code == 401


async def test_the_api_login_takes_only_a_json_body(db, secret_box):
    """A cross-site page can post a form anywhere, but not JSON without CORS consent."""
    ctx = panel_context(db, secret_box)
    async with panel_client(ctx) as client:
        as_form = await client.post("/api/v1/auth/telegram", data=signed_login(next(_users)))
    assert as_form.status_code == 422 and session_cookie(as_form) is None


# --- a login completes only in the browser that started it ----------------------------------


async def test_a_login_post_without_this_browsers_nonce_is_refused(db, secret_box):
    ctx = panel_context(db, secret_box)
    async with web_browser(ctx) as attacker, web_browser(ctx) as victim:
        attackers_page = await attacker.get("/login")
        attackers_form = hidden_fields(attackers_page.text, "/login/telegram")
        planted = {**attackers_form, "auth_data": json.dumps(signed_login(next(_users)))}
        # A cross-site form posts the attacker's own signed login and nonce from the victim's
        # browser, which never opened the login page: no nonce cookie.
        no_cookie = await victim.client.post("/login/telegram", data=planted)
        # The victim did open the login page (its own nonce), the form carries another one.
        await victim.get("/login")
        other_nonce = await victim.client.post("/login/telegram", data=planted)
        no_field = await victim.client.post(
            "/login/telegram", data={"auth_data": json.dumps(signed_login(next(_users)))}
        )
        for refused in (no_cookie, other_nonce, no_field):
            assert refused.status_code == 403, refused.text
            assert session_cookie(refused) is None
            assert "started in another browser" in text_of(refused.text)
        assert (await victim.client.get("/api/v1/me")).status_code == 401
        # The same kind of post with the victim's own page works: only the nonce was missing.
        assert (await telegram_login(victim.client, signed_login(next(_users)))).status_code == 303


async def test_a_signed_login_in_a_url_logs_nobody_in(db, secret_box):
    ctx = panel_context(db, secret_box)
    async with web_browser(ctx) as browser:
        response = await browser.client.get(
            "/login/telegram?" + urlencode(signed_login(next(_users)))
        )
        assert response.status_code == 405
        assert session_cookie(response) is None
        assert (await browser.client.get("/api/v1/me")).status_code == 401


# --- logging out ends the session ----------------------------------------------------------


async def test_logout_ends_the_session_a_copied_cookie_included(db, secret_box):
    ctx = panel_context(db, secret_box)
    async with panel_client(ctx) as client:
        login = await client.post("/api/v1/auth/telegram", json=signed_login(next(_users)))
        copied = {"Cookie": session_cookie(login).split(";", 1)[0]}
        assert (await client.get("/api/v1/me", headers=copied)).status_code == 200
        assert (await client.post("/api/v1/auth/logout")).status_code == 204
        after = await client.get("/api/v1/me", headers=copied)
    assert after.status_code == 401
    assert after.json()["detail"] == "the session has ended; log in again"


async def test_logging_out_of_the_web_panel_ends_the_session(db, secret_box, make_account):
    user = next(_users)
    account_id = await make_account(owner_telegram_user_id=user)
    ctx = panel_context(db, secret_box)
    async with web_browser(ctx) as browser:
        login = await telegram_login(browser.client, signed_login(user))
        copied = {"Cookie": session_cookie(login).split(";", 1)[0]}
        page = await browser.get(f"/accounts/{account_id}")
        assert page.status_code == 200
        await browser.post("/logout")
    async with panel_client(ctx) as other:
        reused = await other.get(f"/api/v1/accounts/{account_id}", headers=copied)
    assert reused.status_code == 401


# --- the development login -------------------------------------------------------------------


def local_panel(ctx: PanelContext, **changes: object) -> PanelContext:
    """A development panel: no login bot, listening on loopback (then `changes` applied)."""
    panel = dataclasses.replace(ctx.panel, login_bot_token=changes.pop("login_bot_token", None))
    settings = ctx.settings.replace(**{"panel_host": "127.0.0.1", **changes})
    return dataclasses.replace(ctx, panel=panel, settings=settings)


async def dev_login(ctx: PanelContext, user_id: int) -> tuple[str, httpx.Response]:
    """Open the login page and post its local form, as a person would; (page, answer)."""
    async with web_browser(ctx) as browser:
        page = await browser.get("/login")
        hidden = hidden_fields(page.text, "/login/dev") if "/login/dev" in page.text else {}
        answer = await browser.client.post(
            "/login/dev", data={**hidden, "telegram_user_id": str(user_id)}
        )
        return page.text, answer


@pytest.mark.parametrize("host", ["127.0.0.1", "::1", "localhost"])
async def test_the_development_login_works_on_a_local_development_panel(
    db, secret_box, make_account, host
):
    user = next(_users)
    account_id = await make_account(owner_telegram_user_id=user)
    ctx = local_panel(panel_context(db, secret_box), panel_host=host)
    page, answer = await dev_login(ctx, user)
    assert "Local login (development mode)" in text_of(page)
    assert "COURSEBOT_" not in page  # people read plain words, not setting names
    assert answer.status_code == 303 and answer.headers["location"] == f"/accounts/{account_id}"
    assert session_cookie(answer) is not None


@pytest.mark.parametrize(
    "changes",
    [
        {"login_bot_token": LOGIN_BOT_TOKEN},
        {"production": True},
        {"panel_host": "0.0.0.0"},
        {"panel_host": "10.1.2.3"},
    ],
    ids=["a login bot is set", "production", "all interfaces", "a private address"],
)
async def test_the_development_login_does_not_exist_elsewhere(db, secret_box, changes):
    ctx = local_panel(panel_context(db, secret_box), **changes)
    page, answer = await dev_login(ctx, next(_users))
    assert "/login/dev" not in page and "Local login" not in text_of(page)
    assert "COURSEBOT_" not in page
    assert answer.status_code == 404
    assert session_cookie(answer) is None


# --- login data in no log line ---------------------------------------------------------------


@asynccontextmanager
async def served_with_process_logging(ctx: PanelContext, fmt: str) -> AsyncIterator[tuple]:
    """The panel behind uvicorn over real HTTP, logging as `coursebot up` sets it up
    (runner.py: our handler on the root logger, uvicorn's access log through it). Other
    tests' uvicorn servers gave uvicorn's loggers handlers of their own: set aside here, as
    in a fresh process."""
    stream = io.StringIO()
    root = logging.getLogger()
    level = root.level
    uvicorn_loggers = [logging.getLogger(n) for n in ("uvicorn", "uvicorn.error", "uvicorn.access")]
    saved = [(lg.handlers, lg.propagate, lg.level) for lg in uvicorn_loggers]
    for lg in uvicorn_loggers:
        lg.handlers, lg.propagate, lg.level = [], True, logging.NOTSET
    handler = configure_logging("INFO", fmt, stream=stream)
    config = uvicorn.Config(
        create_app(ctx), host="127.0.0.1", port=0, log_level="info", log_config=None
    )
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve())
    try:
        while not server.started:
            if serving.done():
                serving.result()
            await asyncio.sleep(0.02)
        port = server.servers[0].sockets[0].getsockname()[1]
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            yield client, stream
    finally:
        server.should_exit = True
        await serving
        root.removeHandler(handler)
        root.setLevel(level)
        for lg, (handlers, propagate, lg_level) in zip(uvicorn_loggers, saved, strict=True):
            lg.handlers, lg.propagate, lg.level = handlers, propagate, lg_level


@pytest.mark.parametrize("fmt", ["text", "json"])
async def test_login_data_reaches_no_log_line(db, secret_box, fmt):
    ctx = panel_context(db, secret_box)
    by_page, by_api, in_url = (signed_login(next(_users)) for _ in range(3))
    async with served_with_process_logging(ctx, fmt) as (client, logs):
        assert (await telegram_login(client, by_page)).status_code == 303
        assert (await client.post("/api/v1/auth/telegram", json=by_api)).status_code == 200
        # An old bookmark or a hand-made link: refused, and its URL is still logged.
        await client.get("/login/telegram?" + urlencode(in_url))
        logging.getLogger("coursebot.test").info("login fields were %s", in_url)
    lines = logs.getvalue().splitlines()
    assert any("POST /login/telegram" in line for line in lines)  # the access log is there
    assert any("GET /login/telegram?" in line for line in lines)
    for data in (by_page, by_api, in_url):
        assert [line for line in lines if data["hash"] in line] == []


async def test_a_script_logs_in_to_a_development_panel_with_one_api_call(
    db, secret_box, make_account
):
    user = next(_users)
    account_id = await make_account(owner_telegram_user_id=user)
    ctx = local_panel(panel_context(db, secret_box))
    async with panel_client(ctx) as client:
        login = await client.post(
            "/api/v1/auth/dev", json={"telegram_user_id": user, "username": "@teacher_1"}
        )
        assert login.status_code == 200
        assert [a["id"] for a in login.json()["accounts"]] == [account_id]
        me = await client.get("/api/v1/me")  # the client keeps the cookie, as a script would
    assert me.status_code == 200 and me.json()["user"]["username"] == "teacher_1"


@pytest.mark.parametrize(
    "changes",
    [{"login_bot_token": LOGIN_BOT_TOKEN}, {"production": True}, {"panel_host": "0.0.0.0"}],
    ids=["a login bot is set", "production", "all interfaces"],
)
async def test_the_api_development_login_is_guarded_like_the_form(db, secret_box, changes):
    ctx = local_panel(panel_context(db, secret_box), **changes)
    async with panel_client(ctx) as client:
        login = await client.post("/api/v1/auth/dev", json={"telegram_user_id": next(_users)})
        me = await client.get("/api/v1/me")
    assert login.status_code == 404 and "set-cookie" not in login.headers
    assert me.status_code == 401
