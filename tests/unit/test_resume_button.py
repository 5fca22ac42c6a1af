"""A broadcast's "continue the course" button outside the engine: the panel marks the
message, the journal puts the button in after the writer's links in each student's
language, a press is read as `Resume` (and nothing else is), and a student with no course
in progress is told so."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from adapters.telegram.updates import read_update, translate
from engine import step
from engine.effects import InlineButton, SendMedia, SendText
from engine.events import Button, Resume, Start
from engine.model import Course, InputElement
from engine.personal_texts import PersonalFacts, Student
from engine.state import RunState
from runtime import effect_codec, resume_button
from runtime.inbound import Inbound
from runtime.inbound import Student as TelegramStudent
from runtime.outreach_texts import broadcast_payload
from runtime.step_plan import Advance, Reply, react

LINK = InlineButton("Read", url="https://example.com/news")


def press(data: str) -> object:
    update = {
        "update_id": 8,
        "callback_query": {
            "id": "q1",
            "from": {"id": 42, "is_bot": False, "first_name": "Ann"},
            "chat_instance": "c",
            "data": data,
            "message": {"message_id": 9, "date": 0, "chat": {"id": 42, "type": "private"}},
        },
    }
    inbound = translate(read_update(update))
    assert inbound is not None and inbound.callback_query_id == "q1"
    return inbound.action


@pytest.mark.parametrize(
    ("language", "label"),
    [("ru", "Продолжить курс"), ("en-GB", "Continue the course"), ("de", "Continue the course")],
)
def test_the_button_follows_the_links_in_the_students_language(language: str, label: str):
    marked = resume_button.mark(effect_codec.encode_bulk(SendText("News", "HTML", (LINK,))))

    sent = resume_button.put_in(marked, language)

    assert effect_codec.decode(sent) == SendText(
        "News", "HTML", (LINK, InlineButton(label, data=resume_button.DATA))
    )
    assert effect_codec.is_bulk(sent)
    assert press(resume_button.DATA) == Resume()


def test_a_student_whose_language_is_unknown_gets_the_russian_words():
    marked = resume_button.mark(
        effect_codec.encode(SendMedia(("https://x.org/a.png",), "Hi", None))
    )
    sent = effect_codec.decode(resume_button.put_in(marked, None))
    assert isinstance(sent, SendMedia)
    assert [button.text for button in sent.buttons] == ["Продолжить курс"]


def test_a_message_without_the_mark_goes_as_written():
    plain = effect_codec.encode(SendText("News", "HTML", (LINK,)))
    assert resume_button.put_in(plain, "en") == plain


def test_a_named_broadcast_gets_both_the_name_and_the_button():
    marked = resume_button.mark(effect_codec.encode_bulk(SendText("Hi {first_name}", "HTML")))
    facts = PersonalFacts(Student(first_name="<Ann>"), {})

    sent = json.loads(broadcast_payload(json.dumps(marked), facts, "en"))

    assert effect_codec.decode(sent) == SendText(
        "Hi &lt;Ann&gt;", "HTML", (InlineButton("Continue the course", data="resume:1"),)
    )


@pytest.mark.parametrize("data", ["resume:2", "resume:1:5", "resume:", "Resume:1", "1:0"])
def test_other_data_is_not_the_button_and_moves_no_run(data: str):
    action = press(data)
    assert action == Button(data)
    course = Course(elements=(InputElement(id="ask", text="Your name?"),))
    state, _ = step(course, RunState.new(), Start(), datetime(2026, 1, 1, tzinfo=UTC))
    assert step(course, state, Button(data), datetime(2026, 1, 1, tzinfo=UTC)) == (state, [])


def test_the_data_is_short_and_never_a_course_or_command_button():
    assert len(resume_button.DATA.encode()) <= 64
    assert not resume_button.DATA.startswith("cmd:")
    assert not resume_button.DATA.split(":")[0].isdigit()


@pytest.mark.parametrize(
    ("language", "notice"),
    [
        ("ru", "Сейчас у вас нет курса в процессе"),
        ("en", "You have no course in progress"),
    ],
)
def test_a_press_with_no_course_in_progress_is_answered_with_a_notice(language, notice):
    student = TelegramStudent(42, None, "Ann", language)
    inbound = Inbound(chat_id=42, chat_type="private", student=student, action=Resume())

    assert react(inbound, has_active_run=True) == Advance(Resume())
    reply = react(inbound, has_active_run=False)
    assert isinstance(reply, Reply) and not reply.run_bound
    (message,) = reply.messages
    sent = effect_codec.decode(message)
    assert isinstance(sent, SendText) and sent.text.startswith(notice)
