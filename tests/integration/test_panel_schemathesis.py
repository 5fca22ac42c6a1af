"""Property-based run over the whole OpenAPI schema: no generated request may cause a 5xx.

The panel runs in a uvicorn server on its own thread and event loop (schemathesis calls are
synchronous), with its own Database pool and its own fake Telegram. The caller is logged in as
owner of a seeded account and as platform super-admin; path ids are steered to that account's
real objects half of the time so the generated bodies reach the handlers, not just the 404s.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Iterator

import pytest
import requests
import schemathesis
import uvicorn
from hypothesis import HealthCheck, Phase, given, settings

from panel_api.app import create_app
from storage.crypto import SecretBox
from storage.db import Database
from storage.repositories import members
from tests.fakes.telegram_api import FakeTelegram
from tests.integration.test_panel_support import (
    SUPERADMIN_ID,
    PanelWorld,
    build_world,
    panel_context,
    user_headers,
)

pytestmark = pytest.mark.integration

MAX_EXAMPLES = int(os.environ.get("PANEL_FUZZ_EXAMPLES", "25"))


def _serve(app_url: str, secret_box: SecretBox, ready: dict) -> None:
    async def main() -> None:
        db = Database(app_url, pool_size=5, max_overflow=5)
        async with FakeTelegram() as telegram:
            ctx = panel_context(db, secret_box, telegram_api_base=telegram.base_url)
            config = uvicorn.Config(
                create_app(ctx), host="127.0.0.1", port=0, log_level="warning", lifespan="off"
            )
            server = uvicorn.Server(config)
            task = asyncio.create_task(server.serve())
            while not server.started and not task.done():
                await asyncio.sleep(0.02)
            port = server.servers[0].sockets[0].getsockname()[1]
            ready["url"] = f"http://127.0.0.1:{port}"
            ready["server"] = server
            await task
        await db.dispose()

    asyncio.run(main())


@pytest.fixture
def live_panel(test_database, secret_box) -> Iterator[str]:
    ready: dict = {}
    thread = threading.Thread(
        target=_serve, args=(test_database.app_url, secret_box, ready), daemon=True
    )
    thread.start()
    for _ in range(500):
        if "url" in ready or not thread.is_alive():
            break
        threading.Event().wait(0.02)
    assert "url" in ready, "the panel server did not start"
    yield ready["url"]
    ready["server"].should_exit = True
    thread.join(timeout=10)


@pytest.fixture
async def fuzz_world(db, seed_account) -> PanelWorld:
    world = await build_world(db, await seed_account())
    async with db.tenant(world.account_id) as s:
        await members.add(s, world.account_id, telegram_user_id=SUPERADMIN_ID, role="owner")
    return world


@pytest.fixture
async def superadmin_headers(db, secret_box) -> dict:
    return await user_headers(panel_context(db, secret_box), SUPERADMIN_ID)


def test_no_generated_request_causes_a_server_error(
    db, secret_box, live_panel, fuzz_world, superadmin_headers
):
    ctx = panel_context(db, secret_box)
    schema = schemathesis.openapi.from_dict(create_app(ctx).openapi())
    session = requests.Session()
    real_ids = fuzz_world.ids
    errors: list[str] = []
    succeeded: set[str] = set()  # operations that answered 2xx at least once
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 60

    for operation in operations:

        @settings(
            max_examples=MAX_EXAMPLES,
            deadline=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
            database=None,
        )
        @given(case=operation.as_strategy())
        def check(case) -> None:
            for name, value in list((case.path_parameters or {}).items()):
                if name == "account_id" or (isinstance(value, int) and value % 2 == 0):
                    case.path_parameters[name] = real_ids.get(name, value)
            # Logging out would end the session every later call uses: it goes without one.
            logout = case.operation.path.endswith("/auth/logout")
            headers = {} if logout else superadmin_headers
            response = case.call(base_url=live_panel, session=session, headers=headers)
            if response.status_code < 300:
                succeeded.add(f"{case.method} {case.operation.path}")
            if response.status_code >= 500:
                errors.append(
                    f"{case.method} {case.formatted_path} -> {response.status_code}: "
                    f"{response.text[:300]} (body {case.body!r:.300})"
                )
            if case.method == "DELETE" and case.formatted_path.endswith(
                f"/accounts/{fuzz_world.account_id}"
            ):
                session.post(
                    f"{live_panel}/api/v1/accounts/{fuzz_world.account_id}/restore",
                    headers=superadmin_headers,
                )

        check()
    assert errors == []
    # The bodies and ids reached the handlers, not only validation and 404s.
    assert len(succeeded) >= len(operations) // 2, sorted(succeeded)
