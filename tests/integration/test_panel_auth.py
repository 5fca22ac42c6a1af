"""Logging in with the Telegram Login Widget, session cookies and API keys."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from panel_api.auth.sessions import COOKIE_NAME
from panel_api.auth.telegram_login import widget_hash
from storage.config import SettingsError, parse_superadmins
from storage.crypto import Secret
from tests.integration.test_panel_support import (
    LOGIN_BOT_TOKEN,
    SUPERADMIN_ID,
    key_headers,
    panel_client,
    panel_context,
    user_headers,
)

pytestmark = pytest.mark.integration

OTHER_BOT_TOKEN = Secret("999:another-bot-that-signs-nothing-here")


def signed(fields: dict, token=LOGIN_BOT_TOKEN) -> dict:
    return {**fields, "hash": widget_hash(fields, token)}


def widget_data(user_id: int, *, age: timedelta = timedelta(seconds=5), **extra) -> dict:
    fields = {
        "id": user_id,
        "first_name": "Anna",
        "username": "anna_teacher",
        "photo_url": "https://t.me/i/userpic/320/anna.jpg",
        "auth_date": int(time.time() - age.total_seconds()),
        **extra,
    }
    return signed(fields)


async def test_valid_widget_data_logs_in_and_sets_a_safe_cookie(db, secret_box, make_account):
    user_id = 91_000_001
    account_id = await make_account(owner_telegram_user_id=user_id)
    ctx = panel_context(db, secret_box)
    async with panel_client(ctx) as client:
        response = await client.post("/api/v1/auth/telegram", json=widget_data(user_id))
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["user"] == {
            "telegram_user_id": user_id,
            "username": "anna_teacher",
            "superadmin": False,
        }
        assert [(a["id"], a["role"]) for a in body["accounts"]] == [(account_id, "owner")]
        set_cookie = response.headers["set-cookie"]
        assert set_cookie.startswith(f"{COOKIE_NAME}=")
        assert "HttpOnly" in set_cookie and "samesite=lax" in set_cookie.lower()

        me = await client.get("/api/v1/me")  # the client keeps the cookie, like a browser
        assert me.status_code == 200
        assert me.json()["user"]["telegram_user_id"] == user_id
        account = await client.get(f"/api/v1/accounts/{account_id}")
        assert account.status_code == 200 and account.json()["role"] == "owner"

        logout = await client.post("/api/v1/auth/logout")
        assert logout.status_code == 204
        assert (await client.get("/api/v1/me")).status_code == 401


async def test_fields_telegram_adds_later_are_part_of_the_signature(db, secret_box):
    ctx = panel_context(db, secret_box)
    async with panel_client(ctx) as client:
        ok = await client.post(
            "/api/v1/auth/telegram", json=widget_data(91_000_002, allows_write_to_pm="true")
        )
        assert ok.status_code == 200
        data = widget_data(91_000_002)
        data["allows_write_to_pm"] = "true"  # added after signing
        assert (await client.post("/api/v1/auth/telegram", json=data)).status_code == 401


@pytest.mark.parametrize(
    "tamper",
    [
        lambda d: d.update(id=d["id"] + 1),
        lambda d: d.update(username="admin"),
        lambda d: d.update(hash=d["hash"][:-1] + ("0" if d["hash"][-1] != "0" else "1")),
        lambda d: d.update(
            hash=widget_hash({k: v for k, v in d.items() if k != "hash"}, OTHER_BOT_TOKEN)
        ),
        lambda d: d.pop("photo_url"),
    ],
    ids=["other user id", "changed username", "flipped hash", "other bot's key", "field removed"],
)
async def test_tampered_widget_data_is_rejected(db, secret_box, tamper):
    ctx = panel_context(db, secret_box)
    data = widget_data(91_000_003)
    tamper(data)
    async with panel_client(ctx) as client:
        response = await client.post("/api/v1/auth/telegram", json=data)
    assert response.status_code == 401
    assert "signature" in response.json()["detail"]
    assert "set-cookie" not in response.headers


async def test_stale_or_future_login_data_is_rejected(db, secret_box):
    ctx = panel_context(db, secret_box)
    max_age = timedelta(seconds=ctx.panel.login_max_age_s)
    async with panel_client(ctx) as client:
        expired = await client.post(
            "/api/v1/auth/telegram", json=widget_data(91_000_004, age=max_age + timedelta(1))
        )
        future = await client.post(
            "/api/v1/auth/telegram", json=widget_data(91_000_004, age=-timedelta(hours=1))
        )
        fresh = await client.post(
            "/api/v1/auth/telegram",
            json=widget_data(91_000_004, age=max_age - timedelta(minutes=1)),
        )
    assert expired.status_code == 401 and "expired" in expired.json()["detail"]
    assert future.status_code == 401 and "future" in future.json()["detail"]
    assert fresh.status_code == 200


async def test_login_without_a_configured_bot_is_a_clear_503(db, secret_box):
    ctx = panel_context(db, secret_box)
    ctx.panel = type(ctx.panel)(login_bot_token=None)
    async with panel_client(ctx) as client:
        response = await client.post("/api/v1/auth/telegram", json=widget_data(91_000_005))
    assert response.status_code == 503
    assert "COURSEBOT_LOGIN_BOT_TOKEN" in response.json()["detail"]


async def test_forged_or_expired_cookies_are_refused(db, secret_box, make_account):
    user_id = 91_000_006
    account_id = await make_account(owner_telegram_user_id=user_id)
    ctx = panel_context(db, secret_box)
    good = (await user_headers(ctx, user_id))["Cookie"]
    token = good.split("=", 1)[1]
    forged = f"{COOKIE_NAME}={token[:-1]}{'A' if token[-1] != 'A' else 'B'}"
    later = panel_context(
        db, secret_box, clock=lambda: datetime.now(UTC) + timedelta(days=8)
    )  # past the 7-day session
    async with panel_client(ctx) as client:
        url = f"/api/v1/accounts/{account_id}"
        assert (await client.get(url, headers={"Cookie": good})).status_code == 200
        assert (await client.get(url, headers={"Cookie": forged})).status_code == 401
        assert (await client.get(url)).status_code == 401
    async with panel_client(later) as client:
        expired = await client.get(url, headers={"Cookie": good})
    assert expired.status_code == 401
    assert expired.json()["detail"] == "the session has ended; log in again"


async def test_api_keys_work_until_revoked_and_only_in_their_account(db, secret_box, make_account):
    owner = 91_000_007
    account_id = await make_account(owner_telegram_user_id=owner)
    other_account = await make_account()
    ctx = panel_context(db, secret_box)
    async with panel_client(ctx) as client:
        created = await client.post(
            f"/api/v1/accounts/{account_id}/api-keys",
            json={"name": "ci", "role": "viewer"},
            headers=await user_headers(ctx, owner),
        )
        assert created.status_code == 201
        key = created.json()["key"]
        listed = await client.get(
            f"/api/v1/accounts/{account_id}/api-keys", headers=await user_headers(ctx, owner)
        )
        assert key not in listed.text  # shown once, stored only as a hash
        url = f"/api/v1/accounts/{account_id}/courses"
        assert (await client.get(url, headers=key_headers(key))).status_code == 200
        assert (
            await client.post(url, json={"title": "x", "source": "a: b"}, headers=key_headers(key))
        ).status_code == 403  # a viewer key cannot write
        foreign = f"/api/v1/accounts/{other_account}/courses"
        assert (await client.get(foreign, headers=key_headers(key))).status_code == 404
        assert (await client.get("/api/v1/me", headers=key_headers(key))).status_code == 403
        bad_scheme = await client.get(url, headers={"Authorization": f"Token {key}"})
        assert bad_scheme.status_code == 401

        key_id = created.json()["id"]
        revoke = await client.delete(
            f"/api/v1/accounts/{account_id}/api-keys/{key_id}",
            headers=await user_headers(ctx, owner),
        )
        assert revoke.status_code == 204
        # A revoked key fails loudly even when a valid session cookie is also present.
        both = {**key_headers(key), **await user_headers(ctx, owner)}
        assert (await client.get(url, headers=both)).status_code == 401


async def test_superadmins_come_from_config(db, secret_box):
    ctx = panel_context(db, secret_box)
    async with panel_client(ctx) as client:
        me = await client.get("/api/v1/me", headers=await user_headers(ctx, SUPERADMIN_ID))
    assert me.json()["user"]["superadmin"] is True
    assert parse_superadmins(" 1, 22 ,") == {1, 22}
    with pytest.raises(SettingsError, match="COURSEBOT_SUPERADMINS"):
        parse_superadmins("1,abc")
