"""The "continue the course" button a broadcast may carry: made, put in and read here only.

The panel marks a broadcast's outbox payload (`mark`); the journal, queueing the message for
one student, puts the button in after the writer's own link buttons, in the student's
language (`put_in`). A press arrives with the callback data `resume:1` (`resume`, format 1),
which `parse` turns into the engine's `Resume` event: the run's current prompt once more
(engine/resume.py), or, with no course in progress, a notice (runtime/step_plan.py). The
data matches neither the engine's `<seq>:<index>` nor the commands' `cmd:...`; any other
`resume:` data (a format to come, a forged press) is not this button's and reaches the
engine as a plain button press, which it ignores.
"""

from __future__ import annotations

from typing import Any

from engine.effects import InlineButton
from engine.events import Resume
from runtime.effect_codec import encode_button
from runtime.student_texts import Notice, notice_text

DATA = "resume:1"
# The payload key of a marked broadcast message (never sent: `put_in` replaces it).
MARK = "continue_button"


def mark(payload: dict[str, Any]) -> dict[str, Any]:
    """A broadcast message that is to carry the button."""
    return {**payload, MARK: True}


def marked(payload: dict[str, Any]) -> bool:
    return payload.get(MARK) is True


def put_in(payload: dict[str, Any], language_code: str | None) -> dict[str, Any]:
    """The payload as it goes to one student: the mark replaced by the button, labelled in
    the student's language."""
    message = {key: value for key, value in payload.items() if key != MARK}
    if marked(payload):
        button = InlineButton(notice_text(Notice.CONTINUE_COURSE, language_code), data=DATA)
        message["buttons"] = [*message.get("buttons", ()), encode_button(button)]
    return message


def parse(data: str) -> Resume | None:
    """A press on the button; None for any other callback data."""
    return Resume() if data == DATA else None
