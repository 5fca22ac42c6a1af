"""Moving through the course: entering elements until one waits, and what "next" means
inside a revision chain."""

from __future__ import annotations

from engine.draft import Draft
from engine.elements import handler_for
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


def proceed(ctx: Draft, outcome: Outcome) -> None:
    """Follow `outcome` (of `enter` or `react`), entering elements until one waits or the
    run ends. Terminates: without a button or timer the position only moves forward or
    through the finite revision queue."""
    while not isinstance(outcome, Halt):
        match outcome:
            case Next():
                target = _next_in_flow(ctx)
            case Goto(target=target):
                ctx.revision = None
            case Replay(target=target):
                pass
        if target is None:
            ctx.finish("completed")
            return
        element = ctx.course.get(target)
        ctx.move_to(element.id)
        outcome = handler_for(element).enter(ctx, element)
