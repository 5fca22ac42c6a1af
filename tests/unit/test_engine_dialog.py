"""dialog: LLM round trips, stop markers, limits, failures, voice and prompt variables."""

from __future__ import annotations

import pytest

from engine import step
from engine.effects import AskLLM, Record, SendText, Typing
from engine.events import LLMFailed, Text
from engine.model import (
    Answer,
    Course,
    DialogElement,
    InputElement,
    MessageElement,
    QuizElement,
)
from tests.unit.student import T0, Student, texts

AFTER = MessageElement(id="after", text="After")


def dialog(**fields) -> DialogElement:
    base = {"id": "d", "text": "Let's talk", "prompt": "You are a tutor."}
    base.update(fields)
    return DialogElement(**base)


def test_opening_text_then_each_message_is_recorded_and_sent_to_the_llm():
    student = Student(Course(elements=(dialog(model="gpt-4", temperature=0.7), AFTER)))
    effects = student.start()
    assert effects[0] == SendText("Let's talk", "MARKDOWN", (), False)
    assert student.state.awaiting == "dialog"
    effects = student.type("Hi there")
    assert effects == [
        Record("d", "user", "Hi there"),
        Typing(),
        AskLLM(
            "d",
            "gpt-4",
            (
                {"role": "system", "content": "You are a tutor."},
                {"role": "assistant", "content": "Let's talk"},
                {"role": "user", "content": "Hi there"},
            ),
            0.7,
        ),
    ]
    effects = student.llm("Hello! What is your level?")
    assert effects == [
        SendText("Hello! What is your level?", None, (), False),
        Record("d", "bot", "Hello! What is your level?"),
    ]
    student.type("B2")
    assert [m["content"] for m in student.last_ask().messages[1:]] == [
        "Let's talk",
        "Hi there",
        "Hello! What is your level?",
        "B2",
    ]


@pytest.mark.parametrize(
    ("reply", "shown"),
    [
        ("Great talking to you! {STOP}", ["Great talking to you!"]),
        ("Пока! #конецдиалога", ["Пока!"]),
        ("{stop}", []),
        ("#КонецДиалога", []),
    ],
)
def test_stop_markers_end_the_dialog_and_are_stripped(reply, shown):
    student = Student(Course(elements=(dialog(), AFTER)))
    student.start()
    student.type("bye")
    assert texts(student.llm(reply)) == [*shown, "After"]


def test_max_messages_ends_the_dialog_after_replying_to_the_last_one():
    student = Student(Course(elements=(dialog(max_messages=2), AFTER)))
    student.start()
    student.type("one")
    assert texts(student.llm("reply one")) == ["reply one"]
    student.type("two")
    assert texts(student.llm("reply two")) == ["reply two", "After"]


def test_llm_failure_apologises_and_lets_the_student_retry():
    student = Student(Course(elements=(dialog(), AFTER)))
    student.start()
    student.type("question")
    effects = student.llm_fails()
    assert len(effects) == 1 and "again" in effects[0].text
    assert "timeout" not in effects[0].text
    assert student.state.awaiting == "dialog"
    student.type("question again")
    assert student.state.awaiting == "llm"
    assert texts(student.llm("answer {STOP}")) == ["answer", "After"]


def test_final_llm_failure_shows_the_adapters_notice_and_moves_on():
    student = Student(Course(elements=(dialog(), AFTER)))
    student.start()
    student.type("question")
    effects = student.send(LLMFailed("budget spent", notice="Assistant is off.", final=True))
    assert texts(effects) == ["Assistant is off.", "After"]
    assert student.state.current == "after"


def test_auto_start_asks_the_llm_before_the_student_writes():
    student = Student(Course(elements=(dialog(auto_start=True), AFTER)))
    effects = student.start()
    assert texts(effects) == ["Let's talk"]
    assert isinstance(effects[-1], AskLLM) and isinstance(effects[-2], Typing)
    assert texts(student.llm("Γεια σου!")) == ["Γεια σου!"]
    assert student.state.awaiting == "dialog"


def test_text_while_the_llm_is_thinking_gets_a_hint_and_is_not_lost_silently():
    c = Course(elements=(dialog(), AFTER))
    student = Student(c)
    student.start()
    student.type("first")
    state, effects = step(c, student.state, Text("second"), T0)
    assert state == student.state and len(effects) == 1 and "still answering" in effects[0].text


def test_stale_llm_reply_outside_the_dialog_is_ignored():
    c = Course(elements=(dialog(), AFTER))
    student = Student(c)
    student.start()
    before = student.state
    assert texts(student.llm("unsolicited")) == []
    assert student.state == before


def test_voice_in_dialog_is_echoed_then_sent_to_the_llm():
    student = Student(Course(elements=(dialog(), AFTER)))
    student.start()
    effects = student.speak("Καλημέρα")
    assert texts(effects) == ["🎤 I heard: Καλημέρα"]
    assert student.last_ask().messages[-1] == {"role": "user", "content": "Καλημέρα"}
    assert "still answering" in texts(student.speak(None))[0]  # the LLM is still busy
    student.llm("ok")
    effects = student.speak(None)
    assert "type it" in texts(effects)[0] and student.state.awaiting == "dialog"


def test_html_bang_makes_llm_replies_html():
    student = Student(Course(elements=(dialog(parse_mode="HTML!"),)))
    effects = student.start()
    assert effects[0].parse_mode == "HTML"
    student.type("hi")
    assert student.llm("<b>hi</b>")[0] == SendText("<b>hi</b>", "HTML", (), False)


def test_prompt_variables_render_element_histories():
    c = Course(
        elements=(
            MessageElement(id="lesson", text="Lesson text\n"),
            InputElement(id="essay", text="Write an essay"),
            QuizElement(id="quiz", text="Q", answers=(Answer("A", correct=True),)),
            dialog(id="d1", text="Warm-up"),
            dialog(
                id="d2",
                text="Review",
                prompt=(
                    "L={{lesson}}|E={{ essay }}|F={{1]essay}}|T={{essay[1}}"
                    "|D={{d1[2}}|D1={{2]d1}}|X={{missing}}|Q={{quiz}}"
                ),
            ),
        )
    )
    student = Student(c)
    student.start()
    student.type("My essay")
    student.choose("A")
    student.type("hello d1")
    student.llm("reply d1 {STOP}")
    student.type("go")
    system = student.last_ask().messages[0]["content"]
    assert system == (
        "L=assistant: Lesson text"
        "|E=assistant: Write an essay\n\nuser: My essay"
        "|F=assistant: Write an essay"
        "|T=user: My essay"
        "|D=user: hello d1\n\nassistant: reply d1"
        "|D1=assistant: Warm-up\n\nuser: hello d1"
        "|X="
        "|Q=assistant: Q\n\nuser: A"
    )
