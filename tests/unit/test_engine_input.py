"""input: answer normalisation, scoring, feedback and voice answers."""

from __future__ import annotations

import pytest

from engine import step
from engine.events import Voice
from engine.model import Course, InputElement, MessageElement
from tests.unit.student import T0, Student, scores, texts, user_records

AFTER = MessageElement(id="after", text="After")


def make(**fields) -> Course:
    return Course(elements=(InputElement(id="in", text="Your answer?", **fields), AFTER))


@pytest.mark.parametrize("typed", ["Biden", "  biden ", "BIDEN"])
def test_text_answers_compare_trimmed_and_case_insensitively(typed):
    student = Student(
        make(correct_answer="Biden", feedback_correct="Right", feedback_incorrect="Wrong")
    )
    assert texts(student.start()) == ["Your answer?"]
    effects = student.type(typed)
    assert texts(effects) == ["Right", "After"]
    assert scores(effects) == {"in": (1.0, 1.0)}


def test_inner_spaces_are_collapsed_but_words_must_match():
    student = Student(
        make(correct_answer="I reckon", feedback_correct="Right", feedback_incorrect="Wrong")
    )
    student.start()
    assert texts(student.type("i   RECKON")) == ["Right", "After"]
    again = Student(
        make(correct_answer="I reckon", feedback_correct="Right", feedback_incorrect="Wrong")
    )
    again.start()
    effects = again.type("I think")
    assert texts(effects) == ["Wrong", "After"]
    assert scores(effects) == {"in": (0.0, 1.0)}


@pytest.mark.parametrize(
    ("typed", "correct"),
    [
        ("3,1,6,2,4,5", True),
        ("3 1 6 2 4 5", True),
        ("316245", True),
        ("3; 1; 6; 2; 4; 5.", True),
        ("1 3 6 2 4 5", False),
    ],
)
def test_sequence_answers_compare_digits_only(typed, correct):
    student = Student(
        make(
            correct_answer="3 1 6 2 4 5",
            input_type="sequence",
            feedback_correct="Right",
            feedback_incorrect="Wrong",
        )
    )
    student.start()
    assert texts(student.type(typed))[0] == ("Right" if correct else "Wrong")


def test_without_correct_answer_the_answer_is_unscored_and_thanked():
    student = Student(make(feedback_correct="Thanks!"))
    student.start()
    effects = student.type("anything at all")
    assert texts(effects) == ["Thanks!", "After"]
    (record,) = user_records(effects)
    assert (record.text, record.score, record.maxscore) == ("anything at all", None, None)
    assert student.state.answers["in"].maxscore is None


def test_without_correct_answer_or_feedback_it_just_moves_on():
    student = Student(make())
    student.start()
    assert texts(student.type("x")) == ["After"]


def test_voice_answer_is_echoed_and_checked_like_text():
    student = Student(
        make(correct_answer="Москва", feedback_correct="Да", feedback_incorrect="Нет")
    )
    student.start()
    effects = student.speak("москва")
    assert texts(effects) == ["🎤 I heard: москва", "Да", "After"]


def test_voice_without_transcription_asks_to_type_and_keeps_waiting():
    c = make(correct_answer="x")
    student = Student(c)
    student.start()
    state, effects = step(c, student.state, Voice(None), T0)
    assert state == student.state
    assert "type it" in texts(effects)[0]
