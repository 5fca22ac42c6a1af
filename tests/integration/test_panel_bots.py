"""Bots through the fake Telegram Bot API: a real aiogram Bot calls getMe over HTTP."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from storage.models import AccountMember, AuditLog, Bot
from storage.repositories import bots as bot_repo
from tests.fakes.telegram_api import FakeTelegram
from tests.integration.test_panel_support import panel_client, panel_context, user_headers

pytestmark = pytest.mark.integration


@pytest.fixture
async def telegram():
    async with FakeTelegram() as fake:
        yield fake


async def test_add_bot_by_token_and_never_show_the_token(db, secret_box, make_account, telegram):
    owner = 93_000_001
    account_id = await make_account(owner_telegram_user_id=owner)
    school = telegram.add_bot("school_93_bot")
    ctx = panel_context(db, secret_box, telegram_api_base=telegram.base_url)
    headers = await user_headers(ctx, owner)
    base = f"/api/v1/accounts/{account_id}/bots"
    async with panel_client(ctx) as client:
        added = await client.post(base, json={"token": school.token}, headers=headers)
        assert added.status_code == 201, added.text
        bot = added.json()
        assert (bot["telegram_id"], bot["username"], bot["mode"], bot["active"]) == (
            school.id,
            "school_93_bot",
            "polling",
            True,
        )
        listed = await client.get(base, headers=headers)
        one = await client.get(f"{base}/{bot['id']}", headers=headers)
        audit = await client.get(f"/api/v1/accounts/{account_id}/audit", headers=headers)
    secret = school.token.split(":", 1)[1]
    for response in (added, listed, one, audit):
        assert secret not in response.text
    assert [call.method.lower() for call in telegram.calls] == ["getme"]
    async with db.tenant(account_id) as s:
        row = await s.scalar(select(Bot).where(Bot.id == bot["id"]))
        assert secret not in row.token_ciphertext
        assert secret_box.decrypt(row.token_ciphertext).reveal() == school.token
        details = [a.details for a in await s.scalars(select(AuditLog))]
    assert secret not in str(details)


async def test_bad_token_is_422_with_telegrams_reason(db, secret_box, make_account, telegram):
    owner = 93_000_002
    account_id = await make_account(owner_telegram_user_id=owner)
    ctx = panel_context(db, secret_box, telegram_api_base=telegram.base_url)
    base = f"/api/v1/accounts/{account_id}/bots"
    async with panel_client(ctx) as client:
        unknown = await client.post(
            base,
            json={"token": "123456:" + "not-a-real-one" * 3},
            headers=await user_headers(ctx, owner),
        )
    assert unknown.status_code == 422
    assert unknown.json()["detail"] == "Telegram rejected the token: Unauthorized"


SECRET = "AAH4k" + "x" * 30
MALFORMED_TOKENS = (
    "no colon here",
    f"123456:{SECRET[:29]}",  # too short to be BotFather's
    f"123456:{SECRET}/../../other/getMe",  # would walk the request path elsewhere
    f"123456:{SECRET}?method=getMe",
    f"123456:{SECRET}#fragment",
    f"123456:{SECRET} ",
    f"١٢٣٤٥٦:{SECRET}",  # digits, but not ASCII ones
    f"bot123456:{SECRET}",
)


@pytest.mark.parametrize("token", MALFORMED_TOKENS)
async def test_a_malformed_token_is_refused_in_plain_words_before_telegram_is_asked(
    db, secret_box, seed_account, telegram, token
):
    seeded = await seed_account()
    async with db.tenant(seeded.account_id) as s:
        owner = await s.scalar(select(AccountMember.telegram_user_id).limit(1))
    ctx = panel_context(db, secret_box, telegram_api_base=telegram.base_url)
    base = f"/api/v1/accounts/{seeded.account_id}/bots"
    async with panel_client(ctx) as client:
        added = await client.post(
            base, json={"token": token}, headers=await user_headers(ctx, owner)
        )
        rotated = await client.post(
            f"{base}/{seeded.bot_id}/token",
            json={"token": token},
            headers=await user_headers(ctx, owner),
        )
    for answer in (added, rotated):
        assert answer.status_code == 422
        [error] = answer.json()["detail"]
        assert error["loc"] == ["body", "token"]
        assert error["msg"].startswith("this is not a bot token: @BotFather gives one like")
        assert SECRET[:29] not in answer.text
    assert telegram.calls == []


async def test_a_bot_api_answering_html_is_a_clear_422(db, secret_box, make_account, telegram):
    """A proxy or a broken self-hosted Bot API server answering a page instead of JSON: the
    owner learns the token could not be checked, and nothing of the page."""
    owner = 93_000_006
    account_id = await make_account(owner_telegram_user_id=owner)
    school = telegram.add_bot("html_93_bot")
    page = "<html><body><h1>502 Bad Gateway</h1><p>upstream internal-host:8081</p></body></html>"
    telegram.fail_next("getMe", status=502, raw_body=page)
    ctx = panel_context(db, secret_box, telegram_api_base=telegram.base_url)
    async with panel_client(ctx) as client:
        answer = await client.post(
            f"/api/v1/accounts/{account_id}/bots",
            json={"token": school.token},
            headers=await user_headers(ctx, owner),
        )
    assert answer.status_code == 422
    assert answer.json()["detail"].startswith("Telegram's answer could not be read")
    assert "internal-host" not in answer.text and "Bad Gateway" not in answer.text
    assert [call.method for call in telegram.calls] == ["getMe"]


async def test_plan_limit_duplicates_and_disable_enable(db, secret_box, make_account, telegram):
    owner = 93_000_003
    account_id = await make_account(owner_telegram_user_id=owner)
    other_account = await make_account(owner_telegram_user_id=93_000_004)
    first, second = telegram.add_bot("first_93_bot"), telegram.add_bot("second_93_bot")
    ctx = panel_context(db, secret_box, telegram_api_base=telegram.base_url)
    headers = await user_headers(ctx, owner)
    base = f"/api/v1/accounts/{account_id}/bots"
    async with panel_client(ctx) as client:
        bot = (await client.post(base, json={"token": first.token}, headers=headers)).json()
        over = await client.post(base, json={"token": second.token}, headers=headers)
        assert over.status_code == 409 and "1 active bot" in over.json()["detail"]

        elsewhere = await client.post(
            f"/api/v1/accounts/{other_account}/bots",
            json={"token": first.token},
            headers=await user_headers(ctx, 93_000_004),
        )
        assert elsewhere.status_code == 409 and "already connected" in elsewhere.json()["detail"]

        disabled = await client.patch(
            f"{base}/{bot['id']}", json={"active": False}, headers=headers
        )
        assert disabled.json()["active"] is False
        # A disabled bot frees its slot; enabling it again must fit the plan.
        assert (
            await client.post(base, json={"token": second.token}, headers=headers)
        ).status_code == 201
        again = await client.patch(f"{base}/{bot['id']}", json={"active": True}, headers=headers)
        assert again.status_code == 409


async def test_rotate_token_mode_and_default_deployment(db, secret_box, seed_account, telegram):
    seeded = await seed_account()
    async with db.tenant(seeded.account_id) as s:
        owner = await s.scalar(select(AccountMember.telegram_user_id).limit(1))
    fake = telegram.add_bot("rotating_93_bot")
    ctx = panel_context(db, secret_box, telegram_api_base=telegram.base_url)
    headers = await user_headers(ctx, owner)
    base = f"/api/v1/accounts/{seeded.account_id}/bots/{seeded.bot_id}"
    async with panel_client(ctx) as client:
        # The seeded bot is not known to Telegram under this token: rotation checks getMe.
        stranger = await client.post(f"{base}/token", json={"token": fake.token}, headers=headers)
        assert stranger.status_code == 422 and "belongs to @rotating_93_bot" in stranger.text

        webhook = await client.patch(base, json={"mode": "webhook"}, headers=headers)
        assert webhook.status_code == 422 and "public https address" in webhook.json()["detail"]
        default = await client.patch(
            base, json={"default_deployment_id": seeded.deployment_id}, headers=headers
        )
        assert default.json()["default_deployment_id"] == seeded.deployment_id
        cleared = await client.patch(base, json={"clear_default_deployment": True}, headers=headers)
        assert cleared.json()["default_deployment_id"] is None

    public = panel_context(
        db,
        secret_box,
        telegram_api_base=telegram.base_url,
        public_base_url="https://school.example",
    )
    async with panel_client(public) as client:
        webhook = await client.patch(base, json={"mode": "webhook"}, headers=headers)
        assert webhook.status_code == 200 and webhook.json()["mode"] == "webhook"


async def test_rotating_to_a_new_token_of_the_same_bot(db, secret_box, make_account, telegram):
    owner = 93_000_005
    account_id = await make_account(owner_telegram_user_id=owner)
    old = telegram.add_bot("rotate_me_93_bot")
    ctx = panel_context(db, secret_box, telegram_api_base=telegram.base_url)
    headers = await user_headers(ctx, owner)
    async with panel_client(ctx) as client:
        bot = (
            await client.post(
                f"/api/v1/accounts/{account_id}/bots", json={"token": old.token}, headers=headers
            )
        ).json()
        new_token = f"{old.id}:{'R' * 35}"
        telegram.add_bot("rotate_me_93_bot", token=new_token)  # BotFather /revoke
        rotated = await client.post(
            f"/api/v1/accounts/{account_id}/bots/{bot['id']}/token",
            json={"token": new_token},
            headers=headers,
        )
    assert rotated.status_code == 200, rotated.text
    async with db.tenant(account_id) as s:
        row = await bot_repo.get(s, account_id, bot["id"])
        assert secret_box.decrypt(row.token_ciphertext).reveal() == new_token
