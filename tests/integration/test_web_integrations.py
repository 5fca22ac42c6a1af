"""The Integrations page: an owner sets the account's LLM endpoint and YooKassa shop in the
browser, sees the notification URL, and the secrets never come back into a page."""

from __future__ import annotations

import pytest

from storage.models import MemberRole
from storage.outbound import OutboundClient, OutboundPolicy
from storage.repositories import llm, members, payments
from tests.fakes.dns import public_names
from tests.integration.test_panel_support import panel_context
from tests.integration.test_web_pages import Labels, Opened, new_user
from tests.integration.test_web_support import text_of, web_browser

pytestmark = pytest.mark.integration

LLM_KEY = "sk-web-form-secret-42"
SHOP_SECRET = "live_web-form-shop-secret"


@pytest.fixture
def ctx(db, secret_box):
    outbound = OutboundClient(OutboundPolicy(resolve=public_names("llm.school.example")))
    return panel_context(
        db, secret_box, public_base_url="https://school.example", outbound=outbound
    )


async def test_owner_sets_llm_and_yookassa_and_never_sees_the_secrets_again(
    ctx, db, secret_box, make_account
):
    async with Opened(ctx, make_account) as (browser, account_id, _):
        base = f"/accounts/{account_id}/integrations"
        page = await browser.get(base)
        assert page.status_code == 200
        text = text_of(page.text)
        assert "Integrations" in text and "AI model (LLM) for dialogs" in text
        assert f'href="{base}" aria-current="page"' in page.text  # in the sections menu
        url = f"https://school.example/api/v1/payments/yookassa/{account_id}"
        assert f'value="{url}"' in page.text and "HTTP notifications" in text
        labels = Labels()
        labels.feed(page.text)
        assert labels.unlabelled() == [] and labels.h1 == 1

        saved = await browser.post(
            f"{base}/llm",
            {
                "base_url": "https://llm.school.example/v1",
                "api_key": LLM_KEY,
                "model": "school-model",
                "monthly_token_limit": "5000",
                "timeout_s": "20",
            },
            follow=True,
        )
        text = text_of(saved.text)
        assert "The LLM settings are saved" in text
        assert "school-model" in text and "5000" in text and "stored (hidden)" in text
        assert "Answer timeout 20 s" in text
        assert LLM_KEY not in saved.text

        shop = await browser.post(
            f"{base}/yookassa", {"shop_id": "506751", "secret_key": SHOP_SECRET}, follow=True
        )
        assert "The YooKassa shop is saved" in text_of(shop.text)
        assert "506751" in shop.text and SHOP_SECRET not in shop.text

        # Saving again with an empty key field keeps the stored key.
        again = await browser.post(
            f"{base}/llm",
            {"base_url": "https://llm.school.example/v1", "model": "other-model"},
            follow=True,
        )
        assert "other-model" in again.text and LLM_KEY not in again.text

        refused = await browser.post(
            f"{base}/llm", {"base_url": "ftp://x.example", "api_key": LLM_KEY, "model": "m"}
        )
        assert refused.status_code == 422
        assert "must start with https://" in text_of(refused.text)
        assert LLM_KEY not in refused.text  # a refused form is not refilled with the key
        assert 'value="ftp://x.example"' in refused.text  # but with what else was typed
        bad_shop = await browser.post(f"{base}/yookassa", {"shop_id": "abc", "secret_key": "x"})
        assert bad_shop.status_code == 422
        assert "Shop ID: must be digits only" in text_of(bad_shop.text)

    async with db.tenant(account_id) as s:
        settings = await llm.get_settings(s, account_id)
        credentials = await payments.get_credentials(s, account_id)
        assert settings.model == "other-model" and settings.monthly_token_limit is None
        assert settings.timeout_s is None  # a save replaces all the settings
        assert llm.reveal_api_key(settings, secret_box).reveal() == LLM_KEY
        assert credentials.shop_id == "506751"
        assert payments.reveal_secret(credentials, secret_box).reveal() == SHOP_SECRET


async def test_removing_and_the_csrf_token(ctx, db, secret_box, make_account):
    async with Opened(ctx, make_account) as (browser, account_id, _):
        base = f"/accounts/{account_id}/integrations"
        await browser.post(f"{base}/yookassa", {"shop_id": "1", "secret_key": SHOP_SECRET})
        forged = await browser.post(f"{base}/yookassa/delete", csrf="")
        assert forged.status_code == 403
        async with db.tenant(account_id) as s:
            assert await payments.get_credentials(s, account_id) is not None
        page = await browser.get(base)
        assert "Remove the shop" in text_of(page.text)
        removed = await browser.post(f"{base}/yookassa/delete", follow=True)
        assert "The YooKassa shop is removed" in text_of(removed.text)
        await browser.post(f"{base}/llm", {"model": "m"})
        gone = await browser.post(f"{base}/llm/delete", follow=True)
        assert "the platform's default endpoint" in text_of(gone.text)
    async with db.tenant(account_id) as s:
        assert await payments.get_credentials(s, account_id) is None
        assert await llm.get_settings(s, account_id) is None


async def test_without_a_public_url_the_page_says_so_in_russian(db, secret_box, make_account):
    bare = panel_context(db, secret_box)
    async with Opened(bare, make_account, accept_language="ru") as (browser, account_id, _):
        page = await browser.get(f"/accounts/{account_id}/integrations")
        text = text_of(page.text)
        assert "Интеграции" in text and "нет публичного адреса" in text
        assert "COURSEBOT_" not in text  # people are not told setting names
        assert "/payments/yookassa/" not in page.text


async def test_a_creator_sees_the_settings_but_no_forms_and_a_teacher_no_page(
    ctx, db, make_account
):
    account_id = await make_account()
    creator, teacher = new_user(), new_user()
    async with db.tenant(account_id) as s:
        await members.add(s, account_id, telegram_user_id=creator, role=MemberRole.CREATOR)
        await members.add(s, account_id, telegram_user_id=teacher, role=MemberRole.TEACHER)
    base = f"/accounts/{account_id}/integrations"
    async with web_browser(ctx) as browser:
        await browser.log_in(creator)
        page = await browser.get(base)
        assert page.status_code == 200 and "YooKassa payments" in text_of(page.text)
        assert f'action="{base}/llm"' not in page.text
        assert (await browser.post(f"{base}/llm", {"model": "m"})).status_code == 403
    async with web_browser(ctx) as browser:
        await browser.log_in(teacher)
        assert (await browser.get(base)).status_code == 403
        overview = await browser.get(f"/accounts/{account_id}")
        assert f'href="{base}"' not in overview.text  # not offered in the menu either
