"""message / jump / audio / section / end: what the student sees and when the run moves."""

from __future__ import annotations

from datetime import timedelta

from engine import RunState, step
from engine.effects import Finish, InlineButton, Record, Schedule, SendAudio, SendMedia, SendText
from engine.events import Button, Start, Text
from engine.model import (
    AudioElement,
    Course,
    EndElement,
    JumpElement,
    MessageElement,
    Option,
    SectionElement,
)
from tests.unit.student import T0, Student, texts


def course(*elements) -> Course:
    return Course(elements=tuple(elements))


def test_message_without_button_moves_on_and_course_completes():
    student = Student(
        course(MessageElement(id="a", text="Hello"), MessageElement(id="b", text="Bye"))
    )
    effects = student.start()
    assert texts(effects) == ["Hello", "Bye"]
    assert effects[-1] == Finish("completed")
    assert student.finished and student.state.status == "completed"


def test_message_with_button_waits_for_exactly_that_button():
    student = Student(
        course(
            MessageElement(id="a", text="Ready?", button="Go"), MessageElement(id="b", text="Next")
        )
    )
    effects = student.start()
    assert texts(effects) == ["Ready?"]
    (sent,) = [e for e in effects if isinstance(e, SendText)]
    assert sent.buttons == (InlineButton("Go", data=f"{student.state.seq}:0"),)
    assert sent.link_preview is False  # legacy default for a message with a button
    assert texts(student.press("Go")) == ["Next"]
    assert student.finished


def test_stale_forged_and_out_of_range_buttons_change_nothing():
    c = course(
        MessageElement(id="a", text="One", button="Go"),
        MessageElement(id="b", text="Two", button="Go"),
        MessageElement(id="c", text="Three"),
    )
    student = Student(c)
    student.start()
    old_data = f"{student.state.seq}:0"
    student.press("Go")
    before = student.state
    for data in (old_data, f"{before.seq}:1", f"{before.seq + 1}:0", "garbage", "", "1:0:0"):
        assert step(c, before, Button(data), T0) == (before, [])


def test_text_while_a_button_is_awaited_gets_a_hint_and_keeps_state():
    c = course(MessageElement(id="a", text="Ready?", button="Go"))
    student = Student(c)
    student.start()
    state, effects = step(c, student.state, Text("hello?"), T0)
    assert state == student.state
    assert len(effects) == 1 and "button" in effects[0].text


def test_message_media_is_sent_with_text_as_caption_and_bad_urls_dropped():
    c = course(
        MessageElement(
            id="a",
            text="Look",
            media=("https://example.com/a.png", "http", "asd", "https://example.com/b.png"),
            parse_mode="HTML",
        )
    )
    effects = Student(c).start()
    assert effects[0] == SendMedia(
        ("https://example.com/a.png", "https://example.com/b.png"), "Look", "HTML", ()
    )


def test_message_with_only_unusable_media_falls_back_to_text():
    effects = Student(course(MessageElement(id="a", text="Hi", media=("http", "asd")))).start()
    assert isinstance(effects[0], SendText) and effects[0].text == "Hi"


def test_parse_mode_defaults_to_markdown_and_link_preview_can_be_disabled():
    effects = Student(
        course(MessageElement(id="a", text="see https://x.org", link_preview=False))
    ).start()
    assert effects[0] == SendText("see https://x.org", "MARKDOWN", (), False)


def test_message_options_act_like_jump_buttons():
    c = course(
        MessageElement(
            id="menu",
            text="Continue?",
            options=(Option("Yes"), Option("Skip", goto="end"), Option("Tomorrow", wait="1d")),
        ),
        MessageElement(id="more", text="More content"),
        EndElement(id="end", text="The end"),
    )
    yes = Student(c)
    yes.start()
    assert texts(yes.press("Yes")) == ["More content", "The end"]

    skip = Student(c)
    skip.start()
    assert texts(skip.press("Skip")) == ["The end"]

    later = Student(c)
    later.start()
    effects = later.press("Tomorrow")
    (schedule,) = [e for e in effects if isinstance(e, Schedule)]
    assert schedule.due_at == T0 + timedelta(days=1) and schedule.goto == "more"
    assert texts(later.wait_for_timer()) == ["More content", "The end"]


def test_jump_wait_announces_wait_text_then_resumes_at_goto():
    c = course(
        JumpElement(
            id="j",
            text="Go on?",
            options=(Option("Later", goto="z", wait="1h:30m", wait_text="See you soon"),),
        ),
        MessageElement(id="y", text="skipped"),
        MessageElement(id="z", text="resumed"),
    )
    student = Student(c)
    student.start()
    effects = student.press("Later")
    assert texts(effects) == ["See you soon"]
    assert next(e for e in effects if isinstance(e, Schedule)).due_at == T0 + timedelta(minutes=90)
    assert student.state.awaiting == "timer"
    stale = Button(f"{student.state.seq - 1}:0")  # the jump's buttons no longer work
    assert step(c, student.state, stale, T0) == (student.state, [])
    assert texts(student.wait_for_timer()) == ["resumed"]


def test_jump_option_without_goto_or_wait_goes_to_next_element():
    c = course(
        JumpElement(id="j", text="Pick", options=(Option("Next"), Option("End", goto="e"))),
        MessageElement(id="n", text="next one"),
        EndElement(id="e"),
    )
    student = Student(c)
    student.start()
    effects = student.press("Next")
    assert texts(effects) == ["next one"]
    assert Record("j", "user", "Next") in effects


def test_audio_uses_text_as_caption_or_separate_message_without_preview():
    c = course(
        AudioElement(id="a1", text="Listen", media=("https://x.org/a.mp3",)),
        AudioElement(
            id="a2", text="Link https://x.org", media=("https://x.org/b.mp3",), link_preview=False
        ),
        AudioElement(id="a3", media=("https://x.org/c.mp3",)),
    )
    effects = Student(c).start()
    sends = [e for e in effects if isinstance(e, SendAudio | SendText)]
    assert sends == [
        SendAudio(("https://x.org/a.mp3",), "Listen", "MARKDOWN"),
        SendText("Link https://x.org", "MARKDOWN", (), False),
        SendAudio(("https://x.org/b.mp3",), None, "MARKDOWN"),
        SendAudio(("https://x.org/c.mp3",), None, "MARKDOWN"),
    ]
    assert effects[-1] == Finish("completed")


def test_sections_are_skipped_silently():
    c = course(
        SectionElement(id="s1", title="Intro"),
        MessageElement(id="m", text="Hi"),
        SectionElement(id="s2", title="Outro"),
    )
    effects = Student(c).start()
    assert texts(effects) == ["Hi"]
    assert not any(isinstance(e, Record) and e.element_id.startswith("s") for e in effects)


def test_end_finishes_even_with_elements_after_it():
    c = course(EndElement(id="e", text="Bye"), MessageElement(id="after", text="never"))
    student = Student(c)
    assert texts(student.start()) == ["Bye"]
    assert student.finished and student.finish_status() == "completed"
    assert step(c, student.state, Start(), T0) == (student.state, [])


def test_every_bot_message_is_recorded():
    c = course(MessageElement(id="a", text="One"), EndElement(id="e", text="Two"))
    effects = Student(c).start()
    assert [e for e in effects if isinstance(e, Record)] == [
        Record("a", "bot", "One"),
        Record("e", "bot", "Two"),
    ]


def test_empty_course_completes_at_once():
    state, effects = step(Course(elements=()), RunState.new(), Start(), T0)
    assert effects == [Finish("completed")] and state.finished
