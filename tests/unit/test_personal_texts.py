"""Personal texts: the student's names and earlier answers inside course texts, escaped for
the text's parse mode, old courses' braces left alone, unknown names warned about."""

from __future__ import annotations

from pathlib import Path

import pytest

from courses.loader import load_course
from engine import step
from engine.effects import AskLLM, Record, SendMedia, SendText
from engine.events import Start, Text
from engine.model import Course, DialogElement, InputElement, MessageElement
from engine.personal_texts import PersonalFacts, Student, names_used, personalize
from engine.state import RunState
from tests.course_files import legacy_courses
from tests.unit.student import T0

ANN = Student(first_name="Ann", username="ann_k")


def sent(effects) -> list[str]:
    return [
        e.text if isinstance(e, SendText) else e.caption
        for e in effects
        if isinstance(e, SendText | SendMedia)
    ]


def test_names_and_answers_are_put_in():
    facts = PersonalFacts(ANN, {"Ask_Name": "Анна"})
    text = "Hi {first_name} (@{username}), you said {{Ask_Name}}."
    assert personalize(text, facts) == "Hi Ann (@ann_k), you said Анна."


def test_values_are_escaped_for_html_so_a_name_cannot_inject_markup():
    facts = PersonalFacts(Student(first_name="<b>x</b> & <a href='e'>"), {})
    out = personalize("<i>Hello, {first_name}</i>", facts, "HTML")
    assert out == "<i>Hello, &lt;b&gt;x&lt;/b&gt; &amp; &lt;a href='e'&gt;</i>"


def test_values_are_escaped_for_legacy_markdown():
    facts = PersonalFacts(Student(username="john_doe*"), {"q": "[link](x) `c`"})
    out = personalize("*@{username}* {{q}}", facts, "MARKDOWN")
    assert out == "*@john\\_doe\\** \\[link](x) \\`c\\`"


def test_missing_values_are_empty():
    assert personalize("[{first_name}|{username}|{{Ask}}]", PersonalFacts()) == "[||]"


def test_other_braces_stay_as_written():
    text = "{score} из {maxscore} {STOP} {текст} {{not closed} { spaced } {{a b}} {}"
    facts = PersonalFacts(ANN, {})
    assert personalize(text, facts) == text
    assert personalize("{ first_name }", facts) == "{ first_name }"


def test_substitution_is_one_pass():
    facts = PersonalFacts(Student(first_name="{username}"), {"a": "{{b}}", "b": "B"})
    assert personalize("{first_name} {{a}}", facts) == "{username} {{b}}"


def test_names_used_lists_every_placeholder():
    uses = names_used("{first_name} {{Ask}} {frist_name} {{ Other }}")
    assert [(u.kind, u.key) for u in uses] == [
        ("name", "first_name"),
        ("element", "Ask"),
        ("name", "frist_name"),
        ("element", "Other"),
    ]


def test_step_personalizes_messages_with_the_answer_given_in_the_same_run():
    course = Course(
        elements=(
            MessageElement(id="hello", text="Привет, {first_name}!", parse_mode="HTML"),
            InputElement(id="Ask_Name", text="Как вас называть?"),
            MessageElement(id="bye", text="Приятно познакомиться, {{Ask_Name}}!"),
        )
    )
    state, effects = step(course, RunState.new(), Start(), T0, Student(first_name="<Ann>"))
    assert sent(effects) == ["Привет, &lt;Ann&gt;!", "Как вас называть?"]
    # The conversation log keeps what was sent.
    assert Record("hello", "bot", "Привет, &lt;Ann&gt;!") in effects
    state, effects = step(course, state, Text("Аня_"), T0, Student(first_name="<Ann>"))
    assert sent(effects) == ["Приятно познакомиться, Аня\\_!"]  # legacy Markdown by default


def test_step_without_student_facts_leaves_no_placeholder_behind():
    course = Course(elements=(MessageElement(id="a", text="Hi {first_name}, {{x}}"),))
    _, effects = step(course, RunState.new(), Start(), T0)
    assert sent(effects) == ["Hi , "]


COURSE = """\
hello:
  type: message
  text: Hi {first_name}! {frist_name}
Ask:
  type: input
  text: Name?
result:
  type: test
  prefix: A
  score: {50: "ok"}
  text: "{score} of {maxscore}, {{Ask}} {{Nope}}"
"""


def test_loader_warns_about_unknown_names_with_lines():
    result = load_course(COURSE, source_name="c.yaml")
    assert result.course is not None
    warned = [(w.element_id, w.line, w.message) for w in result.warnings]
    personal = [w for w in warned if "frist_name" in w[2] or "Nope" in w[2]]
    assert [(e, line) for e, line, _ in personal] == [("hello", 3), ("result", 11)]
    assert "{frist_name} is not a name a text can use" in personal[0][2]
    assert "{{Nope}} names no element" in personal[1][2]
    assert not any(
        "score" in m or "{{Ask}}" in m or "first_name}" in m.split(" is ")[0]
        for _, _, m in personal[1:]
    )


@pytest.mark.parametrize("path", legacy_courses())
def test_legacy_courses_get_no_personal_text_warnings(path: Path):
    """Old courses' braces ({score}, {STOP}, prose) are not taken for personal texts."""
    result = load_course(path.read_text(encoding="utf-8"), source_name=path.name)
    assert result.course is not None
    assert [
        w
        for w in result.warnings
        if "a text can use" in w.message or "names no element, so" in w.message
    ] == []


def test_a_dialog_opening_reaches_the_model_with_the_name_put_in():
    course = Course(
        elements=(
            DialogElement(id="d", text="Hi {first_name}!", prompt="Be kind.", auto_start=True),
        )
    )
    _, effects = step(course, RunState.new(), Start(), T0, Student(first_name="<Ann>"))
    [ask] = [e for e in effects if isinstance(e, AskLLM)]
    assert ask.messages[-1] == {"role": "assistant", "content": "Hi <Ann>!"}
