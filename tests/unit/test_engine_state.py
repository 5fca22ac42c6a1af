"""RunState JSON: exact round trip of real mid-run states, clear errors on bad input."""

from __future__ import annotations

import pytest

from engine import RunState
from engine.model import Answer, Course, DelayElement, DialogElement, QuizElement, RevisionElement
from engine.state import DialogMessage, ScoredAnswer
from tests.unit.student import Student


def test_new_state_is_not_started():
    state = RunState.new()
    assert (state.current, state.awaiting, state.seq, state.finished) == (None, None, 0, False)


def test_mid_run_states_round_trip_exactly():
    c = Course(
        elements=(
            QuizElement(id="q_1", text="Q", answers=(Answer("a", correct=True), Answer("b"))),
            RevisionElement(id="r", text="fix", prefix="q_", no_mistakes="ok"),
            DialogElement(id="d", text="Talk ✨", prompt="p"),
            DelayElement(id="w", wait="2h", goto="d"),
        )
    )
    student = Student(c)
    seen = [student.state]
    student.start()
    seen.append(student.state)  # awaiting a poll with ref and id
    student.choose("b")
    seen.append(student.state)  # revision chain active
    student.choose("a")
    student.type('привет "quoted"\n')
    seen.append(student.state)  # dialog history, awaiting llm
    student.llm("ответ {STOP}")
    seen.append(student.state)  # pending wait with a due_at
    for state in seen:
        assert RunState.from_json(state.to_json()) == state
    assert seen[2].revision is not None and seen[4].waits


def test_answers_and_dialogs_survive_json():
    state = RunState(
        current="x",
        awaiting="dialog",
        seq=7,
    ).replace(
        answers=RunState().answers.set("q", ScoredAnswer("b", 0.5, 1.0)),
        dialogs=RunState().dialogs.set("d", (DialogMessage("assistant", "hi"),)),
    )
    again = RunState.from_json(state.to_json())
    assert again.answers["q"] == ScoredAnswer("b", 0.5, 1.0)
    assert again.dialogs["d"] == (DialogMessage("assistant", "hi"),)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "not json",
        "[]",
        '{"v": 99}',
        '{"v": 1}',
        RunState().to_json().replace('"awaiting":null', '"awaiting":"nonsense"'),
        RunState().to_json().replace('"dialogs":{}', '"dialogs":{"d":[["robot","x"]]}'),
    ],
)
def test_bad_json_gives_a_clear_value_error(text):
    with pytest.raises(ValueError, match="run state"):
        RunState.from_json(text)
