"""Sending a poll and reading its answer, shared by quiz, question and multi_choice."""

from __future__ import annotations

from typing import Literal

from engine.draft import Draft, sendable_media, text_parse_mode
from engine.effects import Record, SendMedia, SendPoll
from engine.events import PollAnswer
from engine.model import MultiChoiceElement, QuestionElement, QuizElement
from engine.outcomes import WAIT, Outcome

PollElement = QuizElement | QuestionElement | MultiChoiceElement


def send_poll(
    ctx: Draft,
    element: PollElement,
    kind: Literal["quiz", "regular"],
    correct_option_ids: tuple[int, ...] = (),
    multiple: bool = False,
) -> Outcome:
    """Media first (a poll cannot carry any), then the poll; wait for its answer."""
    media = sendable_media(element.media)
    if media:
        ctx.effects.append(SendMedia(media, None, text_parse_mode(element)))
    seq = ctx.begin_wait("poll")
    ctx.poll_ref = f"p{seq}"
    question = element.text.strip()
    options = tuple(answer.text for answer in element.answers)
    ctx.effects.append(
        SendPoll(ctx.poll_ref, question, options, kind, correct_option_ids, multiple)
    )
    ctx.effects.append(Record(element.id, "bot", question))
    return WAIT


def chosen(element: PollElement, event: object) -> tuple[int, ...]:
    """Valid, distinct option indexes of a poll answer in option order (empty if none)."""
    if not isinstance(event, PollAnswer):
        return ()
    count = len(element.answers)
    return tuple(sorted({i for i in event.option_ids if 0 <= i < count}))
