"""audio: audio file(s) with the text as caption (or as a separate message when
`link_preview: no`, since captions cannot control previews); never waits, unscored."""

from __future__ import annotations

from engine.draft import Draft, sendable_media, text_parse_mode
from engine.effects import Record, SendAudio
from engine.elements.base import Handler, never_reacts
from engine.model import AudioElement
from engine.outcomes import NEXT, Outcome


def enter(ctx: Draft, element: AudioElement) -> Outcome:
    urls = sendable_media(element.media)
    text = element.text
    if not urls:
        if text:
            ctx.say(element, text)
        return NEXT
    if text and element.link_preview is False:
        ctx.say(element, text)
        ctx.effects.append(SendAudio(urls, None, text_parse_mode(element)))
    else:
        ctx.effects.append(SendAudio(urls, text, text_parse_mode(element)))
        ctx.effects.append(Record(element.id, "bot", text or "\n".join(urls)))
    return NEXT


HANDLER = Handler(enter, never_reacts)
