"""Words for people, before they are put into a language.

A refusal is made deep down (a service, a rule, a schema validator) where nobody knows who
reads it. So it carries a `Message`: a catalog key (panel_api/web/i18n/{en,ru}.json) with its
parameters, and plain English for API clients and for a key a catalog lacks. A page says it
in the reader's language (`Translator.say`); the API answers the English.

- `ApiError(..., key="...", **params)` (panel_api/errors.py) for refusals of services.
- `invalid("<type>", "English", **params)` inside a pydantic validator: pydantic keeps `type`,
  and a page shows the catalog's `problem.<type>` (pydantic's own types have keys there too,
  `validation_problem`).
"""

from __future__ import annotations

from collections.abc import Container, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, get_args

from pydantic_core import ErrorDetails, PydanticCustomError
from pydantic_core.core_schema import ErrorType

from courses.problem_keys import KIND_PARAM


@dataclass(frozen=True)
class Message:
    """`key` in the catalogs with `params` (which may be Messages themselves, e.g. a field's
    label), or `fallback` words when there is no key."""

    key: str | None
    params: Mapping[str, Any] = field(default_factory=dict)
    fallback: str = ""


def course_problem(key: str | None, params: Mapping[str, Any], english: str) -> Message:
    """A problem of a course source (a loader diagnostic's key, params and English message)
    as page words: `course_problem.<key>`, where what was written instead (`got`) is a word
    of the catalogs too. A problem without a key keeps its English."""
    if key is None:
        return Message(None, fallback=english)
    shown = {
        name: Message(f"course_problem.kind.{value}") if name == KIND_PARAM else value
        for name, value in params.items()
        if not name.startswith("in_")
    }
    problem = Message(f"course_problem.{key}", shown, english)
    if "in_part" not in params:
        return problem
    part = Message(f"course_problem.part.{params['in_part']}", {"position": params["in_position"]})
    if "in_field" in params:
        place = {"part": part, "field": params["in_field"], "problem": problem}
        return Message("course_problem.in_part_field", place, english)
    return Message("course_problem.in_part", {"part": part, "problem": problem}, english)


def invalid(error_type: str, english: str, **params: Any) -> PydanticCustomError:
    """A validator's refusal: `raise invalid("help_text_blank", "help text must not be blank")`.
    Pages say `problem.<error_type>` in their language; `english` is the API's words."""
    return PydanticCustomError(error_type, english, params)


_LENGTH_TYPES = {"string_too_short", "string_too_long", "too_short", "too_long"}
_PYDANTIC_TYPES = frozenset(get_args(ErrorType))


def validation_problem(
    error: ErrorDetails, known: Container[str], *, labelled: bool = True
) -> Message:
    """One pydantic error in plain words: `<field's label>: <what is wrong>` on a page, just
    what is wrong for the API (whose `loc` names the field).

    The problem is found by the error's `type` (`problem.<type>`: pydantic's own, and ours
    raised with `invalid`); a pattern says what the field allows (`pattern.<field>`). A field
    with no label of its own is "this field". `known` is the catalog's keys. A page never
    shows pydantic's English (an unknown type is a generic "not accepted"); the API keeps
    the English of our own validators, which is already plain."""
    names = [str(part) for part in error.get("loc", ()) if isinstance(part, str) and part != "body"]
    path, name = ".".join(names), names[-1] if names else None
    kind = error["type"]
    params: dict[str, object] = {
        k: str(v) if isinstance(v, Decimal) else v
        for k, v in (error.get("ctx") or {}).items()
        if isinstance(v, (str, int, float, Decimal))
    }
    if kind in _LENGTH_TYPES:
        params["count"] = params.get("min_length", params.get("max_length"))
    if not labelled and (kind not in _PYDANTIC_TYPES or kind == "value_error"):
        return Message(None, fallback=str(error.get("msg", "")).removeprefix("Value error, "))
    if kind == "string_too_short" and params["count"] == 1:
        key = "problem.empty"
    elif kind == "string_pattern_mismatch" and f"pattern.{name}" in known:
        key = f"pattern.{name}"
    elif f"problem.{kind}" in known:
        key = f"problem.{kind}"
    else:
        key = "problem.other"
    problem = Message(key, params, str(error.get("msg", "")))
    if name is None or not labelled:
        return problem
    label = next((f"field.{n}" for n in (path, name) if f"field.{n}" in known), "field.generic")
    return Message("problem.in_field", {"field": Message(label), "problem": problem})
