"""Export to YAML: what a creator downloads must load back into the very same course."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from courses.exporter import export_course
from courses.loader import load_course, load_course_file
from engine.model import Answer, Course, MessageElement, Option, QuizElement
from tests.course_files import OWN_COURSES, fixture, legacy_courses

SOURCES = [*OWN_COURSES, *legacy_courses()]


def loaded(path: Path) -> Course:
    course = load_course_file(path).course
    assert course is not None
    return course


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.name)
def test_round_trip_gives_an_equal_course(path: Path) -> None:
    course = loaded(path)
    exported = export_course(course)
    again = load_course(exported, source_name="exported.yaml")
    assert again.errors == ()
    assert again.course == course
    assert again.course.ids == course.ids
    assert export_course(again.course) == exported  # stable: no drift on repeated export


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.name)
def test_export_is_plain_legacy_yaml(path: Path) -> None:
    """Readable by any YAML tool as the same mapping of elements, in the same order."""
    original = yaml.safe_load(path.read_text(encoding="utf-8"))
    exported = yaml.safe_load(export_course(loaded(path)))
    assert list(exported) == list(original)
    for element_id, element in exported.items():
        assert next(iter(element)) == "type"
        assert element["type"] == original[element_id]["type"]


def test_export_keeps_unknown_fields_and_legacy_forms() -> None:
    editor = export_course(loaded(fixture("editor_quirks.yaml")))
    assert "  max_messages: 150\n" in editor
    legacy_delay = yaml.safe_load(export_course(loaded(fixture("legacy_forms.yaml"))))[
        "Module_Break"
    ]
    assert legacy_delay == {
        "type": "delay",
        "text": "Первый урок пройден! Второй откроется завтра в это же время.",
        "continue": "Первый урок пройден! Перейти ко второму?",
        "yes_text": "Перейти",
        "no_text": "Позже",
    }
    text = "A:\n  type: message\n  text: hi\n  colour: red\n  meta: {tags: [a, b]}\n"
    exported = export_course(load_course(text).course)
    assert yaml.safe_load(exported)["A"] == {
        "type": "message",
        "text": "hi",
        "colour": "red",
        "meta": {"tags": ["a", "b"]},
    }


def test_multiline_text_is_a_block_and_unicode_is_not_escaped() -> None:
    exported = export_course(loaded(fixture("scored_exam.yaml")))
    assert "  text: |\n    🔭 Небольшой экзамен по астрономии\n" in exported
    assert "\\u" not in exported
    assert "      correct: yes\n" in exported


def test_texts_that_look_like_other_yaml_types_stay_texts() -> None:
    course = Course(
        elements=(
            QuizElement(
                id="yes",
                text="1:30",
                answers=(Answer("8", True, "null"), Answer("TRUE"), Answer("no"), Answer("~")),
            ),
            MessageElement(id="007", text="2020-01-01", options=(Option("on", goto="yes"),)),
        )
    )
    again = load_course(export_course(course)).course
    assert again == course


printable = st.text(
    st.characters(blacklist_categories=("Cs",)),  # any character a str from a file can hold
    min_size=1,
    max_size=60,
).filter(lambda s: s.strip())


@settings(max_examples=500, deadline=None)
@given(text=printable, button=st.none() | printable, feedback=st.none() | printable)
def test_any_text_survives_the_round_trip(
    text: str, button: str | None, feedback: str | None
) -> None:
    course = Course(
        elements=(
            MessageElement(id="M", text=text, button=button),
            QuizElement(
                id="Q", text="q", answers=(Answer("a", True, feedback), Answer(text[:100]))
            ),
        )
    )
    result = load_course(export_course(course))
    assert result.course == course, [str(d) for d in result.diagnostics]
