"""quiz / question / multi_choice: poll shape, feedback, scores, and poll-id checks."""

from __future__ import annotations

import pytest

from engine import step
from engine.effects import SendMedia
from engine.events import PollAnswer, Text
from engine.model import (
    Answer,
    Course,
    MessageElement,
    MultiChoiceElement,
    QuestionElement,
    QuizElement,
)
from engine.playthrough import poll_id_of
from tests.unit.student import T0, Student, polls, scores, texts, user_records

QUIZ = QuizElement(
    id="q",
    text="Important\n",
    media=("https://x.org/chart.png",),
    answers=(
        Answer("Viral", feedback="Almost!"),
        Answer("Essential", correct=True, feedback="Awesome!"),
    ),
)
AFTER = MessageElement(id="after", text="After")


def test_quiz_sends_media_then_a_quiz_poll():
    effects = Student(Course(elements=(QUIZ, AFTER))).start()
    assert effects[0] == SendMedia(("https://x.org/chart.png",), None, "MARKDOWN", ())
    (poll,) = polls(effects)
    assert (poll.question, poll.options, poll.kind, poll.correct_option_ids, poll.multiple) == (
        "Important",
        ("Viral", "Essential"),
        "quiz",
        (1,),
        False,
    )


@pytest.mark.parametrize(
    ("choice", "feedback", "score"), [("Essential", "Awesome!", 1.0), ("Viral", "Almost!", 0.0)]
)
def test_quiz_answer_gets_its_feedback_and_score(choice, feedback, score):
    student = Student(Course(elements=(QUIZ, AFTER)))
    student.start()
    effects = student.choose(choice)
    assert texts(effects) == [feedback, "After"]
    assert scores(effects) == {"q": (score, 1.0)}
    assert student.state.answers["q"].score == score


TWO_MARKED = QuizElement(
    id="q",
    text="Which?",
    answers=(
        Answer("First marked", correct=True),
        Answer("Unmarked"),
        Answer("Last marked", correct=True),
    ),
)


@pytest.mark.parametrize(
    ("choice", "score"), [("Last marked", 1.0), ("First marked", 0.0), ("Unmarked", 0.0)]
)
def test_a_quiz_marking_two_answers_counts_the_last_one_as_the_old_bot_did(choice, score):
    student = Student(Course(elements=(TWO_MARKED, AFTER)))
    (poll,) = polls(student.start())
    assert (poll.kind, poll.correct_option_ids) == ("quiz", (2,))
    effects = student.choose(choice)
    assert scores(effects) == {"q": (score, 1.0)}


def test_poll_answer_for_another_poll_or_before_poll_sent_is_ignored():
    c = Course(elements=(QUIZ, AFTER))
    student = Student(c)
    student.start()
    state = student.state
    assert step(c, state, PollAnswer("someone-else", (1,)), T0) == (state, [])
    # before the adapter reported the poll id nothing is accepted either
    unsent = state.replace(poll_id=None)
    assert step(c, unsent, PollAnswer(poll_id_of(state.poll_ref or ""), (1,)), T0) == (unsent, [])
    # an empty or out-of-range answer (retracted vote) does not move the run
    for ids in ((), (7,), (-1,)):
        assert step(c, state, PollAnswer(poll_id_of(state.poll_ref or ""), ids), T0) == (state, [])


def test_text_while_poll_awaited_gets_a_hint():
    c = Course(elements=(QUIZ,))
    student = Student(c)
    student.start()
    state, effects = step(c, student.state, Text("Essential"), T0)
    assert state == student.state and "poll" in texts(effects)[0]


def test_question_is_a_regular_unscored_poll_with_feedback():
    c = Course(
        elements=(
            QuestionElement(
                id="poll", text="Rate", answers=(Answer("1"), Answer("5", feedback="Thanks!"))
            ),
            AFTER,
        )
    )
    student = Student(c)
    (poll,) = polls(student.start())
    assert poll.kind == "regular" and poll.correct_option_ids == () and not poll.multiple
    effects = student.choose("5")
    assert texts(effects) == ["Thanks!", "After"]
    (record,) = user_records(effects)
    assert (record.text, record.score, record.maxscore) == ("5", None, None)

    silent = Student(c)
    silent.start()
    assert texts(silent.choose("1")) == ["After"]


MULTI = MultiChoiceElement(
    id="mc",
    text="Pick the odd numbers",
    answers=(
        Answer("One", correct=True, feedback="Yes, 1"),
        Answer("Two", feedback="No, 2"),
        Answer("Three", correct=True, feedback="Yes, 3"),
        Answer("Four"),
    ),
    feedback_correct="All right",
    feedback_partial="Partly",
    feedback_incorrect="Wrong",
)


def test_multi_choice_poll_allows_multiple_answers():
    (poll,) = polls(Student(Course(elements=(MULTI,))).start())
    assert (
        poll.kind == "regular" and poll.multiple and poll.options == ("One", "Two", "Three", "Four")
    )


@pytest.mark.parametrize(
    ("chosen", "message", "score"),
    [
        (("One", "Three"), "Yes, 1\n\nYes, 3\n\nAll right", 1.0),
        (("Three", "Two"), "No, 2\n\nYes, 3\n\nPartly", 0.5),
        (("One",), "Yes, 1\n\nPartly", 0.5),
        (("One", "Two", "Three"), "Yes, 1\n\nNo, 2\n\nYes, 3\n\nPartly", 0.5),
        (("Two", "Four"), "No, 2\n\nWrong", 0.0),
    ],
)
def test_multi_choice_feedback_and_score(chosen, message, score):
    student = Student(Course(elements=(MULTI, AFTER)))
    student.start()
    effects = student.choose(*chosen)
    assert texts(effects) == [message, "After"]
    assert scores(effects) == {"mc": (score, 1.0)}


def test_multi_choice_ignores_option_ids_out_of_range_but_keeps_valid_ones():
    c = Course(elements=(MULTI,))
    student = Student(c)
    student.start()
    poll = student.last_poll()
    _, effects = step(c, student.state, PollAnswer(poll_id_of(poll.ref), (0, 2, 9)), T0)
    assert texts(effects)[0].endswith("All right")


def test_quiz_poll_refs_are_unique_per_prompt():
    c = Course(elements=(QUIZ, QuizElement(id="q2", text="Again", answers=QUIZ.answers)))
    student = Student(c)
    (first,) = polls(student.start())
    (second,) = polls(student.choose("Viral"))
    assert first.ref != second.ref
    # the first poll's id no longer answers anything
    assert step(c, student.state, PollAnswer(poll_id_of(first.ref), (1,)), T0) == (
        student.state,
        [],
    )
