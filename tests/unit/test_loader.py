"""The YAML loader: courses in the legacy format load unchanged (the project's own, and
ProfoChatBot's where present), and every broken input gets a diagnostic that names the
element, the field and the line -- never a traceback."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import yaml

from courses import limits
from courses.loader import LoadResult, load_course, load_course_file
from courses.schema import fields_of
from engine.model import (
    ELEMENT_TYPES,
    DelayElement,
    DialogElement,
    MessageElement,
    QuizElement,
    TestElement,
    yaml_key,
)
from tests.course_files import (
    DEMO,
    LEGACY_DIR,
    OWN_COURSES,
    fixture,
    legacy_courses,
    requires_legacy,
)


def errors(result: LoadResult) -> list[str]:
    return [str(d) for d in result.errors]


def only_error(result: LoadResult):
    assert result.course is None
    assert len(result.errors) == 1, errors(result)
    return result.errors[0]


# --- courses in the legacy format ------------------------------------------------------------


@pytest.mark.parametrize("path", [*OWN_COURSES, *legacy_courses()], ids=lambda p: p.name)
def test_course_file_loads_with_pyyaml_order_and_types(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    result = load_course(text, source_name=path.name)

    assert result.ok, errors(result)
    plain = yaml.safe_load(text)  # what the legacy runtime saw
    assert result.course is not None
    assert result.course.ids == tuple(plain)
    assert [e.type for e in result.course.elements] == [v["type"] for v in plain.values()]


@pytest.mark.parametrize(
    ("name", "count", "sample_types"),
    [
        ("words_and_charts.yaml", 95, {"quiz": 62, "message": 22, "test": 6, "jump": 4}),
        ("legacy_forms.yaml", 24, {"quiz": 9, "delay": 1, "dialog": 1}),
        ("every_element.yaml", 26, {"audio": 3, "dialog": 2, "miniapp": 1, "end": 1}),
        ("editor_quirks.yaml", 20, {"section": 7, "message": 3}),
        ("chat_basics.yaml", 29, {"multi_choice": 5, "input": 5, "message": 8}),
        ("scored_exam.yaml", 10, {"quiz": 3, "test": 1, "revision": 1}),
    ],
)
def test_own_course_element_counts(name: str, count: int, sample_types: dict[str, int]) -> None:
    course = load_course_file(fixture(name)).course
    assert course is not None
    assert len(course.elements) == count
    for element_type, expected in sample_types.items():
        assert sum(e.type == element_type for e in course.elements) == expected


def test_own_courses_together_use_every_element_type() -> None:
    used = set()
    for path in OWN_COURSES:
        course = load_course_file(path).course
        assert course is not None, path
        used |= {e.type for e in course.elements}
    assert used == set(ELEMENT_TYPES)
    every = load_course_file(fixture("every_element.yaml")).course
    assert {e.type for e in every.elements} == set(ELEMENT_TYPES) - {"section"}


@requires_legacy
def test_all_six_legacy_files_are_present() -> None:
    assert LEGACY_DIR is not None
    assert len(sorted(LEGACY_DIR.glob("*.y*ml"))) == 6


@requires_legacy
@pytest.mark.parametrize(
    ("name", "count", "sample_types"),
    [
        ("rev.yaml", 95, {"quiz": 62, "message": 22, "test": 6, "jump": 4, "revision": 1}),
        ("test.yml", 24, {"quiz": 9, "delay": 1, "dialog": 1}),
        ("test_all_elements.yml", 24, {"audio": 2, "dialog": 2, "end": 1}),
        ("test_course_editor.yml", 19, {"section": 7, "message": 2}),
        ("test_messages.yml", 29, {"multi_choice": 5, "input": 5, "message": 8}),
        ("test_test_element.yml", 10, {"quiz": 3, "test": 1, "revision": 1}),
    ],
)
def test_legacy_element_counts(name: str, count: int, sample_types: dict[str, int]) -> None:
    assert LEGACY_DIR is not None
    course = load_course_file(LEGACY_DIR / name).course
    assert course is not None
    assert len(course.elements) == count
    for element_type, expected in sample_types.items():
        assert sum(e.type == element_type for e in course.elements) == expected


def test_duplicate_id_keeps_last_definition_at_first_position_with_warning() -> None:
    result = load_course_file(fixture("editor_quirks.yaml"))
    assert result.course is not None
    first = result.course.elements[0]
    assert first.id == "Intro_Note"
    assert first.media == ()  # the second definition (line 28) has no media
    assert result.course.ids.count("Intro_Note") == 1
    [warning] = [d for d in result.warnings if d.element_id == "Intro_Note"]
    assert "lines 6 and 28" in warning.message
    assert warning.line == 28


def test_legacy_delay_with_continue_is_a_warning_and_keeps_its_texts() -> None:
    result = load_course_file(fixture("legacy_forms.yaml"))
    assert result.course is not None
    delay = result.course.get("Module_Break")
    assert isinstance(delay, DelayElement)
    assert delay.wait is None and delay.goto is None
    assert delay.continue_text == "Первый урок пройден! Перейти ко второму?"
    assert (delay.yes_text, delay.no_text) == ("Перейти", "Позже")
    [warning] = [d for d in result.warnings if d.element_id == "Module_Break"]
    assert "legacy delay" in warning.message and "1d" in warning.message


def test_media_that_are_not_urls_are_warnings_with_their_lines() -> None:
    result = load_course_file(fixture("editor_quirks.yaml"))
    assert result.ok
    media_warnings = [(d.line, d.field) for d in result.warnings if "not an http" in d.message]
    assert media_warnings == [(22, "media"), (23, "media")]
    assert result.course is not None
    assert result.course.get("Greeting").media == ("http", "asd")


def test_a_quiz_marking_two_answers_correct_loads_with_a_warning_at_its_answers() -> None:
    text = (
        "A:\n  type: quiz\n  text: q\n  answers:\n    - text: a\n      correct: yes\n"
        "    - text: b\n      correct: 'yes'\n    - text: c\n"
    )
    result = load_course(text)
    assert result.ok and result.course is not None
    [warning] = [d for d in result.warnings if d.element_id == "A"]
    assert (warning.field, warning.line) == ("answers", 4)
    assert "found 2" in warning.message and "the last one" in warning.message


@pytest.mark.parametrize(
    ("value", "words"),
    [
        (
            "https://drive.google.com/file/d/1AbC/view?usp=drive_linkВ учительской висит схема",
            "В учительской висит схема",
        ),
        ("https://example.org/chart.png see the chart", "see the chart"),
        ("https://example.org/pic.png?size=bigФото", "Фото"),
    ],
)
def test_media_with_words_after_the_link_is_a_warning_naming_them(value: str, words: str) -> None:
    result = load_course(f"A:\n  type: message\n  text: hi\n  media:\n    - {value}\n")
    assert result.ok
    [warning] = [d for d in result.warnings if d.field == "media"]
    assert warning.line == 5
    assert "words after the link" in warning.message and words[:20] in warning.message


def test_links_with_letters_in_their_path_are_plain_links() -> None:
    result = load_course(
        "A:\n  type: message\n  text: hi\n  media:\n"
        "    - https://ru.wikipedia.org/wiki/Кот.jpg\n"
        "    - https://drive.google.com/file/d/1AbC-_x/view?usp=sharing\n"
    )
    assert result.ok and not result.warnings


def test_legacy_boolean_spellings() -> None:
    editor = load_course_file(fixture("editor_quirks.yaml")).course
    messages = load_course_file(fixture("chat_basics.yaml")).course
    assert editor is not None and messages is not None
    quiz = editor.get("Check_1")
    assert [a.correct for a in quiz.answers] == [False, True, False, False]  # correct: "yes"
    multi = editor.get("Kinds")
    assert [a.correct for a in multi.answers] == [False, True, False, True]  # "no" / "yes"
    assert messages.get("Link").link_preview is False  # link_preview: no
    text = (
        "A:\n  type: dialog\n  text: t\n  prompt: p\n  auto_start: true\n  voice_response: 'No'\n"
    )
    dialog = load_course(text).course.get("A")
    assert isinstance(dialog, DialogElement)
    assert (dialog.auto_start, dialog.voice_response) == (True, False)


def test_string_score_keys_become_int_thresholds_in_file_order() -> None:
    course = load_course_file(fixture("editor_quirks.yaml")).course
    test = course.get("Result")
    assert isinstance(test, TestElement)
    assert list(test.score.items()) == [
        (25, "Отлично!"),
        (75, "Неплохо."),
        (100, "Стоит повторить."),
    ]


def test_message_with_options_loads_like_jump_buttons() -> None:
    course = load_course_file(fixture("chat_basics.yaml")).course
    message = course.get("Choice")
    assert isinstance(message, MessageElement)
    assert [(o.text, o.goto, o.wait) for o in message.options] == [
        ("Да, к заданиям", None, None),
        ("На сегодня всё", "Goodbye", None),
        ("Давай завтра", None, "1d"),
    ]


def test_texts_keep_what_was_written_not_yaml_types() -> None:
    text = (
        "Q:\n  type: quiz\n  text: 2020-01-01\n  answers:\n"
        "    - text: 007\n      correct: yes\n    - text: Yes\n    - text: 1:30\n"
    )
    course = load_course(text).course
    quiz = course.get("Q")
    assert isinstance(quiz, QuizElement)
    assert quiz.text == "2020-01-01"
    assert [a.text for a in quiz.answers] == ["007", "Yes", "1:30"]


def test_demo_course_loads_without_any_diagnostic_and_uses_every_type() -> None:
    result = load_course_file(DEMO)
    assert result.diagnostics == ()
    assert result.course is not None
    assert {e.type for e in result.course.elements} == set(ELEMENT_TYPES)


# --- loops without student input ------------------------------------------------------------


def loop_warnings(result: LoadResult) -> list[tuple[str | None, str | None, int | None, str]]:
    return [
        (d.element_id, d.field, d.line, d.message)
        for d in result.warnings
        if "without any answer from the student" in d.message
    ]


def test_a_delay_that_jumps_to_itself_is_a_warning_at_its_goto() -> None:
    text = (
        "Hi:\n  type: message\n  text: hi\n"
        "Tick:\n  type: delay\n  text: tick\n  wait: 1s\n  goto: Tick\n"
    )
    result = load_course(text, source_name="loop.yaml")
    assert result.ok
    [(element_id, field, line, message)] = loop_warnings(result)
    assert (element_id, field, line) == ("Tick", "goto", 8)
    assert message.startswith("element 'Tick' → 'Tick' repeats without any answer")
    assert "stopped after 1000 steps" in message


LOOPS = """\
Intro:
  type: message
  text: Welcome
Lesson:
  type: message
  text: A lesson
Part:
  type: section
  title: Part 2
Score:
  type: test
  prefix: q_
  text: "{score}"
  score: {100: ok}
Sound:
  type: audio
  media: [https://example.com/a.mp3]
Again:
  type: delay
  wait: 1d
  goto: Lesson
Chat:
  type: dialog
  text: Let's talk
  prompt: You are a tutor
  auto_start: yes
Later:
  type: delay
  wait: 1h
  goto: Chat
"""


def test_every_loop_without_input_is_one_warning_naming_its_path_and_closing_goto() -> None:
    result = load_course(LOOPS, source_name="loops.yaml")
    assert result.ok
    found = loop_warnings(result)
    assert [(e, f, line) for e, f, line, _ in found] == [
        ("Again", "goto", 21),
        ("Later", "goto", 30),
    ]
    assert found[0][3].startswith(
        "elements 'Lesson' → 'Part' → 'Score' → 'Sound' → 'Again' → 'Lesson' repeat"
    )
    assert found[1][3].startswith("elements 'Chat' → 'Later' → 'Chat' repeat")


@pytest.mark.parametrize(
    "waiting",
    [
        "  type: message\n  text: Ready?\n  button: Go\n",
        "  type: jump\n  text: Go on?\n  options:\n    - text: Yes\n",
        "  type: message\n  text: Go on?\n  options:\n    - text: Yes\n",
        "  type: test\n  prefix: W\n  text: x\n  score: {100: ok}\n  button: OK\n",
        "  type: input\n  text: Name?\n",
        "  type: quiz\n  text: Q\n  answers:\n    - {text: a, correct: yes}\n    - text: b\n",
        "  type: dialog\n  text: Talk\n  prompt: p\n",
        "  type: miniapp\n  text: App\n  button: Go\n  app_url: https://x.org\n  question: q\n",
        "  type: delay\n  continue: Go on?\n",
    ],
)
def test_a_loop_that_waits_for_the_student_somewhere_is_not_a_warning(waiting: str) -> None:
    text = f"Wait:\n{waiting}Pause:\n  type: delay\n  wait: 1d\n  goto: Wait\n"
    result = load_course(text, source_name="fine.yaml")
    assert result.ok, errors(result)
    assert loop_warnings(result) == []


def test_a_long_loop_is_shortened_in_the_warning() -> None:
    body = "".join(f"M{i}:\n  type: message\n  text: m{i}\n" for i in range(20))
    result = load_course(body + "Back:\n  type: delay\n  wait: 1d\n  goto: M0\n")
    [(_, _, _, message)] = loop_warnings(result)
    assert message.startswith("elements 'M0' → 'M1' → 'M2' → … (16 more) → 'M19' → 'Back' → 'M0'")


@pytest.mark.parametrize("path", [*OWN_COURSES, *legacy_courses()], ids=lambda p: p.name)
def test_real_courses_have_no_loop_without_input(path: Path) -> None:
    assert loop_warnings(load_course_file(path)) == []


def test_unknown_fields_are_kept_verbatim_with_a_warning() -> None:
    text = "A:\n  type: message\n  text: hi\n  colour: red\n  meta: {tags: [a, b], n: 2}\n"
    result = load_course(text, source_name="u.yaml")
    assert result.ok
    element = result.course.get("A")
    assert dict(element.extra) == {"colour": "red", "meta": {"tags": ("a", "b"), "n": 2}}
    assert [(d.field, d.line) for d in result.warnings] == [("colour", 4), ("meta", 5)]


def test_an_id_field_inside_an_element_is_ignored_with_a_warning() -> None:
    """The element's id is its key: a second one would shadow it in the stored elements."""
    text = "A:\n  type: message\n  text: hi\n  id: B\n"
    result = load_course(text, source_name="u.yaml")
    assert result.ok
    element = result.course.get("A")
    assert element.id == "A" and dict(element.extra) == {}
    [warning] = result.warnings
    assert (warning.element_id, warning.field, warning.line) == ("A", "id", 4)
    assert "ignored" in warning.message


def test_schema_names_exactly_the_model_fields() -> None:
    """The loader's schema and the engine model must not drift apart."""
    for name, cls in ELEMENT_TYPES.items():
        model_keys = {
            yaml_key(cls, f.name) for f in dataclasses.fields(cls) if f.name not in ("id", "extra")
        }
        assert set(fields_of(name)) == model_keys, name


# --- broken inputs -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "element_id", "field", "line", "message"),
    [
        ("A:\n  type: message\n\ttext: hi\n", None, None, 3, "tabs are not allowed"),
        ("- a\n- b\n", None, None, 1, "top level must be a mapping"),
        ("just text", None, None, 1, "top level must be a mapping"),
        ("A: hello\n", "A", None, 1, "must be a mapping of fields"),
        ("A:\n  text: hi\n", "A", "type", 1, "missing required field 'type'"),
        ("A:\n  type: mesage\n  text: hi\n", "A", "type", 2, "did you mean 'message'"),
        ("A:\n  type: message\n  button: ok\n", "A", "text", 1, "missing required field 'text'"),
        ("A:\n  type: message\n  text: [a, b]\n", "A", "text", 3, "expected text, got a list"),
        (
            "A:\n  type: message\n  text: hi\n  link_preview: maybe\n",
            "A",
            "link_preview",
            4,
            "expected yes or no",
        ),
        (
            "A:\n  type: dialog\n  text: t\n  prompt: p\n  temperature: hot\n",
            "A",
            "temperature",
            5,
            "expected a number",
        ),
        (
            "A:\n  type: jump\n  text: t\n  options:\n    - text: go\n      goto: Nowhere\n",
            "A",
            "options",
            6,
            "goto 'Nowhere': there is no element",
        ),
        ("A:\n  type: delay\n  wait: 1d\n  goto: Missing\n", "A", "goto", 4, "no element"),
        ("A:\n  type: delay\n  wait: 2 days\n  goto: A\n", "A", "wait", 3, "invalid duration"),
        (
            "A:\n  type: jump\n  text: t\n  options:\n    - text: later\n      wait: 1h:1d\n",
            "A",
            "options",
            6,
            "invalid duration",
        ),
        (
            "A:\n  type: quiz\n  text: q\n  answers:\n    - text: a\n    - text: b\n",
            "A",
            "answers",
            4,
            "exactly one correct answer",
        ),
        (
            "A:\n  type: multi_choice\n  text: q\n  feedback_correct: c\n  feedback_partial: p\n"
            "  feedback_incorrect: i\n  answers:\n    - text: a\n    - text: b\n",
            "A",
            "answers",
            7,
            "at least one correct",
        ),
        (
            "A:\n  type: question\n  text: " + "x" * 301 + "\n  answers:\n    - text: a\n"
            "    - text: b\n",
            "A",
            "text",
            3,
            "301 characters",
        ),
        (
            "A:\n  type: question\n  text: q\n  answers:\n    - text: a\n    - text: "
            + "y" * 101
            + "\n",
            "A",
            "answers",
            6,
            "answer 2 is 101 characters",
        ),
        (
            "A:\n  type: question\n  text: q\n  answers:\n    - text: only\n",
            "A",
            "answers",
            4,
            "has 1 answer;",
        ),
        (
            "A:\n  type: quiz\n  text: q\n  answers:\n    - text: a\n      correct: maybe\n"
            + "    - text: b\n",
            "A",
            "answers",
            6,
            "answer 1 'correct': expected yes or no",
        ),
        (
            "A:\n  type: test\n  text: t\n  prefix: A\n  score:\n    many: x\n",
            "A",
            "score",
            6,
            "whole percentage",
        ),
        ("A:\n  type: delay\n  text: hi\n  goto: A\n", "A", "wait", 1, "missing required field"),
        (
            "A:\n  type: miniapp\n  text: t\n  button: b\n  app_url: example\n  question: q\n",
            "A",
            "app_url",
            5,
            "expected an https:// URL",
        ),
        (
            "A:\n  type: message\n  text: hi\n  parse_mode: markdownv2\n",
            "A",
            "parse_mode",
            4,
            "must be one of HTML, MARKDOWN, HTML!",
        ),
        (
            "A:\n  type: message\n  text: hi\n  button: ok\n  options:\n    - text: x\n",
            "A",
            "options",
            5,
            "either 'button' or 'options'",
        ),
        ("A:\n  type: message\n  text: a: b\n", None, None, 3, "must be quoted"),
        ("{}", None, None, None, "no elements"),
    ],
)
def test_broken_input_gets_one_precise_error(
    text: str, element_id: str | None, field: str | None, line: int | None, message: str
) -> None:
    error = only_error(load_course(text, source_name="broken.yaml"))
    assert message in error.message
    assert (error.element_id, error.field, error.line) == (element_id, field, line)
    assert error.source == "broken.yaml"


def test_thirteen_poll_options_is_an_error_naming_element_and_line() -> None:
    answers = "".join(f"    - text: option {i}\n" for i in range(13))
    text = (
        "Intro:\n  type: message\n  text: hi\n"
        f"Poll_13:\n  type: question\n  text: q\n  answers:\n{answers}"
    )
    error = only_error(load_course(text, source_name="poll.yaml"))
    assert (error.element_id, error.field, error.line) == ("Poll_13", "answers", 7)
    assert str(error).startswith("poll.yaml:7: error: element 'Poll_13', field 'answers': ")
    assert "13 answers" in error.message and "2 to 12" in error.message
    twelve = text.replace("    - text: option 12\n", "")
    assert load_course(twelve).ok


@pytest.mark.parametrize("text", ["", "   \n", "# only a comment\n"])
def test_empty_file_is_an_error(text: str) -> None:
    error = only_error(load_course(text))
    assert "empty" in error.message


@pytest.mark.parametrize("wait", ["400d", "99999999999999d"])
def test_waits_longer_than_a_year_are_errors(wait: str) -> None:
    error = only_error(load_course(f"A:\n  type: delay\n  wait: {wait}\n  goto: A\n"))
    assert (error.field, error.line) == ("wait", 3)
    assert "longer than the maximum of 366d" in error.message


def test_odd_characters_in_urls_numbers_and_thresholds_are_diagnosed() -> None:
    text = (
        "A:\n  type: message\n  text: hi\n  media:\n    - http://[oops\n"
        "B:\n  type: test\n  text: t\n  prefix: A\n  score:\n    ²: x\n    100: y\n"
    )
    result = load_course(text)
    assert [(d.severity, d.element_id, d.line) for d in result.diagnostics] == [
        ("warning", "A", 5),
        ("error", "B", 11),
    ]


def test_every_problem_of_a_file_is_reported_at_once() -> None:
    text = (
        "A:\n  type: message\n"  # missing text (line 1)
        "B:\n  type: nonsense\n"  # unknown type (line 4)
        "C:\n  type: jump\n  text: t\n  options:\n    - text: x\n      goto: Z\n"  # line 10
        "D:\n  type: delay\n  wait: soon\n  goto: A\n"  # bad duration (line 13)
    )
    result = load_course(text)
    assert result.course is None
    assert [(d.element_id, d.line) for d in result.errors] == [
        ("A", 1),
        ("B", 4),
        ("C", 10),
        ("D", 13),
    ]


def test_goto_to_an_element_that_has_errors_is_not_a_second_error() -> None:
    text = (
        "A:\n  type: jump\n  text: t\n  options:\n    - text: x\n      goto: B\n"
        "B:\n  type: message\n"
    )
    result = load_course(text)
    assert [d.element_id for d in result.errors] == ["B"]


def test_oversized_text_is_refused_without_parsing(monkeypatch: pytest.MonkeyPatch) -> None:
    def must_not_parse(*args: object, **kwargs: object) -> None:
        raise AssertionError("parsed an oversized course")

    monkeypatch.setattr(yaml, "compose", must_not_parse)
    error = only_error(load_course("a: " + "x" * (5 * 1024 * 1024)))
    assert "too large" in error.message and "1 MiB" in error.message


def test_oversized_file_is_refused_without_reading(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "huge.yaml"
    path.write_bytes(b"a: " + b"x" * (5 * 1024 * 1024))
    monkeypatch.setattr(Path, "read_bytes", lambda self: pytest.fail("read an oversized file"))
    error = only_error(load_course_file(path))
    assert "5,242,883 bytes" in error.message
    assert error.source == str(path)


def test_file_size_limit_is_exactly_one_mebibyte(tmp_path: Path) -> None:
    body = "A:\n  type: message\n  text: hi\n"
    padding = "#" * (limits.MAX_SOURCE_BYTES - len(body) - 1) + "\n"
    path = tmp_path / "limit.yaml"
    path.write_text(body + padding, encoding="utf-8")
    assert load_course_file(path).ok
    path.write_text(body + padding + "#", encoding="utf-8")
    assert "too large" in only_error(load_course_file(path)).message


def test_unreadable_and_non_utf8_files(tmp_path: Path) -> None:
    assert "cannot read file" in only_error(load_course_file(tmp_path / "missing.yaml")).message
    latin = tmp_path / "latin1.yaml"
    latin.write_bytes("A:\n  type: message\n  text: café\n".encode("latin-1"))
    assert "not UTF-8" in only_error(load_course_file(latin)).message


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
            + "".join(
                f"{n}: &{n} [{', '.join(['*' + p] * 10)}]\n"
                for p, n in zip("abcde", "bcdef", strict=True)
            ),
            "aliases",
        ),
        ("&a [*a]", "refers to itself"),
        (
            "a0: &a0 [x]\n" + "".join(f"a{i}: &a{i} [*a{i - 1}]\n" for i in range(1, 100)),
            "deeper than 64 levels",
        ),
        ("[" * 500_000 + "]" * 500_000, "deeper than 64 levels"),
        ("A:\n  type: message\n  text: \x00\n", "U+0000"),
        ("a: 1\n---\nb: 2\n", "single document"),
    ],
)
def test_hostile_yaml_gets_a_diagnostic(text: str, message: str) -> None:
    assert message in only_error(load_course(text)).message


def test_str_of_a_diagnostic_names_file_line_element_and_field() -> None:
    error = only_error(load_course("A:\n  type: message\n  text: [x]\n", source_name="c.yaml"))
    assert str(error) == "c.yaml:3: error: element 'A', field 'text': expected text, got a list"


@pytest.mark.parametrize(
    ("text", "key", "line", "params"),
    [
        ('A:\n  type: message\n  text: "hello\n\nB:\n  type: end\n', "unclosed_quote", 3, {}),
        ("A:\n  type: quiz\n  options: [x, y\n  b: 1\n", "unclosed_bracket", 3, {"bracket": "["}),
        ("A:\n    type: message\n  text: x\n", "bad_indent", 3, {}),
        ("A:\n  type: message\n  text: @all read this\n", "reserved_start", 3, {"char": "@"}),
        ("A:\n  type: message\n  text: *intro\n", "undefined_alias", 3, {"name": "intro"}),
        ("A:\n  type: message\n  just words\n  text: x\n", "missing_colon", 3, {}),
        ("A:\n  type: message\n  text: Note: this\n", "colon_in_text", 3, {}),
    ],
)
def test_a_syntax_mistake_is_named_at_the_line_where_it_starts(
    text: str, key: str, line: int, params: dict[str, str]
) -> None:
    """The panel shows these keys in the reader's language; PyYAML's words stay in the
    message for the CLI, and the line is where the writer has to look (an unclosed quote's
    opening line, not the end of the file where the parser gave up)."""
    error = only_error(load_course(text))
    assert (error.key, error.line, dict(error.params or {})) == (key, line, params)
    assert error.message.startswith("not valid YAML: ")
