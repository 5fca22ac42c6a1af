"""How far a run goes on its own: one step enters at most MAX_ELEMENTS_PER_STEP elements and
the rest follows through continuations, and a run that goes MAX_UNATTENDED_STEPS steps
without the student is halted with a note -- while real courses are never cut short."""

from __future__ import annotations

import importlib
from datetime import timedelta
from pathlib import Path

import pytest

from courses.limits import MAX_SOURCE_BYTES
from courses.loader import load_course_file
from engine import RunState, step
from engine.effects import Effect, Finish, Schedule, SendText
from engine.events import Button, Event, LLMReply, Start, Text, TimerFired
from engine.limits import HALTED_NO_STUDENT_INPUT, MAX_ELEMENTS_PER_STEP, MAX_UNATTENDED_STEPS
from engine.model import (
    Answer,
    Course,
    DelayElement,
    DialogElement,
    EndElement,
    JumpElement,
    MessageElement,
    Option,
    QuizElement,
    RevisionElement,
)
from engine.playthrough import Playthrough, drive
from engine.progress import Waiting
from engine.state import PendingWait
from tests.course_files import OWN_COURSES, legacy_courses
from tests.unit.student import T0, Student, texts


def messages(count: int, prefix: str = "m") -> tuple[MessageElement, ...]:
    return tuple(MessageElement(id=f"{prefix}{i}", text=f"{prefix}{i}") for i in range(count))


def schedules(effects) -> list[Schedule]:
    return [e for e in effects if isinstance(e, Schedule)]


def run_timers(student: Student, limit: int) -> int:
    """Fire the run's timers until it waits for something else or ends; how many fired."""
    fired = 0
    while student.state.awaiting == "timer" and fired < limit:
        student.wait_for_timer()
        fired += 1
    return fired


BIG = Course(elements=messages(30_000))


def test_start_on_a_huge_course_without_buttons_enters_one_batch_then_continues():
    student = Student(BIG)
    effects = student.start()

    sent = [e for e in effects if isinstance(e, SendText)]
    assert [e.text for e in sent] == [f"m{i}" for i in range(MAX_ELEMENTS_PER_STEP)]
    (continuation,) = schedules(effects)
    assert continuation.due_at == T0  # at once: the next batch is not delayed
    assert continuation.goto == f"m{MAX_ELEMENTS_PER_STEP}"
    assert student.state.awaiting == "timer" and not student.finished
    (wait,) = student.state.waits
    assert wait.continuation


def test_continuations_deliver_every_message_once_in_order_until_completed():
    student = Student(BIG)
    first = student.start()
    batches = [first]
    while not student.finished:
        batches.append(student.wait_for_timer())

    assert all(len(texts(batch)) <= MAX_ELEMENTS_PER_STEP for batch in batches)
    assert texts(student.log) == [f"m{i}" for i in range(30_000)]
    assert student.finish_status() == "completed"
    assert len(batches) == 30_000 // MAX_ELEMENTS_PER_STEP


def test_a_continuation_is_the_flows_own_and_never_reaches_the_elements_react():
    """The element that used up the budget is a delay-free message; its continuation fires
    into the next element, not into a timer reaction of anything."""
    course = Course(
        elements=(
            *messages(MAX_ELEMENTS_PER_STEP - 1),
            JumpElement(id="menu", text="menu"),  # without options: shown, the run goes on
            MessageElement(id="after", text="after"),
        )
    )
    student = Student(course)
    student.start()
    assert student.state.current == "menu"
    assert texts(student.wait_for_timer()) == ["after"]


def test_a_continuation_inside_a_revision_chain_replays_the_rest_and_resumes_after_it():
    """The revision is the step's last element: the continuation carries the chain, so the
    replayed quiz is followed by what comes after the revision, not by what follows the quiz."""
    quiz = QuizElement(id="q_1", text="Q1", answers=(Answer("right", True), Answer("wrong")))
    course = Course(
        elements=(
            quiz,
            *messages(MAX_ELEMENTS_PER_STEP - 1),
            RevisionElement(id="rev", text="Once more", prefix="q_", no_mistakes="None"),
            MessageElement(id="done", text="Done"),
        )
    )
    student = Student(course)
    student.start()
    effects = student.choose_wrong()
    assert texts(effects)[-1] == "Once more"
    (continuation,) = schedules(effects)
    assert continuation.goto == "q_1"

    assert texts(student.wait_for_timer()) == ["Q1"]
    assert texts(student.choose_correct()) == ["Done"]
    assert student.finish_status() == "completed"


def test_a_delay_that_jumps_to_itself_is_halted_after_the_bound_with_a_note():
    course = Course(elements=(DelayElement(id="tick", text="tick", wait="1s", goto="tick"),))
    student = Student(course)
    student.start()

    fired = run_timers(student, limit=MAX_UNATTENDED_STEPS + 10)

    assert fired == MAX_UNATTENDED_STEPS + 1
    assert texts(student.log) == ["tick"] * (MAX_UNATTENDED_STEPS + 1)
    assert student.last == [Finish("halted", HALTED_NO_STUDENT_INPUT)]
    assert student.state.finished and student.state.status == "halted"
    assert student.state.waits == ()


def test_llm_replies_do_not_count_as_the_students_answers():
    """A dialog that starts by itself and that the model ends at once, behind a delay whose
    goto leads back to it: nobody answers, so the run is halted like any other loop."""
    course = Course(
        elements=(
            DialogElement(id="chat", text="Hi", prompt="p", auto_start=True),
            DelayElement(id="pause", wait="1m", goto="chat"),
        )
    )
    student = Student(course)
    student.start()
    for _ in range(3 * MAX_UNATTENDED_STEPS):  # a reply and a timer each time round
        if student.finished:
            break
        if student.state.awaiting == "llm":
            student.llm("Bye {STOP}")
        else:
            student.wait_for_timer()
    assert student.finish_status() == "halted"


def test_a_two_year_daily_drip_course_without_answers_finishes():
    days = 730
    elements = []
    for day in range(days):
        elements.append(MessageElement(id=f"lesson{day}", text=f"Lesson {day}"))
        elements.append(DelayElement(id=f"pause{day}", wait="1d"))
    course = Course(elements=(*elements, EndElement(id="end", text="Graduated")))
    student = Student(course)
    student.start()

    run_timers(student, limit=days + 1)

    assert student.finish_status() == "completed"
    assert texts(student.log)[-1] == "Graduated"
    assert student.now == T0 + timedelta(days=days)


def test_every_answer_of_the_student_starts_the_count_again():
    """A daily question forever is a loop, but one the student answers: never halted."""
    course = Course(
        elements=(
            JumpElement(id="ask", text="Still here?", options=(Option("Yes"),)),
            DelayElement(id="pause", text="Tomorrow then", wait="1d", goto="ask"),
        )
    )
    student = Student(course)
    student.start()
    for _ in range(MAX_UNATTENDED_STEPS + 50):
        student.press("Yes")
        student.wait_for_timer()
    assert not student.finished
    assert student.state.unattended == 1


def test_states_saved_before_the_bounds_load_and_continuations_round_trip():
    old = RunState(current="m0", awaiting="timer", seq=3).to_dict()
    del old["unattended"]
    old["waits"] = [["w3", T0.isoformat(), "m1"]]
    state = RunState.from_dict(old)
    assert state.unattended == 0
    assert state.waits == (PendingWait("w3", T0, "m1"),)

    student = Student(BIG)
    student.start()
    assert RunState.from_json(student.state.to_json()) == student.state
    assert student.state.waits[0].continuation


def test_the_largest_course_a_source_can_hold_fits_the_bounds():
    """1 MiB of the shortest input-free elements (`a1: {type: section}`, 20 bytes a line)
    needs fewer continuations than a run may take without the student."""
    most_elements = MAX_SOURCE_BYTES // 20
    assert most_elements / MAX_ELEMENTS_PER_STEP < MAX_UNATTENDED_STEPS


def test_start_of_a_course_that_ends_right_at_the_budget_finishes_without_a_continuation():
    course = Course(elements=messages(MAX_ELEMENTS_PER_STEP))
    state, effects = step(course, RunState.new(), Start(), T0)
    assert state.finished and state.status == "completed"
    assert not schedules(effects)
    assert isinstance(effects[-1], Finish)


def test_a_stale_continuation_fires_nothing():
    student = Student(BIG)
    student.start()
    (wait,) = student.state.waits
    student.wait_for_timer()
    assert step(BIG, student.state, TimerFired(wait.wait_id), T0) == (student.state, [])


# --- real courses are never cut short ----------------------------------------------------------


def _play(course: Course, choice: int) -> tuple[list[Effect], str | None]:
    """A student who takes button/option number `choice` (from the end when negative), types
    a fixed text, lets every timer fire and gets short dialogs; the whole chat, and how the
    run ended."""
    chat: list[Effect] = []
    playthrough = Playthrough(
        course, T0, show=chat.append, chat_model=lambda _: LLMReply("Good. {STOP}")
    )

    def answer(waiting: Waiting) -> Event | None:
        callbacks = playthrough.callbacks
        match waiting.kind:
            case "button" | "miniapp" if callbacks:
                return Button(callbacks[choice % len(callbacks)].data or "")
            case "poll" if playthrough.poll is not None:
                return playthrough.poll_answer((choice % len(playthrough.poll.options),))
            case "text" | "dialog":
                return Text("1 2 3")
            case "timer" if waiting.timer is not None:
                return TimerFired(waiting.timer.wait_id)
        return None

    drive(playthrough, answer, max_steps=2_000)
    return chat, playthrough.state.status


@pytest.mark.parametrize("path", [*OWN_COURSES, *legacy_courses()], ids=lambda p: p.name)
@pytest.mark.parametrize("choice", [0, -1])
def test_real_courses_play_exactly_as_without_bounds(path: Path, choice: int, monkeypatch):
    result = load_course_file(path)
    assert result.course is not None, [str(d) for d in result.errors]
    bounded, status = _play(result.course, choice)

    monkeypatch.setattr(importlib.import_module("engine.flow"), "MAX_ELEMENTS_PER_STEP", 10**9)
    monkeypatch.setattr(importlib.import_module("engine.step"), "MAX_UNATTENDED_STEPS", 10**9)
    unbounded, unbounded_status = _play(result.course, choice)

    assert status == unbounded_status != "halted"
    assert bounded == unbounded
