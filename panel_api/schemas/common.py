"""Shapes shared by several resources."""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field, model_validator

from panel_api.messages import invalid

T = TypeVar("T")

Name = Field(min_length=1, max_length=200)


def reject_nul(value: Any) -> Any:
    """PostgreSQL text cannot hold U+0000: refuse it up front as bad input, anywhere in a body."""
    if isinstance(value, str):
        if "\x00" in value:
            raise invalid("text_nul", "text must not contain the NUL character (\\u0000)")
    elif isinstance(value, dict):
        for key, item in value.items():
            reject_nul(key)
            reject_nul(item)
    elif isinstance(value, list):
        for item in value:
            reject_nul(item)
    return value


class StrictIn(BaseModel):
    """Request bodies refuse unknown fields (a typo like `activ` must not silently no-op)
    and NUL characters."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _no_nul(cls, data: Any) -> Any:
        return reject_nul(data)


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int
    limit: int
    offset: int


class Diagnostic(BaseModel):
    severity: str
    message: str = Field(description="What is wrong, in English")
    key: str | None = Field(
        None,
        description="The problem's stable name (courses/problem_keys.py), for a client that "
        "says it in its own words; null for a problem without one",
    )
    params: dict[str, str | int] = Field(
        default_factory=dict,
        description="The values `message` mentions, by name (`got`: what was written instead: "
        "mapping, list, nothing, boolean, number or text)",
    )
    element_id: str | None = None
    field: str | None = None
    line: int | None = Field(None, description="1-based line of the YAML (sheet row for imports)")


class ValidationFailure(BaseModel):
    detail: str
    diagnostics: list[Diagnostic]
