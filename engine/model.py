"""The course model: one immutable value class per element type, and `Course`.

The classes mirror the YAML format of legacy courses (ELEMENTS_REFERENCE.ru.md) field by
field, so a course can be loaded, stored as JSON and exported back without loss. The loader
(courses/) is responsible for turning messy YAML (``correct: "yes"``, string score keys,
duplicate ids) into these clean values; the engine trusts them.

Field names equal the YAML keys, except ``DelayElement.continue_text`` (YAML ``continue``,
a Python keyword); `yaml_key` / `field_for_yaml_key` translate.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, ClassVar, Literal

from engine.frozen import FrozenMap, freeze, thaw

ParseMode = Literal["HTML", "MARKDOWN", "HTML!"]
InputType = Literal["text", "sequence"]

#: Legacy ``delay`` without ``wait`` (test.yml Delay_01) pauses this long before asking.
DEFAULT_LEGACY_WAIT = "1d"

_EMPTY: FrozenMap[str, Any] = FrozenMap()


@dataclass(frozen=True, slots=True)
class Answer:
    """A poll option of quiz / question / multi_choice."""

    text: str
    correct: bool = False
    feedback: str | None = None


@dataclass(frozen=True, slots=True)
class Option:
    """A button of jump (and of legacy ``message`` with ``options``)."""

    text: str
    goto: str | None = None
    wait: str | None = None
    wait_text: str | None = None


_PLAIN = frozenset({str, int, float, bool, type(None), tuple})


_FIELD_NAMES: dict[type[BaseElement], tuple[str, ...]] = {}


def _field_names(cls: type[BaseElement]) -> tuple[str, ...]:
    names = _FIELD_NAMES.get(cls)
    if names is None:
        names = _FIELD_NAMES[cls] = tuple(f.name for f in dataclasses.fields(cls))
    return names


@dataclass(frozen=True, slots=True, kw_only=True)
class BaseElement:
    """Fields every element type accepts; `extra` keeps unknown YAML fields verbatim."""

    type: ClassVar[str] = ""
    id: str
    parse_mode: ParseMode | None = None
    link_preview: bool | None = None
    media: tuple[str, ...] = ()
    extra: Mapping[str, Any] = _EMPTY

    def __post_init__(self) -> None:
        # Free-form values (extra, question, conversation...) may arrive as dicts/lists;
        # freeze them so an element is truly immutable, hashable and compares by value.
        # (Plain values skip the Mapping check: it is slow, and 30,000 elements add up.)
        for name in _field_names(type(self)):
            value = getattr(self, name)
            if value is _EMPTY or type(value) in _PLAIN:
                continue
            if isinstance(value, Mapping | list):
                object.__setattr__(self, name, freeze(value))


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageElement(BaseElement):
    type: ClassVar[str] = "message"
    text: str
    button: str | None = None
    options: tuple[Option, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class AudioElement(BaseElement):
    type: ClassVar[str] = "audio"
    text: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class InputElement(BaseElement):
    type: ClassVar[str] = "input"
    text: str
    correct_answer: str | None = None
    feedback_correct: str | None = None
    feedback_incorrect: str | None = None
    input_type: InputType = "text"


@dataclass(frozen=True, slots=True, kw_only=True)
class QuizElement(BaseElement):
    type: ClassVar[str] = "quiz"
    text: str
    answers: tuple[Answer, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class QuestionElement(BaseElement):
    type: ClassVar[str] = "question"
    text: str
    answers: tuple[Answer, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class MultiChoiceElement(BaseElement):
    type: ClassVar[str] = "multi_choice"
    text: str
    answers: tuple[Answer, ...]
    feedback_correct: str | None = None
    feedback_partial: str | None = None
    feedback_incorrect: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class DialogElement(BaseElement):
    """LLM dialog. TTS / transcription settings are kept for the adapter, not used here."""

    type: ClassVar[str] = "dialog"
    text: str
    prompt: str
    model: str | None = None
    temperature: float | None = None
    reasoning: Any = None
    conversation: Any = None
    transcription_language: str | None = None
    voice_response: bool = False
    auto_start: bool = False
    tts_voice: str | None = None
    tts_model: str | None = None
    tts_speed: float | None = None
    max_messages: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class MiniappElement(BaseElement):
    type: ClassVar[str] = "miniapp"
    text: str
    button: str
    app_url: str
    question: Any = None


@dataclass(frozen=True, slots=True, kw_only=True)
class TestElement(BaseElement):
    """Score summary. `score` maps an error-percentage threshold to a verdict, in YAML order."""

    __test__: ClassVar[bool] = False  # not a pytest test class despite the name
    type: ClassVar[str] = "test"
    text: str
    prefix: str
    score: Mapping[int, str]
    button: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class JumpElement(BaseElement):
    type: ClassVar[str] = "jump"
    text: str
    options: tuple[Option, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class RevisionElement(BaseElement):
    type: ClassVar[str] = "revision"
    text: str
    prefix: str
    no_mistakes: str
    button: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class DelayElement(BaseElement):
    """Timed pause.

    Documented form: ``wait`` + ``goto``. Legacy form (test.yml Delay_01): no ``wait``/``goto``
    but ``continue`` / ``yes_text`` / ``no_text`` -- pause (``wait`` or 1 day), then ask
    ``continue`` with yes/no buttons; yes goes on, no asks again after the same pause.
    """

    type: ClassVar[str] = "delay"
    text: str | None = None
    wait: str | None = None
    goto: str | None = None
    continue_text: str | None = field(default=None, metadata={"yaml": "continue"})
    yes_text: str | None = None
    no_text: str | None = None

    @property
    def asks_to_continue(self) -> bool:
        """True for the legacy "pause then ask to continue" form."""
        return self.continue_text is not None

    @property
    def duration(self) -> timedelta:
        return parse_duration(self.wait or DEFAULT_LEGACY_WAIT)


@dataclass(frozen=True, slots=True, kw_only=True)
class EndElement(BaseElement):
    type: ClassVar[str] = "end"
    text: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class SectionElement(BaseElement):
    """Editor-only divider; the engine skips it."""

    type: ClassVar[str] = "section"
    title: str | None = None


Element = (
    MessageElement
    | AudioElement
    | InputElement
    | QuizElement
    | QuestionElement
    | MultiChoiceElement
    | DialogElement
    | MiniappElement
    | TestElement
    | JumpElement
    | RevisionElement
    | DelayElement
    | EndElement
    | SectionElement
)

#: YAML type name -> element class.
ELEMENT_TYPES: Mapping[str, type[Element]] = FrozenMap(
    {
        cls.type: cls
        for cls in (
            MessageElement,
            AudioElement,
            InputElement,
            QuizElement,
            QuestionElement,
            MultiChoiceElement,
            DialogElement,
            MiniappElement,
            TestElement,
            JumpElement,
            RevisionElement,
            DelayElement,
            EndElement,
            SectionElement,
        )
    }
)


def yaml_key(cls: type[BaseElement], field_name: str) -> str:
    """The YAML key of a model field (``continue_text`` -> ``continue``)."""
    for f in dataclasses.fields(cls):
        if f.name == field_name:
            key: str = f.metadata.get("yaml", field_name)
            return key
    return field_name


def field_for_yaml_key(cls: type[BaseElement], key: str) -> str | None:
    """The model field a YAML key of element class `cls` fills, or None if unknown."""
    return _fields_by_yaml_key(cls).get(key)


_FIELDS_BY_YAML_KEY: dict[type[BaseElement], dict[str, str]] = {}


def _fields_by_yaml_key(cls: type[BaseElement]) -> dict[str, str]:
    fields = _FIELDS_BY_YAML_KEY.get(cls)
    if fields is None:
        fields = _FIELDS_BY_YAML_KEY[cls] = {
            f.metadata.get("yaml", f.name): f.name
            for f in dataclasses.fields(cls)
            if f.name != "extra"
        }
    return fields


def element_gotos(element: BaseElement) -> tuple[str, ...]:
    """Element ids this element can jump to (for reference checks)."""
    targets: list[str] = []
    for option in getattr(element, "options", ()):
        if option.goto is not None:
            targets.append(option.goto)
    if isinstance(element, DelayElement) and element.goto is not None:
        targets.append(element.goto)
    return tuple(targets)


@dataclass(frozen=True, slots=True)
class Course:
    """An ordered, validated list of elements.

    Construction checks the invariants the engine relies on (unique ids, existing goto
    targets, parseable durations) and raises ValueError naming the offending element; the
    loader reports such problems as diagnostics before it ever builds a Course.
    """

    elements: tuple[Element, ...]
    title: str | None = None
    _index: Mapping[str, int] = field(init=False, repr=False, compare=False, hash=False)
    #: What the bot's own words (hints, default buttons) are in: engine/texts.py.
    language: str = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        index: dict[str, int] = {}
        for position, element in enumerate(self.elements):
            if element.id in index:
                raise ValueError(f"duplicate element id {element.id!r}")
            index[element.id] = position
        for element in self.elements:
            for target in element_gotos(element):
                if target not in index:
                    raise ValueError(f"element {element.id!r}: goto {target!r} does not exist")
            for wait in _waits(element):
                try:
                    parse_duration(wait)
                except ValueError as exc:
                    raise ValueError(f"element {element.id!r}: {exc}") from None
        object.__setattr__(self, "_index", FrozenMap(index))
        object.__setattr__(self, "language", written_in(self.elements))

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(self._index)

    def index_of(self, element_id: str) -> int:
        """Position of `element_id`; KeyError if there is no such element."""
        return self._index[element_id]

    def get(self, element_id: str) -> Element:
        """The element with id `element_id`; KeyError if there is none."""
        return self.elements[self._index[element_id]]

    def __contains__(self, element_id: object) -> bool:
        return element_id in self._index

    def next_id(self, element_id: str) -> str | None:
        """Id of the element after `element_id` in course order, None after the last one."""
        position = self._index[element_id] + 1
        return self.elements[position].id if position < len(self.elements) else None


#: Texts read to tell a course's language: enough to decide, bounded for huge courses.
_LANGUAGE_SAMPLE = 200
#: Fields a person wrote for students to read (not ids, URLs or prompts to a model).
_WORDING_FIELDS = ("text", "title", "button", "continue_text", "yes_text", "no_text")


def written_in(elements: Iterable[BaseElement]) -> str:
    """ "ru" when the course's texts are mostly Cyrillic, else "en". Courses declare no
    language, and their students' Telegram setting says nothing about the course's."""
    cyrillic = latin = 0
    for position, element in enumerate(elements):
        if position >= _LANGUAGE_SAMPLE:
            break
        text = " ".join(
            value
            for name in _WORDING_FIELDS
            if isinstance(value := getattr(element, name, None), str)
        )
        for char in text:
            if "а" <= char.lower() <= "я" or char in "ёЁ":
                cyrillic += 1
            elif char.isascii() and char.isalpha():
                latin += 1
    return "ru" if cyrillic >= latin and cyrillic > 0 else "en"


def _waits(element: BaseElement) -> tuple[str, ...]:
    waits = [option.wait for option in getattr(element, "options", ()) if option.wait]
    if isinstance(element, DelayElement) and element.wait is not None:
        waits.append(element.wait)
    return tuple(waits)


_DURATION_PART = re.compile(r"(\d+)([dhms])")
_UNIT_SECONDS = {"d": 86400, "h": 3600, "m": 60, "s": 1}


def parse_duration(text: str) -> timedelta:
    """Parse ``1d:2h:3m:4s`` (any subset of the parts, in this order) into a timedelta."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"invalid duration {text!r}: expected e.g. '30s', '2h:30m', '1d:2h:3m:4s'")
    total = 0
    seen = ""
    for part in text.strip().split(":"):
        match = _DURATION_PART.fullmatch(part.strip())
        if match is None:
            raise ValueError(
                f"invalid duration {text!r}: part {part!r} is not a number followed by d, h, m"
                " or s (e.g. '1d:2h:3m:4s')"
            )
        unit = match.group(2)
        if unit in seen or (seen and "dhms".index(unit) < "dhms".index(seen[-1])):
            raise ValueError(f"invalid duration {text!r}: use each unit once, in order d:h:m:s")
        seen += unit
        total += int(match.group(1)) * _UNIT_SECONDS[unit]
    if total <= 0:
        raise ValueError(f"invalid duration {text!r}: must be longer than zero")
    return timedelta(seconds=total)


def format_duration(delta: timedelta) -> str:
    """`1d:2h:3m:4s` style, as course authors write waits (whole seconds, none below 0s)."""
    seconds = max(int(delta.total_seconds()), 0)
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        amount, seconds = divmod(seconds, size)
        if amount:
            parts.append(f"{amount}{unit}")
    return ":".join(parts) or "0s"


# --- plain-data form (the normalised elements a course version stores) ---------------------


def element_to_data(element: BaseElement) -> dict[str, Any]:
    """YAML-shaped plain dict of one element (without its id), omitting default values."""
    data: dict[str, Any] = {"type": element.type}
    for f in dataclasses.fields(element):
        if f.name in ("id", "extra"):
            continue
        value = getattr(element, f.name)
        if f.default is not dataclasses.MISSING and value == f.default:
            continue
        data[f.metadata.get("yaml", f.name)] = _plain(value)
    data.update(thaw(element.extra))
    return data


def _plain(value: Any) -> Any:
    if isinstance(value, Answer | Option):
        return {
            f.name: getattr(value, f.name)
            for f in dataclasses.fields(value)
            if getattr(value, f.name) != f.default or f.name == "text"
        }
    if isinstance(value, tuple):
        return [_plain(item) for item in value]
    return thaw(value)


def element_from_data(element_id: str, data: Mapping[str, Any]) -> Element:
    """Inverse of `element_to_data` for trusted, already validated data.

    Unknown keys go to `extra`; raises ValueError / TypeError on malformed input. The
    YAML loader does its own, diagnostic-rich validation instead of calling this.
    """
    cls = ELEMENT_TYPES.get(data.get("type", ""))
    if cls is None:
        raise ValueError(f"element {element_id!r}: unknown type {data.get('type')!r}")
    kwargs: dict[str, Any] = {"id": element_id}
    extra: dict[str, Any] = {}
    for key, value in data.items():
        if key == "type":
            continue
        name = field_for_yaml_key(cls, key)
        if name is None or name == "id":
            extra[key] = value
        elif name == "answers":
            kwargs[name] = tuple(Answer(**item) for item in value)
        elif name == "options":
            kwargs[name] = tuple(Option(**item) for item in value)
        elif name == "media":
            kwargs[name] = tuple(value)
        elif name == "score" and cls is TestElement:
            kwargs[name] = FrozenMap({int(k): v for k, v in value.items()})
        else:
            kwargs[name] = freeze(value)
    if extra:
        kwargs["extra"] = freeze(extra)
    return cls(**kwargs)


def course_to_elements(course: Course) -> list[dict[str, Any]]:
    """The stored form of a course version's elements: ``[{"id": ..., "type": ..., ...}]``
    in course order, JSON-ready (a test's score bands keep their int keys: dump them with
    non-string keys allowed)."""
    return [{**element_to_data(element), "id": element.id} for element in course.elements]


def course_from_elements(items: Iterable[Mapping[str, Any]]) -> Course:
    """Inverse of `course_to_elements`, for the validated elements a version stored (the
    runtime steps this instead of parsing the source again)."""
    elements = tuple(
        element_from_data(item["id"], {k: v for k, v in item.items() if k != "id"})
        for item in items
    )
    return Course(elements=elements)
