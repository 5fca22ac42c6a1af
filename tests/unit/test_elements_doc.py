"""docs/elements.md is what course authors copy from: its examples must load, and it must keep
describing every element type and field the loader knows, so the page cannot drift from the
code."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from courses.loader import load_course
from courses.schema import COMMON_FIELDS, ELEMENT_FIELDS
from engine.effects import Effect, SendMedia, SendPoll, SendText
from engine.events import Button, Event, PollAnswer, Start, Text
from engine.model import ELEMENT_TYPES
from engine.playthrough import Playthrough

DOC = Path(__file__).resolve().parents[2] / "docs" / "elements.md"
TEXT = DOC.read_text(encoding="utf-8")
YAML_BLOCK = re.compile(r"^```yaml\n(.*?)^```", re.DOTALL | re.MULTILINE)
TYPE_HEADING = re.compile(r"^## `([a-z_]+)`$", re.MULTILINE)
FIELD_HEADING = re.compile(r"^### `([a-z_]+)`$", re.MULTILINE)


def _blocks(text: str) -> list[str]:
    return YAML_BLOCK.findall(text)


def _type_sections() -> dict[str, str]:
    """Element type -> the text of its `## \\`type\\`` section (up to the next `## `)."""
    headings = list(TYPE_HEADING.finditer(TEXT))
    sections: dict[str, str] = {}
    for heading in headings:
        end = TEXT.find("\n## ", heading.end())
        sections[heading.group(1)] = TEXT[heading.end() : end if end >= 0 else len(TEXT)]
    return sections


EXAMPLES = _blocks(TEXT)


def test_the_page_has_examples() -> None:
    assert len(EXAMPLES) >= len(ELEMENT_TYPES)


@pytest.mark.parametrize("number", range(len(EXAMPLES)))
def test_every_example_loads_without_errors(number: int) -> None:
    result = load_course(EXAMPLES[number], source_name=f"docs/elements.md example {number + 1}")
    assert result.errors == (), "\n".join(str(d) for d in result.errors)
    assert result.course is not None


def test_every_element_type_has_exactly_one_section() -> None:
    headings = TYPE_HEADING.findall(TEXT)
    assert sorted(headings) == sorted(ELEMENT_TYPES)
    assert len(headings) == len(set(headings))


@pytest.mark.parametrize("element_type", sorted(ELEMENT_TYPES))
def test_each_section_shows_its_type_in_a_loading_example(element_type: str) -> None:
    section = _type_sections()[element_type]
    used: set[str] = set()
    for block in _blocks(section):
        course = load_course(block).course
        assert course is not None
        used.update(element.type for element in course.elements)
    assert element_type in used


@pytest.mark.parametrize("element_type", sorted(ELEMENT_FIELDS))
def test_each_section_names_every_field_of_its_type(element_type: str) -> None:
    section = _type_sections()[element_type]
    missing = [name for name in ELEMENT_FIELDS[element_type] if f"`{name}`" not in section]
    assert missing == []


def test_every_common_field_has_its_own_heading() -> None:
    assert set(FIELD_HEADING.findall(TEXT)) >= set(COMMON_FIELDS)


PRESS = Button("")
"""Stands for a press of the newest button in `_played`'s answers."""


def _played(element_type: str, *answers: Event) -> list[str]:
    """The texts and poll questions the bot sends while a student plays the example of
    `element_type`'s section, giving `answers` in order (a poll answer goes to the newest
    poll, PRESS presses the newest button)."""
    course = load_course(_blocks(_type_sections()[element_type])[0]).course
    assert course is not None
    run = Playthrough(course, datetime(2026, 1, 1, tzinfo=UTC))
    said: list[str] = []

    def record(effects: list[Effect]) -> None:
        for effect in effects:
            if isinstance(effect, SendText | SendMedia):
                said.append(effect.text if isinstance(effect, SendText) else effect.caption or "")
            elif isinstance(effect, SendPoll):
                said.append(effect.question)

    record(run.send(Start()))
    for answer in answers:
        if isinstance(answer, PollAnswer):
            answer = run.poll_answer(answer.option_ids)
        elif answer is PRESS:
            answer = Button(run.callbacks[0].data or "")
        record(run.send(answer))
    return said


def test_the_test_example_gives_the_verdict_the_page_describes() -> None:
    # One of two answers right: half the points lost, which the 50 threshold covers.
    said = _played("test", PollAnswer("", (0,)), Text("8"))
    assert said[-1] == "You scored 1 out of 2.\n\nGood work."


def test_the_revision_example_asks_again_only_what_was_wrong() -> None:
    said = _played("revision", PollAnswer("", (1,)), Text("6"), PRESS)
    assert said[-2:] == [
        "Let's try the questions you missed once more.",
        "What colour do you get by mixing blue and yellow?",
    ]
