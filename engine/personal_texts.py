"""Personal texts: the student's name and earlier answers inside a course's texts.

``{first_name}`` and ``{username}`` are the student's Telegram first name and @username;
``{{Ask_Name}}`` is the student's latest answer to element ``Ask_Name`` (the same double
braces a dialog prompt uses for an element). Anything else in braces is left exactly as
written: old courses use ``{score}`` (filled in by `test`), ``{STOP}`` and plain prose in
braces, and those must reach the student as before. So only the two names in single braces
and element ids in double braces are ever replaced, and the loader warns about a name in
braces that looks meant but is neither (`names_used`).

Values are escaped for the text's parse mode, so a student called ``<b>`` or ``_x_`` is shown
as written and cannot inject markup into the teacher's text. A missing value (no username,
no answer yet) is an empty string. Substitution is one pass: a value that itself contains
``{first_name}`` is not expanded again.

Every sender (course steps, broadcasts, reminders) calls `personalize`, so the rule exists
once.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from engine.state import ScoredAnswer

#: The student's own names a text may use in single braces.
STUDENT_NAMES = ("first_name", "username")

# One pattern, one pass: {{element id}} (as in dialog prompts, without the N]/[M slices) or
# {name}, a single brace not part of a double one.
_PLACEHOLDER = re.compile(
    r"\{\{\s*(?P<element>[^\s\[\]{}]+?)\s*\}\}|(?<!\{)\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)\}(?!\})"
)
_MARKDOWN_SPECIAL = re.compile(r"([_*`\[])")


@dataclass(frozen=True, slots=True)
class Student:
    """What Telegram told us about the student (None: not known or not set)."""

    first_name: str | None = None
    username: str | None = None


@dataclass(frozen=True, slots=True)
class PersonalFacts:
    """Everything a personal text may use: the student's names and the text of their latest
    answer per element id."""

    student: Student = field(default_factory=Student)
    answers: Mapping[str, str] = field(default_factory=dict)

    def value(self, kind: Literal["name", "element"], key: str) -> str | None:
        """The value for a placeholder; None when the placeholder is not one of ours (it is
        then left as written)."""
        if kind == "element":
            return self.answers.get(key, "")
        if key == "first_name":
            return self.student.first_name or ""
        if key == "username":
            return self.student.username or ""
        return None


def facts_of(student: Student | None, answers: Mapping[str, ScoredAnswer]) -> PersonalFacts:
    """The facts of a run: the student's names and its latest answers (`RunState.answers`);
    what a broadcast or a reminder passes for a student with a run."""
    return PersonalFacts(
        student or Student(), {element_id: answer.text for element_id, answer in answers.items()}
    )


@dataclass(frozen=True, slots=True)
class NameUse:
    """A placeholder found in a text: `kind` "name" for ``{x}``, "element" for ``{{x}}``."""

    kind: Literal["name", "element"]
    key: str


def escape(value: str, parse_mode: str | None) -> str:
    """`value` shown literally under Telegram's `parse_mode` ("HTML", legacy "MARKDOWN", or
    None for plain text)."""
    if parse_mode == "HTML":
        return html.escape(value, quote=False)
    if parse_mode == "MARKDOWN":
        return _MARKDOWN_SPECIAL.sub(r"\\\1", value)
    return value


def personalize(text: str, facts: PersonalFacts, parse_mode: str | None = None) -> str:
    """`text` with the student's names and answers put in, escaped for `parse_mode`."""
    if "{" not in text:
        return text

    def substitute(match: re.Match[str]) -> str:
        element = match.group("element")
        value = (
            facts.value("element", element)
            if element is not None
            else facts.value("name", match.group("name"))
        )
        return match.group(0) if value is None else escape(value, parse_mode)

    return _PLACEHOLDER.sub(substitute, text)


def names_used(text: str) -> tuple[NameUse, ...]:
    """Every placeholder-shaped name in `text`, in order, known or not (the loader decides
    which deserve a warning)."""
    if "{" not in text:
        return ()
    return tuple(
        NameUse("element", m.group("element"))
        if m.group("element") is not None
        else NameUse("name", m.group("name"))
        for m in _PLACEHOLDER.finditer(text)
    )
