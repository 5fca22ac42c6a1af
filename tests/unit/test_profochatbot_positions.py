"""Placing an old ProfoChatBot run in the engine (legacy_import/positions.py) and the
pure pieces of the import around it: the course source of a Sheets-made course, which run a
line without `run_id` belongs to, and the command line's bot tokens."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from courses.loader import load_course
from engine.events import Text, TimerFired
from engine.step import step
from legacy_import.cli import bot_tokens
from legacy_import.course_source import NoSource, course_slug, course_source
from legacy_import.history import current_runs, lines_by_run
from legacy_import.legacy_db import LegacyCourse, LegacyLine, LegacyRun
from legacy_import.positions import PendingDelay, Unplaceable, place
from storage.crypto import Secret

NOW = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
COURSE = load_course(
    """
Hello:
  type: message
  text: Hi
  button: Go
Chat:
  type: dialog
  text: Tell me about your day.
  prompt: You are a friendly tutor.
Ask_Later:
  type: delay
  wait: 1h
  continue: Ready to go on?
Name:
  type: input
  text: Your name?
Bye:
  type: end
  text: Bye
"""
).course
assert COURSE is not None


def line(
    element_id: str | None,
    role: str = "assistant",
    report: str = "",
    *,
    run_id: int | None = 1,
    at: datetime | None = None,
) -> LegacyLine:
    return LegacyLine(0, run_id, 7, "c", element_id, role, report, None, None, at)


def test_a_dialog_in_progress_keeps_what_was_said_and_waits_for_the_student():
    lines = [
        line("Hello"),
        line("Chat", "assistant", "Tell me about your day."),
        line("Chat", "user", "It was long."),
        line("Chat", "assistant", "Why long?"),
    ]
    position = place(COURSE, lines, None, NOW)
    state = position.state
    assert (state.current, state.awaiting, state.waits) == ("Chat", "dialog", ())
    assert [(m.role, m.text) for m in state.dialogs["Chat"]] == [
        ("assistant", "Tell me about your day."),
        ("user", "It was long."),
        ("assistant", "Why long?"),
    ]


def test_an_input_waits_for_the_typed_answer_without_sending_anything_again():
    state = place(COURSE, [line("Name")], None, NOW).state
    assert (state.current, state.awaiting, state.waits) == ("Name", "text", ())
    after, _effects = step(COURSE, state, Text("Ann"), NOW)
    assert after.answers["Name"].text == "Ann"
    assert after.finished


def test_a_button_prompt_is_entered_again_at_once():
    state = place(COURSE, [line("Hello")], None, NOW).state
    assert state.awaiting == "timer" and state.waits[0].due_at == NOW
    after, effects = step(COURSE, state, TimerFired(state.waits[0].wait_id), NOW)
    assert (after.current, after.awaiting) == ("Hello", "button")
    assert next(e.text for e in effects if hasattr(e, "text")) == "Hi"


def test_a_pending_delay_that_asks_to_continue_asks_when_it_falls_due():
    due = NOW + timedelta(hours=3)
    state = place(COURSE, [line("Chat")], PendingDelay("Ask_Later", due), NOW).state
    assert (state.current, state.awaiting, state.waits[0].due_at) == ("Ask_Later", "timer", due)
    after, effects = step(COURSE, state, TimerFired(state.waits[0].wait_id), due)
    assert after.awaiting == "button"
    assert any(getattr(e, "text", None) == "Ready to go on?" for e in effects)


def test_an_end_element_means_the_run_is_over():
    position = place(COURSE, [line("Bye")], None, NOW)
    assert position.finished and position.state.status == "completed"


def test_a_place_missing_from_the_course_is_refused():
    with pytest.raises(Unplaceable):
        place(COURSE, [line("Gone")], None, NOW)
    with pytest.raises(Unplaceable):
        place(COURSE, [], None, NOW)


def test_a_sheets_course_becomes_yaml_that_loads_in_row_order():
    old = LegacyCourse(
        code="s",
        bot_name="b",
        title=None,
        yaml=None,
        elements=(
            ("B_first", {"type": "message", "text": "Привет"}),
            ("A_second", {"type": "end"}),
            ("broken", None),
        ),
    )
    loaded = load_course(course_source(old)).course
    assert loaded is not None
    assert [e.id for e in loaded.elements] == ["B_first", "A_second"]
    with pytest.raises(NoSource):
        course_source(LegacyCourse("e", "b", None, "  ", ()))


def run(run_id: int, started: datetime, *, ended: bool = False, chat: int = 7) -> LegacyRun:
    return LegacyRun(run_id, chat, None, "b", "c", started, ended, None, None, None)


def test_a_line_without_run_id_goes_to_the_run_that_had_started_by_then():
    t0 = datetime(2025, 1, 1)
    runs = [run(1, t0), run(2, t0 + timedelta(days=2))]
    early = line("Hello", run_id=None, at=t0 + timedelta(days=1))
    late = line("Hello", run_id=None, at=t0 + timedelta(days=3))
    before_any = line("Hello", run_id=None, at=t0 - timedelta(days=1))
    grouped = lines_by_run(runs, [early, late, before_any])
    assert grouped == {1: [early], 2: [late]}
    assert current_runs(runs) == {2}


def test_bot_tokens_by_name_or_for_the_only_bot():
    assert bot_tokens(["123:abc", "helper=456:def"]) == {
        None: Secret("123:abc"),
        "helper": Secret("456:def"),
    }


def test_course_codes_become_slugs():
    assert course_slug("English_Course 2") == "english-course-2"
    assert course_slug("Курс") == "course"
