"""Both UI languages are complete: same keys, every key the pages use exists, and the
language is chosen from the member's setting, the cookie, then the browser."""

from __future__ import annotations

import ast
import re
import string
from pathlib import Path

import pytest

from courses.loader import load_course
from courses.problem_keys import KINDS, PARTS, Problem
from engine.limits import HALTED_NO_STUDENT_INPUT
from panel_api.errors import ApiError
from panel_api.messages import Message, course_problem
from panel_api.web import i18n
from storage.models import (
    BotMode,
    Environment,
    MemberRole,
    RunStatus,
    SourceFormat,
    TokenKind,
)

PANEL = Path(__file__).resolve().parents[2] / "panel_api"
WEB = PANEL / "web"
LITERAL_KEY = re.compile(r"""\bt\(\s*["']([a-z_]+(?:\.[a-z_]+)+)["']\s*[,)]""")
# Refusals made anywhere in the panel: `ApiError(..., key="...")`, `Message("...")`, and a
# validator's `invalid("type", ...)`, which a page says as `problem.<type>`.
MESSAGE_KEY = re.compile(r"""\b(?:key=|Message\(\s*)["']([a-z_]+(?:\.[a-z_0-9]+)+)["']""")
INVALID_TYPE = re.compile(r"""\binvalid\(\s*["']([a-z_]+)["']""")
NOTICE = re.compile(r"""see_other\([^)]*["']([a-z_]+)["']\)""")


def placeholders(entry: i18n.Entry) -> set[str]:
    texts = [entry] if isinstance(entry, str) else list(entry.values())
    return {name for text in texts for _, name, _, _ in string.Formatter().parse(text) if name}


def texts_of(entry: i18n.Entry) -> list[str]:
    return [entry] if isinstance(entry, str) else list(entry.values())


def test_catalogs_have_the_same_keys_and_placeholders():
    en, ru = i18n.catalog("en"), i18n.catalog("ru")
    assert set(en) == set(ru)
    mismatched = [k for k in en if placeholders(en[k]) != placeholders(ru[k])]
    assert mismatched == []
    assert all(text.strip() for entry in [*en.values(), *ru.values()] for text in texts_of(entry))


def test_every_course_problem_has_words_in_both_languages_with_the_same_placeholders():
    en, ru = i18n.catalog("en"), i18n.catalog("ru")
    keys = [
        *(f"course_problem.{p}" for p in Problem),
        *(f"course_problem.kind.{k}" for k in KINDS),
        *(f"course_problem.part.{p}" for p in PARTS),
        "course_problem.in_part",
        "course_problem.in_part_field",
    ]
    assert len(keys) > 80
    assert [k for k in keys if k not in en or k not in ru] == []
    assert [k for k in keys if placeholders(en[k]) != placeholders(ru[k])] == []
    # and nothing in the catalogs for a problem the loader no longer has
    named = {k for k in en if k.startswith("course_problem.")}
    assert named == set(keys)


def test_a_course_problem_is_said_in_plain_words_with_its_parameters():
    loaded = load_course("a:\n  type: quiz\n  text: Q\n  answers: 5\n", source_name="c.yml")
    problem = next(d for d in loaded.diagnostics if d.key == Problem.EXPECTED_LIST)
    said = i18n.Translator("ru").say(course_problem(problem.key, problem.params, problem.message))
    assert said == "здесь нужен список, а указано: число"
    english = i18n.Translator("en").say(
        course_problem(problem.key, problem.params, problem.message)
    )
    assert english == "a list is needed here, but here is a number"
    assert problem.message == "expected a list of answers, got the number 5"  # CLI and API


def test_a_problem_inside_an_answer_says_which_answer():
    source = (
        "a:\n  type: quiz\n  text: Q\n  answers:\n"
        "    - text: x\n    - text: y\n      correct: maybe\n"
    )
    loaded = load_course(source, source_name="c.yml")
    [problem] = [d for d in loaded.diagnostics if d.is_error]
    message = course_problem(problem.key, problem.params, problem.message)
    assert i18n.Translator("ru").say(message) == (
        "ответ 2, «correct»: здесь нужно «да» или «нет» (yes/no), а указано: текст"
    )
    assert i18n.Translator("en").say(message) == (
        "answer 2, “correct”: yes or no is needed here, but here is text"
    )
    assert problem.message == "answer 2 'correct': expected yes or no, got the text 'maybe'"


def test_plural_texts_have_every_form_of_their_language():
    for lang in i18n.LANGUAGES:
        plural = {k: v for k, v in i18n.catalog(lang).items() if not isinstance(v, str)}
        assert len(plural) >= 10
        wrong = {k for k, v in plural.items() if set(v) != set(i18n.PLURAL_FORMS[lang])}
        assert wrong == set(), lang
        assert {k for k, v in plural.items() if "{count}" not in v["other"]} == set()


@pytest.mark.parametrize(
    ("lang", "count", "words"),
    [
        ("ru", 1, "1 активного бота"),
        ("ru", 2, "2 активных бота"),
        ("ru", 5, "5 активных ботов"),
        ("ru", 11, "11 активных ботов"),
        ("ru", 21, "21 активного бота"),
        ("ru", 24, "24 активных бота"),
        ("en", 1, "1 active bot."),
        ("en", 3, "3 active bots."),
    ],
)
def test_a_number_picks_its_plural_form(lang, count, words):
    said = i18n.Translator(lang)("limit.max_bots", plan="free", count=count)
    assert words in said and "(s)" not in said


def test_every_key_the_templates_and_handlers_name_exists():
    sources = [*WEB.glob("templates/*.html"), *WEB.glob("**/*.py")]
    used = {key for path in sources for key in LITERAL_KEY.findall(path.read_text("utf-8"))}
    assert len(used) > 150
    assert sorted(used - set(i18n.catalog("en"))) == []


def test_every_message_key_of_the_panel_exists():
    """Keys travel with errors from services, rules and validators: each is in the catalogs
    (both, by the test above), so no page falls back to the API's English."""
    sources = [path.read_text("utf-8") for path in PANEL.glob("**/*.py")]
    keys = {key for text in sources for key in MESSAGE_KEY.findall(text)}
    keys |= {f"problem.{kind}" for text in sources for kind in INVALID_TYPE.findall(text)}
    keys |= {f"limit.{name}" for name in ("max_bots", "max_courses")}  # plan_limits.Counted
    assert len(keys) > 60
    assert sorted(keys - set(i18n.catalog("en"))) == []


REFUSALS = {"ApiError", "conflict", "unprocessable", "forbidden"}


def test_every_refusal_in_the_panel_carries_a_message_key():
    """A refusal without a key would reach a Russian page in the API's English: each raise
    names its key (`not_found` and `unauthorized` have theirs built in), and validators
    refuse with `invalid(...)`, whose type is the key, not with a bare ValueError."""
    keyless, bare = [], []
    for path in PANEL.glob("**/*.py"):
        tree = ast.parse(path.read_text("utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                name = getattr(node.func, "id", getattr(node.func, "attr", None))
                keyed = any(k.arg == "key" for k in node.keywords)
                helper = name == "ApiError" and path.name == "errors.py"  # passes `key` on
                if name in REFUSALS and not keyed and not helper:
                    keyless.append(f"{path.relative_to(PANEL)}:{node.lineno}")
            if (
                path.parent.name == "schemas"
                and isinstance(node, ast.Raise)
                and isinstance(node.exc, ast.Call)
                and getattr(node.exc.func, "id", None) == "ValueError"
            ):
                bare.append(f"{path.relative_to(PANEL)}:{node.lineno}")
    assert keyless == []
    assert bare == []


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
        # pydantic's error types a form can hit (web/routes/common.validation_problem)
        "problem.{}": [
            "missing",
            "string_too_short",
            "string_too_long",
            "string_pattern_mismatch",
            "greater_than",
            "greater_than_equal",
            "less_than",
            "less_than_equal",
            "int_parsing",
            "float_parsing",
            "decimal_parsing",
            "decimal_max_places",
            "url_parsing",
            "datetime_parsing",
            "json_invalid",
            "extra_forbidden",
            "enum",
            "in_field",
            "empty",
            "other",
        ],
        "problem.bot_token_{}": ["malformed", "refused", "unreadable", "not_a_bot"],
        "problem.address_{}": ["not_found", "not_https", "private", "invalid", "other"],
        "field.{}": ["generic", "name", "slug", "title", "token", "price_amount", "url"],
        "pattern.{}": ["slug", "username", "price_currency", "token"],
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


def test_a_message_is_said_in_the_readers_language_and_falls_back_to_its_english():
    ru = i18n.Translator("ru")
    refusal = ApiError(409, "the run is not active", key="problem.run_not_active")
    assert ru.say(refusal.message) == "Это прохождение уже не идёт."
    # An error from code that has no key yet still says something: the API's words.
    assert ru.say(ApiError(409, "a new refusal").message) == "a new refusal"
    nested = Message("problem.in_field", {"field": Message("field.slug"), "problem": "x"})
    assert ru.say(nested) == "Короткое имя: x"


def test_a_message_missing_a_parameter_says_its_fallback_rather_than_failing():
    en = i18n.Translator("en")
    assert en.say(Message("problem.greater_than_equal", {}, "too small")) == "too small"
