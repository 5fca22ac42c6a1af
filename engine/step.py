"""`step()`: the whole engine as one pure function.

Generic checks live here, so element handlers only ever see events that fit what the run
awaits: buttons must carry the current seq, poll answers the awaited poll id, timers a
pending wait id. Anything else leaves the state untouched -- with a short hint when the
student typed something a human would answer.
"""

from __future__ import annotations

import re
from datetime import datetime

from engine import flow
from engine.draft import Draft
from engine.effects import Effect, SendText
from engine.elements import handler_for
from engine.events import (
    Button,
    Event,
    LLMFailed,
    LLMReply,
    PollAnswer,
    PollSent,
    Resume,
    Start,
    Stop,
    Text,
    TimerFired,
    Voice,
    WebAppData,
)
from engine.limits import HALTED_NO_STUDENT_INPUT, MAX_UNATTENDED_STEPS
from engine.model import Course
from engine.outcomes import IGNORED, Choice, Fired, Goto, Outcome, Replay
from engine.personal_texts import Student
from engine.resume import resume
from engine.state import RunState
from engine.texts import WAITING_HINTS, Say, say

_CALLBACK = re.compile(r"(\d{1,9}):(\d{1,4})")

#: Which awaited kinds each (derived) event may act on.
_FITS: dict[type, tuple[str, ...]] = {
    Text: ("text", "dialog"),
    LLMReply: ("llm",),
    LLMFailed: ("llm",),
    WebAppData: ("webapp",),
    Choice: ("button", "webapp"),
    PollAnswer: ("poll",),
    Fired: ("timer",),
}

#: The student's own answers (a voice message arrives here as Text). Every other event that
#: moves the run -- a timer, a continuation, an LLM reply -- is a step without the student:
#: an LLM reply answers the bot's own request, and a dialog that starts by itself and whose
#: model ends it at once could otherwise go round a loop, at the tenant's expense, forever.
_STUDENT_INPUT = (Button, Text, PollAnswer, WebAppData)


def step(
    course: Course,
    state: RunState,
    event: Event,
    now: datetime,
    student: Student | None = None,
) -> tuple[RunState, list[Effect]]:
    """Apply `event` to `state`; return the new state and the effects to execute in order.

    Deterministic and total: never raises, whatever the event and state. `Start` begins a
    fresh run only; on a running or finished run it does nothing (restarts are the
    runtime's decision). `Stop` ends any unfinished run as "stopped". `Resume` presents the
    prompt the run waits on again and changes nothing else (engine/resume.py). A run that
    would take more than MAX_UNATTENDED_STEPS steps since the student's last answer ends as
    "halted". `student`: the names personal texts may use (engine/personal_texts.py).
    """
    if isinstance(event, Resume):
        return resume(course, state, now, student)
    if state.finished:
        return state, []
    if isinstance(event, Stop):
        ctx = Draft(course, state, now, student)
        ctx.finish("stopped")
        return ctx.result()
    if state.current is None:
        if not isinstance(event, Start):
            return state, []
        ctx = Draft(course, state, now, student)
        flow.proceed(ctx, Goto(course.elements[0].id if course.elements else None))
        return ctx.result()
    if state.current not in course:  # a state from another course version: nothing fits
        return state, []
    if isinstance(event, PollSent):
        return _poll_sent(state, event), []
    if isinstance(event, Voice):
        return _voice(course, state, event, now, student)
    return _react(course, state, event, now, student)


def _voice(
    course: Course, state: RunState, event: Voice, now: datetime, student: Student | None
) -> tuple[RunState, list[Effect]]:
    """Where text is awaited a voice message counts as text (the transcript is echoed so
    the student sees what was understood); without a transcript, ask to type."""
    if state.awaiting not in _FITS[Text]:
        return _react(course, state, Text(event.transcript or ""), now, student)
    if event.transcript is None:
        return state, [SendText(say(Say.TYPE_INSTEAD_OF_VOICE, course.language), None)]
    new_state, effects = _react(course, state, Text(event.transcript), now, student)
    echo = SendText(say(Say.VOICE_RECOGNISED, course.language, text=event.transcript), None)
    return new_state, [echo, *effects]


def _poll_sent(state: RunState, event: PollSent) -> RunState:
    if state.awaiting == "poll" and state.poll_id is None and event.ref == state.poll_ref:
        return state.replace(poll_id=event.poll_id)
    return state


def _react(
    course: Course, state: RunState, event: Event, now: datetime, student: Student | None
) -> tuple[RunState, list[Effect]]:
    ctx = Draft(course, state, now, student)
    derived = _derive(ctx, state, event)
    if derived is None:
        return state, []
    if state.awaiting not in _FITS.get(type(derived), ()):
        hint = WAITING_HINTS.get(state.awaiting or "") if isinstance(derived, Text) else None
        return state, ([SendText(say(hint, course.language), None)] if hint else [])
    if isinstance(event, _STUDENT_INPUT):
        ctx.unattended = 0
    elif state.unattended >= MAX_UNATTENDED_STEPS:
        ctx.finish("halted", HALTED_NO_STUDENT_INPUT)
        return ctx.result()
    else:
        ctx.unattended += 1
    outcome = _outcome(ctx, state, derived)
    if outcome is IGNORED:
        return state, []
    flow.proceed(ctx, outcome)
    return ctx.result()


def _outcome(ctx: Draft, state: RunState, derived: object) -> Outcome:
    """A continuation resumes the flow itself; anything else is the current element's."""
    if isinstance(derived, Fired) and derived.wait.continuation and derived.wait.goto:
        return Replay(derived.wait.goto)
    element = ctx.course.get(state.current or "")
    return handler_for(element).react(ctx, element, derived)


def _derive(ctx: Draft, state: RunState, event: Event) -> object | None:
    """Turn a raw event into what handlers understand, or None if it cannot apply at all:
    buttons become `Choice` only with the current seq, poll answers pass only for the
    awaited poll id, timers become `Fired` only for a pending wait (removed from the draft
    here)."""
    match event:
        case Button(data=data):
            match = _CALLBACK.fullmatch(data)
            if match is None or int(match.group(1)) != state.seq:
                return None
            return Choice(int(match.group(2)))
        case PollAnswer(poll_id=poll_id):
            return event if state.poll_id is not None and poll_id == state.poll_id else None
        case TimerFired(wait_id=wait_id):
            for wait in state.waits:
                if wait.wait_id == wait_id:
                    ctx.waits = tuple(w for w in state.waits if w is not wait)
                    return Fired(wait)
            return None
        case Start():
            return None
    return event
