"""Deployments, their upgrades and restricted lists, and enrollment tokens with deep links."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import delete, select

from botapi.deeplink import MAX_PAYLOAD_LENGTH, parse_start_payload
from storage.models import AccountMember, LlmSettings, PaymentCredentials
from storage.repositories import runs, tokens
from storage.repositories.tokens import TokenRefusal, refusal_of
from tests.integration import seeding
from tests.integration.inbox_support import apply_inbox_events
from tests.integration.test_panel_support import panel_client, panel_context, user_headers

pytestmark = pytest.mark.integration

V1 = (
    "intro:\n  type: message\n  text: Hi\n  button: Go\n\nold_step:\n  type: message\n  text: Old\n"
)
V2 = "intro:\n  type: message\n  text: Hello\n  button: Go\n\nnew_step:\n  type: end\n  text: New\n"


async def _owner(db, account_id: int) -> int:
    async with db.tenant(account_id) as s:
        return await s.scalar(select(AccountMember.telegram_user_id))


async def test_deploy_tokens_and_deep_links(db, secret_box, seed_account):
    seeded = await seed_account()
    ctx = panel_context(db, secret_box)
    headers = await user_headers(ctx, await _owner(db, seeded.account_id))
    base = f"/api/v1/accounts/{seeded.account_id}"
    async with panel_client(ctx) as client:
        created = await client.post(
            f"{base}/deployments",
            json={
                "course_version_id": seeded.version_id,
                "bot_id": seeded.bot_id,
                "environment": "test",
                "decline_text": "Sorry, invite only",
                "price_amount": "990.00",
                "price_currency": "RUB",
            },
            headers=headers,
        )
        assert created.status_code == 201, created.text
        deployment = created.json()
        assert (deployment["environment"], deployment["bot_username"]) == ("test", "seed_bot")
        assert deployment["price_amount"] == "990.00"
        tokens_url = f"{base}/deployments/{deployment['id']}/tokens"
        expires = (datetime.now(UTC) + timedelta(days=7)).isoformat()
        made = {}
        for kind, extra in {
            "public": {"utm": {"source": "vk", "campaign": "spring"}},
            "group": {"max_uses": 30, "expires_at": expires},
            "personal": {"bound_telegram_user_id": 555},
            "external": {"token": "crm_order_1234-x"},
        }.items():
            response = await client.post(tokens_url, json={"kind": kind, **extra}, headers=headers)
            assert response.status_code == 201, response.text
            made[kind] = response.json()

        for token in made.values():
            link = urlsplit(token["deep_link"])
            assert (link.scheme, link.netloc, link.path) == ("https", "t.me", "/seed_bot")
            payload = parse_qs(link.query)["start"][0]
            assert len(payload) <= MAX_PAYLOAD_LENGTH
            parsed = parse_start_payload(payload)
            assert (parsed.deployment_id, parsed.token) == (deployment["id"], token["token"])
        assert made["external"]["token"] == "crm_order_1234-x"
        assert made["public"]["utm"]["source"] == "vk"
        assert made["personal"]["max_uses"] is None and made["group"]["max_uses"] == 30

        unbound = await client.post(tokens_url, json={"kind": "personal"}, headers=headers)
        assert unbound.json()["max_uses"] == 1  # single use
        for bad in (
            {"kind": "group"},
            {"kind": "public", "max_uses": 3},
            {"kind": "personal", "max_uses": 5},
            {"kind": "public", "expires_at": "2001-01-01T00:00:00Z"},
            {"kind": "public", "token": "has space"},
        ):
            assert (await client.post(tokens_url, json=bad, headers=headers)).status_code == 422
        clash = await client.post(
            tokens_url, json={"kind": "external", "token": "crm_order_1234-x"}, headers=headers
        )
        assert clash.status_code == 409

        group = made["group"]
        async with db.tenant(seeded.account_id) as s:
            await seeding.token_use(s, seeded.account_id, group["id"])
            await seeding.run(
                s,
                seeded.account_id,
                deployment_id=deployment["id"],
                course_version_id=seeded.version_id,
                bot_id=seeded.bot_id,
                chat_id=4242,
                telegram_user_id=4242,
                token_id=group["id"],
            )
        counted = (await client.get(f"{tokens_url}/{group['id']}", headers=headers)).json()
        assert (counted["uses"], counted["runs_started"], counted["runs_completed"]) == (1, 1, 0)

        revoked = await client.post(f"{tokens_url}/{group['id']}/revoke", headers=headers)
        assert revoked.json()["revoked_at"] is not None
        async with db.tenant(seeded.account_id) as s:
            stored = await tokens.get(s, seeded.account_id, group["id"])
        now = datetime.now(UTC)  # what a `/start` with it is told (adapters/telegram/admission)
        refusal = refusal_of(
            stored.revoked_at, stored.expires_at, stored.max_uses, stored.uses, now
        )
        assert refusal is TokenRefusal.REVOKED

        listing = await client.get(tokens_url, headers=headers)
        assert len(listing.json()) == 5


async def test_upgrade_keeps_running_students_pinned_unless_migrated(db, secret_box, seed_account):
    seeded = await seed_account()
    ctx = panel_context(db, secret_box)
    headers = await user_headers(ctx, await _owner(db, seeded.account_id))
    base = f"/api/v1/accounts/{seeded.account_id}"
    async with panel_client(ctx) as client:
        course = (
            await client.post(
                f"{base}/courses", json={"title": "Upgradable", "source": V1}, headers=headers
            )
        ).json()
        v1 = course["version"]["id"]
        v2 = (
            await client.post(
                f"{base}/courses/{course['course']['id']}/versions",
                json={"source": V2},
                headers=headers,
            )
        ).json()["version"]["id"]
        deployment = (
            await client.post(
                f"{base}/deployments",
                json={"course_version_id": v1, "bot_id": seeded.bot_id, "environment": "prod"},
                headers=headers,
            )
        ).json()
        async with db.tenant(seeded.account_id) as s:
            started = {}
            for chat, current in ((7001, "intro"), (7002, "old_step"), (7003, None)):
                run = await seeding.run(
                    s,
                    seeded.account_id,
                    deployment_id=deployment["id"],
                    course_version_id=v1,
                    bot_id=seeded.bot_id,
                    chat_id=chat,
                    telegram_user_id=chat,
                    state={"current": current} if current else {},
                    current_element=current,
                )
                started[chat] = run.id

        foreign = await client.post(
            f"{base}/deployments/{deployment['id']}/upgrade",
            json={"course_version_id": seeded.version_id},
            headers=headers,
        )
        assert foreign.status_code == 422  # a version of another course

        plain = await client.post(
            f"{base}/deployments/{deployment['id']}/upgrade",
            json={"course_version_id": v2},
            headers=headers,
        )
        assert plain.status_code == 200
        assert (plain.json()["migrated_runs"], plain.json()["pinned_runs"]) == (0, 3)
        assert plain.json()["deployment"]["course_version_id"] == v2

        migrated = await client.post(
            f"{base}/deployments/{deployment['id']}/upgrade",
            json={"course_version_id": v2, "migrate_running": True},
            headers=headers,
        )
        # intro exists in v2, a run that has not begun can move; old_step is gone in v2.
        assert (migrated.json()["migrated_runs"], migrated.json()["pinned_runs"]) == (2, 1)
        assert await apply_inbox_events(db, seeded.account_id) == 2  # as the runtime does
        async with db.tenant(seeded.account_id) as s:
            pinned = {
                chat: (await runs.get(s, seeded.account_id, run_id)).course_version_id
                for chat, run_id in started.items()
            }
        assert pinned == {7001: v2, 7002: v1, 7003: v2}

        deactivated = await client.patch(
            f"{base}/deployments/{deployment['id']}",
            json={"active": False, "restricted": True},
            headers=headers,
        )
        assert (deactivated.json()["active"], deactivated.json()["restricted"]) == (False, True)
        busy = await client.delete(f"{base}/deployments/{deployment['id']}", headers=headers)
        assert busy.status_code == 409  # students started it: deactivate, not delete


async def test_restricted_list_import(db, secret_box, seed_account):
    seeded = await seed_account()
    ctx = panel_context(db, secret_box)
    headers = await user_headers(ctx, await _owner(db, seeded.account_id))
    url = f"/api/v1/accounts/{seeded.account_id}/deployments/{seeded.deployment_id}/restricted"
    async with panel_client(ctx) as client:
        imported = await client.post(
            url,
            json={"entries": ["123456", "@Alice_W"], "text": "789, @bob_b\n@seed_user 123456"},
            headers=headers,
        )
        assert imported.status_code == 200, imported.text
        # seed_user was already listed by the seed, 123456 appears twice.
        assert imported.json() == {"added": 4, "already_listed": 1, "total": 5}
        listed = await client.get(url, headers=headers)
        names = {(e["telegram_user_id"], e["username"]) for e in listed.json()}
        assert {(123456, None), (789, None), (None, "alice_w"), (None, "bob_b")} <= names

        invalid = await client.post(url, json={"entries": ["12ab", "@x"]}, headers=headers)
        assert invalid.status_code == 422 and invalid.json()["invalid"] == ["12ab", "@x"]

        replaced = await client.post(
            url, json={"entries": ["42"], "replace": True}, headers=headers
        )
        assert replaced.json() == {"added": 1, "already_listed": 0, "total": 1}
        entry = (await client.get(url, headers=headers)).json()[0]
        assert (await client.delete(f"{url}/{entry['id']}", headers=headers)).status_code == 204
        assert (await client.get(url, headers=headers)).json() == []


DIALOG_COURSE = (
    "chat:\n  type: dialog\n  text: Talk to me\n  prompt: You are a tutor.\n"
    "\nbye:\n  type: end\n  text: Bye\n"
)


async def test_a_deployment_says_what_its_students_would_lack_until_it_is_fixed(
    db, secret_box, seed_account
):
    """Dialogs without a language model, a price without a shop, a restricted deployment
    nobody is listed for: each deploys, and each is named on the API and the page."""
    seeded = await seed_account()
    account_id = seeded.account_id
    async with db.tenant(account_id) as s:  # the seeded account has a model and a shop
        await s.execute(delete(LlmSettings).where(LlmSettings.account_id == account_id))
        await s.execute(
            delete(PaymentCredentials).where(PaymentCredentials.account_id == account_id)
        )
    ctx = panel_context(db, secret_box)
    headers = await user_headers(ctx, await _owner(db, account_id))
    base = f"/api/v1/accounts/{account_id}"
    async with panel_client(ctx) as client:
        upload = await client.post(
            f"{base}/courses",
            json={"title": "Talks", "source": DIALOG_COURSE},
            headers=headers,
        )
        assert upload.status_code == 201, upload.text
        created = await client.post(
            f"{base}/deployments",
            json={
                "course_version_id": upload.json()["version"]["id"],
                "bot_id": seeded.bot_id,
                "environment": "test",
                "restricted": True,
                "price_amount": "100.00",
                "price_currency": "RUB",
            },
            headers=headers,
        )
        assert created.status_code == 201, created.text
        deployment_id = created.json()["id"]
        assert created.json()["lacks"] == ["language_model", "payments", "allow_list"]
        page = await client.get(
            f"/accounts/{account_id}/deployments/{deployment_id}", headers=headers
        )
        assert "no language model is set up" in page.text
        assert "no YooKassa shop is connected" in page.text
        assert "the list is empty" in page.text

        listed = await client.post(
            f"{base}/deployments/{deployment_id}/restricted",
            json={"entries": ["@a_student"]},
            headers=headers,
        )
        assert listed.status_code in (200, 201), listed.text
        fixed = ctx.settings.replace(llm_base_url="https://llm.example.com/v1")
        ctx.settings = fixed  # the operator's default model counts as one
        again = await client.get(f"{base}/deployments/{deployment_id}", headers=headers)
        listing = await client.get(f"{base}/deployments", headers=headers)
    assert again.json()["lacks"] == ["payments"]
    assert {d["id"]: d["lacks"] for d in listing.json()}[deployment_id] == ["payments"]
