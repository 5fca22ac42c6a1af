"""API keys act for the member who made them: they die (401) the moment that member leaves
the account or loses a right the key's role has, and the key list says who made each.

Members log in through the API here (`logged_in`), as a script's author would."""

from __future__ import annotations

import itertools

import httpx
import pytest

from storage.repositories import members
from tests.integration.test_panel_support import SUPERADMIN_ID, panel_client, panel_context
from tests.integration.test_web_support import signed_login

pytestmark = pytest.mark.integration

KEY_ROLES = ("admin", "creator", "teacher", "viewer")
_users = itertools.count(99_000_000)


async def logged_in(client: httpx.AsyncClient, user_id: int) -> dict:
    """The Cookie header of a fresh login of this user."""
    response = await client.post("/api/v1/auth/telegram", json=signed_login(user_id))
    assert response.status_code == 200, response.text
    cookie = response.headers["set-cookie"].split(";", 1)[0]
    client.cookies.clear()  # each call names its caller explicitly
    return {"Cookie": cookie}


async def make_key(client: httpx.AsyncClient, account_id: int, headers: dict, role: str) -> str:
    created = await client.post(
        f"/api/v1/accounts/{account_id}/api-keys",
        json={"name": f"{role} script", "role": role},
        headers=headers,
    )
    assert created.status_code == 201, created.text
    return created.json()["key"]


def bearer(key: str) -> dict:
    return {"Authorization": f"Bearer {key}"}


async def test_a_removed_admins_key_dies_and_cannot_bring_them_back(db, secret_box, make_account):
    owner, admin = next(_users), next(_users)
    account_id = await make_account(owner_telegram_user_id=owner)
    ctx = panel_context(db, secret_box)
    members_url = f"/api/v1/accounts/{account_id}/members"
    async with panel_client(ctx) as client:
        as_owner = await logged_in(client, owner)
        added = await client.post(
            members_url, json={"telegram_user_id": admin, "role": "admin"}, headers=as_owner
        )
        assert added.status_code == 201
        key = await make_key(client, account_id, await logged_in(client, admin), "admin")
        assert (await client.get(members_url, headers=bearer(key))).status_code == 200

        removed = await client.delete(f"{members_url}/{admin}", headers=as_owner)
        assert removed.status_code == 204
        refused = await client.get(members_url, headers=bearer(key))
        assert refused.status_code == 401
        assert refused.json()["detail"] == (
            "the member who made this API key has left the account; make a new key"
        )
        back = await client.post(
            members_url, json={"telegram_user_id": admin, "role": "owner"}, headers=bearer(key)
        )
        assert back.status_code == 401
    async with db.tenant(account_id) as s:
        assert await members.get(s, account_id, admin) is None


async def test_a_demoted_makers_keys_die_where_the_new_role_falls_short(
    db, secret_box, make_account
):
    owner, admin = next(_users), next(_users)
    account_id = await make_account(owner_telegram_user_id=owner)
    ctx = panel_context(db, secret_box)
    base = f"/api/v1/accounts/{account_id}"
    async with panel_client(ctx) as client:
        as_owner = await logged_in(client, owner)
        await client.post(
            f"{base}/members", json={"telegram_user_id": admin, "role": "admin"}, headers=as_owner
        )
        as_admin = await logged_in(client, admin)
        keys = {role: await make_key(client, account_id, as_admin, role) for role in KEY_ROLES}
        # A key made with a key acts for the same person.
        keys["by key"] = await make_key(client, account_id, bearer(keys["admin"]), "viewer")
        demoted = await client.patch(
            f"{base}/members/{admin}", json={"role": "creator"}, headers=as_owner
        )
        assert demoted.status_code == 200
        answers = {
            name: (await client.get(f"{base}/courses", headers=bearer(key))).status_code
            for name, key in keys.items()
        }
        # A creator lacks an admin's rights, and a teacher's (stopping runs, bans): rights, not
        # a rank, decide; a creator has all of a viewer's and of a creator's.
        assert answers == {
            "admin": 401,
            "creator": 200,
            "teacher": 401,
            "viewer": 200,
            "by key": 200,
        }
        refused = await client.get(f"{base}/courses", headers=bearer(keys["admin"]))
        assert refused.json()["detail"] == (
            "the member who made this API key no longer has the role it needs; make a new key"
        )
        await client.delete(f"{base}/members/{admin}", headers=as_owner)
        assert (
            await client.get(f"{base}/courses", headers=bearer(keys["by key"]))
        ).status_code == (401)


async def test_a_super_admins_key_works_without_membership(db, secret_box, make_account):
    account_id = await make_account()
    ctx = panel_context(db, secret_box)
    async with panel_client(ctx) as client:
        key = await make_key(client, account_id, await logged_in(client, SUPERADMIN_ID), "owner")
        url = f"/api/v1/accounts/{account_id}/api-keys"
        assert (await client.get(url, headers=bearer(key))).status_code == 200


async def test_the_key_list_says_who_made_each_key(db, secret_box, make_account):
    owner, admin = next(_users), next(_users)
    account_id = await make_account(owner_telegram_user_id=owner)
    async with db.tenant(account_id) as s:
        await members.add(s, account_id, telegram_user_id=admin, role="admin", username="Ann_A")
    ctx = panel_context(db, secret_box)
    url = f"/api/v1/accounts/{account_id}/api-keys"
    async with panel_client(ctx) as client:
        as_owner = await logged_in(client, owner)
        await make_key(client, account_id, as_owner, "viewer")
        created = await client.post(
            url, json={"name": "ci", "role": "teacher"}, headers=await logged_in(client, admin)
        )
        assert created.json()["created_by"] == {"telegram_user_id": admin, "username": "Ann_A"}
        listed = (await client.get(url, headers=as_owner)).json()
    assert [(k["name"], k["created_by"]) for k in listed] == [
        ("viewer script", {"telegram_user_id": owner, "username": None}),
        ("ci", {"telegram_user_id": admin, "username": "Ann_A"}),
    ]
