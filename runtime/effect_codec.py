"""JSON form of the engine's outgoing effects, for the durable outbox.

Effects that talk to the student are written to the outbox in the same transaction as the
run state; a crash between commit and send then replays them instead of losing them.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from engine.effects import (
    AskLLM,
    InlineButton,
    SendAudio,
    SendMedia,
    SendPoll,
    SendText,
    Speech,
    Typing,
)


@dataclass(frozen=True, slots=True)
class TranscribeVoice:
    """Adapter-side job, not an engine effect: turn a student's voice message into text and
    feed it to the run as `Voice(transcript)`; queued in the outbox so slow speech-to-text
    never runs inside a database transaction and survives a crash."""

    file_id: str
    language: str | None = None


@dataclass(frozen=True, slots=True)
class OfferPayment:
    """Adapter-side job: create a checkout for a paid deployment and send its link."""

    deployment_id: int
    telegram_user_id: int
    token_id: int | None
    language_code: str | None = None


OutgoingEffect = (
    SendText | SendMedia | SendAudio | SendPoll | AskLLM | Typing | TranscribeVoice | OfferPayment
)

_KINDS: dict[str, type[OutgoingEffect]] = {
    cls.__name__: cls
    for cls in (
        SendText,
        SendMedia,
        SendAudio,
        SendPoll,
        AskLLM,
        Typing,
        TranscribeVoice,
        OfferPayment,
    )
}


def is_outgoing(effect: object) -> bool:
    """True for effects the adapter executes after commit (sends, typing, LLM calls)."""
    return isinstance(effect, tuple(_KINDS.values()))


# Field names per kind, read once: `dataclasses.asdict` deep-copies every value and was the
# larger part of queueing a message (docs/benchmarks.md).
_FIELDS: dict[type, tuple[str, ...]] = {
    cls: tuple(f.name for f in fields(cls)) for cls in _KINDS.values()
}
_BUTTON_FIELDS = tuple(f.name for f in fields(InlineButton))


def encode(effect: OutgoingEffect) -> dict[str, Any]:
    """The effect as JSON-ready values (tuples stay tuples; JSON writes them as arrays)."""
    payload: dict[str, Any] = {"effect": type(effect).__name__}
    for name in _FIELDS[type(effect)]:
        value = getattr(effect, name)
        if name == "buttons":
            value = [encode_button(button) for button in value]
        elif name == "voice":
            if value is None:
                continue  # most texts: the payload stays as it was before voices
            value = {"model": value.model, "voice": value.voice, "speed": value.speed}
        payload[name] = value
    return payload


# An outbox payload with this key true is a broadcast's message: delivery sends it in the
# sender's bulk lane, after course traffic (adapters/telegram/sender.py).
BULK = "bulk"


def encode_bulk(effect: SendText | SendMedia) -> dict[str, Any]:
    return {**encode(effect), BULK: True}


def is_bulk(payload: dict[str, Any]) -> bool:
    return payload.get(BULK) is True


def encode_button(button: InlineButton) -> dict[str, str | None]:
    return {name: getattr(button, name) for name in _BUTTON_FIELDS}


def decode(payload: dict[str, Any]) -> OutgoingEffect:
    fields = dict(payload)
    fields.pop(BULK, None)
    cls = _KINDS[fields.pop("effect")]
    if "buttons" in fields:
        fields["buttons"] = tuple(InlineButton(**b) for b in fields["buttons"])
    if fields.get("voice") is not None:
        fields["voice"] = Speech(**fields["voice"])
    for name in ("urls", "options", "correct_option_ids", "messages"):
        if name in fields:
            fields[name] = tuple(fields[name])
    return cls(**fields)
