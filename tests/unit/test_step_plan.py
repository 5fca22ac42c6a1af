"""What an update and an engine step turn into, decided without I/O (adapters/telegram/
step_plan.py): the journal writes these rows for the work of many chats at once."""

from __future__ import annotations

from datetime import UTC, datetime

from engine import step
from engine.effects import CancelWaits, Finish, Record, Schedule, SendText
from engine.events import Button, PollAnswer, Start, Text
from engine.frozen import FrozenMap
from engine.model import Course, InputElement, MessageElement, TestElement
from engine.state import RunState
from runtime import effect_codec
from runtime.effect_codec import TranscribeVoice
from runtime.inbound import Inbound, StartRequest, Student, VoiceNote
from runtime.step_plan import Advance, Enroll, Ignore, Reply, plan_step, react

DUE = datetime(2026, 1, 1, tzinfo=UTC)
ANN = Student(42, "ann", "Ann", "en")


def inbound(action: object) -> Inbound:
    return Inbound(chat_id=42, chat_type="private", student=ANN, action=action)  # type: ignore[arg-type]


def test_a_cancel_drops_the_timers_of_the_same_step_scheduled_before_it():
    early, late = Schedule("w1", DUE, "a"), Schedule("w2", DUE, "b")

    writes = plan_step(RunState.new(), [early, CancelWaits(), late])

    assert writes.cancel_waits is True
    assert writes.schedules == (late,)


def test_lines_and_messages_keep_their_order_and_finish_is_recorded():
    effects = [
        Record("q1", "bot", "Question?"),
        SendText("Question?", None),
        Record("q1", "user", "yes", 1.0, 1.0),
        SendText("Right", None),
        Finish("completed"),
    ]

    writes = plan_step(RunState.new(), effects)

    assert [(ln.element_id, ln.role, ln.text) for ln in writes.lines] == [
        ("q1", "bot", "Question?"),
        ("q1", "user", "yes"),
    ]
    assert [effect_codec.decode(m) for m in writes.messages] == [
        SendText("Question?", None),
        SendText("Right", None),
    ]
    assert writes.finish_status == "completed"
    assert writes.cancel_waits is False and writes.schedules == ()


def test_a_run_the_engine_halts_ends_halted_with_its_note():
    writes = plan_step(RunState.new(), [Finish("halted", "no_student_input")])
    assert (writes.finish_status, writes.finish_note) == ("halted", "no_student_input")

    writes = plan_step(RunState.new(), [Finish("stopped")])
    assert (writes.finish_status, writes.finish_note) == ("stopped", None)


def test_start_goes_to_enrollment_whatever_the_chat_has():
    request = StartRequest("cd_1_x")
    assert react(inbound(request), has_active_run=True) == Enroll(request)
    assert react(inbound(request), has_active_run=False) == Enroll(request)


def test_a_course_event_advances_the_active_run():
    assert react(inbound(Button("1:0")), True) == Advance(Button("1:0"))
    assert react(inbound(PollAnswer("p", (1,))), True) == Advance(PollAnswer("p", (1,)))


def test_without_a_run_text_gets_a_hint_and_the_rest_is_ignored():
    reply = react(inbound(Text("hello?")), False)

    assert isinstance(reply, Reply) and not reply.run_bound
    (message,) = reply.messages
    assert isinstance(effect_codec.decode(message), SendText)
    assert react(inbound(Button("1:0")), False) == Ignore()
    assert react(inbound(VoiceNote("F", 3)), False) == Ignore()


def test_a_voice_message_in_a_run_is_queued_for_transcription():
    reply = react(inbound(VoiceNote("F", 3)), True)

    assert isinstance(reply, Reply) and reply.run_bound
    assert [effect_codec.decode(m) for m in reply.messages] == [TranscribeVoice("F")]


def test_answers_and_test_scores_become_webhook_events_in_order():
    """A student's answer and a test's total are events; a button press to go on, the bot's
    own lines and a question's feedback are not."""
    course = Course(
        elements=(
            MessageElement(id="hi", text="Hi", button="Go"),
            InputElement(id="q1", text="2+2?", correct_answer="4", feedback_correct="Right"),
            TestElement(
                id="t", text="{score}/{maxscore}", prefix="q", score=FrozenMap({100: "ok"})
            ),
        )
    )
    state, effects = step(course, RunState.new(), Start(), DUE)
    assert plan_step(state, effects).hooks == ()
    state, effects = step(course, state, Button(f"{state.seq}:0"), DUE)  # "Go": no answer
    assert plan_step(state, effects).hooks == ()
    state, effects = step(course, state, Text(" 4 "), DUE)
    hooks = plan_step(state, effects).hooks
    assert hooks == (
        ("answer.recorded", {"element_id": "q1", "answer": " 4 ", "score": 1.0, "maxscore": 1.0}),
        ("test.scored", {"element_id": "t", "score": 1.0, "maxscore": 1.0}),
    )
