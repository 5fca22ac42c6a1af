"""miniapp: text with a Web App button opening ``app_url?question=<element id>``.

`WebAppData` from the app records the data and goes on. Telegram only delivers web-app
data for apps opened from a reply keyboard, not from an inline button, so the message also
carries a "Продолжить" callback button: the student is never stuck if the app cannot
report back. Text typed meanwhile gets a hint pointing at both buttons.
"""

from __future__ import annotations

from urllib.parse import quote

from engine.draft import Draft, callback
from engine.effects import InlineButton
from engine.elements.base import Handler
from engine.events import WebAppData
from engine.model import MiniappElement
from engine.outcomes import IGNORED, NEXT, WAIT, Choice, Outcome
from engine.texts import Say, say


def app_url(element: MiniappElement) -> str:
    separator = "&" if "?" in element.app_url else "?"
    return f"{element.app_url}{separator}question={quote(element.id, safe='')}"


def enter(ctx: Draft, element: MiniappElement) -> Outcome:
    seq = ctx.begin_wait("webapp")
    buttons = (
        InlineButton(element.button, web_app_url=app_url(element)),
        InlineButton(say(Say.MINIAPP_CONTINUE, ctx.course.language), callback(seq, 0)),
    )
    ctx.show(element, element.text, buttons)
    return WAIT


def react(ctx: Draft, element: MiniappElement, event: object) -> Outcome:
    if isinstance(event, WebAppData):
        ctx.answer(element.id, event.data)
        return NEXT
    if isinstance(event, Choice) and event.index == 0:
        ctx.record_user(element.id, say(Say.MINIAPP_CONTINUE, ctx.course.language))
        return NEXT
    return IGNORED


HANDLER = Handler(enter, react)
