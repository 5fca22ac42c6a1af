"""The engine's answers about a run (engine/progress.py): position, progress, score so far
and what the run waits for, as a student goes through a course."""

from __future__ import annotations

from datetime import timedelta

from engine import RunState
from engine.model import (
    Answer,
    Course,
    DelayElement,
    DialogElement,
    InputElement,
    MessageElement,
    MiniappElement,
    QuizElement,
)
from engine.progress import (
    Progress,
    Score,
    Waiting,
    current_element,
    position,
    progress,
    progress_at,
    score,
    waiting_for,
)
from engine.state import PendingWait
from tests.unit.student import T0, Student

COURSE = Course(
    elements=(
        MessageElement(id="hello", text="Hi", button="Go"),
        QuizElement(id="q1", text="2+2?", answers=(Answer("4", correct=True), Answer("5"))),
        QuizElement(id="q2", text="3+3?", answers=(Answer("6", correct=True), Answer("7"))),
        InputElement(id="name", text="Your name?"),
        DelayElement(id="pause", wait="1h"),
        MiniappElement(id="app", text="Open it", button="Open", app_url="https://a.example/"),
        DialogElement(id="chat", text="Talk", prompt="p", auto_start=True),
        MessageElement(id="bye", text="Bye"),
    )
)


def test_a_run_that_has_not_started() -> None:
    state = RunState.new()
    assert position(state) is None and current_element(COURSE, state) is None
    assert progress(COURSE, state) == Progress(0, 8)
    assert score(COURSE, state) == Score(0.0, 0.0)
    assert waiting_for(state) == Waiting("nothing")


def test_position_progress_score_and_waiting_along_a_run() -> None:
    student = Student(COURSE)
    student.start()
    assert position(student.state) == "hello"
    assert current_element(COURSE, student.state) == COURSE.get("hello")
    assert progress(COURSE, student.state) == Progress(0, 8)
    assert waiting_for(student.state) == Waiting("button")

    student.press("Go")
    assert (position(student.state), waiting_for(student.state)) == ("q1", Waiting("poll"))
    student.choose("4")
    assert progress(COURSE, student.state) == Progress(2, 8)
    assert score(COURSE, student.state) == Score(1.0, 1.0)
    student.choose("7")
    assert score(COURSE, student.state) == Score(1.0, 2.0)
    assert waiting_for(student.state) == Waiting("text")

    student.type("Ann")
    (wait,) = student.state.waits
    assert wait.due_at == T0 + timedelta(hours=1)
    assert waiting_for(student.state) == Waiting("timer", wait)

    student.wait_for_timer()
    assert (position(student.state), waiting_for(student.state)) == ("app", Waiting("miniapp"))
    student.webapp("{}")
    assert (position(student.state), waiting_for(student.state)) == ("chat", Waiting("llm"))
    student.llm("Hello!")
    assert waiting_for(student.state) == Waiting("dialog")  # the student's turn
    student.type("Bye")
    student.llm("Bye {STOP}")

    assert student.finished
    assert waiting_for(student.state) == Waiting("finished")
    assert progress(COURSE, student.state) == Progress(8, 8)
    assert score(COURSE, student.state) == Score(1.0, 2.0)


def test_the_earliest_of_several_timers_is_the_one_waited_for() -> None:
    later = PendingWait("w2", T0 + timedelta(days=2), None)
    sooner = PendingWait("w1", T0 + timedelta(days=1), "bye")
    state = RunState(current="pause", awaiting="timer", waits=(later, sooner))
    assert waiting_for(state) == Waiting("timer", sooner)


def test_a_state_of_another_version_has_no_element_or_progress_here() -> None:
    state = RunState(current="gone", awaiting="button", seq=3)
    assert position(state) == "gone"
    assert current_element(COURSE, state) is None
    assert progress(COURSE, state) is None


def test_scores_of_elements_the_course_no_longer_has_do_not_count() -> None:
    student = Student(COURSE)
    student.start()
    student.press("Go")
    student.choose("4")
    shorter = Course(elements=(COURSE.get("q2"),))
    assert score(shorter, student.state) == Score(0.0, 0.0)


def test_a_run_row_without_a_step_yet_is_a_new_run() -> None:
    assert RunState.from_row({}) == RunState.new()
    assert RunState.from_row(None) == RunState.new()
    started = Student(COURSE)
    started.start()
    assert RunState.from_row(started.state.to_dict()) == started.state


def test_the_panel_reads_progress_from_a_stored_index_by_the_same_rule() -> None:
    """The panel knows a run's element index from the stored course, not from the state."""
    student = Student(COURSE)
    student.start()
    student.press("Go")
    here = progress(COURSE, student.state)
    assert here == progress_at(1, 8, finished=False, started=True) == Progress(1, 8)
    assert here is not None and here.percent == 12  # rounded down: never 100 too early
    assert progress_at(None, 8, finished=False, started=False) == Progress(0, 8)
    assert progress_at(None, 8, finished=False, started=True) is None  # not in this version
    assert progress_at(None, 8, finished=True, started=True) == Progress(8, 8)
    assert Progress(7, 8).percent == 87 and Progress(8, 8).percent == 100
