"""Typed readers for the fields of an element, each reporting problems as diagnostics.

Readers return the converted value, or INVALID after reporting an error; the caller only
builds the element model when no reader failed. Legacy spellings are accepted here (yes/no
in quotes, a single media URL without a list) so the rest of the loader sees clean values.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from enum import Enum
from typing import Any, Final
from urllib.parse import urlsplit

from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from courses.diagnostics import DiagnosticSink
from courses.limits import MAX_WAIT
from courses.problem_keys import Problem
from courses.yaml_source import (
    TAG_BOOL,
    TAG_FLOAT,
    TAG_INT,
    TAG_NULL,
    Entry,
    kind_key,
    line_of,
    node_kind,
    scalar_value,
    shorten,
)
from engine.model import parse_duration


class _Invalid(Enum):
    """A field that could not be read (its error is already reported). One enum member, so
    that `value is INVALID` narrows the reader's `T | _Invalid` to `T` for the type checker."""

    INVALID = "INVALID"

    def __repr__(self) -> str:
        return "INVALID"


INVALID: Final = _Invalid.INVALID

_TRUE_WORDS = {"yes", "true", "on", "y"}
_FALSE_WORDS = {"no", "false", "off", "n"}
PARSE_MODES = ("HTML", "MARKDOWN", "HTML!")
_DIGITS = re.compile(r"[0-9]+")
_NON_ASCII = re.compile(r"[^\x00-\x7f]")


def is_null(node: Node) -> bool:
    return isinstance(node, ScalarNode) and node.tag == TAG_NULL


def looks_like_url(value: str) -> bool:
    try:
        parts = urlsplit(value.strip())
    except ValueError:  # e.g. "http://[oops": an unbalanced IPv6 bracket
        return False
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def words_after_url(value: str) -> str | None:
    """The words glued onto a link, if any: editors paste a link and keep typing
    (`...usp=drive_linkВ учительской...`). A link has no spaces, and its query has no
    letters outside ASCII (an address's path may: wiki links are pasted that way)."""
    text = value.strip()
    space = re.search(r"\s", text)
    query_start = text.find("?")
    foreign = _NON_ASCII.search(text, query_start) if query_start >= 0 else None
    cuts = [m.start() for m in (space, foreign) if m is not None]
    return text[min(cuts) :].strip() if cuts else None


def is_whole_number(text: str) -> bool:
    """ASCII digits only: str.isdigit() also accepts "²", which int() then rejects."""
    return bool(_DIGITS.fullmatch(text))


class FieldReader:
    """Reads the fields of one element; every message names that element and the field."""

    def __init__(
        self,
        sink: DiagnosticSink,
        element_id: str,
        *,
        field: str | None = None,
        label: str = "",
        where: Mapping[str, str | int] | None = None,
        failed: set[str] | None = None,
    ) -> None:
        self.sink = sink
        self.element_id = element_id
        self._field = field
        self._prefix = f"{label}: " if label else ""
        self._where = dict(where or {})
        self.failed: set[str] = set() if failed is None else failed
        """Fields of this element that already have an error (shared with nested readers)."""

    @property
    def field_name(self) -> str | None:
        """The element field a nested reader reports under (None for a top-level reader)."""
        return self._field

    def within(self, field: str, label: str, **where: str | int) -> FieldReader:
        """A reader for a value nested in element field `field` (e.g. one answer's
        `correct`): problems are reported under `field`, their message prefixed by `label`,
        and `where` (`in_part`, `in_position`, `in_field`: e.g. answer, 2, correct) joins
        their parameters so a page can say the same place in its own words."""
        return FieldReader(
            self.sink,
            self.element_id,
            field=field,
            label=label,
            where=where,
            failed=self.failed,
        )

    def error(
        self,
        message: str,
        field: str | None,
        line: int | None,
        key: Problem | None = None,
        **params: str | int,
    ) -> _Invalid:
        field = self._field or field
        self.sink.error(
            self._prefix + message,
            key=key,
            params={**self._where, **params},
            element_id=self.element_id,
            field=field,
            line=line,
        )
        if field is not None:
            self.failed.add(field)
        return INVALID

    def warning(
        self,
        message: str,
        field: str | None,
        line: int | None,
        key: Problem | None = None,
        **params: str | int,
    ) -> None:
        self.sink.warning(
            self._prefix + message,
            key=key,
            params={**self._where, **params},
            element_id=self.element_id,
            field=self._field or field,
            line=line,
        )

    # scalars -----------------------------------------------------------------------------

    def text(self, entry: Entry) -> str | _Invalid:
        """Any scalar as written: `text: 8` is "8" and `text: yes` is "yes", not True."""
        node = entry.node
        if not isinstance(node, ScalarNode) or node.tag == TAG_NULL:
            return self.error(
                f"expected text, got {node_kind(node)}",
                entry.key,
                entry.line,
                Problem.EXPECTED_TEXT,
                got=kind_key(node),
            )
        written: str = node.value  # a scalar's value is its text
        if not written.strip():
            return self.error("must not be empty", entry.key, entry.line, Problem.EMPTY)
        return written

    def boolean(self, entry: Entry) -> bool | _Invalid:
        node = entry.node
        if isinstance(node, ScalarNode):
            if node.tag == TAG_BOOL:
                return bool(scalar_value(node))
            word = node.value.strip().lower()
            if word in _TRUE_WORDS:
                return True
            if word in _FALSE_WORDS:
                return False
        return self.error(
            f"expected yes or no, got {node_kind(node)}",
            entry.key,
            entry.line,
            Problem.EXPECTED_YES_NO,
            got=kind_key(node),
        )

    def number(self, entry: Entry, low: float, high: float) -> float | _Invalid:
        node = entry.node
        value: Any = None
        if isinstance(node, ScalarNode) and node.tag in (TAG_INT, TAG_FLOAT):
            value = scalar_value(node)
        elif isinstance(node, ScalarNode) and node.tag != TAG_NULL:
            try:
                value = float(node.value)
            except ValueError:
                value = None
        if not isinstance(value, int | float) or isinstance(value, bool):
            return self.error(
                f"expected a number, got {node_kind(node)}",
                entry.key,
                entry.line,
                Problem.EXPECTED_NUMBER,
                got=kind_key(node),
            )
        if not low <= value <= high:
            return self.error(
                f"must be between {low:g} and {high:g}, got {value:g}",
                entry.key,
                entry.line,
                Problem.OUT_OF_RANGE,
                low=f"{low:g}",
                high=f"{high:g}",
                value=f"{value:g}",
            )
        return float(value)

    def positive_int(self, entry: Entry) -> int | _Invalid:
        node = entry.node
        value = scalar_value(node) if isinstance(node, ScalarNode) else None
        if isinstance(value, str) and is_whole_number(value.strip()):
            value = int(value)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            return self.error(
                f"expected a whole number of at least 1, got {node_kind(node)}",
                entry.key,
                entry.line,
                Problem.EXPECTED_POSITIVE_WHOLE,
                got=kind_key(node),
            )
        return value

    def choice(self, entry: Entry, allowed: tuple[str, ...]) -> str | _Invalid:
        """One of fixed words, case-insensitive; returned in its canonical spelling."""
        node = entry.node
        if isinstance(node, ScalarNode) and node.tag != TAG_NULL:
            for option in allowed:
                if node.value.strip().upper() == option.upper():
                    return option
        allowed_text = ", ".join(allowed)
        return self.error(
            f"must be one of {allowed_text}; got {node_kind(node)}",
            entry.key,
            entry.line,
            Problem.NOT_ONE_OF,
            allowed=allowed_text,
        )

    def duration(self, entry: Entry) -> str | _Invalid:
        """A wait like `1d:2h:3m:4s`, kept as written and checked with the engine's parser.

        Read from the raw scalar: YAML 1.1 would turn `1:30` into the number 90.
        """
        node = entry.node
        if not isinstance(node, ScalarNode) or node.tag == TAG_NULL:
            return self.error(
                f"expected a duration like 1d:2h:3m:4s, got {node_kind(node)}",
                entry.key,
                entry.line,
                Problem.EXPECTED_DURATION,
                got=kind_key(node),
            )
        written: str = node.value
        try:
            duration = parse_duration(written)
        except ValueError as exc:
            return self.error(
                str(exc), entry.key, entry.line, Problem.BAD_DURATION, value=shorten(written)
            )
        except OverflowError:  # more days than a timedelta holds
            duration = None
        if duration is None or duration > MAX_WAIT:
            return self.error(
                f"wait {shorten(written)!r} is longer than the maximum of {MAX_WAIT.days}d",
                entry.key,
                entry.line,
                Problem.WAIT_TOO_LONG,
                value=shorten(written),
                count=MAX_WAIT.days,
            )
        return written

    def https_url(self, entry: Entry) -> str | _Invalid:
        """Telegram opens mini apps only from https:// links."""
        value = self.text(entry)
        if isinstance(value, _Invalid):
            return value
        if not (looks_like_url(value) and value.strip().lower().startswith("https://")):
            return self.error(
                f"expected an https:// URL (Telegram opens mini apps only over HTTPS), "
                f"got {shorten(value)!r}",
                entry.key,
                entry.line,
                Problem.EXPECTED_HTTPS,
                value=shorten(value),
            )
        return value.strip()

    # lists and mappings ------------------------------------------------------------------

    def media(self, entry: Entry) -> tuple[str, ...] | _Invalid:
        """Media URLs; entries that are not URLs load (legacy files have them) with a warning."""
        node = entry.node
        if isinstance(node, ScalarNode) and node.tag != TAG_NULL:
            items: list[Node] = [node]
        elif isinstance(node, SequenceNode):
            items = list(node.value)
        else:
            return self.error(
                f"expected a list of URLs, got {node_kind(node)}",
                entry.key,
                entry.line,
                Problem.EXPECTED_URL_LIST,
                got=kind_key(node),
            )
        urls: list[str] = []
        for item in items:
            if not isinstance(item, ScalarNode) or item.tag == TAG_NULL:
                return self.error(
                    f"each media entry must be a URL, got {node_kind(item)}",
                    entry.key,
                    line_of(item),
                    Problem.MEDIA_NOT_URL,
                    got=kind_key(item),
                )
            if not looks_like_url(item.value):
                self.warning(
                    f"media entry {item.value!r} is not an http(s) URL; Telegram will reject it",
                    entry.key,
                    line_of(item),
                    Problem.MEDIA_NOT_HTTP,
                    value=shorten(item.value, 60),
                )
            elif (words := words_after_url(item.value)) is not None:
                self.warning(
                    f"media entry {shorten(item.value, 60)!r} has words after the link "
                    f"({shorten(words)!r}); Telegram will reject it: keep only the link here "
                    "and put the words in the text",
                    entry.key,
                    line_of(item),
                    Problem.MEDIA_WORDS_AFTER_LINK,
                    value=shorten(item.value, 60),
                    words=shorten(words),
                )
            urls.append(item.value)
        return tuple(urls)

    def sequence_of_mappings(
        self, entry: Entry, item_name: str
    ) -> tuple[list[tuple[int, MappingNode]], bool] | _Invalid:
        """The mapping items of a list with their 1-based positions, and whether every item
        was a mapping (others are reported and skipped, so the rest still get checked)."""
        node = entry.node
        if not isinstance(node, SequenceNode):
            return self.error(
                f"expected a list of {item_name}s, got {node_kind(node)}",
                entry.key,
                entry.line,
                Problem.EXPECTED_LIST,
                got=kind_key(node),
            )
        items: list[tuple[int, MappingNode]] = []
        for position, item in enumerate(node.value, start=1):
            if isinstance(item, MappingNode):
                items.append((position, item))
            else:
                self.error(
                    f"{item_name} {position} must be a mapping with at least 'text', "
                    f"got {node_kind(item)}",
                    entry.key,
                    line_of(item),
                    Problem.LIST_ITEM_NOT_MAPPING,
                    position=position,
                    got=kind_key(item),
                )
        return items, len(items) == len(node.value)
