"""Issue [8] findings 1 and 3 through the panel: a tenant cannot make the server call into its
own network, by a service-account key's token_uri or by an LLM base URL, and no remote text
comes back in an answer. The app runs with the production outbound client (system resolver,
nothing allowed) unless a test says otherwise."""

from __future__ import annotations

import gspread
import pytest

from panel_api.services.sheets_access import save_credentials
from storage.outbound import AllowList, OutboundClient, OutboundPolicy
from storage.repositories import llm as llm_repo
from tests.fakes.dns import StaticResolver
from tests.fakes.gsheets import FakeSheetsSession
from tests.fakes.listener import MARKER, Listener
from tests.integration.conftest import random_telegram_id
from tests.integration.test_panel_courses import service_account_key
from tests.integration.test_panel_support import panel_client, panel_context, user_headers
from tests.integration.test_web_support import text_of, web_browser

pytestmark = pytest.mark.integration

SHEET_URL = "https://docs.google.com/spreadsheets/d/1AbCdEfGhIjKlMnOp/edit"
EMAIL = "importer@coursebot-test.iam.gserviceaccount.com"


async def _owner(db, secret_box, make_account, **kwargs):
    owner = random_telegram_id()
    account_id = await make_account(owner_telegram_user_id=owner)
    ctx = panel_context(db, secret_box, **kwargs)
    return ctx, f"/api/v1/accounts/{account_id}", await user_headers(ctx, owner), account_id


# --- Finding 1: the service-account key's token_uri ---------------------------------------


async def test_a_key_whose_token_uri_is_not_googles_is_refused_at_upload(
    db, secret_box, make_account
):
    ctx, base, headers, _ = await _owner(db, secret_box, make_account)
    async with Listener() as inside, panel_client(ctx) as client:
        for token_uri in (inside.url("/token"), "https://oauth2.googleapis.com.evil.example/"):
            key = {**service_account_key(EMAIL), "token_uri": token_uri}
            put = await client.put(
                f"{base}/integrations/google-sheets", json={"service_account": key}, headers=headers
            )
            assert put.status_code == 422, put.text
            assert "token_uri must be Google's token endpoint" in put.json()["detail"]
        shown = await client.get(f"{base}/integrations/google-sheets", headers=headers)
    assert shown.json()["configured"] is False
    assert inside.connections == 0


@pytest.mark.parametrize(
    "path", ["/courses/import-sheet", "/courses/{course}/versions/import-sheet"]
)
async def test_a_stored_key_pointing_inside_gets_a_clean_422_and_nothing_is_called(
    db, secret_box, make_account, path
):
    """A key stored before the upload check (written straight into the database)."""
    ctx, base, headers, account_id = await _owner(db, secret_box, make_account)
    async with Listener() as inside, panel_client(ctx) as client:
        course = await client.post(
            f"{base}/courses",
            json={"title": "C", "source": "a:\n  type: end\n  text: bye\n"},
            headers=headers,
        )
        key = {**service_account_key(EMAIL), "token_uri": inside.url("/token")}
        async with db.tenant(account_id) as session:
            await save_credentials(session, account_id, key, secret_box)
        url = base + path.format(course=course.json()["course"]["id"])
        imported = await client.post(url, json={"spreadsheet": SHEET_URL}, headers=headers)
    assert imported.status_code == 422
    assert "token_uri must be Google's token endpoint" in imported.json()["detail"]
    assert MARKER not in imported.text
    assert inside.connections == 0


async def test_google_names_resolving_inside_are_refused_by_the_guard(db, secret_box, make_account):
    """With Google's own token_uri, the sign-in still goes through the guarded client: were
    Google's name to resolve to a private address, nothing would be sent there."""
    names = {"oauth2.googleapis.com": ["10.0.0.9"], "sheets.googleapis.com": ["10.0.0.9"]}
    outbound = OutboundClient(OutboundPolicy(AllowList(), StaticResolver(names)))
    ctx, base, headers, _ = await _owner(db, secret_box, make_account, outbound=outbound)
    async with panel_client(ctx) as client:
        stored = await client.put(
            f"{base}/integrations/google-sheets",
            json={"service_account": service_account_key(EMAIL)},
            headers=headers,
        )
        assert stored.status_code == 200, stored.text
        imported = await client.post(
            f"{base}/courses/import-sheet", json={"spreadsheet": SHEET_URL}, headers=headers
        )
    assert imported.status_code == 422
    assert imported.json()["detail"] == (
        "Google Sheets could not be read: "
        "the address oauth2.googleapis.com is in a private or local network"
    )


@pytest.mark.parametrize(
    ("status", "body", "content_type", "expected"),
    [
        (
            500,
            f'{{"error": {{"code": 500, "message": "{MARKER}"}}}}',
            "application/json",
            "HTTP 500",
        ),
        (502, f"<html>{MARKER}</html>", "text/html", "HTTP 502"),
        (
            429,
            f'{{"error": {{"code": 429, "message": "{MARKER}"}}}}',
            "application/json",
            "try again",
        ),
        (200, f"<html>{MARKER}</html>", "text/html", "unreachable"),
    ],
)
async def test_googles_error_text_never_reaches_the_answer(
    db, secret_box, make_account, status, body, content_type, expected
):
    sheets = FakeSheetsSession()
    sheets.answer_all(status, body.encode(), content_type)
    ctx, base, headers, _ = await _owner(
        db,
        secret_box,
        make_account,
        sheets_client=lambda info: gspread.Client(auth=None, session=sheets),
    )
    async with panel_client(ctx) as client:
        await client.put(
            f"{base}/integrations/google-sheets",
            json={"service_account": service_account_key(EMAIL)},
            headers=headers,
        )
        imported = await client.post(
            f"{base}/courses/import-sheet", json={"spreadsheet": SHEET_URL}, headers=headers
        )
    assert imported.status_code == 422
    assert expected in imported.json()["detail"] and MARKER not in imported.text


# --- Finding 3: the account's LLM base URL ------------------------------------------------

INSIDE_URLS = [
    "http://127.0.0.1:{port}/v1",
    "https://127.0.0.1:{port}/v1",
    "https://[::1]:{port}/v1",
    "https://10.0.0.5/v1",
    "https://169.254.169.254/latest",
    "https://localhost:{port}/v1",
]


@pytest.mark.parametrize("template", INSIDE_URLS)
async def test_an_llm_base_url_inside_the_network_is_refused_by_the_api(
    db, secret_box, make_account, template
):
    ctx, base, headers, account_id = await _owner(db, secret_box, make_account)
    async with Listener() as inside, panel_client(ctx) as client:
        put = await client.put(
            f"{base}/integrations/llm",
            json={"base_url": template.format(port=inside.port), "api_key": "sk-x"},
            headers=headers,
        )
    assert put.status_code == 422
    detail = put.json()["detail"]
    assert detail.startswith("base_url: ")
    assert "private or local network" in detail or "only https://" in detail
    async with db.tenant(account_id) as session:
        assert await llm_repo.get_settings(session, account_id) is None
    assert inside.connections == 0


@pytest.mark.parametrize("template", INSIDE_URLS)
async def test_an_llm_base_url_inside_the_network_is_refused_by_the_page(
    db, secret_box, make_account, template
):
    owner = random_telegram_id()
    account_id = await make_account(owner_telegram_user_id=owner)
    ctx = panel_context(db, secret_box)
    async with Listener() as inside, web_browser(ctx) as browser:
        await browser.log_in(owner)
        base = f"/accounts/{account_id}/integrations"
        await browser.get(base)
        url = template.format(port=inside.port)
        refused = await browser.post(f"{base}/llm", {"base_url": url, "model": "m"})
    assert refused.status_code == 422
    text = text_of(refused.text)
    assert "is in a private or local network; the panel sends" in text or (
        "Only https:// addresses can be used, not http://" in text
    )
    async with db.tenant(account_id) as session:
        assert await llm_repo.get_settings(session, account_id) is None
    assert inside.connections == 0


async def test_an_operator_listed_endpoint_can_be_saved(db, secret_box, make_account):
    async with Listener() as listed, Listener() as other:
        outbound = OutboundClient.allowing(AllowList.parse(f"127.0.0.1:{listed.port}"))
        ctx, base, headers, _ = await _owner(db, secret_box, make_account, outbound=outbound)
        async with panel_client(ctx) as client:
            saved = await client.put(
                f"{base}/integrations/llm", json={"base_url": listed.url("/v1")}, headers=headers
            )
            refused = await client.put(
                f"{base}/integrations/llm", json={"base_url": other.url("/v1")}, headers=headers
            )
    assert saved.status_code == 200, saved.text
    assert refused.status_code == 422
    assert listed.connections == 0 and other.connections == 0  # saving only checks
