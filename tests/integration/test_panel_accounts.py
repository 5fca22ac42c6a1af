"""Accounts (create, rename, soft delete -> restore -> purge, plans), members, audit log."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest
from sqlalchemy import text

from tests.integration import seeding
from tests.integration.conftest import random_telegram_id
from tests.integration.test_panel_support import (
    SUPERADMIN_ID,
    panel_client,
    panel_context,
    user_headers,
)

pytestmark = pytest.mark.integration


async def test_creator_becomes_owner_and_slugs_are_unique(db, secret_box):
    ctx = panel_context(db, secret_box)
    creator = 92_000_001
    as_creator = await user_headers(ctx, creator, "founder")
    async with panel_client(ctx) as client:
        created = await client.post(
            "/api/v1/accounts",
            json={"name": "Школа №1", "slug": "school-one-92"},
            headers=as_creator,
        )
        assert created.status_code == 201, created.text
        account = created.json()
        assert account["role"] == "owner" and account["plan"] == "free"
        assert account["limits"] == {"max_bots": 1, "max_courses": 3, "max_active_students": 100}
        assert account["usage"] == {"bots": 0, "courses": 0, "active_students": 0}
        members = await client.get(f"/api/v1/accounts/{account['id']}/members", headers=as_creator)
        assert [(m["telegram_user_id"], m["role"]) for m in members.json()] == [(creator, "owner")]
        again = await client.post(
            "/api/v1/accounts", json={"name": "Other", "slug": "school-one-92"}, headers=as_creator
        )
        assert again.status_code == 409 and "slug" in again.json()["detail"]
        generated = await client.post(
            "/api/v1/accounts", json={"name": "Школа"}, headers=as_creator
        )
        assert generated.status_code == 201
        assert generated.json()["slug"].startswith("school-")  # no latin letters in the name
        mine = await client.get("/api/v1/accounts", headers=as_creator)
        assert {a["id"] for a in mine.json()} == {account["id"], generated.json()["id"]}


async def test_accounts_per_person_are_limited_and_super_admins_are_exempt(db, secret_box):
    ctx = panel_context(db, secret_box)
    ctx.panel = dataclasses.replace(ctx.panel, max_accounts_per_user=2)
    as_person = await user_headers(ctx, random_telegram_id())
    as_operator = await user_headers(ctx, SUPERADMIN_ID)
    async with panel_client(ctx) as client:

        async def create(headers: dict, name: str = "School"):
            return await client.post("/api/v1/accounts", json={"name": name}, headers=headers)

        first, second = await create(as_person), await create(as_person)
        assert (first.status_code, second.status_code) == (201, 201)
        deleted = await client.delete(f"/api/v1/accounts/{second.json()['id']}", headers=as_person)
        assert deleted.status_code == 200
        refused = await create(as_person, "One too many")
        assert refused.status_code == 409
        assert refused.json() == {
            "detail": "you already own 2 accounts, the most one person may have; purge a "
            "deleted one or ask the platform's operator for more",
            "limit": "max_accounts_per_user",
            "count": 2,
        }
        mine = await client.get("/api/v1/accounts", headers=as_person)
        assert "One too many" not in mine.text
        # A deleted account counts until it is purged (a restore would bring it back).
        purged = await client.post(
            f"/api/v1/accounts/{second.json()['id']}/purge", headers=as_person
        )
        assert purged.status_code == 204
        assert (await create(as_person)).status_code == 201
        assert [(await create(as_operator)).status_code for _ in range(3)] == [201, 201, 201]


async def test_parallel_creations_cannot_pass_the_account_limit_together(db, secret_box):
    ctx = panel_context(db, secret_box)
    ctx.panel = dataclasses.replace(ctx.panel, max_accounts_per_user=2)
    as_person = await user_headers(ctx, random_telegram_id())
    async with panel_client(ctx) as client:
        answers = await asyncio.gather(
            *(
                client.post("/api/v1/accounts", json={"name": f"S{i}"}, headers=as_person)
                for i in range(6)
            )
        )
        mine = await client.get("/api/v1/accounts", headers=as_person)
    assert sorted(a.status_code for a in answers) == [201, 201, 409, 409, 409, 409]
    assert len(mine.json()) == 2


async def test_rename_soft_delete_restore_and_purge(db, secret_box, seed_account, owner_engine):
    seeded = await seed_account()
    ctx = panel_context(db, secret_box)
    async with db.tenant(seeded.account_id) as s:
        owner = (await s.execute(text("SELECT telegram_user_id FROM account_member"))).scalar()
    headers = await user_headers(ctx, owner)
    base = f"/api/v1/accounts/{seeded.account_id}"
    async with panel_client(ctx) as client:
        renamed = await client.patch(base, json={"name": "Renamed"}, headers=headers)
        assert renamed.json()["name"] == "Renamed"
        early_purge = await client.post(f"{base}/purge", headers=headers)
        assert early_purge.status_code == 409

        deleted = await client.delete(base, headers=headers)
        assert deleted.status_code == 200 and deleted.json()["deleted_at"] is not None
        assert (await client.get(base, headers=headers)).status_code == 200  # still visible
        bots = await client.get(f"{base}/bots", headers=headers)
        assert bots.status_code == 404 and "restore" in bots.json()["detail"]

        restored = await client.post(f"{base}/restore", headers=headers)
        assert restored.status_code == 200 and restored.json()["deleted_at"] is None
        assert (await client.get(f"{base}/bots", headers=headers)).status_code == 200
        assert (await client.post(f"{base}/restore", headers=headers)).status_code == 409

        await client.delete(base, headers=headers)
        purged = await client.post(f"{base}/purge", headers=headers)
        assert purged.status_code == 204
        assert (await client.get(base, headers=headers)).status_code == 404
    async with owner_engine.connect() as conn:
        for table in ("account", "bot", "run", "conversation", "audit_log", "course_version"):
            column = "id" if table == "account" else "account_id"
            left = await conn.scalar(
                text(f"SELECT count(*) FROM {table} WHERE {column} = :a"),
                {"a": seeded.account_id},
            )
            assert left == 0, table


async def test_superadmins_list_accounts_and_set_plans(db, secret_box, make_account):
    ctx = panel_context(db, secret_box)
    owner = 92_000_010
    account_id = await make_account(owner_telegram_user_id=owner)
    admin = await user_headers(ctx, SUPERADMIN_ID)
    async with panel_client(ctx) as client:
        listing = await client.get("/api/v1/admin/accounts", headers=admin)
        assert account_id in {a["id"] for a in listing.json()}
        hidden = await client.get("/api/v1/admin/accounts", headers=await user_headers(ctx, owner))
        assert hidden.status_code == 404

        changed = await client.patch(
            f"/api/v1/admin/accounts/{account_id}",
            json={"plan": "pro", "limits": {"max_bots": 7, "max_courses": None}},
            headers=admin,
        )
        assert changed.status_code == 200, changed.text
        seen_by_owner = await client.get(
            f"/api/v1/accounts/{account_id}", headers=await user_headers(ctx, owner)
        )
        assert seen_by_owner.json()["plan"] == "pro"
        assert seen_by_owner.json()["limits"] == {
            "max_bots": 7,
            "max_courses": None,
            "max_active_students": 5000,
        }
        bad_plan = await client.patch(
            f"/api/v1/admin/accounts/{account_id}", json={"plan": "gold"}, headers=admin
        )
        bad_limit = await client.patch(
            f"/api/v1/admin/accounts/{account_id}", json={"limits": {"max_cats": 1}}, headers=admin
        )
        assert bad_plan.status_code == 422 and "gold" in bad_plan.json()["detail"]
        assert bad_limit.status_code == 422 and "max_cats" in bad_limit.json()["detail"]
        # Owners cannot raise their own limits: only the operator area changes plans.
        as_owner = await client.patch(
            f"/api/v1/admin/accounts/{account_id}",
            json={"plan": "unlimited"},
            headers=await user_headers(ctx, owner),
        )
        assert as_owner.status_code == 404


async def test_members_invite_change_remove_and_owner_protection(db, secret_box, make_account):
    ctx = panel_context(db, secret_box)
    owner, admin, student = 92_000_020, 92_000_021, 92_000_022
    account_id = await make_account(owner_telegram_user_id=owner)
    async with db.tenant(account_id) as s:
        await seeding.participant(s, account_id, telegram_user_id=student, username="Kate_T")
    base = f"/api/v1/accounts/{account_id}/members"
    as_owner, as_admin = await user_headers(ctx, owner), await user_headers(ctx, admin)
    async with panel_client(ctx) as client:
        added = await client.post(
            base, json={"telegram_user_id": admin, "role": "admin"}, headers=as_owner
        )
        assert added.status_code == 201
        by_name = await client.post(
            base, json={"username": "@kate_t", "role": "teacher"}, headers=as_admin
        )
        assert by_name.status_code == 201, by_name.text
        assert by_name.json()["telegram_user_id"] == student
        unknown = await client.post(
            base, json={"username": "nobody_here", "role": "viewer"}, headers=as_admin
        )
        assert unknown.status_code == 422 and "/start" in unknown.json()["detail"]
        duplicate = await client.post(
            base, json={"telegram_user_id": student, "role": "viewer"}, headers=as_admin
        )
        assert duplicate.status_code == 409

        # Admins manage members but cannot create, change or remove owners.
        no_owner = await client.patch(f"{base}/{student}", json={"role": "owner"}, headers=as_admin)
        assert no_owner.status_code == 403
        touch_owner = await client.delete(f"{base}/{owner}", headers=as_admin)
        assert touch_owner.status_code == 403
        demote = await client.patch(f"{base}/{student}", json={"role": "viewer"}, headers=as_admin)
        assert demote.json()["role"] == "viewer"

        # The last owner stays.
        last = await client.delete(f"{base}/{owner}", headers=as_owner)
        assert last.status_code == 409
        last_demote = await client.patch(
            f"{base}/{owner}", json={"role": "admin"}, headers=as_owner
        )
        assert last_demote.status_code == 409
        promoted = await client.patch(f"{base}/{admin}", json={"role": "owner"}, headers=as_owner)
        assert promoted.json()["role"] == "owner"
        assert (
            await client.delete(f"{base}/{owner}", headers=await user_headers(ctx, admin))
        ).status_code == 204

        # A removed member loses access at once, with the same cookie.
        gone = await client.get(f"/api/v1/accounts/{account_id}", headers=as_owner)
        assert gone.status_code == 404

        audit = await client.get(f"/api/v1/accounts/{account_id}/audit", headers=as_admin)
        actions = [(e["action"], e["actor"]) for e in audit.json()]
        assert ("member.remove", f"tg:{admin}") in actions
        assert ("member.add", f"tg:{owner}") in actions
        assert ("member.role", f"tg:{admin}") in actions
