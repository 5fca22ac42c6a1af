"""Who a request comes from: X-Forwarded-For is believed only from the reverse proxies that
COURSEBOT_TRUSTED_PROXIES names. uvicorn's own default believes any local peer, so any
process on the machine could claim to be YooKassa (whose notifications are filtered by
source address when YOOKASSA_CHECK_IP is on) or anyone else in the access log.

The app and the uvicorn server are built exactly as `coursebot up` builds them
(process.py); what tells us who the server thought was calling is whether the
YooKassa notification got past the address check, i.e. whether (fake) YooKassa was asked
about the payment.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
import uvicorn

from process import Process, build_process, server_config
from storage.config import Settings, parse_trusted_proxies
from storage.crypto import Secret
from tests.fakes.yookassa_api import FakeYooKassa
from tests.integration.conftest import process_settings

pytestmark = pytest.mark.integration

YOOKASSA_ADDRESS = "185.71.76.7"  # inside one of YooKassa's published networks


@pytest.fixture
async def kassa() -> AsyncIterator[FakeYooKassa]:
    async with FakeYooKassa() as fake:
        yield fake


@asynccontextmanager
async def served(settings: Settings) -> AsyncIterator[tuple[Process, str]]:
    """The process and its real HTTP server, as `coursebot up` runs them."""
    process = await build_process(settings)
    server = uvicorn.Server(server_config(process.app, settings))
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            assert not task.done(), "the server did not start"
            await asyncio.sleep(0.01)
        host, port = server.servers[0].sockets[0].getsockname()[:2]
        yield process, f"http://{host}:{port}"
    finally:
        server.should_exit = True
        await task
        await process.stop()


@pytest.mark.parametrize(
    ("trusted", "seen_as_yookassa"),
    [("", False), ("127.0.0.1", True), ("10.0.0.0/8", False), ("127.0.0.0/8, ::1", True)],
)
async def test_forwarded_for_counts_only_from_a_named_proxy(
    test_database,
    service_urls,
    tmp_path,
    monkeypatch,
    make_account,
    kassa,
    trusted: str,
    seen_as_yookassa: bool,
) -> None:
    monkeypatch.setenv("YOOKASSA_API_BASE", kassa.base_url)
    monkeypatch.setenv("YOOKASSA_CHECK_IP", "1")
    settings = process_settings(
        test_database,
        service_urls.redis_url,
        tmp_path,
        panel_port=0,
        trusted_proxies=parse_trusted_proxies(trusted),
        telegram_api_base="http://127.0.0.1:9",  # nothing may reach Telegram
    )
    account_id = await make_account()
    shop = kassa.add_shop()
    async with served(settings) as (process, base_url):
        await process.payments.set_credentials(
            account_id, shop_id=shop.shop_id, secret_key=Secret(shop.secret_key)
        )
        payment_id = str(uuid.uuid4())
        async with httpx.AsyncClient(base_url=base_url) as client:  # from 127.0.0.1
            answer = await client.post(
                f"/api/v1/payments/yookassa/{account_id}",
                json={
                    "type": "notification",
                    "event": "payment.succeeded",
                    "object": {"id": payment_id},
                },
                headers={"X-Forwarded-For": YOOKASSA_ADDRESS},
            )
        assert answer.status_code == 200  # a forger learns nothing from the status
        asked = kassa.requests_to("GET", f"/v3/payments/{payment_id}")
        assert bool(asked) is seen_as_yookassa


@pytest.mark.parametrize("raw", ["*", "localhost", "10.0.0.1/33", "10.0.0.1;10.0.0.2"])
def test_a_malformed_proxy_list_stops_the_start(raw: str) -> None:
    with pytest.raises(ValueError, match="COURSEBOT_TRUSTED_PROXIES must be"):
        parse_trusted_proxies(raw)
