"""Option buttons shared by jump and legacy message-with-options.

An option goes to its `goto`, or waits (`wait`, announcing `wait_text`) and then goes to
its `goto` or the next element, or simply goes on to the next element.
"""

from __future__ import annotations

from engine.draft import Draft, callback
from engine.effects import InlineButton
from engine.model import JumpElement, MessageElement, Option, parse_duration
from engine.outcomes import IGNORED, NEXT, WAIT, Choice, Fired, Goto, Outcome


def present(
    ctx: Draft, element: JumpElement | MessageElement, text: str, options: tuple[Option, ...]
) -> Outcome:
    if not options:  # nothing to choose: behave like a plain message instead of stalling
        ctx.show(element, text)
        return NEXT
    seq = ctx.begin_wait("button")
    buttons = tuple(InlineButton(o.text, callback(seq, i)) for i, o in enumerate(options))
    ctx.show(element, text, buttons)
    return WAIT


def react(
    ctx: Draft, element: JumpElement | MessageElement, options: tuple[Option, ...], event: object
) -> Outcome:
    if isinstance(event, Fired):
        return Goto(event.wait.goto)
    if not (isinstance(event, Choice) and 0 <= event.index < len(options)):
        return IGNORED
    option = options[event.index]
    ctx.record_user(element.id, option.text)
    if option.wait:
        if option.wait_text:
            ctx.say(element, option.wait_text)
        ctx.schedule(parse_duration(option.wait), option.goto or ctx.course.next_id(element.id))
        return WAIT
    return Goto(option.goto) if option.goto else NEXT
