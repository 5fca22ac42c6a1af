"""Moving through the course: entering elements until one waits, the run ends or the step's
budget is spent, and what "next" means inside a revision chain."""

from __future__ import annotations

from engine.draft import Draft
from engine.elements import handler_for
from engine.limits import MAX_ELEMENTS_PER_STEP
from engine.outcomes import Goto, Halt, Next, Outcome, Replay
from engine.state import RevisionChain


def _next_in_flow(ctx: Draft) -> str | None:
    """The element after the current one; during a revision, the next mistake to replay
    and, after the last, the element after the revision."""
    chain = ctx.revision
    if chain is not None:
        if chain.queue:
            ctx.revision = RevisionChain(chain.queue[1:], chain.resume_after)
            return chain.queue[0]
        ctx.revision = None
        return ctx.course.next_id(chain.resume_after)
    return ctx.course.next_id(ctx.current) if ctx.current is not None else None


def _target(ctx: Draft, outcome: Next | Goto | Replay) -> str | None:
    """Where `outcome` leads, with the revision chain updated as entering it requires."""
    match outcome:
        case Next():
            return _next_in_flow(ctx)
        case Goto(target=target):
            ctx.revision = None
            return target
        case Replay(target=target):
            return target


def proceed(ctx: Draft, outcome: Outcome) -> None:
    """Follow `outcome` (of `enter` or `react`), entering elements until one waits, the run
    ends, or MAX_ELEMENTS_PER_STEP were entered: then the step ends with a continuation at
    the exact element (and revision chain) the flow would have entered next."""
    entered = 0
    while not isinstance(outcome, Halt):
        target = _target(ctx, outcome)
        if target is None:
            ctx.finish("completed")
            return
        if entered == MAX_ELEMENTS_PER_STEP:
            ctx.continue_later(target)
            return
        element = ctx.course.get(target)
        ctx.move_to(element.id)
        outcome = handler_for(element).enter(ctx, element)
        entered += 1
