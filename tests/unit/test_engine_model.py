"""Course model: durations, invariants the engine relies on, plain-data round trip."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from engine.frozen import FrozenMap
from engine.model import (
    Answer,
    Course,
    DelayElement,
    JumpElement,
    MessageElement,
    Option,
    QuizElement,
    TestElement,
    course_from_elements,
    course_to_elements,
    element_to_data,
    parse_duration,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30s", timedelta(seconds=30)),
        ("2m", timedelta(minutes=2)),
        ("1h:30m", timedelta(hours=1, minutes=30)),
        ("1d:12h", timedelta(days=1, hours=12)),
        ("1d:2h:3m:4s", timedelta(days=1, hours=2, minutes=3, seconds=4)),
        (" 2h:30m ", timedelta(hours=2, minutes=30)),
    ],
)
def test_parse_duration(text, expected):
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    "text", ["", "1", "1x", "1d:", "1.5h", "30m:1h", "1h:1h", "0s", "-1s", "1 d"]
)
def test_parse_duration_rejects_bad_input_clearly(text):
    with pytest.raises(ValueError, match="invalid duration"):
        parse_duration(text)


def test_course_lookup_helpers():
    c = Course(
        elements=(MessageElement(id="a", text="1"), MessageElement(id="b", text="2")), title="T"
    )
    assert c.ids == ("a", "b")
    assert c.index_of("b") == 1 and c.get("a").text == "1"
    assert c.next_id("a") == "b" and c.next_id("b") is None
    assert "a" in c and "z" not in c
    with pytest.raises(KeyError):
        c.get("z")


def test_course_rejects_duplicate_ids_missing_gotos_and_bad_waits():
    with pytest.raises(ValueError, match="duplicate element id 'a'"):
        Course(elements=(MessageElement(id="a", text="1"), MessageElement(id="a", text="2")))
    with pytest.raises(ValueError, match="'j': goto 'nowhere' does not exist"):
        Course(elements=(JumpElement(id="j", text="?", options=(Option("x", goto="nowhere"),)),))
    with pytest.raises(ValueError, match="'d': invalid duration"):
        Course(elements=(DelayElement(id="d", wait="tomorrow"),))


def test_elements_are_immutable_and_hashable():
    element = QuizElement(
        id="q", text="Q", answers=(Answer("a", correct=True),), extra=FrozenMap({"x": (1, 2)})
    )
    with pytest.raises(AttributeError):
        element.text = "changed"  # type: ignore[misc]
    assert hash(element) == hash(
        QuizElement(
            id="q", text="Q", answers=(Answer("a", correct=True),), extra=FrozenMap({"x": (1, 2)})
        )
    )
    assert element.type == "quiz"


def test_course_plain_data_round_trips_through_json():
    c = Course(
        elements=(
            MessageElement(
                id="m",
                text="Hi",
                media=("https://x.org/a.png",),
                extra=FrozenMap({"colour": {"r": [1, 2]}}),
            ),
            DelayElement(id="d", text="wait", continue_text="Go on?", yes_text="Y", no_text="N"),
            TestElement(
                id="t",
                text="{score}",
                prefix="q",
                score=FrozenMap({0: "top", 100: "low"}),
                button="OK",
            ),
            JumpElement(
                id="j", text="?", options=(Option("x", goto="m", wait="1d", wait_text="later"),)
            ),
        ),
    )
    assert course_from_elements(json.loads(json.dumps(course_to_elements(c)))) == c
    assert [item["id"] for item in course_to_elements(c)] == ["m", "d", "t", "j"]


def test_element_data_uses_yaml_keys_and_keeps_unknown_fields():
    data = element_to_data(
        DelayElement(id="d", continue_text="Go on?", extra=FrozenMap({"note": "x"}))
    )
    assert data == {"type": "delay", "continue": "Go on?", "note": "x"}
