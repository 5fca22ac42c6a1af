"""The course preview: the engine plays a course with default answers (no I/O, no DB)."""

from __future__ import annotations

import pytest

from courses.loader import load_course
from engine.personal_texts import Student
from panel_api.web.preview import MAX_STEPS, play, simulate
from tests.course_files import OWN_COURSES, legacy_courses


def course(text: str):
    loaded = load_course(text)
    assert loaded.course is not None, loaded.diagnostics
    return loaded.course


@pytest.mark.parametrize("path", [*OWN_COURSES, *legacy_courses()], ids=lambda p: p.name)
def test_every_course_plays_to_its_end(path):
    result = play(course(path.read_text(encoding="utf-8")), sample_text="x", dialog_reply="ok")
    assert result.finished
    assert result.lines[-1].note == "preview.finished"
    assert any(line.role == "student" for line in result.lines)


def test_first_button_first_option_sample_text_and_skipped_delay():
    preview = play(
        course(
            """
intro:
  type: message
  text: Hello <b>there</b>
  parse_mode: HTML
  button: Go
pause:
  type: delay
  text: Wait a bit
  wait: 1d:2h
q:
  type: quiz
  text: 2 + 2?
  answers:
    - text: "5"
    - text: "4"
      correct: yes
name:
  type: input
  text: Your name?
bye:
  type: end
  text: Bye
"""
        ),
        sample_text="Sample answer",
        dialog_reply="stub",
    )
    bot = [line for line in preview.lines if line.role == "bot"]
    student = [line.text for line in preview.lines if line.role == "student"]
    assert bot[0].text == "Hello <b>there</b>" and bot[0].parse_mode == "HTML"
    assert bot[0].buttons == ("Go",)
    assert bot[0].element_id == "intro"
    assert student[:1] == ["Go"]
    waited = [line for line in preview.lines if line.note == "preview.waited"]
    assert [line.params["duration"] for line in waited] == ["1d:2h"]
    quiz = next(line for line in bot if line.element_id == "q" and line.options)
    assert quiz.options == ("5", "4")
    answer = next(
        line for line in preview.lines if line.role == "student" and line.element_id == "q"
    )
    assert (answer.text, answer.score, answer.maxscore) == ("5", 0, 1)  # the first option
    assert "Sample answer" in student
    assert preview.finished


def test_a_dialog_gets_the_stub_reply_and_ends():
    preview = play(
        course(
            """
chat:
  type: dialog
  text: Tell me about you
  prompt: Be kind
done:
  type: end
  text: Done
"""
        ),
        sample_text="I like cats",
        dialog_reply="(model here)",
    )
    texts = [(line.role, line.text) for line in preview.lines if line.role != "note"]
    assert ("student", "I like cats") in texts
    assert ("bot", "(model here)") in texts
    assert preview.finished


def test_a_course_that_loops_on_default_answers_stops_with_a_note():
    looping = course(
        """
ask:
  type: jump
  text: Again?
  options:
    - text: Again
      goto: ask
    - text: Stop
      goto: bye
bye:
  type: end
  text: Bye
"""
    )
    preview = play(looping, sample_text="x", dialog_reply="x")
    assert not preview.finished
    assert preview.lines[-1].note == "preview.too_long"
    assert preview.lines[-1].params == {"steps": str(MAX_STEPS)}


def test_personal_texts_show_the_sample_student_and_answers():
    preview = play(
        course(
            """
name:
  type: input
  text: "Hi {first_name}! Your name?"
bye:
  type: end
  text: "Bye, {{name}}"
"""
        ),
        sample_text="Ann",
        dialog_reply="stub",
        student=Student(first_name="Anna"),
    )
    assert [line.text for line in preview.lines if line.role == "bot"] == [
        "Hi Anna! Your name?",
        "Bye, Ann",
    ]


CHOICES = """
start:
  type: message
  text: "*Hi*"
  button: Go
pick:
  type: multi_choice
  text: Which are planets?
  answers:
    - text: Mars
      correct: yes
    - text: Moon
    - text: Venus
      correct: yes
  feedback_correct: Right
  feedback_partial: Almost
  feedback_incorrect: No
chat:
  type: dialog
  text: Tell me about you
  prompt: Be kind
done:
  type: end
  text: Done
"""


def test_the_simulator_takes_several_poll_options_and_stubs_the_dialog():
    steps = (("button", "0"), ("poll", "0,2"), ("text", "I like cats"))
    played = simulate(CHOICES, "t", None, steps, "(stub)")
    assert played is not None and played.accepted and played.actions == steps
    poll = next(line for line in played.lines if line.options)
    assert poll.options == ("Mars", "Moon", "Venus") and poll.multiple
    said = [(line.role, line.text) for line in played.lines if line.role != "note"]
    assert ("student", "I like cats") in said and ("bot", "(stub)") in said
    assert played.finished and played.lines[-1].note == "preview.finished"
    assert played.lines[0].text == "*Hi*" and played.lines[0].parse_mode == "MARKDOWN"


def test_the_simulator_drops_what_does_not_fit_and_offers_what_does():
    played = simulate(CHOICES, "t", None, (("button", "0"), ("button", "0")), "x")
    assert played is not None and not played.accepted
    assert played.actions == (("button", "0"),)  # the second press had no button to press
    assert played.offer.kind == "poll" and played.offer.multiple
    assert played.offer.options == ("Mars", "Moon", "Venus")
    assert simulate(CHOICES, "t", None, (("poll", "0"),), "x").accepted is False
    assert simulate("bad: [", "t", None, (), "x") is None  # no longer loads
    unknown_start = simulate(CHOICES, "t", "nowhere", (), "x")
    assert unknown_start is not None and unknown_start.start is None
    assert unknown_start.lines[0].element_id == "start"


def test_the_simulator_plays_a_mini_app_sending_its_data_or_continue():
    source = """
map:
  type: miniapp
  text: Find the capitals.
  button: Open the map
  app_url: https://example.com/map-app
  question: capitals
bye:
  type: end
  text: Bye
"""
    waiting = simulate(source, "t", None, (), "x")
    assert waiting is not None and waiting.offer.kind == "miniapp"
    assert len(waiting.offer.buttons) == 1  # Continue; the app's own button only opens it
    for action in (("webapp", ""), ("button", "0")):
        played = simulate(source, "t", None, (action,), "x")
        assert played is not None and played.accepted and played.finished
