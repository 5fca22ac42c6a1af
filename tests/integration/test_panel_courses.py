"""Courses: YAML uploads (every test course, every legacy course where present, a broken
one), versions, diff, export, delete, and imports from Google Sheets through gspread with a
fake session."""

from __future__ import annotations

import gspread
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import select

from courses.loader import load_course
from storage.models import AccountMember
from tests.course_files import OWN_COURSES, legacy_courses
from tests.fakes.gsheets import FakeSheetsSession
from tests.integration.test_panel_support import panel_client, panel_context, user_headers

pytestmark = pytest.mark.integration

BROKEN = """\
intro:
  type: message
  text: Hello
  button: Go

pick:
  type: quiz
  text: Choose
  answers:
    - text: only one

jump_away:
  type: jump
  text: Where to?
  options:
    - text: Nowhere
      goto: missing_element

odd:
  type: teleport
  text: Huh
"""


async def _owner_client(db, secret_box, make_account, user_id, **kwargs):
    account_id = await make_account(owner_telegram_user_id=user_id)
    ctx = panel_context(db, secret_box, **kwargs)
    return account_id, ctx, await user_headers(ctx, user_id)


@pytest.mark.parametrize("path", [*OWN_COURSES, *legacy_courses()], ids=lambda p: p.name)
async def test_every_course_uploads(db, secret_box, make_account, path):
    account_id, ctx, headers = await _owner_client(db, secret_box, make_account, 94_000_001)
    source = path.read_text(encoding="utf-8")
    async with panel_client(ctx) as client:
        response = await client.post(
            f"/api/v1/accounts/{account_id}/courses",
            json={"title": path.stem, "source": source},
            headers=headers,
        )
        assert response.status_code == 201, response.text
        body = response.json()
        expected = load_course(source).course
        assert body["version"]["number"] == 1
        assert body["version"]["elements_count"] == len(expected.elements)
        assert all(w["severity"] == "warning" for w in body["warnings"])
        exported = await client.get(
            f"/api/v1/accounts/{account_id}/courses/{body['course']['id']}"
            f"/versions/{body['version']['id']}/export",
            headers=headers,
        )
    assert exported.status_code == 200
    assert exported.text == source  # exactly what the creator uploaded
    assert exported.headers["content-type"].startswith("application/yaml")


async def test_broken_course_lists_every_error_with_element_and_line(db, secret_box, make_account):
    account_id, ctx, headers = await _owner_client(db, secret_box, make_account, 94_000_002)
    async with panel_client(ctx) as client:
        response = await client.post(
            f"/api/v1/accounts/{account_id}/courses",
            json={"title": "Broken", "source": BROKEN},
            headers=headers,
        )
        courses = await client.get(f"/api/v1/accounts/{account_id}/courses", headers=headers)
    assert response.status_code == 422
    body = response.json()
    assert body["detail"] == "the course has 4 errors"
    errors = [
        (d["element_id"], d["field"], d["line"])
        for d in body["diagnostics"]
        if d["severity"] == "error"
    ]
    assert errors == [
        ("pick", "answers", 9),  # one answer: a poll needs 2, and a quiz a correct one
        ("pick", "answers", 9),
        ("jump_away", "options", 17),  # goto to a missing element, on the goto's line
        ("odd", "type", 20),  # unknown element type
    ]
    assert courses.json() == []  # nothing stored


async def test_versions_diff_export_and_delete_rules(db, secret_box, seed_account):
    seeded = await seed_account()
    ctx = panel_context(db, secret_box)
    async with db.tenant(seeded.account_id) as s:
        owner = await s.scalar(select(AccountMember.telegram_user_id))
    headers = await user_headers(ctx, owner)
    base = f"/api/v1/accounts/{seeded.account_id}/courses"
    v1 = "intro:\n  type: message\n  text: Hi\n\nbye:\n  type: end\n  text: Bye\n"
    v2 = (
        "intro:\n  type: message\n  text: Hello\n\n"
        "middle:\n  type: message\n  text: More\n\n"
        "bye:\n  type: end\n  text: Bye\n"
    )
    async with panel_client(ctx) as client:
        course = (
            await client.post(base, json={"title": "Diffed", "source": v1}, headers=headers)
        ).json()["course"]
        second = await client.post(
            f"{base}/{course['id']}/versions", json={"source": v2}, headers=headers
        )
        assert second.status_code == 201 and second.json()["version"]["number"] == 2
        versions = await client.get(f"{base}/{course['id']}/versions", headers=headers)
        assert [v["number"] for v in versions.json()] == [1, 2]

        diff = await client.get(
            f"{base}/{course['id']}/diff",
            params={"from_version": 1, "to_version": 2},
            headers=headers,
        )
        assert diff.status_code == 200
        body = diff.json()
        assert "-  text: Hi\n" in body["unified"] and "+  text: Hello\n" in body["unified"]
        assert body["elements"]["added"] == ["middle"]
        assert body["elements"]["removed"] == []
        assert body["elements"]["changed"] == [{"id": "intro", "fields": ["text"]}]
        missing = await client.get(
            f"{base}/{course['id']}/diff",
            params={"from_version": 1, "to_version": 9},
            headers=headers,
        )
        assert missing.status_code == 404

        detail = await client.get(
            f"{base}/{course['id']}/versions/{second.json()['version']['id']}", headers=headers
        )
        assert [e["id"] for e in detail.json()["elements"]] == ["intro", "middle", "bye"]
        normalised = await client.get(
            f"{base}/{course['id']}/versions/{second.json()['version']['id']}/export",
            params={"normalised": "true"},
            headers=headers,
        )
        assert load_course(normalised.text).course == load_course(v2).course

        # The seeded course is deployed: it cannot be deleted; an undeployed one can.
        deployed = await client.delete(f"{base}/{seeded.course_id}", headers=headers)
        assert deployed.status_code == 409
        assert deployed.json()["deployments"] == [seeded.deployment_id]
        assert (await client.delete(f"{base}/{course['id']}", headers=headers)).status_code == 204
        assert (await client.get(f"{base}/{course['id']}", headers=headers)).status_code == 404


async def test_validate_and_course_plan_limit(db, secret_box, make_account):
    account_id, ctx, headers = await _owner_client(db, secret_box, make_account, 94_000_003)
    base = f"/api/v1/accounts/{account_id}/courses"
    source = "a:\n  type: message\n  text: Hi\n  colour: red\n"
    async with panel_client(ctx) as client:
        checked = await client.post(f"{base}/validate", json={"source": source}, headers=headers)
        assert checked.json()["ok"] is True
        assert [d["field"] for d in checked.json()["diagnostics"]] == ["colour"]
        for n in range(3):  # the free plan allows 3 courses
            created = await client.post(
                base, json={"title": f"C{n}", "source": source}, headers=headers
            )
            assert created.status_code == 201
            assert created.json()["warnings"][0]["field"] == "colour"
        fourth = await client.post(base, json={"title": "C4", "source": source}, headers=headers)
    assert fourth.status_code == 409 and fourth.json()["limit"] == "max_courses"


def service_account_key(email: str) -> dict:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    return {
        "type": "service_account",
        "project_id": "coursebot-test",
        "private_key_id": "k1",
        "private_key": pem,
        "client_email": email,
        "client_id": "1",
        "token_uri": "https://oauth2.googleapis.com/token",
    }


SHEET = [
    ["id", "type", "text", "correct", "feedback", "threshold", "prefix", "button", "media"],
    ["intro", "message", "Агент 007, привет", "", "", "", "", "Начать", ""],
    ["q_1", "quiz", "Кто такой 007?", "", "", "", "", "", ""],
    ["", "answer", "007", "yes", "Верно", "", "", "", ""],
    ["", "answer", "008", "", "Нет", "", "", "", ""],
    ["result", "test", "Итог: {score}/{maxscore}", "", "", "", "q_", "", ""],
    ["", "score", "Отлично", "", "", "0", "", "", ""],
    ["", "score", "Повтори", "", "", "100", "", "", ""],
    ["# комментарий", "", "", "", "", "", "", "", ""],
    ["end", "end", "Пока", "", "", "", "", "", ""],
]


async def test_google_sheet_import(db, secret_box, make_account):
    sheets = FakeSheetsSession()
    email = "importer@coursebot-test.iam.gserviceaccount.com"
    given: list[dict] = []

    def client_for(info):
        given.append(info)
        return gspread.Client(auth=None, session=sheets)

    account_id, ctx, headers = await _owner_client(
        db, secret_box, make_account, 94_000_004, sheets_client=client_for
    )
    base = f"/api/v1/accounts/{account_id}"
    url = sheets.add("1AbCdEfGhIjKlMnOp", "Курс агентов", {"Лист1": SHEET})
    secret_url = sheets.add("1PrivateSheetXyz", "Private", {"Sheet1": SHEET}, shared=False)
    async with panel_client(ctx) as client:
        not_yet = await client.post(
            f"{base}/courses/import-sheet", json={"spreadsheet": url}, headers=headers
        )
        assert not_yet.status_code == 422 and "service account" in not_yet.json()["detail"]

        key = service_account_key(email)
        stored = await client.put(
            f"{base}/integrations/google-sheets", json={"service_account": key}, headers=headers
        )
        assert stored.json() == {"configured": True, "client_email": email}
        shown = await client.get(f"{base}/integrations/google-sheets", headers=headers)
        assert "PRIVATE KEY" not in shown.text and shown.json()["client_email"] == email
        bad_key = await client.put(
            f"{base}/integrations/google-sheets",
            json={"service_account": {**key, "private_key": "nonsense"}},
            headers=headers,
        )
        assert bad_key.status_code == 422

        imported = await client.post(
            f"{base}/courses/import-sheet", json={"spreadsheet": url}, headers=headers
        )
        assert imported.status_code == 201, imported.text
        course = imported.json()
        assert course["course"]["title"] == "Курс агентов"
        assert course["version"]["source_format"] == "gsheet"
        assert given[-1]["private_key"] == key["private_key"]  # decrypted for gspread only
        export = await client.get(
            f"{base}/courses/{course['course']['id']}/versions/{course['version']['id']}/export",
            headers=headers,
        )
        loaded = load_course(export.text).course
        assert loaded.ids == ("intro", "q_1", "result", "end")
        assert [a.text for a in loaded.get("q_1").answers] == ["007", "008"]  # not 7
        assert loaded.get("result").score == {0: "Отлично", 100: "Повтори"}

        private = await client.post(
            f"{base}/courses/import-sheet", json={"spreadsheet": secret_url}, headers=headers
        )
        assert private.status_code == 422 and email in private.json()["detail"]

        broken_rows = [*SHEET[:3], ["", "answer", "only one", "yes", "", "", "", "", ""]]
        broken_url = sheets.add("1BrokenSheet123", "Broken", {"Sheet1": broken_rows})
        broken = await client.post(
            f"{base}/courses/{course['course']['id']}/versions/import-sheet",
            json={"spreadsheet": broken_url},
            headers=headers,
        )
        assert broken.status_code == 422
        assert {(d["element_id"], d["line"]) for d in broken.json()["diagnostics"]} == {
            ("q_1", 3)  # the sheet row of the quiz
        }


async def test_a_course_without_a_title_takes_its_first_sections(db, secret_box, make_account):
    account_id, ctx, headers = await _owner_client(db, secret_box, make_account, 94_000_011)
    body = "intro:\n  type: message\n  text: Hello\n"
    async with panel_client(ctx) as client:
        base = f"/api/v1/accounts/{account_id}/courses"
        with_section = "part:\n  type: section\n  title: Part one\n" + body
        created = await client.post(base, json={"source": with_section}, headers=headers)
        assert created.status_code == 201, created.text
        assert created.json()["course"]["title"] == "Part one"
        untitled = await client.post(base, json={"source": body}, headers=headers)
        assert untitled.status_code == 422
        assert "the course needs a title" in untitled.json()["detail"]
