"""What a script writer gets from /docs and /openapi.json: a viewer that works offline, both
ways in declared, each operation's refusals listed, and names that stay put."""

from __future__ import annotations

import re

from tests.integration.test_panel_support import panel_client, panel_context


async def test_the_docs_page_loads_everything_from_the_panel_itself(db, secret_box):
    async with panel_client(panel_context(db, secret_box)) as client:
        page = await client.get("/docs")
        assets = re.findall(r"""(?:src|href)=['"]([^'"]+)['"]""", page.text)
        fetched = {path: await client.get(path) for path in assets}
    assert page.status_code == 200
    assert assets and all(path.startswith("/docs/assets/") for path in assets)
    assert {path: r.status_code for path, r in fetched.items()} == dict.fromkeys(assets, 200)
    assert "cdn" not in page.text.lower()


async def test_the_schema_declares_both_ways_in_and_what_each_operation_can_refuse(db, secret_box):
    async with panel_client(panel_context(db, secret_box)) as client:
        schema = (await client.get("/openapi.json")).json()
    schemes = schema["components"]["securitySchemes"]
    assert schemes["session"] == {**schemes["session"], "type": "apiKey", "in": "cookie"}
    assert schemes["apiKey"] == {**schemes["apiKey"], "type": "http", "scheme": "bearer"}

    create = schema["paths"]["/api/v1/accounts/{account_id}/deployments"]["post"]
    assert create["security"] == [{"session": []}, {"apiKey": []}]
    assert {"401", "403", "404", "409", "422"} <= set(create["responses"])
    assert create["responses"]["403"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Error"
    }
    login = schema["paths"]["/api/v1/auth/telegram"]["post"]
    assert login["security"] == [] and "403" not in login["responses"]


async def test_operation_ids_are_the_handlers_names(db, secret_box):
    async with panel_client(panel_context(db, secret_box)) as client:
        schema = (await client.get("/openapi.json")).json()
    ids = [op["operationId"] for item in schema["paths"].values() for op in item.values()]
    assert len(ids) == len(set(ids))
    assert all(re.fullmatch(r"[a-z][a-z0-9_]*", i) and "api_v1" not in i for i in ids)
    assert (
        schema["paths"]["/api/v1/accounts/{account_id}/deployments"]["post"]["operationId"]
        == "create_deployment"
    )
