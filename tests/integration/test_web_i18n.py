"""Both UI languages are complete: same keys, every key the pages use exists, and the
language is chosen from the member's setting, the cookie, then the browser."""

from __future__ import annotations

import re
import string
from pathlib import Path

import pytest

from engine.limits import HALTED_NO_STUDENT_INPUT
from panel_api.web import i18n
from storage.models import (
    BotMode,
    Environment,
    MemberRole,
    RunStatus,
    SourceFormat,
    TokenKind,
)

WEB = Path(__file__).resolve().parents[2] / "panel_api" / "web"
LITERAL_KEY = re.compile(r"""\bt\(\s*["']([a-z_]+(?:\.[a-z_]+)+)["']\s*[,)]""")
NOTICE = re.compile(r"""see_other\([^)]*["']([a-z_]+)["']\)""")


def placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_catalogs_have_the_same_keys_and_placeholders():
    en, ru = i18n.catalog("en"), i18n.catalog("ru")
    assert set(en) == set(ru)
    mismatched = [k for k in en if placeholders(en[k]) != placeholders(ru[k])]
    assert mismatched == []
    assert all(text.strip() for text in [*en.values(), *ru.values()])


def test_every_key_the_templates_and_handlers_name_exists():
    sources = [*WEB.glob("templates/*.html"), *WEB.glob("**/*.py")]
    used = {key for path in sources for key in LITERAL_KEY.findall(path.read_text("utf-8"))}
    assert len(used) > 150
    assert sorted(used - set(i18n.catalog("en"))) == []


def test_keys_made_from_values_exist_for_every_value():
    """Templates build some keys from data (`"status." ~ run.status`): every value has one."""
    routes = (WEB / "routes").glob("*.py")
    notices = {n for path in routes for n in NOTICE.findall(path.read_text("utf-8"))}
    assert len(notices) >= 10
    dynamic = {
        "role.{}": [r.value for r in MemberRole],
        "status.{}": [s.value for s in RunStatus],
        "run.note.{}": [HALTED_NO_STUDENT_INPUT],
        "env.{}": [e.value for e in Environment],
        "bots.mode_{}": [m.value for m in BotMode],
        "tokens.kind_{}": [k.value for k in TokenKind],
        "course.format_{}": [f.value for f in SourceFormat],
        "chat.{}": ["bot", "student"],
        "diag.{}": ["error", "warning"],
        "funnel.{}": ["completed", "in_progress", "dropped"],
        "nav.{}": [
            "overview",
            "bots",
            "courses",
            "deployments",
            "runs",
            "students",
            "analytics",
            "integrations",
        ],
        "preview.{}": ["waited", "finished", "stopped", "stuck", "too_long"],
        "error.{}": ["401", "403", "404", "other", "not_found", "forbidden", "csrf", "failed"],
        "notice.{}": sorted(notices),
    }
    keys = [pattern.format(value) for pattern, values in dynamic.items() for value in values]
    assert [key for key in keys if key not in i18n.catalog("en")] == []


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("ru-RU,ru;q=0.9,en-US;q=0.8", "ru"),
        ("de-DE,de;q=0.9,en;q=0.5,ru;q=0.4", "en"),
        ("en;q=0.2, ru;q=0.7", "ru"),
        ("fr, de", None),
        ("ru;q=0", None),
        ("", None),
        ("ru;q=abc, en", "en"),
    ],
)
def test_accept_language(header, expected):
    assert i18n.from_accept_language(header) == expected


def test_member_choice_beats_cookie_beats_browser():
    assert i18n.choose("ru", "en", "en") == "ru"
    assert i18n.choose(None, "ru", "en") == "ru"
    assert i18n.choose(None, None, "ru-RU") == "ru"
    assert i18n.choose("xx", "yy", "zz") == i18n.DEFAULT_LANGUAGE


def test_a_missing_key_is_an_error_not_a_silent_fallback():
    with pytest.raises(KeyError):
        i18n.Translator("en")("no.such.key")
