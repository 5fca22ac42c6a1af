"""What reminders and teacher notifications say, in Russian and English.

A reminder's words are the teacher's own (the rule's text) and a broadcast's the writer's;
`reminder_message` and `broadcast_payload` are where they become a student's message, with
the student's names and earlier answers put in (engine/personal_texts.py, the rule every
course text follows too) and a broadcast's "continue the course" button in the student's
language (runtime/resume_button.py). A member's notices are the bot's own words,
in the member's panel language (Russian unless it is clearly not).
"""

from __future__ import annotations

import json
from typing import Any

from engine.effects import SendText
from engine.personal_texts import PersonalFacts, personalize
from runtime import effect_codec, resume_button
from runtime.student_texts import bot_language
from storage.teacher_notices import FAILED, FINISHED, STUCK, Digest, StudentEvent

# Names a digest lists per line before it says "and N more".
DIGEST_NAMES = 10


def reminder_message(rule_text: str, facts: PersonalFacts) -> dict[str, Any]:
    """The outbox payload of a nudge with the rule's text, the student's names and answers
    put in (plain text: nothing to escape)."""
    return effect_codec.encode(SendText(personalize(rule_text, facts), None))


def broadcast_payload(message: str, facts: PersonalFacts, language_code: str | None) -> str:
    """A broadcast's outbox payload (JSON text) as one student gets it: their names and
    answers put into its text, escaped for the payload's parse mode, and the "continue the
    course" button, if it has one, in their language."""
    payload = resume_button.put_in(json.loads(message), language_code)
    for key in ("text", "caption"):
        if isinstance(payload.get(key), str):
            payload[key] = personalize(payload[key], facts, payload.get("parse_mode"))
    return json.dumps(payload, ensure_ascii=False)


def member_message(text: str) -> dict[str, Any]:
    """The outbox payload of a message to a member (plain text: names are the students')."""
    return effect_codec.encode(SendText(text, None, link_preview=False))


_TEXTS: dict[str, dict[str, str]] = {
    FINISHED: {
        "ru": "✅ {student} прошёл(а) курс «{course}».",
        "en": "✅ {student} finished the course “{course}”.",
    },
    FAILED: {
        "ru": "⚠️ {student} набрал(а) {percent}% в тесте курса «{course}» — ниже вашего порога.",
        "en": "⚠️ {student} scored {percent}% in a test of “{course}”, below your threshold.",
    },
    STUCK: {
        "ru": "⏸ {student} давно не отвечает в курсе «{course}».",
        "en": "⏸ {student} has not answered for a long time in “{course}”.",
    },
    "digest": {
        "ru": "Сводка за сутки по курсу «{course}»",
        "en": "Daily summary of “{course}”",
    },
    "digest_finished": {"ru": "Прошли курс: {count}", "en": "Finished: {count}"},
    "digest_failed": {"ru": "Не сдали тест: {count}", "en": "Failed a test: {count}"},
    "digest_stuck": {"ru": "Застряли сейчас: {count}", "en": "Stuck now: {count}"},
    "more": {"ru": "и ещё {count}", "en": "and {count} more"},
}


def _t(key: str, language: str | None, **values: object) -> str:
    return _TEXTS[key][bot_language(language)].format(**values)


def event_text(event: StudentEvent, course: str, language: str | None) -> str:
    percent = f"{event.percent:.0f}" if event.percent is not None else ""
    return _t(event.kind, language, student=event.student, course=course, percent=percent)


def digest_text(digest: Digest, course: str, language: str | None) -> str:
    lines = [_t("digest", language, course=course)]
    for key, names in (
        ("digest_finished", digest.finished),
        ("digest_failed", digest.failed),
        ("digest_stuck", digest.stuck),
    ):
        line = _t(key, language, count=len(names))
        if names:
            shown = ", ".join(names[:DIGEST_NAMES])
            if len(names) > DIGEST_NAMES:
                shown += " " + _t("more", language, count=len(names) - DIGEST_NAMES)
            line += f" — {shown}"
        lines.append(line)
    return "\n".join(lines)
