"""The account's own LLM endpoint and YooKassa shop through the panel API: round trips
without the secrets, roles, other accounts, audit, encryption at rest, and the runtime
reading what the panel stored."""

from __future__ import annotations

from datetime import UTC, date, datetime
from urllib.parse import urlsplit

import pytest

from adapters.llm import AccountLLM
from adapters.payments import PaymentService, YooKassaClient
from storage.models import MemberRole
from storage.outbound import AllowList, OutboundClient, OutboundPolicy
from storage.repositories import audit, llm, members
from tests.fakes.dns import public_names
from tests.fakes.openai_api import FakeOpenAI
from tests.integration.conftest import random_telegram_id
from tests.integration.test_panel_support import panel_client, panel_context, user_headers
from tests.integration.test_storage_secrets import _dump_all_text

pytestmark = pytest.mark.integration

LLM_KEY = "sk-panel-7Hq2-secret"
SHOP_SECRET = "test_Panel-Shop-Secret-9x"


def _outbound(allow: str = "") -> OutboundClient:
    """The example endpoints resolve to a public address; `allow` as the operator sets it."""
    names = public_names("llm.school.example", "other.example", "llm.example")
    return OutboundClient(OutboundPolicy(AllowList.parse(allow), names))


async def _member(db, account_id: int, role: MemberRole) -> int:
    user_id = random_telegram_id()
    async with db.tenant(account_id) as s:
        await members.add(s, account_id, telegram_user_id=user_id, role=role)
    return user_id


async def _actions(db, account_id: int) -> list[tuple[str, dict]]:
    async with db.tenant(account_id) as s:
        rows = await audit.list_recent(s, account_id)
    return [(row.action, row.details) for row in rows]


async def test_llm_settings_round_trip_without_the_key(db, secret_box, make_account, owner_engine):
    owner = random_telegram_id()
    account_id = await make_account(owner_telegram_user_id=owner)
    ctx = panel_context(db, secret_box, outbound=_outbound())
    headers = await user_headers(ctx, owner)
    url = f"/api/v1/accounts/{account_id}/integrations/llm"
    async with db.tenant(account_id) as s:
        await llm.record_usage(
            s, account_id, day=datetime.now(UTC).date(), prompt_tokens=30, completion_tokens=12
        )
    async with panel_client(ctx) as client:
        empty = (await client.get(url, headers=headers)).json()
        assert empty["configured"] is False and empty["api_key_set"] is False
        assert empty["tokens_used"] == 42 and empty["tokens_left"] is None

        body = {
            "base_url": "https://llm.school.example/v1/",
            "api_key": LLM_KEY,
            "model": "school-model",
            "monthly_token_limit": 100,
            "timeout_s": 12.5,
        }
        put = await client.put(url, json=body, headers=headers)
        assert put.status_code == 200, put.text
        assert LLM_KEY not in put.text
        got = await client.get(url, headers=headers)
        assert LLM_KEY not in got.text
        out = got.json()
        assert "api_key" not in out
        assert out["configured"] is True and out["api_key_set"] is True
        assert out["base_url"] == "https://llm.school.example/v1"  # trailing slash dropped
        assert out["model"] == "school-model" and out["monthly_token_limit"] == 100
        assert out["timeout_s"] == 12.5
        assert out["tokens_used"] == 42 and out["tokens_left"] == 58
        assert out["period_start"] == date.today().replace(day=1).isoformat()

        # Same endpoint, no key: the stored key stays (a form need not re-enter it).
        kept = await client.put(
            url, json={**body, "api_key": None, "model": "bigger-model"}, headers=headers
        )
        assert kept.json()["api_key_set"] is True and kept.json()["model"] == "bigger-model"
        async with db.tenant(account_id) as s:
            stored = await llm.get_settings(s, account_id)
            assert llm.reveal_api_key(stored, secret_box).reveal() == LLM_KEY
        assert LLM_KEY not in await _dump_all_text(owner_engine)

        # Another endpoint never inherits the key meant for the old one.
        moved = await client.put(
            url, json={"base_url": "https://other.example/v1", "model": "m"}, headers=headers
        )
        assert moved.json()["api_key_set"] is False

        for bad in (
            {"base_url": "ftp://llm.example/v1"},
            {"base_url": "https://user:pw@llm.example/v1"},
            {"base_url": "https://llm.example/v1?key=x"},
            {"base_url": "not a url"},
            {"monthly_token_limit": 0},
            {"monthly_token_limit": -5},
            {"timeout_s": 0},
            {"timeout_s": 601},
            {"api_key": "sk-without-base-url"},
            {"base_url": "https://llm.example/v1", "api_key": "has space"},
            {"api_key_ciphertext": "x"},
        ):
            refused = await client.put(url, json=bad, headers=headers)
            assert refused.status_code == 422, (bad, refused.text)

        deleted = await client.delete(url, headers=headers)
        assert deleted.status_code == 204
        assert (await client.get(url, headers=headers)).json()["configured"] is False

    actions = await _actions(db, account_id)
    assert [a for a, _ in actions] == [
        "llm.settings.delete",
        "llm.settings.set",
        "llm.settings.set",
        "llm.settings.set",
    ]
    assert actions[-1][1] == {
        "base_url": "https://llm.school.example/v1",
        "model": "school-model",
        "monthly_token_limit": 100,
        "timeout_s": 12.5,
        "api_key": "replaced",
    }
    assert actions[-2][1]["api_key"] == "kept" and actions[-3][1]["api_key"] == "none"
    assert all(LLM_KEY not in str(details) for _, details in actions)


async def test_yookassa_round_trip_and_notification_url(db, secret_box, make_account, owner_engine):
    owner = random_telegram_id()
    account_id = await make_account(owner_telegram_user_id=owner)
    url = f"/api/v1/accounts/{account_id}/integrations/yookassa"
    expected = f"https://school.example/api/v1/payments/yookassa/{account_id}"

    bare = panel_context(db, secret_box)  # COURSEBOT_PUBLIC_URL not set
    async with panel_client(bare) as client:
        out = (await client.get(url, headers=await user_headers(bare, owner))).json()
    assert out["configured"] is False and out["notification_url"] is None
    assert out["notification_url_status"] == "public_url_missing"
    assert "COURSEBOT_PUBLIC_URL" in out["notification_url_note"]

    plain = panel_context(db, secret_box, public_base_url="http://school.example")
    async with panel_client(plain) as client:
        out = (await client.get(url, headers=await user_headers(plain, owner))).json()
    assert out["notification_url_status"] == "public_url_not_https"
    assert out["notification_url"] == expected.replace("https:", "http:")

    ctx = panel_context(db, secret_box, public_base_url="https://school.example/")
    headers = await user_headers(ctx, owner)
    async with panel_client(ctx) as client:
        put = await client.put(
            url, json={"shop_id": "506751", "secret_key": SHOP_SECRET}, headers=headers
        )
        assert put.status_code == 200, put.text
        assert SHOP_SECRET not in put.text
        got = await client.get(url, headers=headers)
        assert SHOP_SECRET not in got.text
        out = got.json()
        assert "secret_key" not in out
        assert out["configured"] is True and out["secret_key_set"] is True
        assert out["shop_id"] == "506751"
        assert out["notification_url"] == expected and out["notification_url_status"] == "ok"
        assert out["notification_url_note"] is None

        for bad in (
            {"shop_id": "shop-1", "secret_key": SHOP_SECRET},
            {"shop_id": "506751", "secret_key": "short"},
            {"shop_id": "506751", "secret_key": "has a space in it"},
            {"shop_id": "506751"},
        ):
            refused = await client.put(url, json=bad, headers=headers)
            assert refused.status_code == 422, (bad, refused.text)

        # What the payment runtime reads is what the panel stored.
        service = PaymentService(db, secret_box, YooKassaClient("http://yookassa.invalid"))
        shop = await service.get_credentials(account_id)
        assert shop.shop_id == "506751" and shop.secret_key.reveal() == SHOP_SECRET
        assert SHOP_SECRET not in await _dump_all_text(owner_engine)

        assert (await client.delete(url, headers=headers)).status_code == 204
        assert (await client.get(url, headers=headers)).json()["configured"] is False
        assert await service.get_credentials(account_id) is None

    actions = await _actions(db, account_id)
    assert actions == [
        ("yookassa.credentials.delete", {}),
        ("yookassa.credentials.set", {"shop_id": "506751"}),
    ]


@pytest.mark.parametrize("kind", ["llm", "yookassa"])
async def test_roles_and_other_accounts(db, secret_box, make_account, kind):
    owner = random_telegram_id()
    account_id = await make_account(owner_telegram_user_id=owner)
    other_owner = random_telegram_id()
    other_id = await make_account(owner_telegram_user_id=other_owner)
    ctx = panel_context(db, secret_box, outbound=_outbound())
    url = f"/api/v1/accounts/{account_id}/integrations/{kind}"
    body = (
        {"base_url": "https://llm.example/v1", "api_key": LLM_KEY}
        if kind == "llm"
        else {"shop_id": "1234", "secret_key": SHOP_SECRET}
    )
    users = {role: await _member(db, account_id, role) for role in MemberRole if role != "owner"}
    async with panel_client(ctx) as client:
        for role in (MemberRole.TEACHER, MemberRole.VIEWER):
            headers = await user_headers(ctx, users[role])
            assert (await client.get(url, headers=headers)).status_code == 403
            assert (await client.put(url, json=body, headers=headers)).status_code == 403
        creator = await user_headers(ctx, users[MemberRole.CREATOR])
        assert (await client.get(url, headers=creator)).status_code == 200
        assert (await client.put(url, json=body, headers=creator)).status_code == 403
        assert (await client.delete(url, headers=creator)).status_code == 403
        admin = await user_headers(ctx, users[MemberRole.ADMIN])
        assert (await client.put(url, json=body, headers=admin)).status_code == 200

        stranger = await user_headers(ctx, other_owner)
        for method in ("GET", "PUT", "DELETE"):
            response = await client.request(
                method, url, json=body if method == "PUT" else None, headers=stranger
            )
            assert response.status_code == 404, (method, response.text)
            assert set(response.json()) == {"detail"}
        assert (
            await client.get(f"/api/v1/accounts/{other_id}/integrations/{kind}", headers=stranger)
        ).json()["configured"] is False
    # Only the admin's write happened, and only in this account.
    written = "llm.settings.set" if kind == "llm" else "yookassa.credentials.set"
    assert [a for a, _ in await _actions(db, account_id)] == [written]
    assert [a for a, _ in await _actions(db, other_id)] == []


async def test_the_runtime_calls_the_endpoint_key_and_model_the_panel_stored(
    db, secret_box, make_account
):
    owner = random_telegram_id()
    account_id = await make_account(owner_telegram_user_id=owner)
    async with FakeOpenAI(api_keys={LLM_KEY}) as fake:
        # The operator lists the self-hosted endpoint; panel and runtime share the client.
        outbound = _outbound(allow=urlsplit(fake.base_url).netloc)
        ctx = panel_context(db, secret_box, outbound=outbound)
        async with panel_client(ctx) as client:
            put = await client.put(
                f"/api/v1/accounts/{account_id}/integrations/llm",
                json={"base_url": fake.base_url, "api_key": LLM_KEY, "model": "school-model"},
                headers=await user_headers(ctx, owner),
            )
            assert put.status_code == 200, put.text
            runtime = AccountLLM(
                db, secret_box, None, clock=lambda: datetime.now(UTC), outbound=outbound
            )
            reply = await runtime.complete(
                account_id, None, [{"role": "user", "content": "Привет"}], None
            )
            assert reply == "Ответ: Привет"
            request = fake.completions()[-1]
            assert request.api_key == LLM_KEY and request.body["model"] == "school-model"
            usage = (
                await client.get(
                    f"/api/v1/accounts/{account_id}/integrations/llm",
                    headers=await user_headers(ctx, owner),
                )
            ).json()
        assert usage["tokens_used"] > 0
