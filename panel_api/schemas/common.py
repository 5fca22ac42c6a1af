"""Shapes shared by several resources."""

from __future__ import annotations

from typing import Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

T = TypeVar("T")

Name = Field(min_length=1, max_length=200)


class StrictIn(BaseModel):
    """Request bodies refuse unknown fields: a typo like `activ` must not silently no-op."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int
    limit: int
    offset: int


class Diagnostic(BaseModel):
    severity: str
    message: str
    element_id: str | None = None
    field: str | None = None
    line: int | None = Field(None, description="1-based line of the YAML (sheet row for imports)")


class ValidationFailure(BaseModel):
    detail: str
    diagnostics: list[Diagnostic]
