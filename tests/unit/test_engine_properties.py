"""Properties of `step()` over random valid courses and random event sequences:
it never raises, is deterministic, the run always has a way forward until it finishes,
and every state survives a JSON round trip."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine import RunState, step
from engine.events import (
    Button,
    LLMFailed,
    LLMReply,
    PollAnswer,
    PollSent,
    Start,
    Stop,
    Text,
    TimerFired,
    Voice,
    WebAppData,
)
from engine.frozen import FrozenMap
from engine.model import (
    Answer,
    AudioElement,
    Course,
    DelayElement,
    DialogElement,
    EndElement,
    InputElement,
    JumpElement,
    MessageElement,
    MiniappElement,
    MultiChoiceElement,
    Option,
    QuestionElement,
    QuizElement,
    RevisionElement,
    SectionElement,
    TestElement,
)
from tests.unit.student import T0

WORDS = st.text(alphabet="abcxyz 12{}[]#STOP", min_size=1, max_size=12)
WAITS = st.sampled_from(["30s", "1m", "2h:30m", "1d"])
MEDIA = st.lists(st.sampled_from(["https://x.org/a.png", "http", "asd"]), max_size=2).map(tuple)


def answers(need_correct: bool) -> st.SearchStrategy[tuple[Answer, ...]]:
    answer = st.builds(Answer, WORDS, st.booleans(), st.none() | WORDS)
    base = st.lists(answer, min_size=1, max_size=4)
    if need_correct:
        return base.map(lambda items: (Answer("right", True), *items))
    return base.map(tuple)


def element_fields(targets: st.SearchStrategy[str]) -> st.SearchStrategy:
    """(element class, field values without the id) for every element type."""
    options = st.lists(
        st.builds(Option, WORDS, st.none() | targets, st.none() | WAITS, st.none() | WORDS),
        max_size=3,
    ).map(tuple)
    thresholds = st.dictionaries(st.integers(0, 100), WORDS, max_size=3).map(FrozenMap)
    maybe = st.none() | WORDS

    def of(cls, **fields):
        return st.tuples(st.just(cls), st.fixed_dictionaries(fields))

    return st.one_of(
        of(MessageElement, text=WORDS, button=maybe, options=options | st.just(()), media=MEDIA),
        of(AudioElement, text=maybe, media=MEDIA),
        of(
            InputElement,
            text=WORDS,
            correct_answer=maybe,
            feedback_correct=maybe,
            feedback_incorrect=maybe,
            input_type=st.sampled_from(["text", "sequence"]),
        ),
        of(QuizElement, text=WORDS, answers=answers(True), media=MEDIA),
        of(QuestionElement, text=WORDS, answers=answers(False)),
        of(
            MultiChoiceElement,
            text=WORDS,
            answers=answers(False),
            feedback_correct=maybe,
            feedback_partial=maybe,
            feedback_incorrect=maybe,
        ),
        of(
            DialogElement,
            text=WORDS,
            prompt=st.sampled_from(["p", "{{e0}}", "{{2]q_1}}", "{{e0[1}}", "{{nope}}"]),
            auto_start=st.booleans(),
            max_messages=st.none() | st.integers(1, 3),
        ),
        of(MiniappElement, text=WORDS, button=WORDS, app_url=st.just("https://x.org/app")),
        of(
            TestElement,
            text=st.just("{score}/{maxscore}"),
            prefix=st.just("q_"),
            score=thresholds,
            button=maybe,
        ),
        of(JumpElement, text=WORDS, options=options),
        of(RevisionElement, text=WORDS, prefix=st.just("q_"), no_mistakes=WORDS, button=maybe),
        of(DelayElement, text=maybe, wait=WAITS, goto=st.none() | targets),
        of(DelayElement, text=maybe, continue_text=WORDS, yes_text=maybe, no_text=maybe),
        of(EndElement, text=maybe),
        of(SectionElement, title=WORDS),
    )


@st.composite
def courses(draw) -> Course:
    """1-8 random elements; odd ones are prefixed q_ so tests and revisions find scores."""
    count = draw(st.integers(min_value=1, max_value=8))
    ids = [f"q_{i}" if i % 2 else f"e{i}" for i in range(count)]
    kinds = element_fields(st.sampled_from(ids))
    elements = []
    for element_id in ids:
        cls, fields = draw(kinds)
        elements.append(cls(id=element_id, **fields))
    return Course(elements=tuple(elements))


def plausible_events(state: RunState) -> list:
    """Events a real chat could deliver now, including the ones that should move the run."""
    events = [
        *(Button(f"{state.seq}:{i}") for i in range(4)),
        Text("right"),
        Text("1 2 3"),
        LLMReply("fine"),
        LLMReply("bye {STOP}"),
        WebAppData("{}"),
    ]
    if state.poll_ref is not None:
        events.append(PollSent(f"tg-{state.poll_ref}", state.poll_ref))
    if state.poll_id is not None:
        events += [PollAnswer(state.poll_id, (0,)), PollAnswer(state.poll_id, (0, 1))]
    events += [TimerFired(wait.wait_id) for wait in state.waits]
    return events


JUNK = st.one_of(
    st.builds(Start, st.none() | WORDS),
    st.builds(Button, st.text(max_size=10)),
    st.builds(Text, st.text(max_size=10)),
    st.builds(PollSent, WORDS, WORDS),
    st.builds(PollAnswer, WORDS, st.lists(st.integers(-2, 20), max_size=3).map(tuple)),
    st.builds(TimerFired, WORDS),
    st.builds(LLMReply, st.text(max_size=10)),
    st.builds(LLMFailed, WORDS),
    st.builds(Voice, st.none() | WORDS),
    st.builds(WebAppData, WORDS),
)


def has_way_forward(course: Course, state: RunState) -> bool:
    """Some event the chat could deliver changes the state (after reporting a sent poll)."""
    if state.awaiting == "poll" and state.poll_id is None:
        state, _ = step(course, state, PollSent("tg-x", state.poll_ref or ""), T0)
    if state.current is None:
        return step(course, state, Start(), T0)[0] != state
    later = T0 + timedelta(days=30)
    return any(step(course, state, event, later)[0] != state for event in plausible_events(state))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(course=courses(), data=st.data())
def test_random_runs_never_raise_never_stall_and_round_trip(course, data):
    state = RunState.new()
    now = T0
    for _ in range(data.draw(st.integers(1, 40), label="steps")):
        if data.draw(st.integers(0, 9), label="junk?") == 0:
            event = data.draw(JUNK, label="junk event")
        elif state.current is None:
            event = Start()
        else:
            event = data.draw(st.sampled_from(plausible_events(state)), label="event")
        if data.draw(st.integers(0, 40), label="stop?") == 0:
            event = Stop()
        now += timedelta(minutes=data.draw(st.integers(0, 2000), label="minutes"))
        new_state, effects = step(course, state, event, now)
        assert step(course, state, event, now) == (new_state, effects)  # deterministic
        assert RunState.from_json(new_state.to_json()) == new_state
        assert new_state.finished or has_way_forward(course, new_state)
        if new_state.awaiting == "timer":
            assert new_state.waits, "waiting for a timer that was never scheduled"
        state = new_state
