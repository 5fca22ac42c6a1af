"""delay: optional text, then a timer; when it fires the run goes to `goto` (or on).

Legacy form (`continue` / `yes_text` / `no_text`, no `wait`/`goto`, test.yml Delay_01):
after the pause (`wait`, default 1 day) the bot asks `continue` with yes/no buttons; yes
goes to `goto` or the next element, no asks again after the same pause. That question is
the one prompt a delay waits on, so it is what `again` asks once more (entering the delay
would start the pause over).
"""

from __future__ import annotations

from engine.draft import Draft, callback
from engine.effects import InlineButton
from engine.elements.base import Handler
from engine.model import DelayElement
from engine.outcomes import IGNORED, NEXT, WAIT, Choice, Fired, Goto, Outcome
from engine.texts import Say, say


def _labels(element: DelayElement, language: str) -> tuple[str, str]:
    yes = element.yes_text or say(Say.DEFAULT_YES, language)
    return yes, element.no_text or say(Say.DEFAULT_NO, language)


def enter(ctx: Draft, element: DelayElement) -> Outcome:
    if element.text:
        ctx.show(element, element.text)
    if element.asks_to_continue:
        ctx.schedule(element.duration, element.id)
    else:
        ctx.schedule(element.duration, element.goto or ctx.course.next_id(element.id))
    return WAIT


def ask_to_continue(ctx: Draft, element: DelayElement) -> Outcome:
    seq = ctx.begin_wait("button")
    yes, no = _labels(element, ctx.course.language)
    buttons = (InlineButton(yes, callback(seq, 0)), InlineButton(no, callback(seq, 1)))
    ctx.say(element, element.continue_text or "", buttons)
    return WAIT


def react(ctx: Draft, element: DelayElement, event: object) -> Outcome:
    if isinstance(event, Fired):
        if not element.asks_to_continue:
            return Goto(event.wait.goto)
        return ask_to_continue(ctx, element)
    if isinstance(event, Choice) and element.asks_to_continue and event.index in (0, 1):
        ctx.record_user(element.id, _labels(element, ctx.course.language)[event.index])
        if event.index == 1:
            ctx.schedule(element.duration, element.id)
            return WAIT
        return Goto(element.goto) if element.goto else NEXT
    return IGNORED


HANDLER = Handler(enter, react, ask_to_continue)
