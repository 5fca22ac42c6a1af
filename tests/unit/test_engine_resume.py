"""`Resume` (a broadcast's "continue the course" button): the prompt the run waits on comes
again exactly as it came when the element was entered, nothing about the run changes, and
the student's next answer goes on as if they had never asked."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from engine import step
from engine.effects import AskLLM, Record, Schedule, SendPoll, SendText
from engine.events import Button, PollAnswer, PollSent, Resume, Start, Stop
from engine.model import (
    Answer,
    Course,
    DelayElement,
    DialogElement,
    InputElement,
    JumpElement,
    MessageElement,
    MiniappElement,
    MultiChoiceElement,
    Option,
    QuestionElement,
    QuizElement,
    RevisionElement,
    TestElement,
)
from engine.personal_texts import Student as Names
from engine.state import RunState
from tests.unit.student import T0, Student, sends, texts

END = MessageElement(id="end", text="That is all for today")
ANSWERS = (Answer("Paris", correct=True, feedback="Right"), Answer("Rome", feedback="No"))

# (the element the run waits on, how the student answers it there)
WAITING: dict[str, tuple[object, Callable[[Student], object]]] = {
    "message button": (
        MessageElement(id="w", text="Read this first", button="Done"),
        lambda s: s.press("Done"),
    ),
    "jump": (
        JumpElement(id="w", text="Which way?", options=(Option("Left"), Option("Right"))),
        lambda s: s.press("Right"),
    ),
    "input": (
        InputElement(id="w", text="What is the capital of France?", correct_answer="Paris"),
        lambda s: s.type("paris"),
    ),
    "quiz with a picture": (
        QuizElement(
            id="w",
            text="The capital of France?",
            media=("https://example.com/map.png",),
            answers=ANSWERS,
        ),
        lambda s: s.choose("Paris"),
    ),
    "question": (
        QuestionElement(id="w", text="Where would you go?", answers=ANSWERS),
        lambda s: s.choose("Rome"),
    ),
    "multi_choice": (
        MultiChoiceElement(
            id="w",
            text="Which are capitals?",
            answers=(Answer("Paris", correct=True), Answer("Lyon"), Answer("Rome", correct=True)),
            feedback_correct="All right",
            feedback_partial="Almost",
        ),
        lambda s: s.choose("Paris", "Lyon"),
    ),
    "miniapp": (
        MiniappElement(
            id="w", text="Try the app", button="Open", app_url="https://example.com/app"
        ),
        lambda s: s.webapp("done"),
    ),
}


def _course(element: object) -> Course:
    return Course(elements=(element, END))  # type: ignore[arg-type]


@pytest.mark.parametrize("kind", list(WAITING))
def test_resume_sends_the_waiting_prompt_as_entering_it_did(kind: str) -> None:
    element, _ = WAITING[kind]
    student = Student(_course(element))
    entered = student.start()
    before = student.state

    again = student.send(Resume())

    assert again == entered
    assert student.state == before  # position, answers, score, seq: all as they were


@pytest.mark.parametrize("kind", list(WAITING))
def test_after_resume_the_course_goes_on_as_if_nothing_happened(kind: str) -> None:
    element, answer = WAITING[kind]
    plain, resumed = Student(_course(element)), Student(_course(element))
    plain.start()
    resumed.start()
    resumed.send(Resume())
    resumed.send(Resume())

    assert answer(resumed) == answer(plain)
    assert resumed.state == plain.state
    assert resumed.state.current == "end" and resumed.finished


def test_a_poll_sent_again_is_the_one_awaited() -> None:
    course = _course(QuizElement(id="w", text="The capital of France?", answers=ANSWERS))
    state, effects = step(course, RunState.new(), Start(), T0)
    (first,) = [e for e in effects if isinstance(e, SendPoll)]
    state, _ = step(course, state, PollSent("old-poll", first.ref), T0)

    state, effects = step(course, state, Resume(), T0)
    (again,) = [e for e in effects if isinstance(e, SendPoll)]
    assert again == first
    assert (state.current, state.awaiting, state.poll_ref, state.poll_id) == (
        "w",
        "poll",
        first.ref,
        None,
    )
    state, _ = step(course, state, PollSent("new-poll", again.ref), T0)
    unchanged, ignored = step(course, state, PollAnswer("old-poll", (0,)), T0)
    assert (unchanged, ignored) == (state, [])
    state, effects = step(course, state, PollAnswer("new-poll", (0,)), T0)
    assert texts(effects) == ["Right", "That is all for today"]
    assert state.answers["w"].score == 1.0


def test_the_buttons_in_the_chat_and_the_ones_sent_again_both_answer() -> None:
    course = _course(WAITING["jump"][0])
    student = Student(course)
    (first,) = [e for e in student.start() if isinstance(e, SendText) and e.buttons]
    (again,) = [e for e in student.send(Resume()) if isinstance(e, SendText)]
    assert again.buttons == first.buttons
    assert texts(student.send(Button(first.buttons[0].data or ""))) == ["That is all for today"]


def test_a_resumed_prompt_keeps_the_students_name() -> None:
    course = Course(elements=(InputElement(id="w", text="{first_name}, what is your goal?"), END))
    names = Names(first_name="Ann")
    state, entered = step(course, RunState.new(), Start(), T0, names)
    same, again = step(course, state, Resume(), T0, names)
    assert texts(again) == texts(entered) == ["Ann, what is your goal?"]
    assert same == state


def test_a_test_shown_again_records_no_second_score() -> None:
    course = Course(
        elements=(
            QuizElement(id="q1", text="The capital of France?", answers=ANSWERS),
            TestElement(
                id="t",
                text="You scored {score} of {maxscore}",
                prefix="q",
                score={100: "Done"},
                button="Next",
            ),
            END,
        )
    )
    student = Student(course)
    student.start()
    shown = student.choose("Paris")
    again = student.send(Resume())
    assert sends(again) == [e for e in sends(shown) if getattr(e, "buttons", ())]
    scored = [e for e in shown if isinstance(e, Record) and e.element_id == "t"]
    assert [r.maxscore for r in scored] == [1.0]
    assert [(r.score, r.maxscore) for r in again if isinstance(r, Record)] == [(None, None)]


def test_resume_during_a_revision_replays_the_same_mistake_and_the_chain_goes_on() -> None:
    course = Course(
        elements=(
            QuizElement(id="q1", text="The capital of France?", answers=ANSWERS),
            QuizElement(
                id="q2",
                text="The capital of Italy?",
                answers=(Answer("Rome", correct=True), Answer("Paris")),
            ),
            RevisionElement(id="rev", text="Let us fix the mistakes", prefix="q", no_mistakes="-"),
            END,
        )
    )
    student = Student(course)
    student.start()
    student.choose("Rome")  # wrong
    student.choose("Paris")  # wrong: both are replayed
    assert student.state.current == "q1" and student.state.revision is not None
    before = student.state
    again = student.send(Resume())
    assert [p.question for p in again if isinstance(p, SendPoll)] == ["The capital of France?"]
    assert student.state == before
    student.choose("Paris")
    assert student.state.current == "q2"


def test_resume_while_a_timer_runs_says_the_next_part_comes_by_itself() -> None:
    course = Course(elements=(DelayElement(id="pause", text="See you tomorrow", wait="1d"), END))
    student = Student(course)
    student.start()
    before = student.state
    assert student.send(Resume()) == [
        SendText("We will go on a little later: I will write when it is time.", None)
    ]
    assert student.state == before
    assert texts(student.wait_for_timer()) == ["That is all for today"]


def test_a_russian_course_says_it_in_russian() -> None:
    course = Course(
        elements=(
            DelayElement(id="pause", text="До завтра", wait="1d"),
            MessageElement(id="end", text="На сегодня всё"),
        )
    )
    state, _ = step(course, RunState.new(), Start(), T0)
    _, effects = step(course, state, Resume(), T0)
    assert texts(effects) == ["Продолжим чуть позже — я сам напишу, когда придёт время."]


def test_a_delay_asking_to_continue_asks_again() -> None:
    course = Course(
        elements=(DelayElement(id="pause", wait="1h", continue_text="Shall we go on?"), END)
    )
    student = Student(course)
    student.start()
    asked = student.wait_for_timer()
    before = student.state
    assert student.send(Resume()) == asked
    assert student.state == before
    assert not any(isinstance(e, Schedule) for e in asked)
    assert texts(student.press("Yes")) == ["That is all for today"]


def test_a_dialog_shows_its_text_again_and_keeps_the_conversation() -> None:
    course = Course(
        elements=(
            DialogElement(
                id="chat", text="Tell me about your day", prompt="Be kind", auto_start=True
            ),
            END,
        )
    )
    student = Student(course)
    student.start()
    student.llm("Hi! How was it?")
    student.type("Fine")
    student.llm("Glad to hear")
    before = student.state
    again = student.send(Resume())
    assert texts(again) == ["Tell me about your day"]
    assert not any(isinstance(e, AskLLM) for e in again)  # entering would ask the model
    assert student.state == before
    student.type("Bye")
    assert [m.text for m in student.state.dialogs["chat"]][-2:] == ["Glad to hear", "Bye"]


def test_a_dialog_waiting_for_the_model_says_the_reply_is_coming() -> None:
    course = Course(
        elements=(DialogElement(id="chat", text="Tell me", prompt="Be kind", auto_start=True), END)
    )
    student = Student(course)
    student.start()
    before = student.state
    assert texts(student.send(Resume())) == [
        "One moment, I am still answering your previous message…"
    ]
    assert student.state == before


def test_resume_on_a_finished_or_unstarted_run_does_nothing() -> None:
    course = _course(WAITING["input"][0])
    assert step(course, RunState.new(), Resume(), T0) == (RunState.new(), [])
    student = Student(course)
    student.start()
    student.type("Paris")
    assert student.finished
    finished = student.state
    assert step(course, finished, Resume(), T0) == (finished, [])
    stopped, _ = step(course, RunState.new(), Start(), T0)
    stopped, _ = step(course, stopped, Stop(), T0)
    assert step(course, stopped, Resume(), T0) == (stopped, [])
