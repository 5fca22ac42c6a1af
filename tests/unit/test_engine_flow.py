"""test / revision / delay / miniapp and run-level events (Start, Stop, timers)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from engine import RunState, step
from engine.effects import CancelWaits, Finish, InlineButton, Record, Schedule, SendText
from engine.events import Start, Stop, Text, TimerFired
from engine.frozen import FrozenMap
from engine.model import (
    Answer,
    Course,
    DelayElement,
    EndElement,
    InputElement,
    MessageElement,
    MiniappElement,
    MultiChoiceElement,
    QuizElement,
    RevisionElement,
    TestElement,
)
from tests.unit.student import T0, Student, polls, texts


def quiz(element_id: str, question: str) -> QuizElement:
    return QuizElement(
        id=element_id,
        text=question,
        answers=(Answer("right", correct=True), Answer("wrong")),
    )


THRESHOLDS = FrozenMap({100: "Beginner", 0: "Perfect", 40: "Good"})  # order must not matter


def scored_course(*tail) -> Course:
    return Course(
        elements=(
            quiz("q_1", "Q1"),
            quiz("q_2", "Q2"),
            InputElement(id="q_3", text="Q3", correct_answer="yes"),
            MultiChoiceElement(
                id="q_4",
                text="Q4",
                answers=(Answer("a", correct=True), Answer("b", correct=True), Answer("c")),
            ),
            quiz("other_1", "not counted"),
            *tail,
        )
    )


def play_answers(student: Student, q1: bool, q2: bool, q3: bool, q4: tuple[str, ...]) -> None:
    student.start()
    student.choose_correct() if q1 else student.choose_wrong()
    student.choose_correct() if q2 else student.choose_wrong()
    student.type("yes" if q3 else "no")
    student.choose(*q4)
    student.choose_wrong()  # other_1


@pytest.mark.parametrize(
    ("answers", "expected"),
    [
        ((True, True, True, ("a", "b")), "4 of 4\n\nPerfect"),
        ((True, True, False, ("a",)), "2.5 of 4\n\nGood"),  # 37.5 % errors
        ((True, False, False, ("a",)), "1.5 of 4\n\nBeginner"),  # 62.5 % errors
        ((False, False, False, ("c",)), "0 of 4\n\nBeginner"),
    ],
)
def test_test_element_sums_prefix_scores_and_picks_verdict_by_error_percent(answers, expected):
    student = Student(
        scored_course(
            TestElement(id="t", text="{score} of {maxscore}\n", prefix="q_", score=THRESHOLDS)
        )
    )
    play_answers(student, *answers)
    assert texts(student.last)[-1] == expected
    record = next(e for e in student.last if isinstance(e, Record) and e.element_id == "t")
    assert record.maxscore == 4.0


def test_test_element_with_button_waits_and_without_verdict_shows_only_text():
    c = Course(
        elements=(
            quiz("q_1", "Q1"),
            TestElement(
                id="t",
                text="{score}/{maxscore}",
                prefix="q_",
                score=FrozenMap({0: "Top"}),
                button="OK",
            ),
            MessageElement(id="m", text="next"),
        )
    )
    student = Student(c)
    student.start()
    effects = student.choose_wrong()
    assert texts(effects) == ["0/1"]  # 100 % errors, no threshold >= 100
    assert effects[-2].buttons[0].text == "OK"
    assert texts(student.press("OK")) == ["next"]


def test_test_element_counts_latest_answers_only_and_nothing_answered_is_all_errors():
    c = Course(
        elements=(
            TestElement(
                id="t0",
                text="{score}/{maxscore}",
                prefix="q_",
                score=FrozenMap({50: "ok", 100: "none"}),
            ),
            quiz("q_1", "Q1"),
        )
    )
    assert texts(Student(c).start())[0] == "0/0\n\nnone"


def revision_course(button: str | None) -> Course:
    return scored_course(
        RevisionElement(
            id="rev", text="Let's fix", prefix="q_", no_mistakes="No mistakes!", button=button
        ),
        MessageElement(id="after", text="After revision"),
    )


def test_revision_replays_zero_scored_elements_in_course_order_then_continues():
    student = Student(revision_course(button="Start"))
    play_answers(student, False, True, False, ("a",))  # q_1 and q_3 wrong, q_4 partial
    assert texts(student.last)[-1] == "Let's fix"
    effects = student.press("Start")
    assert [p.question for p in polls(effects)] == ["Q1"]
    assert texts(student.choose_correct()) == ["Q3"]
    effects = student.type("yes")
    assert texts(effects) == ["After revision"]
    assert student.state.answers["q_1"].score == 1.0
    assert student.state.answers["q_3"].score == 1.0
    assert student.state.revision is None


def test_revision_without_button_starts_at_once_and_wrong_again_still_continues():
    student = Student(revision_course(button=None))
    play_answers(student, True, False, True, ("a", "b"))
    assert texts(student.last)[-2:] == ["Let's fix", "Q2"]
    assert texts(student.choose_wrong()) == ["After revision"]
    assert student.state.answers["q_2"].score == 0.0


def test_revision_without_mistakes_says_so_and_moves_on():
    student = Student(revision_course(button="Start"))
    play_answers(student, True, True, True, ("c", "a"))  # partial (0.5) is not a mistake
    assert texts(student.last)[-2:] == ["No mistakes!", "After revision"]


DELAY = DelayElement(id="pause", text="See you tomorrow", wait="1d", goto="target")


def test_delay_sends_text_schedules_and_resumes_at_goto_when_the_timer_fires():
    c = Course(
        elements=(
            DELAY,
            MessageElement(id="skipped", text="skipped"),
            MessageElement(id="target", text="Day 2"),
        )
    )
    student = Student(c)
    effects = student.start()
    assert texts(effects) == ["See you tomorrow"]
    (schedule,) = [e for e in effects if isinstance(e, Schedule)]
    assert schedule.due_at == T0 + timedelta(days=1) and schedule.goto == "target"
    assert student.state.awaiting == "timer"
    # an unknown / stale timer changes nothing, text gets a hint
    assert step(c, student.state, TimerFired("w999"), T0) == (student.state, [])
    state, hint = step(c, student.state, Text("hello?"), T0)
    assert state == student.state and "later" in texts(hint)[0]
    assert texts(student.wait_for_timer()) == ["Day 2"]
    assert student.state.waits == ()
    # firing the same timer twice does nothing
    assert step(c, student.state, TimerFired(schedule.wait_id), T0) == (student.state, [])


def test_legacy_delay_asks_to_continue_after_the_pause_and_no_asks_again():
    c = Course(
        elements=(
            DelayElement(
                id="d",
                text="Module done",
                continue_text="Start module 2?",
                yes_text="Да",
                no_text="Нет",
            ),
            MessageElement(id="m2", text="Module 2"),
        )
    )
    student = Student(c)
    effects = student.start()
    assert texts(effects) == ["Module done"]
    (first,) = [e for e in effects if isinstance(e, Schedule)]
    assert first.due_at == T0 + timedelta(days=1)
    effects = student.wait_for_timer()
    assert texts(effects) == ["Start module 2?"]
    assert [b.text for b in effects[0].buttons] == ["Да", "Нет"]
    effects = student.press("Нет")
    (second,) = [e for e in effects if isinstance(e, Schedule)]
    assert second.due_at == T0 + timedelta(days=2) and second.wait_id != first.wait_id
    assert texts(student.wait_for_timer()) == ["Start module 2?"]
    assert texts(student.press("Да")) == ["Module 2"]


def test_miniapp_offers_web_app_and_continue_buttons():
    c = Course(
        elements=(
            MiniappElement(
                id="app 1", text="Open it", button="Launch", app_url="https://x.org/app?lang=ru"
            ),
            MessageElement(id="after", text="After"),
        )
    )
    student = Student(c)
    effects = student.start()
    seq = student.state.seq
    assert effects[0] == SendText(
        "Open it",
        "MARKDOWN",
        (
            InlineButton("Launch", web_app_url="https://x.org/app?lang=ru&question=app%201"),
            InlineButton("Continue", data=f"{seq}:0"),
        ),
        True,
    )
    effects = student.webapp('{"answer": "Paris"}')
    assert texts(effects) == ["After"]
    assert student.state.answers["app 1"].text == '{"answer": "Paris"}'

    skipper = Student(c)
    skipper.start()
    assert texts(skipper.press("Continue")) == ["After"]


def test_stop_cancels_timers_and_finishes_as_stopped():
    c = Course(elements=(DELAY, MessageElement(id="target", text="x")))
    student = Student(c)
    student.start()
    assert student.stop() == [CancelWaits(), Finish("stopped")]
    assert student.state.finished and student.state.status == "stopped"
    assert student.stop() == [] and student.start() == []


def test_start_only_begins_a_fresh_run():
    c = Course(elements=(MessageElement(id="m", text="Hi", button="Go"),))
    fresh = RunState.new()
    state, effects = step(c, fresh, Start("cd_1_tok"), T0)
    assert texts(effects) == ["Hi"]
    assert step(c, state, Start(), T0) == (state, [])  # already running: nothing resent


def test_events_before_start_are_ignored():
    c = Course(elements=(MessageElement(id="m", text="Hi"),))
    for event in (Text("hi"), TimerFired("w1")):
        assert step(c, RunState.new(), event, T0) == (RunState.new(), [])


def test_stop_before_start_finishes_without_messages():
    state, effects = step(Course(elements=(EndElement(id="e"),)), RunState.new(), Stop(), T0)
    assert effects == [Finish("stopped")] and state.finished


def test_state_of_a_course_version_without_its_element_is_left_alone():
    old = Course(elements=(MessageElement(id="gone", text="x", button="b"),))
    student = Student(old)
    student.start()
    new = Course(elements=(MessageElement(id="other", text="y"),))
    assert step(new, student.state, Text("hi"), T0) == (student.state, [])
