"""Outgoing webhooks end to end: a student playing a course through the fake Bot API makes
signed POSTs reach a real local HTTP receiver; retries, giving up, replay, isolation between
accounts and the outbound policy at save. Personal texts ride along (the same course)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from adapters.webhooks import DeliverySettings, WebhookDelivery
from storage import inbox_events
from storage.models import WebhookDelivery as DeliveryRow
from storage.outbound import AllowList, OutboundClient
from storage.webhooks import hook_event, record_events, session_execute
from tests.fakes.listener import Listener
from tests.integration import test_runtime_e2e as e2e
from tests.integration.runtime_support import Autopilot, ShiftableClock, active_run
from tests.integration.test_panel_support import panel_client, panel_context, user_headers
from tests.integration.test_runtime_e2e import new_user, provision_source

pytestmark = pytest.mark.integration

# The runtime e2e module's fixtures: a fake Bot API, Redis, and the Telegram runtime on both.
fake = e2e.fake
redis = e2e.redis
stack = e2e.stack

COURSE = """\
hello:
  type: message
  text: "Привет, {first_name}!"
  button: Дальше
Ask_Name:
  type: input
  text: Как вас называть?
bye:
  type: message
  parse_mode: HTML
  text: "<b>Пока</b>, {{Ask_Name}}!"
"""


@dataclass
class Receiver:
    listener: Listener
    outbound: OutboundClient

    @property
    def url(self) -> str:
        return self.listener.url("/hooks/coursebot")

    def bodies(self) -> list[tuple[dict[str, str], bytes]]:
        """Each request's headers (lower-case names) and body, in arrival order."""
        found = []
        for raw in self.listener.requests:
            head, _, body = raw.partition(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")[1:]
            headers = {k.strip().lower(): v.strip() for k, v in (ln.split(":", 1) for ln in lines)}
            found.append((headers, body))
        return found


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    """A local HTTP receiver; the operator's COURSEBOT_OUTBOUND_ALLOW lets us reach it."""
    async with Listener(body=b"{}") as listener:
        outbound = OutboundClient.allowing(AllowList.parse(f"127.0.0.1:{listener.port}"))
        try:
            yield Receiver(listener, outbound)
        finally:
            await outbound.aclose()


def verify(secret: str, headers: dict[str, str], body: bytes, *, now: float) -> bool:
    """What a receiver does (docs/webhooks.md): recompute the HMAC and check the age."""
    parts = dict(item.split("=", 1) for item in headers["x-coursebot-signature"].split(","))
    expected = hmac.new(
        secret.encode(), f"{parts['t']}.".encode() + body, hashlib.sha256
    ).hexdigest()
    return hmac.compare_digest(expected, parts["v1"]) and abs(now - int(parts["t"])) < 300


async def add_endpoint(client, headers, account_id: int, url: str, events=None) -> dict:
    response = await client.post(
        f"/api/v1/accounts/{account_id}/webhooks",
        json={"url": url, "events": events or ["run.started", "answer.recorded", "run.completed"]},
        headers=headers,
    )
    assert response.status_code == 201, response.text
    return response.json()


async def deliveries(db, account_id: int) -> list[DeliveryRow]:
    async with db.tenant(account_id) as session:
        rows = await session.scalars(
            select(DeliveryRow).where(DeliveryRow.account_id == account_id).order_by(DeliveryRow.id)
        )
        return list(rows)


async def deliver_until(loop: WebhookDelivery, receiver: Receiver, count: int) -> None:
    deadline = time.monotonic() + 15
    while len(receiver.listener.requests) < count:
        assert time.monotonic() < deadline, f"only {len(receiver.listener.requests)} POSTs"
        await loop.run_once()


async def test_a_student_finishing_a_course_sends_signed_events(
    stack, db, secret_box, make_account, receiver
):
    owner = new_user()
    account_id = await make_account(owner_telegram_user_id=owner)
    ctx = panel_context(db, secret_box, outbound=receiver.outbound)
    async with panel_client(ctx) as client:
        endpoint = await add_endpoint(
            client, await user_headers(ctx, owner), account_id, receiver.url
        )
    course = await provision_source(stack, db, secret_box, account_id, COURSE, "hooks")
    student = new_user()
    stack.fake.add_user(student, "<Ann>", username="ann_k")
    pilot = Autopilot(stack.fake, db, course, student, text_answer="Аня & <i>")
    await pilot.start()
    run = await pilot.play()
    assert run.status == "completed"

    # Personal texts: the name and the answer put in, escaped for each text's parse mode.
    texts = [s.text for s in stack.fake.sent_to(student)]
    assert "Привет, <Ann>!" in texts  # legacy Markdown: nothing to escape in a name like this
    assert "<b>Пока</b>, Аня &amp; &lt;i&gt;!" in texts

    loop = WebhookDelivery(db, secret_box, receiver.outbound, clock=stack.clock)
    await deliver_until(loop, receiver, 3)
    received = receiver.bodies()
    events = [json.loads(body) for _, body in received]
    assert [e["type"] for e in events] == ["run.started", "answer.recorded", "run.completed"]
    for headers, body in received:
        assert headers["content-type"] == "application/json"
        assert verify(endpoint["secret"], headers, body, now=stack.clock().timestamp())
        assert not verify("whsec_wrong", headers, body, now=stack.clock().timestamp())
    started, answered, completed = events
    assert started["account_id"] == account_id and started["id"].startswith("evt_")
    assert started["data"] == {
        "run_id": run.id,
        "deployment_id": course.deployment_id,
        "bot_id": course.bot_id,
        "chat_id": student,
        "telegram_user_id": student,
    }
    assert answered["data"]["element_id"] == "Ask_Name"
    assert answered["data"]["answer"] == "Аня & <i>"
    assert completed["data"]["status"] == "completed"
    assert {row.status for row in await deliveries(db, account_id)} == {"delivered"}
    # Subscribed events only: no run.stopped/test.scored rows were even written.
    assert {row.event_type for row in await deliveries(db, account_id)} == {
        "run.started",
        "answer.recorded",
        "run.completed",
    }


async def _one_event(db, account_id: int, now: datetime) -> None:
    async with db.tenant(account_id) as session:
        event = hook_event(account_id, "run.started", now, {"run_id": 1})
        await record_events(session_execute(session), [event])


async def test_a_failing_endpoint_is_retried_with_backoff_then_given_up(
    db, secret_box, make_account, receiver
):
    owner = new_user()
    account_id = await make_account(owner_telegram_user_id=owner)
    ctx = panel_context(db, secret_box, outbound=receiver.outbound)
    async with panel_client(ctx) as client:
        await add_endpoint(client, await user_headers(ctx, owner), account_id, receiver.url)
    clock = ShiftableClock()
    settings = DeliverySettings(
        window=timedelta(minutes=2), first_retry=timedelta(seconds=10), timeout_s=5
    )
    loop = WebhookDelivery(db, secret_box, receiver.outbound, settings, clock=clock)
    await _one_event(db, account_id, clock())
    receiver.listener.status = 500

    # The session's database holds other tests' accounts too: count this account's attempts,
    # not what one round of the loop claimed.
    async def tried() -> int:
        await loop.run_once()
        return sum(row.attempts for row in await deliveries(db, account_id))

    assert await tried() == 1
    [row] = await deliveries(db, account_id)
    assert (row.status, row.attempts, row.last_status) == ("pending", 1, 500)
    assert row.last_error == "the endpoint answered HTTP 500"
    assert await tried() == 1  # not due again before the backoff
    clock.advance(timedelta(seconds=11))
    assert await tried() == 2  # the retry, after 10 s
    receiver.listener.status = 200
    assert await tried() == 2  # the next one waits 20 s
    clock.advance(timedelta(seconds=21))
    assert await tried() == 3
    [row] = await deliveries(db, account_id)
    assert (row.status, row.attempts, row.last_status) == ("delivered", 3, 200)
    assert len(receiver.listener.requests) == 3
    bodies = {body for _, body in receiver.bodies()}
    assert len(bodies) == 1  # the same event, byte for byte, each time

    # A second event against an endpoint that never recovers: given up when the window ends.
    receiver.listener.status = 503
    await _one_event(db, account_id, clock())
    for _ in range(40):  # 200 s in steps of 5 s
        await loop.run_once()
        clock.advance(timedelta(seconds=5))
    last = (await deliveries(db, account_id))[-1]
    assert last.status == "failed"
    assert last.attempts == 4  # at 0, 10, 30 and 70 s; 150 s is past 120 s
    assert len(receiver.listener.requests) == 3 + 4
    assert "gave up after 4 attempts" in (last.last_error or "")


async def test_replay_from_the_api_sends_the_event_again(db, secret_box, make_account, receiver):
    owner = new_user()
    account_id = await make_account(owner_telegram_user_id=owner)
    clock = ShiftableClock()
    ctx = panel_context(db, secret_box, outbound=receiver.outbound, clock=clock)
    loop = WebhookDelivery(db, secret_box, receiver.outbound, clock=clock)
    async with panel_client(ctx) as client:
        headers = await user_headers(ctx, owner)
        endpoint = await add_endpoint(client, headers, account_id, receiver.url)
        await _one_event(db, account_id, clock())
        await deliver_until(loop, receiver, 1)
        base = f"/api/v1/accounts/{account_id}/webhooks"
        log = (await client.get(f"{base}/{endpoint['id']}/deliveries", headers=headers)).json()
        assert [(d["status"], d["attempts"]) for d in log] == [("delivered", 1)]
        replayed = await client.post(f"{base}/deliveries/{log[0]['id']}/replay", headers=headers)
        assert replayed.status_code == 200 and replayed.json()["status"] == "pending"
        await deliver_until(loop, receiver, 2)
        first, second = receiver.bodies()
        assert first[1] == second[1]  # the same event id and body
        log = (await client.get(f"{base}/{endpoint['id']}/deliveries", headers=headers)).json()
        assert [(d["status"], d["attempts"]) for d in log] == [("delivered", 2)]
        # Viewers see nothing of it; the secret stays readable by those who manage integrations.
        secret = await client.get(f"{base}/{endpoint['id']}/secret", headers=headers)
        assert secret.json() == {"secret": endpoint["secret"]}


async def test_another_accounts_endpoints_and_deliveries_are_404(
    db, secret_box, make_account, receiver
):
    owner_a, owner_b = new_user(), new_user()
    a = await make_account(owner_telegram_user_id=owner_a)
    b = await make_account(owner_telegram_user_id=owner_b)
    ctx = panel_context(db, secret_box, outbound=receiver.outbound)
    async with panel_client(ctx) as client:
        endpoint = await add_endpoint(client, await user_headers(ctx, owner_b), b, receiver.url)
        await _one_event(db, b, datetime.now(UTC))
        [delivery] = await deliveries(db, b)
        headers = await user_headers(ctx, owner_a)
        mine = f"/api/v1/accounts/{a}/webhooks"
        for method, path in (
            *routes_by_id(mine, endpoint["id"], delivery.id),
            ("GET", f"/api/v1/accounts/{b}/webhooks"),
        ):
            response = await client.request(method, path, headers=headers)
            assert response.status_code == 404, (method, path, response.text)
            assert endpoint["secret"] not in response.text
        assert (await client.get(mine, headers=headers)).json() == []


async def test_an_internal_address_is_refused_at_save(db, secret_box, make_account):
    owner = new_user()
    account_id = await make_account(owner_telegram_user_id=owner)
    async with Listener() as inside:
        ctx = panel_context(db, secret_box)  # the production policy: nothing allowed
        async with panel_client(ctx) as client:
            headers = await user_headers(ctx, owner)
            for url in (
                inside.url("/hook"),
                inside.url("/hook", scheme="https"),
                "https://169.254.169.254/latest/meta-data",
                "https://10.1.2.3/hook",
                "ftp://example.com/hook",
            ):
                response = await client.post(
                    f"/api/v1/accounts/{account_id}/webhooks",
                    json={"url": url, "events": ["run.started"]},
                    headers=headers,
                )
                assert response.status_code == 422, (url, response.text)
                assert response.json()["detail"].startswith("url: ")
            listed = await client.get(f"/api/v1/accounts/{account_id}/webhooks", headers=headers)
            assert listed.json() == []
        assert inside.connections == 0


async def test_a_slow_endpoint_does_not_hold_up_another_accounts_events(
    db, secret_box, make_account
):
    """Account A's endpoint takes 3 s per answer and has 12 events waiting; account B's one
    event is delivered at once, and A never has more than its share of attempts going."""
    owner_a, owner_b = new_user(), new_user()
    a = await make_account(owner_telegram_user_id=owner_a)
    b = await make_account(owner_telegram_user_id=owner_b)
    async with Listener(body=b"{}", delay=3.0) as slow, Listener(body=b"{}") as fast:
        allow = f"127.0.0.1:{slow.port},127.0.0.1:{fast.port}"
        outbound = OutboundClient.allowing(AllowList.parse(allow))
        try:
            ctx = panel_context(db, secret_box, outbound=outbound)
            async with panel_client(ctx) as client:
                await add_endpoint(client, await user_headers(ctx, owner_a), a, slow.url("/h"))
                await add_endpoint(client, await user_headers(ctx, owner_b), b, fast.url("/h"))
            now = datetime.now(UTC)
            for _ in range(12):
                await _one_event(db, a, now)
            await _one_event(db, b, now + timedelta(milliseconds=1))  # the last one due
            settings = DeliverySettings(per_account=2, concurrency=8, interval_s=0.1)
            loop = WebhookDelivery(db, secret_box, outbound, settings)
            loop.start()
            try:
                began = time.monotonic()
                while not fast.requests:
                    assert time.monotonic() - began < 2.0, "B waited behind A"
                    await asyncio.sleep(0.02)
                await asyncio.sleep(1.0)  # A's first two are still being answered
                assert slow.connections == 2
                [delivered] = await deliveries(db, b)
                assert delivered.status == "delivered"
            finally:
                await loop.stop()
        finally:
            await outbound.aclose()


async def test_a_run_stopped_from_the_panel_is_reported_once(
    stack, db, secret_box, make_account, receiver
):
    owner = new_user()
    account_id = await make_account(owner_telegram_user_id=owner)
    ctx = panel_context(db, secret_box, outbound=receiver.outbound)
    async with panel_client(ctx) as client:
        await add_endpoint(
            client, await user_headers(ctx, owner), account_id, receiver.url, ["run.stopped"]
        )
    course = await provision_source(stack, db, secret_box, account_id, COURSE, "stops")
    student = new_user()
    pilot = Autopilot(stack.fake, db, course, student)
    await pilot.start()
    run = await active_run(db, account_id, course.bot_id, student)
    assert run is not None
    async with db.tenant(account_id) as session:
        assert await inbox_events.stop_run(session, account_id, run.id)
    deadline = time.monotonic() + 10
    while not (rows := await deliveries(db, account_id)):
        assert time.monotonic() < deadline, "no run.stopped event"
        await asyncio.sleep(0.1)
    [row] = rows
    event = json.loads(row.body)
    assert event["type"] == "run.stopped"
    assert event["data"]["run_id"] == run.id and event["data"]["status"] == "stopped"


async def test_an_id_no_endpoint_or_delivery_can_have_is_refused(db, secret_box, make_account):
    """Ids past PostgreSQL's bigint are a clear 422, never a server error (the fuzzer
    found DELETE .../webhooks/18446744073709551617 answering 500)."""
    owner = new_user()
    account_id = await make_account(owner_telegram_user_id=owner)
    ctx = panel_context(db, secret_box)
    async with panel_client(ctx) as client:
        headers = await user_headers(ctx, owner)
        too_big = 2**64 + 1
        base = f"/api/v1/accounts/{account_id}/webhooks"
        for method, path in routes_by_id(base, too_big, too_big):
            response = await client.request(method, path, headers=headers)
            assert response.status_code == 422, (method, path, response.text)


def routes_by_id(base: str, endpoint_id: int, delivery_id: int) -> list[tuple[str, str]]:
    """(method, path) of every webhook route that names an endpoint or a delivery."""
    return [
        ("GET", f"{base}/{endpoint_id}"),
        ("GET", f"{base}/{endpoint_id}/secret"),
        ("GET", f"{base}/{endpoint_id}/deliveries"),
        ("DELETE", f"{base}/{endpoint_id}"),
        ("POST", f"{base}/deliveries/{delivery_id}/replay"),
    ]
