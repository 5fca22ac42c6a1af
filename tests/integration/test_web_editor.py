"""The course editor and the upload box: the text a creator wrote is never lost, problems are
shown at their lines, a save makes the next version, and the editor comes from the panel
itself (no CDN)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.integration.conftest import random_telegram_id
from tests.integration.test_panel_support import panel_context
from tests.integration.test_web_support import text_of, web_browser

pytestmark = pytest.mark.integration

VALID = """intro:
  type: message
  text: Hello
  button: Go
bye:
  type: end
  text: Bye
"""
BROKEN = VALID.replace("  type: end", "  type: endd")  # line 6
BROKEN_LINE = 6
STATIC = Path(__file__).resolve().parents[2] / "panel_api" / "web" / "static"


@pytest.fixture
async def owner(db, secret_box, make_account):
    user_id = random_telegram_id()
    account_id = await make_account(owner_telegram_user_id=user_id)
    async with web_browser(panel_context(db, secret_box)) as browser:
        await browser.log_in(user_id)
        await browser.get(f"/accounts/{account_id}/courses")
        yield browser, account_id


async def new_course(browser, account_id: int) -> str:
    created = await browser.post(
        f"/accounts/{account_id}/courses", {"source": VALID, "title": "Edited"}
    )
    assert created.status_code == 303
    return created.headers["location"].split("/versions/")[0]


def textarea(page: str, name: str = "source") -> str:
    found = re.search(rf'<textarea[^>]* name="{name}"[^>]*>\n(.*?)</textarea>', page, re.S)
    assert found is not None
    return found.group(1).replace("&#39;", "'").replace("&quot;", '"').replace("&lt;", "<")


async def test_the_editor_page_serves_codemirror_from_the_panel_itself(owner):
    browser, account_id = owner
    course_url = await new_course(browser, account_id)
    page = await browser.get(f"{course_url}/edit")
    assert page.status_code == 200
    assert textarea(page.text) == VALID
    scripts = re.findall(r'<script[^>]*src="([^"]+)"', page.text)
    assert "/static/vendor/codemirror.js" in scripts and "/static/course-editor.js" in scripts
    assert all(src.startswith("/static/") for src in scripts if "telegram.org" not in src)
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", page.text)  # no inline scripts
    bundle = await browser.get("/static/vendor/codemirror.js")
    assert bundle.status_code == 200
    assert bundle.content == (STATIC / "vendor" / "codemirror.js").read_bytes()
    assert b"EditorView" in bundle.content and b"cdn" not in bundle.content.lower()
    assert "script-src 'self'" in page.headers["content-security-policy"]


async def test_a_save_with_errors_keeps_the_text_and_links_the_errors_to_their_lines(owner):
    browser, account_id = owner
    course_url = await new_course(browser, account_id)
    await browser.get(f"{course_url}/edit")
    failed = await browser.post(f"{course_url}/edit", {"source": BROKEN, "base": "1"})
    assert failed.status_code == 422
    assert textarea(failed.text) == BROKEN
    link = re.search(rf'<a class="line" href="#L{BROKEN_LINE}">line {BROKEN_LINE}</a>', failed.text)
    assert link is not None
    assert "there is no element type “endd”" in text_of(failed.text)
    versions = text_of((await browser.get(course_url)).text)
    assert "v2" not in versions  # nothing was stored


async def test_a_valid_save_makes_the_next_version(owner):
    browser, account_id = owner
    course_url = await new_course(browser, account_id)
    await browser.get(f"{course_url}/edit")
    changed = VALID.replace("text: Bye", "text: Goodbye")
    saved = await browser.post(f"{course_url}/edit", {"source": changed, "base": "1"})
    assert saved.status_code == 303
    assert "version_uploaded" in saved.headers["location"]
    version_page = await browser.get(saved.headers["location"])
    assert "Edited, version 2" in text_of(version_page.text)
    assert "Goodbye" in text_of(version_page.text)
    again = await browser.get(f"{course_url}/edit")
    assert textarea(again.text) == changed


async def test_the_check_as_you_type_lists_problems_at_their_lines(owner):
    browser, account_id = owner
    course_url = await new_course(browser, account_id)
    await browser.get(f"{course_url}/edit")
    checked = await browser.post(f"{course_url}/edit/check", {"source": BROKEN})
    assert checked.status_code == 200
    result = checked.json()
    assert result["ok"] is False
    errors = [d for d in result["diagnostics"] if d["severity"] == "error"]
    assert [d["line"] for d in errors] == [BROKEN_LINE]
    assert errors[0]["key"] == "unknown_type_suggested"
    assert errors[0]["params"]["name"] == "endd" and errors[0]["params"]["close"] == "end"
    assert errors[0]["message"].startswith("unknown element type 'endd'")  # the API's English
    assert errors[0]["text"].startswith("there is no element type “endd” (did you mean “end”?)")
    await browser.post("/language", {"lang": "ru", "next": f"{course_url}/edit"})
    in_russian = (await browser.post(f"{course_url}/edit/check", {"source": BROKEN})).json()
    error = next(d for d in in_russian["diagnostics"] if d["severity"] == "error")
    assert error["text"].startswith("типа элемента «endd» нет (может быть, «end»?)")
    assert error["message"] == errors[0]["message"]
    fine = (await browser.post(f"{course_url}/edit/check", {"source": VALID})).json()
    assert fine["ok"] is True and fine["diagnostics"] == []
    refused = await browser.post(f"{course_url}/edit/check", {"source": VALID}, csrf="forged")
    assert refused.status_code == 403


async def test_pasted_yaml_stays_in_the_upload_box_after_an_error(owner):
    browser, account_id = owner
    failed = await browser.post(
        f"/accounts/{account_id}/courses", {"source": BROKEN, "title": "Broken"}
    )
    assert failed.status_code == 422
    assert textarea(failed.text) == BROKEN
    course_url = await new_course(browser, account_id)
    failed = await browser.post(f"{course_url}/versions", {"source": BROKEN})
    assert failed.status_code == 422
    assert textarea(failed.text) == BROKEN


async def test_a_pasted_course_without_a_title_takes_its_first_sections_or_asks_plainly(owner):
    browser, account_id = owner
    with_section = "part:\n  type: section\n  title: Astronomy basics\n" + VALID
    created = await browser.post(f"/accounts/{account_id}/courses", {"source": with_section})
    assert created.status_code == 303
    page = text_of((await browser.get(created.headers["location"])).text)
    assert "Astronomy basics, version 1" in page

    untitled = await browser.post(f"/accounts/{account_id}/courses", {"source": VALID})
    assert untitled.status_code == 422
    shown = text_of(untitled.text)
    assert "Give the course a title: the text has no section with a title" in shown
    assert "String should have" not in shown
    assert textarea(untitled.text) == VALID
