"""Dialog system prompt variables.

``{{id}}`` is the whole history of element `id`, ``{{N]id}}`` its first N messages,
``{{id[M}}`` its last M. An element's history is its own text (as the assistant) followed
by the student's latest answer, or -- for a dialog -- the conversation of its latest visit.
Each message is rendered as ``assistant: ...`` / ``user: ...``, messages separated by a
blank line. A reference to an id that is not in the course renders as an empty string
(the loader warns about it).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from engine.model import Course, DialogElement
from engine.state import DialogMessage, ScoredAnswer

_VARIABLE = re.compile(r"\{\{\s*(?:(\d+)\s*\]\s*)?([^\s\[\]{}]+?)\s*(?:\[\s*(\d+)\s*)?\}\}")


def element_history(
    course: Course,
    answers: Mapping[str, ScoredAnswer],
    dialogs: Mapping[str, tuple[DialogMessage, ...]],
    element_id: str,
) -> tuple[DialogMessage, ...]:
    element = course.get(element_id)
    text = getattr(element, "text", None)
    if isinstance(element, DialogElement) and element_id in dialogs:
        return dialogs[element_id]
    history = [DialogMessage("assistant", text.strip())] if text else []
    answer = answers.get(element_id)
    if answer is not None:
        history.append(DialogMessage("user", answer.text))
    return tuple(history)


def render_prompt(
    template: str,
    course: Course,
    answers: Mapping[str, ScoredAnswer],
    dialogs: Mapping[str, tuple[DialogMessage, ...]],
) -> str:
    def substitute(match: re.Match[str]) -> str:
        first, element_id, last = match.groups()
        if element_id not in course:
            return ""
        history = element_history(course, answers, dialogs, element_id)
        if first is not None:
            history = history[: int(first)]
        if last is not None:
            history = history[-int(last) :] if int(last) else ()
        return "\n\n".join(f"{m.role}: {m.text}" for m in history)

    return _VARIABLE.sub(substitute, template)
