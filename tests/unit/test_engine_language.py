"""The bot's own words follow the course's language: hints and default buttons of an English
course are English, a Russian (old bot's) course keeps the old Russian words."""

from __future__ import annotations

from datetime import UTC, datetime

from courses.loader import load_course
from engine.effects import SendText
from engine.events import Start, Text, TimerFired
from engine.playthrough import Playthrough
from engine.state import RunState
from engine.step import step

NOW = datetime(2026, 12, 7, tzinfo=UTC)


def _hint_after_typing(source: str) -> list[str]:
    course = load_course(source).course
    assert course is not None
    state, _ = step(course, RunState.new(), Start(), NOW)
    _, effects = step(course, state, Text("hello?"), NOW)
    return [e.text for e in effects if isinstance(e, SendText)]


def test_an_english_course_hints_in_english():
    source = "intro:\n  type: message\n  text: Welcome to the course\n  button: Go\n"
    assert _hint_after_typing(source) == ["To go on, press the button under the message above."]


def test_a_russian_course_hints_as_the_old_bot_did():
    source = "intro:\n  type: message\n  text: Добро пожаловать на курс\n  button: Вперёд\n"
    assert _hint_after_typing(source) == ["Чтобы продолжить, нажмите кнопку под сообщением выше."]


def test_default_yes_and_no_of_a_delay_follow_the_course():
    english = "pause:\n  type: delay\n  wait: 1m\n  continue: Shall we go on?\n"
    russian = "pause:\n  type: delay\n  wait: 1m\n  continue: Продолжим занятие?\n"
    for source, labels in ((english, ["Yes", "No"]), (russian, ["Да", "Нет"])):
        course = load_course(source).course
        assert course is not None
        student = Playthrough(course, NOW)
        student.send(Start())
        (wait,) = student.state.waits
        student.send(TimerFired(wait.wait_id))
        assert [b.text for b in student.callbacks] == labels
