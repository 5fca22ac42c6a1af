"""The Webhooks pages: an owner adds an endpoint in the browser and sees its secret once,
reads the delivery log and sends an event again; a viewer does not see the section."""

from __future__ import annotations

import pytest

from storage import webhooks
from storage.models import MemberRole, WebhookStatus
from storage.outbound import OutboundClient, OutboundPolicy
from storage.repositories import members
from tests.fakes.dns import public_names
from tests.integration.test_panel_support import panel_context
from tests.integration.test_web_pages import Labels, Opened, new_user
from tests.integration.test_web_support import text_of, web_browser

pytestmark = pytest.mark.integration


@pytest.fixture
def ctx(db, secret_box):
    outbound = OutboundClient(OutboundPolicy(resolve=public_names("crm.school.example")))
    return panel_context(db, secret_box, outbound=outbound)


@pytest.mark.parametrize(
    ("language", "words"),
    [
        ("en", ("Webhooks", "Here is its signing secret", "delivered", "Send again")),
        ("ru", ("Вебхуки", "Вот его секрет для подписи", "доставлено", "Отправить ещё раз")),
    ],
)
async def test_owner_adds_an_endpoint_sees_the_secret_once_and_replays(
    ctx, db, make_account, language, words
):
    title, secret_note, delivered, replay = words
    async with Opened(ctx, make_account, accept_language=language) as (browser, account_id, _):
        base = f"/accounts/{account_id}/webhooks"
        page = await browser.get(base)
        assert page.status_code == 200
        assert f'href="{base}" aria-current="page"' in page.text  # in the sections menu
        assert title in text_of(page.text)
        labels = Labels()
        labels.feed(page.text)
        assert labels.unlabelled() == [] and labels.h1 == 1

        refused = await browser.post(
            base, {"url": "https://127.0.0.1/hook", "events": ["run.started"]}
        )
        assert refused.status_code == 422
        private = {"en": "private or local network", "ru": "в частной или локальной сети"}
        assert private[language] in text_of(refused.text)  # in the page's language

        added = await browser.post(
            base,
            {
                "url": "https://crm.school.example/hook",
                "events": ["run.completed", "answer.recorded"],
            },
        )
        assert added.status_code == 201
        assert secret_note in text_of(added.text)
        secret = added.text.split('id="webhook-secret"', 1)[1].split('value="', 1)[1][:70]
        assert secret.startswith("whsec_")
        again = await browser.get(base)
        assert "whsec_" not in again.text  # shown once
        assert "crm.school.example/hook" in text_of(again.text)

        # An event delivered already (adapters/webhooks.py records attempts this way).
        async with db.tenant(account_id) as s:
            [endpoint] = await webhooks.list_endpoints(s, account_id)
            at = endpoint.created_at
            event = webhooks.hook_event(account_id, "run.completed", at, {"run_id": 1})
            await webhooks.record_events(webhooks.session_execute(s), [event])
            await webhooks.record_attempt(
                s,
                account_id,
                (await webhooks.list_deliveries(s, account_id, endpoint.id))[0].id,
                status=WebhookStatus.DELIVERED,
                next_attempt_at=None,
                http_status=200,
                error=None,
                now=at,
            )
        log = await browser.get(f"{base}/{endpoint.id}")
        text = text_of(log.text)
        assert "run.completed" in text and delivered in text and replay in text
        assert "&#34;type&#34;:&#34;run.completed&#34;" in log.text  # the body, escaped
        [delivery] = await webhooks_of(db, account_id, endpoint.id)
        replayed = await browser.post(
            f"{base}/{endpoint.id}/deliveries/{delivery.id}/replay", follow=True
        )
        assert replayed.status_code == 200
        [delivery] = await webhooks_of(db, account_id, endpoint.id)
        assert delivery.status == "pending"


async def webhooks_of(db, account_id: int, endpoint_id: int):
    async with db.tenant(account_id) as s:
        return await webhooks.list_deliveries(s, account_id, endpoint_id)


async def test_a_viewer_sees_neither_the_section_nor_the_page(ctx, db, make_account):
    owner = new_user()
    account_id = await make_account(owner_telegram_user_id=owner)
    viewer = new_user()
    async with db.tenant(account_id) as s:
        await members.add(s, account_id, telegram_user_id=viewer, role=MemberRole.VIEWER)
    async with web_browser(ctx) as browser:
        await browser.log_in(viewer)
        overview = await browser.get(f"/accounts/{account_id}")
        assert f"/accounts/{account_id}/webhooks" not in overview.text
        page = await browser.get(f"/accounts/{account_id}/webhooks")
        assert page.status_code == 403
