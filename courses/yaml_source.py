"""Line-aware reading of a course's YAML text.

We work on PyYAML *nodes* (yaml.compose), not on constructed Python objects, because nodes keep
the line of every key and value: that is what lets a diagnostic say "line 12" instead of
"somewhere in Vocab_1". Nodes also keep the scalar exactly as written, so `text: 007` stays
"007" and `text: Yes` stays "Yes" instead of becoming an int or a bool.

Everything here turns bad input into diagnostics; nothing raises to the caller.
"""

from __future__ import annotations

import contextlib
import math
import re
from dataclasses import dataclass
from typing import Any

import yaml
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from courses.diagnostics import DiagnosticSink
from courses.limits import MAX_EXPANDED_NODES, MAX_NESTING, MAX_SOURCE_BYTES
from courses.problem_keys import Problem

TAG_NULL = "tag:yaml.org,2002:null"
TAG_BOOL = "tag:yaml.org,2002:bool"
TAG_INT = "tag:yaml.org,2002:int"
TAG_FLOAT = "tag:yaml.org,2002:float"
TAG_MERGE = "tag:yaml.org,2002:merge"


@dataclass(frozen=True)
class Entry:
    """One `key: value` pair of a mapping, with the line of its key."""

    key: str
    line: int
    node: Node


def line_of(node: Node) -> int:
    return node.start_mark.line + 1


def kind_key(node: Node) -> str:
    """What a node is, as a word a page translates (`course_problem.kind.<word>`)."""
    if isinstance(node, MappingNode):
        return "mapping"
    if isinstance(node, SequenceNode):
        return "list"
    if node.tag == TAG_NULL:
        return "nothing"
    if node.tag == TAG_BOOL:
        return "boolean"
    if node.tag in (TAG_INT, TAG_FLOAT):
        return "number"
    return "text"


def node_kind(node: Node) -> str:
    """A user-facing name for what a node is, for "expected X, got Y" messages."""
    if isinstance(node, MappingNode):
        return "a mapping"
    if isinstance(node, SequenceNode):
        return "a list"
    if node.tag == TAG_NULL:
        return "nothing"
    if node.tag == TAG_BOOL:
        return f"the boolean {node.value!r}"
    if node.tag in (TAG_INT, TAG_FLOAT):
        return f"the number {node.value}"
    return f"the text {shorten(node.value)!r}"


def shorten(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def compose(text: str, sink: DiagnosticSink) -> Node | None:
    """Parse `text` into a node tree, or report why it cannot be parsed and return None."""
    size = len(text.encode("utf-8", errors="replace"))
    if size > MAX_SOURCE_BYTES:
        report_too_large(sink, size)
        return None
    try:
        root = _parse_tree(text)
    except _TooDeep:
        _report_too_deep(sink)
        return None
    except yaml.MarkedYAMLError as exc:
        _report_syntax_error(exc, sink)
        return None
    except yaml.reader.ReaderError as exc:  # control characters, bad encoding
        line = text.count("\n", 0, max(exc.position, 0)) + 1
        char = (
            exc.character if isinstance(exc.character, int) else ord(str(exc.character)[:1] or "?")
        )
        sink.error(
            f"not valid YAML: character U+{char:04X} is not allowed ({exc.reason})",
            key=Problem.BAD_CHARACTER,
            params={"char": f"U+{char:04X}"},
            line=line,
        )
        return None
    except yaml.YAMLError as exc:
        sink.error(f"not valid YAML: {exc}", key=Problem.NOT_YAML)
        return None
    if root is None:
        sink.error(
            "file is empty: a course is a mapping of element id -> element", key=Problem.EMPTY_FILE
        )
        return None
    if not _expansion_ok(root, sink):
        return None
    return root


def _report_too_deep(sink: DiagnosticSink) -> None:
    sink.error(
        f"not valid for a course: nesting is deeper than {MAX_NESTING} levels",
        key=Problem.TOO_DEEP,
        params={"count": MAX_NESTING},
    )


class _TooDeep(Exception):
    pass


def _parse_tree(text: str) -> Node | None:
    """Compose with libyaml when available (about 5x faster), else with pure PyYAML.

    libyaml's composer recurses in C and crashes the process on very deep nesting, so the
    depth is checked first on the (iterative) event stream. On a syntax error the pure
    parser runs again: its messages are clearer (it names a tab as a tab, for instance).
    """
    fast = getattr(yaml, "CSafeLoader", None)
    if fast is not None:
        try:
            _check_depth(text, fast)
            return yaml.compose(text, Loader=fast)
        except yaml.YAMLError:
            pass
    _check_depth(text, yaml.SafeLoader)
    return yaml.compose(text, Loader=yaml.SafeLoader)


def _check_depth(text: str, loader: type) -> None:
    depth = 0
    for event in yaml.parse(text, Loader=loader):
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_NESTING:
                raise _TooDeep
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1


def report_too_large(sink: DiagnosticSink, size: int) -> None:
    sink.error(
        f"file is too large: {size:,} bytes, the limit is {MAX_SOURCE_BYTES:,} bytes (1 MiB); "
        "split the course into smaller ones",
        key=Problem.TOO_LARGE,
        params={"size": f"{size:,}".replace(",", " "), "limit": "1 MiB"},
    )


def _report_syntax_error(exc: yaml.MarkedYAMLError, sink: DiagnosticSink) -> None:
    """PyYAML's own words (for the CLI and the API), and a key for the few mistakes people
    make most, so the panel can name the mistake, and the line where it starts, in the
    reader's language instead of only "cannot be read"."""
    problem = exc.problem or str(exc)
    context = exc.context or ""
    problem_line = exc.problem_mark.line + 1 if exc.problem_mark is not None else None
    context_line = exc.context_mark.line + 1 if exc.context_mark is not None else None
    if "'\\t'" in problem:
        sink.error(
            "tab character found: tabs are not allowed in YAML indentation, use spaces",
            key=Problem.TAB,
            line=problem_line or context_line,
        )
        return
    hint = ""
    if "mapping values are not allowed" in problem:
        hint = "; a text containing ': ' must be quoted or written as a | block"
    key, params, line = _syntax_mistake(problem, context, problem_line, context_line)
    if hint:
        key = Problem.COLON_IN_TEXT
    sink.error(
        f"not valid YAML: {problem}{f' ({context})' if context else ''}{hint}",
        key=key,
        params=params,
        line=line,
    )


_CANNOT_START = re.compile(r"found character '(.)' that cannot start any token")
_UNDEFINED_ALIAS = re.compile(r"found undefined alias '([^']*)'")


def _syntax_mistake(
    problem: str, context: str, problem_line: int | None, context_line: int | None
) -> tuple[Problem, dict[str, str], int | None]:
    """(key, params, line) of a syntax error; the line is where the mistake starts (an
    unclosed quote's opening line, not the end of the file where PyYAML noticed it)."""
    if context == "while scanning a quoted scalar":
        return Problem.UNCLOSED_QUOTE, {}, context_line or problem_line
    if context in ("while parsing a flow sequence", "while parsing a flow mapping"):
        bracket = "[" if "sequence" in context else "{"
        return Problem.UNCLOSED_BRACKET, {"bracket": bracket}, context_line or problem_line
    if context == "while scanning a simple key":
        return Problem.MISSING_COLON, {}, context_line or problem_line
    if problem.startswith("expected <block end>"):
        return Problem.BAD_INDENT, {}, problem_line
    if match := _CANNOT_START.search(problem):
        return Problem.RESERVED_START, {"char": match.group(1)}, problem_line
    if match := _UNDEFINED_ALIAS.search(problem):
        return Problem.UNDEFINED_ALIAS, {"name": match.group(1)}, problem_line
    return Problem.NOT_YAML, {}, problem_line or context_line


class _RecursiveAlias(Exception):
    pass


def _expansion_ok(root: Node, sink: DiagnosticSink) -> bool:
    """Reject alias bombs and self-referencing aliases before anything walks the tree.

    Aliases share nodes, so a small file can stand for billions of values ("billion laughs")
    or for a tree far deeper than its text: we measure the tree as if every alias were
    expanded and refuse beyond fixed budgets of size and depth.
    """
    measured: dict[int, tuple[int, int]] = {}  # node id -> (expanded size, height)
    active: set[int] = set()

    def measure(node: Node) -> tuple[int, int]:
        key = id(node)
        if key in measured:
            return measured[key]
        if key in active:
            raise _RecursiveAlias
        active.add(key)
        children: list[Node] = []
        if isinstance(node, SequenceNode):
            children = list(node.value)
        elif isinstance(node, MappingNode):
            children = [item for pair in node.value for item in pair]
        total, height = 1, 1
        for child in children:
            child_size, child_height = measure(child)
            total = min(total + child_size, MAX_EXPANDED_NODES + 1)
            height = max(height, child_height + 1)
        if height > MAX_NESTING:
            raise _TooDeep
        active.discard(key)
        measured[key] = (total, height)
        return measured[key]

    try:
        total, _ = measure(root)
    except _RecursiveAlias:
        sink.error(
            "not valid for a course: an alias refers to itself (recursive YAML alias)",
            key=Problem.RECURSIVE_ALIAS,
        )
        return False
    except (_TooDeep, RecursionError):
        _report_too_deep(sink)
        return False
    if total > MAX_EXPANDED_NODES:
        sink.error(
            f"file expands to more than {MAX_EXPANDED_NODES} YAML values through aliases; "
            "refusing to load it",
            key=Problem.ALIAS_BOMB,
            params={"count": MAX_EXPANDED_NODES},
        )
        return False
    return True


def mapping_entries(
    node: MappingNode,
    sink: DiagnosticSink,
    *,
    element_id: str | None,
    what: str,
    within: str | None = None,
) -> list[Entry]:
    """The pairs of a mapping with PyYAML's semantics for repeated keys, plus a warning.

    PyYAML builds a dict, so a repeated key keeps the position of its first occurrence and
    the value of its last one; legacy courses were run that way, so we keep it. `<<` merge
    keys are expanded as PyYAML does. `what` names a key in messages ("element id", "field",
    "threshold"); `within` is the element field holding this mapping (e.g. "answers"), so
    problems inside an answer are reported under that field.
    """
    try:
        SafeConstructor().flatten_mapping(node)
    except ConstructorError as exc:
        sink.error(
            f"invalid merge key (<<): {exc.problem}",
            key=Problem.BAD_MERGE_KEY,
            element_id=element_id,
            field=within,
            line=line_of(node),
        )
    entries: list[Entry] = []
    index: dict[str, int] = {}
    for key_node, value_node in node.value:
        if key_node.tag == TAG_MERGE:
            continue
        if not isinstance(key_node, ScalarNode):
            sink.error(
                f"{what} must be plain text, got {node_kind(key_node)}",
                key=Problem.KEY_NOT_TEXT,
                params={"got": kind_key(key_node)},
                element_id=element_id,
                field=within,
                line=line_of(key_node),
            )
            continue
        key = key_node.value
        entry = Entry(key, line_of(key_node), value_node)
        if key in index:
            first = entries[index[key]]
            _warn_duplicate(sink, first, entry, element_id=element_id, what=what, within=within)
            entries[index[key]] = Entry(key, first.line, value_node)
            continue
        index[key] = len(entries)
        entries.append(entry)
    return entries


def _warn_duplicate(
    sink: DiagnosticSink,
    first: Entry,
    second: Entry,
    *,
    element_id: str | None,
    what: str,
    within: str | None,
) -> None:
    message = (
        f"defined twice (lines {first.line} and {second.line}); the definition at line "
        f"{second.line} is used, at the position of line {first.line}"
    )
    key, params = Problem.DEFINED_TWICE, {"first": first.line, "second": second.line}
    if what == "element id":
        sink.warning(message, key=key, params=params, element_id=second.key, line=second.line)
    elif within is None:
        sink.warning(
            message,
            key=key,
            params=params,
            element_id=element_id,
            field=second.key,
            line=second.line,
        )
    else:
        sink.warning(
            f"{what} {second.key!r} {message}",
            key=Problem.DEFINED_TWICE_NAMED,
            params={**params, "name": shorten(second.key)},
            element_id=element_id,
            field=within,
            line=second.line,
        )


def to_plain(node: Node) -> Any:
    """Convert a node to JSON-compatible Python data (for fields kept verbatim).

    Unknown fields must survive storage as JSON and export as YAML, so timestamps, binary,
    custom tags and non-finite floats stay as the text that was written.
    """
    if isinstance(node, SequenceNode):
        return [to_plain(child) for child in node.value]
    if isinstance(node, MappingNode):
        with contextlib.suppress(ConstructorError):
            SafeConstructor().flatten_mapping(node)
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == TAG_MERGE:
                continue
            key = key_node.value if isinstance(key_node, ScalarNode) else str(to_plain(key_node))
            result[key] = to_plain(value_node)
        return result
    assert isinstance(node, ScalarNode)  # the third and last kind of node
    return scalar_value(node)


def scalar_value(node: ScalarNode) -> Any:
    """The typed value of a scalar under YAML 1.1 rules (what PyYAML's safe_load gives)."""
    constructor = SafeConstructor()
    try:
        if node.tag == TAG_NULL:
            return None
        if node.tag == TAG_BOOL:
            return constructor.construct_yaml_bool(node)
        if node.tag == TAG_INT:
            return constructor.construct_yaml_int(node)
        if node.tag == TAG_FLOAT:
            value = constructor.construct_yaml_float(node)
            return value if math.isfinite(value) else node.value
    except (ValueError, ConstructorError):
        return node.value
    return node.value
