"""Words for people, before they are put into a language.

A refusal is made deep down (a service, a rule, a schema validator) where nobody knows who
reads it. So it carries a `Message`: a catalog key (panel_api/web/i18n/{en,ru}.json) with its
parameters, and plain English for API clients and for a key a catalog lacks. A page says it
in the reader's language (`Translator.say`); the API answers the English.

- `ApiError(..., key="...", **params)` (panel_api/errors.py) for refusals of services.
- `invalid("<type>", "English", **params)` inside a pydantic validator: pydantic keeps `type`,
  and a page shows the catalog's `problem.<type>` (pydantic's own types have keys there too).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic_core import PydanticCustomError


@dataclass(frozen=True)
class Message:
    """`key` in the catalogs with `params` (which may be Messages themselves, e.g. a field's
    label), or `fallback` words when there is no key."""

    key: str | None
    params: Mapping[str, Any] = field(default_factory=dict)
    fallback: str = ""


def invalid(error_type: str, english: str, **params: Any) -> PydanticCustomError:
    """A validator's refusal: `raise invalid("help_text_blank", "help text must not be blank")`.
    Pages say `problem.<error_type>` in their language; `english` is the API's words."""
    return PydanticCustomError(error_type, english, params)
