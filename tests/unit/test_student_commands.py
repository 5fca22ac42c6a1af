"""Student commands decided without I/O (runtime/commands.py): what a typed command or a
press on the runtime's own buttons means, and what `/progress` tells a student at each
kind of wait. The legacy courses are checked too: none of them expects a command as an
answer, so answering commands before the course changes nothing for them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from courses.loader import load_course
from engine import step
from engine.events import Button, PollAnswer, PollSent, Start, Text
from engine.model import Course, InputElement
from engine.state import RunState
from runtime.commands import (
    RunView,
    ask,
    confirms_restart,
    decide,
    menu,
    parse_command,
    parse_confirmation,
)
from runtime.inbound import Command, Confirmation
from runtime.student_texts import Notice, notice_text
from storage.command_batch import CommandFacts
from tests.course_files import legacy_courses

NOW = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
SOURCE = """
intro:
  type: message
  text: Welcome
  button: Go
q_capital:
  type: quiz
  text: Capital of France?
  answers:
    - text: Lyon
    - text: Paris
      correct: yes
q_planets:
  type: input
  text: How many planets?
  correct_answer: "8"
pause:
  type: delay
  text: See you later
  wait: 20h
after:
  type: message
  text: After the pause
"""


def course() -> Course:
    loaded = load_course(SOURCE, source_name="t.yaml")
    assert loaded.course is not None
    return loaded.course


def play(*events: object) -> RunState:
    """The state after Start and `events` (a PollAnswer is preceded by its PollSent)."""
    c = course()
    state, _ = step(c, RunState.new(), Start(), NOW)
    for event in events:
        if isinstance(event, PollAnswer):
            state, _ = step(c, state, PollSent(event.poll_id, state.poll_ref or ""), NOW)
        state, _ = step(c, state, event, NOW)  # type: ignore[arg-type]
    return state


def progress_text(state: RunState, zone: str = "UTC", language: str = "en") -> str:
    decision = decide(
        Command("progress"),
        RunView(7, course(), state),
        CommandFacts(zone, None, None),
        language,
        NOW,
    )
    assert not decision.stop
    (message,) = decision.messages
    return message.text


def en(notice: Notice) -> str:
    return notice_text(notice, "en")


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("/progress", "progress"),
        ("/help@SchoolBot", "help"),
        ("  /restart  ", "restart"),
        ("/stop now", "stop"),
        ("/PROGRESS", "progress"),
    ],
)
def test_commands_are_recognised(text: str, name: str) -> None:
    assert parse_command(text) == Command(name)  # type: ignore[arg-type]


@pytest.mark.parametrize("text", ["progress", "/start", "/progressive", "8", "", "/", "a /stop"])
def test_other_text_is_not_a_command(text: str) -> None:
    assert parse_command(text) is None


def test_confirmation_buttons_round_trip_and_never_look_like_course_buttons() -> None:
    question = ask("restart", 42, "en")
    yes, cancel = question.buttons
    assert (yes.text, cancel.text) == ("Yes, restart", "Cancel")
    assert parse_confirmation(yes.data or "") == Confirmation("restart", 42)
    assert parse_confirmation(cancel.data or "") == Confirmation(None, 42)
    stop_yes, _ = ask("stop", 9, "ru").buttons
    assert parse_confirmation(stop_yes.data or "") == Confirmation("stop", 9)
    assert parse_confirmation("3:1") is None  # the engine's own buttons
    assert parse_confirmation("cmd:x:1") is None
    assert confirms_restart(Confirmation("restart", 42), 42)
    assert not confirms_restart(Confirmation("restart", 41), 42)
    assert not confirms_restart(Confirmation("restart", 42), None)


def test_menu_in_both_languages() -> None:
    assert [c for c, _ in menu("ru")] == ["progress", "help", "restart", "stop"]
    assert dict(menu("ru"))["restart"] == "Начать курс заново"
    assert dict(menu("en"))["restart"] == "Start the course again"


def test_progress_at_a_button() -> None:
    assert progress_text(play()) == "\n".join(
        [
            en(Notice.PROGRESS_STEP).format(step=1, total=5, percent=0),
            en(Notice.NEXT_BUTTON),
        ]
    )


def test_progress_at_an_input_after_a_right_quiz_answer_shows_the_score() -> None:
    state = play(Button("1:0"), PollAnswer("poll-1", (1,)))
    assert state.current == "q_planets"
    assert progress_text(state) == "\n".join(
        [
            en(Notice.PROGRESS_STEP).format(step=3, total=5, percent=40),
            en(Notice.PROGRESS_SCORE).format(score="1", maxscore="1"),
            en(Notice.NEXT_TEXT),
        ]
    )


def test_progress_at_a_timer_gives_its_time_in_the_account_zone() -> None:
    state = play(Button("1:0"), PollAnswer("poll-1", (0,)), Text("8"))
    assert state.current == "pause"
    # 10:00 UTC + 20 h = 06:00 UTC the next day = 15:00 in Tokyo, the next day there too
    text = progress_text(state, "Asia/Tokyo", "ru")
    assert notice_text(Notice.PROGRESS_SCORE, "ru").format(score="1", maxscore="2") in text
    assert text.endswith(
        notice_text(Notice.NEXT_TIMER, "ru").format(when="08.12 15:00 (Asia/Tokyo)")
    )
    same_day = play(Button("1:0"), PollAnswer("poll-1", (1,)), Text("8"))
    due = same_day.waits[0].due_at
    assert due == NOW + timedelta(hours=20)
    # the same day there (UTC+14: 00:00 now, 20:00 then): the time alone
    assert progress_text(same_day, "Pacific/Kiritimati").endswith(
        en(Notice.NEXT_TIMER).format(when="20:00 (Pacific/Kiritimati)")
    )


def test_help_is_the_teachers_text_or_the_default() -> None:
    facts = CommandFacts("UTC", "Write to @teacher", None)
    (reply,) = decide(Command("help"), None, facts, "en", NOW).messages
    assert reply.text == "Write to @teacher"
    (reply,) = decide(Command("help"), None, CommandFacts("UTC", None, None), "ru", NOW).messages
    assert reply.text == notice_text(Notice.HELP_DEFAULT, "ru")


def test_commands_without_a_run_say_how_to_start() -> None:
    for name in ("progress", "restart", "stop"):
        (reply,) = decide(Command(name), None, None, "en", NOW).messages  # type: ignore[arg-type]
        assert reply.text == en(Notice.NO_ACTIVE_RUN)


def test_answers_to_the_questions() -> None:
    run = RunView(7, course(), play())
    stop = decide(Confirmation("stop", 7), run, None, "en", NOW)
    assert stop.stop and stop.messages[0].text == en(Notice.STOPPED)
    cancel = decide(Confirmation(None, 7), run, None, "en", NOW)
    assert not cancel.stop and cancel.messages[0].text == en(Notice.CANCELLED)
    stale = decide(Confirmation("stop", 6), run, None, "en", NOW)
    assert not stale.stop and stale.messages[0].text == en(Notice.QUESTION_EXPIRED)
    gone = decide(Confirmation("stop", 7), None, None, "en", NOW)
    assert not gone.stop and gone.messages[0].text == en(Notice.QUESTION_EXPIRED)


@pytest.mark.parametrize("path", legacy_courses(), ids=lambda p: getattr(p, "name", "none"))
def test_no_legacy_course_expects_a_command_as_an_answer(path: Path) -> None:
    loaded = load_course(path.read_text(encoding="utf-8"), source_name=path.name)
    assert loaded.course is not None
    answers = [
        e.correct_answer
        for e in loaded.course.elements
        if isinstance(e, InputElement) and e.correct_answer
    ]
    assert all(parse_command(answer) is None for answer in answers)
