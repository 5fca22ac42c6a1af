"""Build one engine element from its YAML mapping, reporting every problem it has.

Cross-element checks (goto targets, test/revision prefixes, dialog prompt variables) need
the whole course, so the builder only collects what it saw in `references`, `prefixes`,
`prompt_refs` and `personal_refs`; the loader checks them once all elements are known.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from yaml.nodes import MappingNode, Node, ScalarNode

from courses import limits
from courses.diagnostics import DiagnosticSink
from courses.fields import INVALID, PARSE_MODES, FieldReader, is_null, is_whole_number
from courses.problem_keys import Problem
from courses.schema import ANSWER_FIELDS, OPTION_FIELDS, FieldSpec, Kind, fields_of
from courses.yaml_source import (
    Entry,
    kind_key,
    line_of,
    mapping_entries,
    node_kind,
    shorten,
    to_plain,
)
from engine.frozen import FrozenMap, freeze
from engine.model import (
    DEFAULT_LEGACY_WAIT,
    ELEMENT_TYPES,
    Answer,
    Element,
    Option,
    field_for_yaml_key,
)
from engine.personal_texts import STUDENT_NAMES, names_used

POLL_TYPES = ("quiz", "question", "multi_choice")

# Texts the student is sent as messages or captions, so personal texts apply to them
# (a poll's `text` is its question: Telegram shows it as is).
PERSONAL_FIELDS = ("text", "no_mistakes", "continue_text")
# Single-brace names old courses use for something else: a test's totals (also mentioned in
# the prose of messages that explain tests), a dialog's stop marker.
_OTHER_BRACE_NAMES = ("score", "maxscore", "STOP")

# Same shape as the engine's dialog prompt variables: {{id}}, {{N]id}}, {{id[M}}.
PROMPT_VARIABLE = re.compile(r"\{\{\s*(?:\d+\s*\]\s*)?([^\s\[\]{}]+?)\s*(?:\[\s*\d+\s*)?\}\}")


@dataclass(frozen=True)
class Reference:
    """A mention of another element (or id prefix) to check once the whole course is read."""

    target: str
    element_id: str
    field: str
    line: int


@dataclass
class ElementBuilder:
    sink: DiagnosticSink
    references: list[Reference] = field(default_factory=list)
    prefixes: list[Reference] = field(default_factory=list)
    prompt_refs: list[Reference] = field(default_factory=list)
    personal_refs: list[Reference] = field(default_factory=list)

    def build(self, element_id: str, line: int, node: Node) -> Element | None:
        """The element, or None when it has errors (they are in the sink by then)."""
        if not isinstance(node, MappingNode):
            self.sink.error(
                f"an element must be a mapping of fields (type, text, ...), got {node_kind(node)}",
                key=Problem.ELEMENT_NOT_MAPPING,
                params={"got": kind_key(node)},
                element_id=element_id,
                line=line,
            )
            return None
        errors_before = self.sink.error_count
        entries = mapping_entries(node, self.sink, element_id=element_id, what="field")
        fields = {entry.key: entry for entry in entries}
        element_type = self._element_type(element_id, line, fields.get("type"))
        if element_type is None:
            return None
        reader = FieldReader(self.sink, element_id)
        values, extra = self._read_fields(reader, element_type, entries)
        self._check_required(reader, element_type, line, values)
        self._check_type_rules(reader, element_type, line, fields, values)
        if self.sink.error_count > errors_before:
            return None
        cls = ELEMENT_TYPES[element_type]
        kwargs = {field_for_yaml_key(cls, key) or key: value for key, value in values.items()}
        try:
            return cls(id=element_id, extra=freeze(extra), **kwargs)
        except (TypeError, ValueError) as exc:  # a schema/model mismatch, not user error
            self.sink.error(
                f"cannot build element: {exc}",
                key=Problem.INTERNAL,
                element_id=element_id,
                line=line,
            )
            return None

    # --- type ------------------------------------------------------------------------------

    def _element_type(self, element_id: str, line: int, entry: Entry | None) -> str | None:
        if entry is None:
            self.sink.error(
                "missing required field 'type'",
                key=Problem.MISSING_FIELD,
                params={"name": "type"},
                element_id=element_id,
                field="type",
                line=line,
            )
            return None
        node = entry.node
        if not isinstance(node, ScalarNode) or is_null(node):
            self.sink.error(
                f"expected an element type name, got {node_kind(node)}",
                key=Problem.EXPECTED_TYPE_NAME,
                params={"got": kind_key(node)},
                element_id=element_id,
                field="type",
                line=entry.line,
            )
            return None
        name: str = node.value.strip()
        if name in ELEMENT_TYPES:
            return name
        known = ", ".join(ELEMENT_TYPES)
        close = difflib.get_close_matches(name.lower(), list(ELEMENT_TYPES), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        self.sink.error(
            f"unknown element type {name!r}{hint}; known types: {known}",
            key=Problem.UNKNOWN_TYPE_SUGGESTED if close else Problem.UNKNOWN_TYPE,
            params={
                "name": shorten(name),
                "known": known,
                **({"close": close[0]} if close else {}),
            },
            element_id=element_id,
            field="type",
            line=entry.line,
        )
        return None

    # --- fields ----------------------------------------------------------------------------

    def _read_fields(
        self, reader: FieldReader, element_type: str, entries: list[Entry]
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        specs = fields_of(element_type)
        values: dict[str, Any] = {}
        extra: dict[str, Any] = {}
        for entry in entries:
            if entry.key == "type":
                continue
            if entry.key == "id":  # the stored form has one "id": the element's own
                reader.warning(
                    "the element's id is its key in the course: this field is ignored",
                    entry.key,
                    entry.line,
                    Problem.ID_FIELD_IGNORED,
                )
                continue
            spec = specs.get(entry.key)
            if spec is None:
                reader.warning(
                    f"unknown field for a {element_type} element: kept as is (and exported) "
                    "but not used",
                    entry.key,
                    entry.line,
                    Problem.UNKNOWN_FIELD,
                    type=element_type,
                )
                extra[entry.key] = to_plain(entry.node)
                continue
            if is_null(entry.node):
                if spec.required:
                    reader.error("must not be empty", entry.key, entry.line, Problem.EMPTY)
                else:
                    reader.warning(
                        "is empty and ignored", entry.key, entry.line, Problem.EMPTY_IGNORED
                    )
                continue
            value = self._read(reader, spec, entry)
            if value is not INVALID:
                values[entry.key] = value
        return values, extra

    def _read(self, reader: FieldReader, spec: FieldSpec, entry: Entry) -> Any:
        match spec.kind:
            case Kind.TEXT:
                return reader.text(entry)
            case Kind.BOOL:
                return reader.boolean(entry)
            case Kind.PARSE_MODE:
                return reader.choice(entry, PARSE_MODES)
            case Kind.INPUT_TYPE:
                return reader.choice(entry, ("text", "sequence"))
            case Kind.TEMPERATURE:
                return reader.number(entry, 0.0, 2.0)
            case Kind.TTS_SPEED:
                return reader.number(entry, 0.25, 4.0)
            case Kind.POSITIVE_INT:
                return reader.positive_int(entry)
            case Kind.DURATION:
                return reader.duration(entry)
            case Kind.GOTO:
                return self._goto(reader, entry)
            case Kind.HTTPS_URL:
                return reader.https_url(entry)
            case Kind.MEDIA:
                return reader.media(entry)
            case Kind.ANSWERS:
                return self._answers(reader, entry)
            case Kind.OPTIONS:
                return self._options(reader, entry)
            case Kind.SCORE:
                return self._score(reader, entry)
            case Kind.ANY:
                return freeze(to_plain(entry.node))
        raise AssertionError(spec.kind)  # pragma: no cover - every kind is handled above

    def _goto(self, reader: FieldReader, entry: Entry) -> Any:
        target = reader.text(entry)
        if target is not INVALID:
            target = target.strip()
            field = reader.field_name or entry.key
            self.references.append(Reference(target, reader.element_id, field, entry.line))
        return target

    def _sub_fields(
        self,
        reader: FieldReader,
        item: MappingNode,
        allowed: tuple[str, ...],
        label: str,
        field: str,
    ) -> dict[str, Entry]:
        entries = mapping_entries(
            item, self.sink, element_id=reader.element_id, what=f"{label} field", within=field
        )
        known: dict[str, Entry] = {}
        for entry in entries:
            if entry.key in allowed:
                known[entry.key] = entry
            else:
                reader.warning(
                    f"unknown field {entry.key!r} in {label} is ignored "
                    f"(allowed: {', '.join(allowed)})",
                    field,
                    entry.line,
                    Problem.UNKNOWN_SUB_FIELD,
                    name=shorten(entry.key),
                    allowed=", ".join(allowed),
                    **_place(label),
                )
        if "text" not in known or is_null(known["text"].node):
            reader.error(
                f"{label} has no 'text'", field, line_of(item), Problem.SUB_NO_TEXT, **_place(label)
            )
            known.pop("text", None)
        return known

    def _answers(self, reader: FieldReader, entry: Entry) -> Any:
        read = reader.sequence_of_mappings(entry, "answer")
        if read is INVALID:
            return INVALID
        items, ok = read
        answers: list[Answer] = []
        for position, item in items:
            label = f"answer {position}"
            sub = self._sub_fields(reader, item, ANSWER_FIELDS, label, entry.key)
            text = _sub_text(reader, sub, entry.key, label)
            if text is not INVALID and len(text.strip()) > limits.POLL_OPTION_MAX_CHARS:
                reader.error(
                    f"{label} is {len(text.strip())} characters long; Telegram allows at most "
                    f"{limits.POLL_OPTION_MAX_CHARS} in a poll option",
                    entry.key,
                    sub["text"].line,
                    Problem.POLL_OPTION_TOO_LONG,
                    position=position,
                    length=len(text.strip()),
                    count=limits.POLL_OPTION_MAX_CHARS,
                )
                text = INVALID
            correct = _optional(sub, "correct", lambda r, e: r.boolean(e), reader, entry, label)
            feedback = _optional(sub, "feedback", lambda r, e: r.text(e), reader, entry, label)
            if INVALID in (text, correct, feedback):
                ok = False
                continue
            answers.append(Answer(text, bool(correct), feedback))
        return tuple(answers) if ok else INVALID

    def _options(self, reader: FieldReader, entry: Entry) -> Any:
        read = reader.sequence_of_mappings(entry, "option")
        if read is INVALID:
            return INVALID
        items, ok = read
        options: list[Option] = []
        for position, item in items:
            label = f"option {position}"
            sub = self._sub_fields(reader, item, OPTION_FIELDS, label, entry.key)
            text = _sub_text(reader, sub, entry.key, label)
            goto = _optional(sub, "goto", self._goto, reader, entry, label)
            wait = _optional(sub, "wait", lambda r, e: r.duration(e), reader, entry, label)
            wait_text = _optional(sub, "wait_text", lambda r, e: r.text(e), reader, entry, label)
            if wait_text is not None and wait is None:
                reader.warning(
                    f"{label}: 'wait_text' is only shown together with 'wait'",
                    entry.key,
                    sub["wait_text"].line,
                    Problem.WAIT_TEXT_WITHOUT_WAIT,
                    position=position,
                )
            if INVALID in (text, goto, wait, wait_text):
                ok = False
                continue
            options.append(Option(text, goto, wait, wait_text))
        return tuple(options) if ok else INVALID

    def _score(self, reader: FieldReader, entry: Entry) -> Any:
        node = entry.node
        if not isinstance(node, MappingNode) or not node.value:
            return reader.error(
                "expected a mapping of error-percentage thresholds to verdicts "
                f"(e.g. 20: Great!), got {node_kind(node)}",
                entry.key,
                entry.line,
                Problem.SCORE_NOT_MAPPING,
                got=kind_key(node),
            )
        thresholds: dict[int, str] = {}
        ok = True
        subs = mapping_entries(
            node, self.sink, element_id=reader.element_id, what="threshold", within=entry.key
        )
        for sub in subs:
            key = sub.key.strip()
            if not is_whole_number(key) or int(key) > 100:
                reader.error(
                    f"threshold {sub.key!r} must be a whole percentage of errors from 0 to 100",
                    entry.key,
                    sub.line,
                    Problem.BAD_THRESHOLD,
                    value=shorten(sub.key),
                )
                ok = False
                continue
            verdict = reader.within(
                entry.key, f"threshold {key}", in_part="threshold", in_position=int(key)
            ).text(sub)
            if verdict is INVALID:
                ok = False
                continue
            thresholds[int(key)] = verdict
        if not ok:
            return INVALID
        if max(thresholds) < 100:
            reader.warning(
                f"no verdict for more than {max(thresholds)}% of errors; add a threshold of 100",
                entry.key,
                entry.line,
                Problem.NO_VERDICT_FOR_100,
                percent=max(thresholds),
            )
        return FrozenMap(thresholds)

    # --- whole-element rules ---------------------------------------------------------------

    def _check_required(
        self, reader: FieldReader, element_type: str, line: int, values: dict[str, Any]
    ) -> None:
        for key, spec in fields_of(element_type).items():
            if spec.required and key not in values and key not in reader.failed:
                reader.error(
                    f"missing required field {key!r}", key, line, Problem.MISSING_FIELD, name=key
                )

    def _check_type_rules(
        self,
        reader: FieldReader,
        element_type: str,
        line: int,
        fields: dict[str, Entry],
        values: dict[str, Any],
    ) -> None:
        if element_type in POLL_TYPES:
            self._check_poll(reader, element_type, fields, values)
        elif element_type == "message" and "button" in values and values.get("options"):
            reader.error(
                "use either 'button' or 'options', not both",
                "options",
                fields["options"].line,
                Problem.BUTTON_AND_OPTIONS,
            )
        elif (
            element_type == "jump" and not values.get("options") and "options" not in reader.failed
        ):
            reader.warning(
                "a jump without options is shown as a plain message and the course goes on",
                "options",
                line,
                Problem.JUMP_WITHOUT_OPTIONS,
            )
        elif element_type == "delay":
            self._check_delay(reader, line, fields, values)
        elif element_type == "audio" and values.get("media") == ():
            reader.error(
                "needs at least one audio URL", "media", fields["media"].line, Problem.AUDIO_NO_URL
            )
        if element_type in ("test", "revision") and "prefix" in values:
            self.prefixes.append(
                Reference(values["prefix"], reader.element_id, "prefix", fields["prefix"].line)
            )
        self._check_personal_texts(reader, element_type, fields, values)
        if element_type == "dialog" and "prompt" in values:
            for match in PROMPT_VARIABLE.finditer(values["prompt"]):
                self.prompt_refs.append(
                    Reference(match.group(1), reader.element_id, "prompt", fields["prompt"].line)
                )

    def _check_personal_texts(
        self,
        reader: FieldReader,
        element_type: str,
        fields: dict[str, Entry],
        values: dict[str, Any],
    ) -> None:
        """`{{id}}` is checked once every id is known; a `{name}` that is neither the
        student's name nor a name the element gives a meaning is a warning now (it is sent
        as written, as old courses with braces in their prose need)."""
        known = (*STUDENT_NAMES, *_OTHER_BRACE_NAMES)
        for key in PERSONAL_FIELDS:
            if key == "text" and element_type in POLL_TYPES:
                continue
            value = values.get(key)
            if not isinstance(value, str) or key not in fields:
                continue
            for use in names_used(value):
                if use.kind == "element":
                    self.personal_refs.append(
                        Reference(use.key, reader.element_id, key, fields[key].line)
                    )
                elif use.key not in known:
                    reader.warning(
                        f"{{{use.key}}} is not a name a text can use ({{first_name}}, "
                        "{username} or {{element_id}}): it is sent as written",
                        key,
                        fields[key].line,
                        Problem.UNKNOWN_NAME_IN_TEXT,
                        name=shorten(use.key),
                    )

    def _check_poll(
        self,
        reader: FieldReader,
        element_type: str,
        fields: dict[str, Entry],
        values: dict[str, Any],
    ) -> None:
        text = values.get("text")
        if text is not None and len(text.strip()) > limits.POLL_QUESTION_MAX_CHARS:
            reader.error(
                f"the question is {len(text.strip())} characters long; Telegram allows at most "
                f"{limits.POLL_QUESTION_MAX_CHARS} in a poll",
                "text",
                fields["text"].line,
                Problem.POLL_QUESTION_TOO_LONG,
                length=len(text.strip()),
                count=limits.POLL_QUESTION_MAX_CHARS,
            )
        answers = values.get("answers")
        if answers is None:
            return
        line = fields["answers"].line
        count = len(answers)
        if not limits.POLL_MIN_OPTIONS <= count <= limits.POLL_MAX_OPTIONS:
            reader.error(
                f"has {count} answer{'' if count == 1 else 's'}; a Telegram poll needs "
                f"{limits.POLL_MIN_OPTIONS} to "
                f"{limits.POLL_MAX_OPTIONS}",
                "answers",
                line,
                Problem.POLL_ANSWER_COUNT,
                count=count,
                low=limits.POLL_MIN_OPTIONS,
                high=limits.POLL_MAX_OPTIONS,
            )
        correct = sum(answer.correct for answer in answers)
        if element_type == "quiz" and correct == 0:
            reader.error(
                "a quiz needs exactly one correct answer (correct: yes), found none",
                "answers",
                line,
                Problem.QUIZ_NO_CORRECT,
            )
        elif element_type == "quiz" and correct > 1:
            # Real courses of the old bot do this; it took the last one (DESIGN §12).
            reader.warning(
                f"a quiz needs exactly one correct answer (correct: yes), found {correct}; "
                "the last one marked yes counts as the right answer",
                "answers",
                line,
                Problem.QUIZ_MANY_CORRECT,
                count=correct,
            )
        elif element_type == "multi_choice" and correct == 0:
            reader.error(
                "a multi_choice needs at least one correct answer (correct: yes)",
                "answers",
                line,
                Problem.MULTI_CHOICE_NO_CORRECT,
            )
        elif element_type == "question" and correct:
            reader.warning(
                "a question has no correct answer; 'correct' is ignored (use quiz or multi_choice)",
                "answers",
                line,
                Problem.QUESTION_CORRECT_IGNORED,
            )

    def _check_delay(
        self, reader: FieldReader, line: int, fields: dict[str, Entry], values: dict[str, Any]
    ) -> None:
        if "continue" in values:
            pause = values.get("wait", DEFAULT_LEGACY_WAIT)
            reader.warning(
                f"legacy delay form (continue/yes_text/no_text): after {pause} the bot asks the "
                "'continue' text with yes/no buttons; yes goes on, no asks again after the same "
                "pause",
                "continue",
                fields["continue"].line,
                Problem.LEGACY_DELAY,
                wait=str(pause),
            )
            return
        if "wait" not in values and "wait" not in reader.failed:
            reader.error(
                "missing required field 'wait' (e.g. wait: 1d)",
                "wait",
                line,
                Problem.MISSING_FIELD,
                name="wait",
            )
        if "goto" not in values and "goto" not in reader.failed:
            reader.warning(
                "no 'goto': after the wait the course continues with the next element",
                "goto",
                line,
                Problem.DELAY_WITHOUT_GOTO,
            )
        for key in ("yes_text", "no_text"):
            if key in fields:
                reader.warning(
                    "only used together with 'continue'",
                    key,
                    fields[key].line,
                    Problem.ONLY_WITH_CONTINUE,
                )


def _sub_text(reader: FieldReader, sub: dict[str, Entry], field: str, label: str) -> Any:
    if "text" not in sub:
        return INVALID
    return _within(reader, field, label, "text").text(sub["text"])


def _within(reader: FieldReader, field: str, label: str, key: str) -> FieldReader:
    """A reader for sub-field `key` of one answer/option, `label` being e.g. `answer 2`."""
    return reader.within(field, f"{label} {key!r}", **_place(label), in_field=key)


def _place(label: str) -> dict[str, str | int]:
    """`answer 2` as the parameters a page says it from (`in_part`, `in_position`)."""
    part, _, position = label.partition(" ")
    return {"in_part": part, "in_position": int(position)}


def _optional(
    sub: dict[str, Entry],
    key: str,
    read: Callable[[FieldReader, Entry], Any],
    reader: FieldReader,
    parent: Entry,
    label: str,
) -> Any:
    """Read sub-field `key` of one answer/option (None when absent or empty)."""
    entry = sub.get(key)
    if entry is None or is_null(entry.node):
        return None
    return read(_within(reader, parent.key, label, key), entry)
