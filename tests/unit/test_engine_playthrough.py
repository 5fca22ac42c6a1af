"""The in-memory playthrough (engine/playthrough.py) does the adapter's part of the contract:
poll ids reported, the chat model asked, time passing when a timer fires; `drive` plays a
course to its end, or says why it could not."""

from __future__ import annotations

from datetime import timedelta

from engine.effects import AskLLM, Effect, SendPoll
from engine.events import Button, Event, LLMFailed, LLMReply, Start, Text, TimerFired
from engine.model import (
    Answer as PollOption,
)
from engine.model import (
    Course,
    DelayElement,
    DialogElement,
    InputElement,
    JumpElement,
    MessageElement,
    Option,
    QuizElement,
)
from engine.playthrough import Answer, Playthrough, drive, poll_id_of
from engine.progress import Waiting
from tests.unit.student import T0, texts

QUIZ = QuizElement(id="q", text="2+2?", answers=(PollOption("4", correct=True), PollOption("5")))


def test_a_poll_sent_is_reported_and_its_answer_accepted() -> None:
    playthrough = Playthrough(Course(elements=(QUIZ, MessageElement(id="m", text="Done"))), T0)
    effects = playthrough.send(Start())
    (poll,) = [e for e in effects if isinstance(e, SendPoll)]
    assert playthrough.poll == poll
    assert playthrough.state.poll_id == poll_id_of(poll.ref)
    assert texts(playthrough.send(playthrough.poll_answer((0,))))[-1] == "Done"
    assert playthrough.finished


def test_the_chat_model_answers_at_once_and_everything_is_shown_in_order() -> None:
    shown: list[Effect] = []
    asked: list[AskLLM] = []

    def model(request: AskLLM) -> LLMReply | LLMFailed:
        asked.append(request)
        return LLMReply("Nice to meet you {STOP}")

    course = Course(
        elements=(
            DialogElement(id="chat", text="Hi!", prompt="Be kind"),
            MessageElement(id="m", text="After"),
        )
    )
    playthrough = Playthrough(course, T0, show=shown.append, chat_model=model)
    effects = playthrough.send(Start()) + playthrough.send(Text("I am Ann"))
    assert shown == effects
    assert texts(effects) == ["Hi!", "Nice to meet you", "After"]
    assert asked[0].messages[-1] == {"role": "user", "content": "I am Ann"}
    assert [event for event, _ in playthrough.fed][-1] == LLMReply("Nice to meet you {STOP}")


def test_without_a_chat_model_the_run_waits_for_the_reply() -> None:
    course = Course(elements=(DialogElement(id="chat", text="Hi!", prompt="p", auto_start=True),))
    playthrough = Playthrough(course, T0)
    playthrough.send(Start())
    assert playthrough.waiting_for() == Waiting("llm")


def test_time_passes_to_a_timer_when_it_fires_and_no_further() -> None:
    course = Course(
        elements=(
            DelayElement(id="pause", wait="1d:2h"),
            InputElement(id="name", text="Name?"),
        )
    )
    playthrough = Playthrough(course, T0)
    playthrough.send(Start())
    playthrough.send(Text("too early"))  # not what the run waits for: no time passes
    assert playthrough.now == T0
    waiting = playthrough.waiting_for()
    assert waiting.timer is not None
    playthrough.send(TimerFired(waiting.timer.wait_id))
    assert playthrough.now == T0 + timedelta(days=1, hours=2)
    assert [now for _, now in playthrough.fed] == [T0, T0, T0 + timedelta(days=1, hours=2)]


def test_the_newest_buttons_are_the_ones_to_answer() -> None:
    course = Course(
        elements=(
            MessageElement(id="a", text="A", button="First"),
            MessageElement(id="b", text="B", button="Second"),
        )
    )
    playthrough = Playthrough(course, T0)
    playthrough.send(Start())
    (first,) = playthrough.callbacks
    playthrough.send(Button(first.data or ""))
    assert [b.text for b in playthrough.callbacks] == ["Second"]


def _first_choice(playthrough: Playthrough) -> Answer:
    """A student who presses the first button and lets every timer fire."""

    def answer(waiting: Waiting) -> Event | None:
        if waiting.kind == "button":
            return Button(playthrough.callbacks[0].data or "")
        if waiting.kind == "timer" and waiting.timer is not None:
            return TimerFired(waiting.timer.wait_id)
        return None

    return answer


def test_drive_plays_to_the_end_across_timers() -> None:
    course = Course(
        elements=(
            MessageElement(id="a", text="A", button="Go"),
            DelayElement(id="pause", wait="2h"),
            MessageElement(id="b", text="B"),
        )
    )
    shown: list[Effect] = []
    playthrough = Playthrough(course, T0, show=shown.append)
    assert drive(playthrough, _first_choice(playthrough)) == "finished"
    assert texts(shown) == ["A", "B"]
    assert playthrough.now == T0 + timedelta(hours=2)


def test_drive_says_when_the_student_has_no_answer_or_the_run_goes_round() -> None:
    typing = Course(elements=(InputElement(id="name", text="Name?"),))
    stuck = Playthrough(typing, T0)
    assert drive(stuck, _first_choice(stuck)) == "stuck"
    assert stuck.waiting_for() == Waiting("text")

    loop = Course(
        elements=(JumpElement(id="ask", text="Again?", options=(Option("Again", "ask"),)),)
    )
    looping = Playthrough(loop, T0)
    assert drive(looping, _first_choice(looping), max_steps=10) == "too_long"
    assert len(looping.fed) == 10


def test_a_run_can_start_at_any_element_and_go_on_from_there() -> None:
    course = Course(
        elements=(
            MessageElement(id="hello", text="Hello"),
            QUIZ,
            MessageElement(id="bye", text="Bye"),
        )
    )
    playthrough = Playthrough(course, T0)
    effects = playthrough.start_at("q")
    assert [e.question for e in effects if isinstance(e, SendPoll)] == ["2+2?"]
    assert "Hello" not in texts(effects)
    assert playthrough.state.poll_id is not None  # the poll sent was reported
    assert texts(playthrough.send(playthrough.poll_answer((0,))))[-1] == "Bye"
    assert playthrough.finished
    assert playthrough.start_at("hello") == []  # a run already over does not start again


def test_an_unknown_start_starts_nothing() -> None:
    playthrough = Playthrough(Course(elements=(MessageElement(id="m", text="Hi"),)), T0)
    assert playthrough.start_at("nowhere") == []
    assert playthrough.state.current is None
    assert texts(playthrough.send(Start())) == ["Hi"]
