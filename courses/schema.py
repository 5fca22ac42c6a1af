"""Which YAML fields each element type has, what kind of value each takes, which are required.

This is the loader's reading of ELEMENTS_REFERENCE.ru.md. It is kept separate from the engine
model on purpose: the model says what a valid element *is*, the schema says how to *read*
one from text written by a person (kinds drive conversion and error messages). A unit test
checks that both name exactly the same fields, so they cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Kind(Enum):
    TEXT = "text"
    BOOL = "bool"
    PARSE_MODE = "parse_mode"
    INPUT_TYPE = "input_type"
    TEMPERATURE = "temperature"
    TTS_SPEED = "tts_speed"
    POSITIVE_INT = "positive_int"
    DURATION = "duration"
    GOTO = "goto"
    HTTPS_URL = "https_url"
    MEDIA = "media"
    ANSWERS = "answers"
    OPTIONS = "options"
    SCORE = "score"
    ANY = "any"


@dataclass(frozen=True)
class FieldSpec:
    kind: Kind
    required: bool = False


_TEXT = FieldSpec(Kind.TEXT)
_REQUIRED_TEXT = FieldSpec(Kind.TEXT, required=True)

COMMON_FIELDS: dict[str, FieldSpec] = {
    "parse_mode": FieldSpec(Kind.PARSE_MODE),
    "link_preview": FieldSpec(Kind.BOOL),
    "media": FieldSpec(Kind.MEDIA),
}

ELEMENT_FIELDS: dict[str, dict[str, FieldSpec]] = {
    "message": {
        "text": _REQUIRED_TEXT,
        "button": _TEXT,
        "options": FieldSpec(Kind.OPTIONS),
    },
    "audio": {
        "text": _TEXT,
        "media": FieldSpec(Kind.MEDIA, required=True),
    },
    "input": {
        "text": _REQUIRED_TEXT,
        "correct_answer": _TEXT,
        "feedback_correct": _TEXT,
        "feedback_incorrect": _TEXT,
        "input_type": FieldSpec(Kind.INPUT_TYPE),
    },
    "quiz": {
        "text": _REQUIRED_TEXT,
        "answers": FieldSpec(Kind.ANSWERS, required=True),
    },
    "question": {
        "text": _REQUIRED_TEXT,
        "answers": FieldSpec(Kind.ANSWERS, required=True),
    },
    "multi_choice": {
        "text": _REQUIRED_TEXT,
        "answers": FieldSpec(Kind.ANSWERS, required=True),
        "feedback_correct": _REQUIRED_TEXT,
        "feedback_partial": _REQUIRED_TEXT,
        "feedback_incorrect": _REQUIRED_TEXT,
    },
    "dialog": {
        "text": _REQUIRED_TEXT,
        "prompt": _REQUIRED_TEXT,
        "model": _TEXT,
        "temperature": FieldSpec(Kind.TEMPERATURE),
        "reasoning": FieldSpec(Kind.ANY),
        "conversation": FieldSpec(Kind.ANY),
        "transcription_language": _TEXT,
        "voice_response": FieldSpec(Kind.BOOL),
        "auto_start": FieldSpec(Kind.BOOL),
        "tts_voice": _TEXT,
        "tts_model": _TEXT,
        "tts_speed": FieldSpec(Kind.TTS_SPEED),
        "max_messages": FieldSpec(Kind.POSITIVE_INT),
    },
    "miniapp": {
        "text": _REQUIRED_TEXT,
        "button": _REQUIRED_TEXT,
        "app_url": FieldSpec(Kind.HTTPS_URL, required=True),
        "question": FieldSpec(Kind.ANY, required=True),
    },
    "test": {
        "text": _REQUIRED_TEXT,
        "prefix": _REQUIRED_TEXT,
        "score": FieldSpec(Kind.SCORE, required=True),
        "button": _TEXT,
    },
    "jump": {
        "text": _REQUIRED_TEXT,
        "options": FieldSpec(Kind.OPTIONS),
    },
    "revision": {
        "text": _REQUIRED_TEXT,
        "prefix": _REQUIRED_TEXT,
        "no_mistakes": _REQUIRED_TEXT,
        "button": _TEXT,
    },
    # `wait` is required unless the legacy `continue` form is used: checked by the loader.
    "delay": {
        "text": _TEXT,
        "wait": FieldSpec(Kind.DURATION),
        "goto": FieldSpec(Kind.GOTO),
        "continue": _TEXT,
        "yes_text": _TEXT,
        "no_text": _TEXT,
    },
    "end": {"text": _TEXT},
    "section": {"title": _REQUIRED_TEXT},
}


def fields_of(element_type: str) -> dict[str, FieldSpec]:
    """All fields of a type: its own, then the common ones (own specs win, e.g. audio media)."""
    own = ELEMENT_FIELDS[element_type]
    return {**own, **{k: v for k, v in COMMON_FIELDS.items() if k not in own}}


ANSWER_FIELDS = ("text", "correct", "feedback")
OPTION_FIELDS = ("text", "goto", "wait", "wait_text")
