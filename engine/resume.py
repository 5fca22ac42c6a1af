"""`Resume`: the student asks to be brought back to where they are in the course.

One rule for every element. A run that waits for the student (a button, a poll, a typed
answer, the mini app, their turn in a dialog) gets the prompt it waits on once more, made
by the same code that made it: the element's `again` where it has one, else entering the
element anew (elements/base.py). The draft keeps the prompt's seq, so the buttons already
in the chat and the ones sent again carry the same data and either answers it; of the new
state only the messages are kept: position, answers, score, dialog history, revision
chain, timers and the count of steps without the student stay as they were. A poll sent
again is the one awaited from then on (the state remembers one poll id: the new one's
`PollSent` sets it). The log lines of what is sent again carry no score: a test's total
was recorded when it was first shown, and recording it again would tell the teacher and
the webhooks of a second result.

A run waiting for something that comes by itself (a timer, the chat model's reply) gets
the hint a message would get there. A run not begun, over, or on an element this course
version does not have gets nothing: the runtime answers a student with no course in
progress itself, in the student's language. Should entering an element not lead back to
the wait the run is in (no element does so today), nothing is sent again and the hint for
that wait, if any, is the answer.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from engine.draft import Draft
from engine.effects import Effect, Record, SendAudio, SendMedia, SendPoll, SendText
from engine.elements import handler_for
from engine.model import Course
from engine.outcomes import WAIT
from engine.personal_texts import Student
from engine.state import RunState
from engine.texts import WAITING_HINTS, say

#: What the student answers: the waits a prompt can be presented again for.
_STUDENT_WAITS = ("button", "poll", "text", "dialog", "webapp")

# All that presenting a prompt may do: send it and log it.
_PRESENTING = (SendText, SendMedia, SendAudio, SendPoll, Record)


def resume(
    course: Course, state: RunState, now: datetime, student: Student | None
) -> tuple[RunState, list[Effect]]:
    """The state (unchanged but for the awaited poll) and what to send (see the module)."""
    if state.finished or state.current is None or state.current not in course:
        return state, []
    if state.awaiting in _STUDENT_WAITS:
        element = course.get(state.current)
        handler = handler_for(element)
        ctx = Draft(course, state, now, student)
        ctx.again = True
        outcome = (handler.again or handler.enter)(ctx, element)
        if (
            outcome is WAIT
            and ctx.awaiting == state.awaiting
            and all(isinstance(effect, _PRESENTING) for effect in ctx.effects)
        ):
            polled = any(isinstance(effect, SendPoll) for effect in ctx.effects)
            return (
                state.replace(poll_ref=ctx.poll_ref, poll_id=None) if polled else state,
                [_unscored(effect) for effect in ctx.effects],
            )
    hint = WAITING_HINTS.get(state.awaiting or "")
    return state, ([SendText(say(hint, course.language), None)] if hint else [])


def _unscored(effect: Effect) -> Effect:
    if isinstance(effect, Record) and effect.maxscore is not None:
        return replace(effect, score=None, maxscore=None)
    return effect
