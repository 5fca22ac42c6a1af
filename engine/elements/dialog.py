"""dialog: a conversation with the LLM.

On entry the element text is sent and becomes the first assistant message of a fresh
history (after any `conversation` seed); with `auto_start` the LLM speaks first. Each
student message is recorded, then Typing + AskLLM with the rendered system prompt. A reply
containing ``{STOP}`` or ``#конецдиалога`` ends the dialog (markers stripped, the rest sent
if non-empty), as does the reply to the `max_messages`-th student message. With
`voice_response` the replies are to be spoken (`SendText.voice`, the `tts_*` settings). A failed LLM
call sends a short apology and keeps the dialog open so the student can write again.
Presented `again`, a dialog sends its text once more and keeps the conversation as it is
(entering it would start the conversation over and, with `auto_start`, ask the model).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from engine.draft import Draft
from engine.effects import AskLLM, Record, SendText, Speech, Typing
from engine.elements.base import Handler
from engine.elements.prompt import render_prompt
from engine.events import LLMFailed, LLMReply, Text
from engine.model import DialogElement
from engine.outcomes import IGNORED, NEXT, WAIT, Outcome
from engine.state import DialogMessage
from engine.texts import Say, say

_STOP = re.compile(r"\{STOP\}|#конецдиалога", re.IGNORECASE)


def seed_history(element: DialogElement) -> tuple[DialogMessage, ...]:
    """`conversation` entries shaped like chat messages ({role, content|text}), then the text."""
    seeded: list[DialogMessage] = []
    for item in element.conversation if isinstance(element.conversation, tuple) else ():
        if isinstance(item, Mapping) and item.get("role") in ("user", "assistant"):
            content = item.get("content", item.get("text"))
            if isinstance(content, str):
                seeded.append(DialogMessage(item["role"], content))
    seeded.append(DialogMessage("assistant", element.text.strip()))
    return tuple(seeded)


def _ask(ctx: Draft, element: DialogElement) -> Outcome:
    history = _history(ctx, element)
    system = render_prompt(element.prompt, ctx.course, ctx.answers, ctx.dialogs)
    messages = (
        {"role": "system", "content": system},
        *({"role": m.role, "content": m.text} for m in history),
    )
    ctx.effects.append(Typing())
    ctx.effects.append(AskLLM(element.id, element.model, messages, element.temperature))
    ctx.begin_wait("llm")
    return WAIT


def _speech(element: DialogElement) -> Speech | None:
    if not element.voice_response:
        return None
    return Speech(element.tts_model, element.tts_voice, element.tts_speed)


def _history(ctx: Draft, element: DialogElement) -> tuple[DialogMessage, ...]:
    return ctx.dialogs.get(element.id) or seed_history(element)


def _append(ctx: Draft, element: DialogElement, message: DialogMessage) -> None:
    ctx.dialogs = ctx.dialogs.set(element.id, (*_history(ctx, element), message))


def _student_messages(messages: tuple[DialogMessage, ...]) -> int:
    return sum(1 for m in messages if m.role == "user")


def enter(ctx: Draft, element: DialogElement) -> Outcome:
    ctx.show(element, element.text)
    # The model reads the text as the student got it: names and answers put in (unescaped).
    *seeded, opening = seed_history(element)
    personal = DialogMessage("assistant", ctx.personal(opening.text, None))
    ctx.dialogs = ctx.dialogs.set(element.id, (*seeded, personal))
    if element.auto_start:
        return _ask(ctx, element)
    ctx.begin_wait("dialog")
    return WAIT


def again(ctx: Draft, element: DialogElement) -> Outcome:
    ctx.show(element, element.text)
    ctx.begin_wait("dialog")
    return WAIT


def react(ctx: Draft, element: DialogElement, event: object) -> Outcome:
    if isinstance(event, Text):
        ctx.effects.append(Record(element.id, "user", event.text, answer=True))
        _append(ctx, element, DialogMessage("user", event.text))
        return _ask(ctx, element)
    if isinstance(event, LLMFailed):
        ctx.effects.append(SendText(event.notice or say(Say.LLM_FAILED, ctx.course.language), None))
        if event.final:
            return NEXT
        ctx.begin_wait("dialog")
        return WAIT
    if not isinstance(event, LLMReply):
        return IGNORED
    stop = _STOP.search(event.text) is not None
    reply = _STOP.sub("", event.text).strip()
    if reply:
        parse_mode = "HTML" if element.parse_mode == "HTML!" else None
        link_preview = bool(element.link_preview)
        ctx.effects.append(SendText(reply, parse_mode, (), link_preview, _speech(element)))
        ctx.effects.append(Record(element.id, "bot", reply))
        _append(ctx, element, DialogMessage("assistant", reply))
    user_messages = _student_messages(_history(ctx, element)) - _student_messages(
        seed_history(element)
    )
    if stop or (element.max_messages is not None and user_messages >= element.max_messages):
        return NEXT
    ctx.begin_wait("dialog")
    return WAIT


HANDLER = Handler(enter, react, again)
