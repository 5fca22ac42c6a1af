"""Junk in, diagnostics out: the loader never raises, whatever it is given."""

from __future__ import annotations

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from courses.loader import LoadResult, load_course
from engine.model import ELEMENT_TYPES

FIELD_NAMES = [
    "type", "text", "button", "options", "answers", "correct", "feedback", "goto", "wait",
    "media", "score", "prefix", "prompt", "parse_mode", "link_preview", "continue", "title",
    "app_url", "question", "input_type", "temperature", "no_mistakes", "wait_text",
]  # fmt: skip

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 200),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["yes", "no", "1d", "30s", "1h:1d", "http://x.io/a.png", "A", "B", ""]),
    st.sampled_from(list(ELEMENT_TYPES)),
    st.text(max_size=30),
)
values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=14),
        st.dictionaries(st.sampled_from(FIELD_NAMES), children, max_size=6),
    ),
    max_leaves=12,
)
elements = st.dictionaries(st.sampled_from(FIELD_NAMES), values, max_size=7)
courses = st.dictionaries(st.sampled_from(["A", "B", "C", "q_1", "q_2"]), elements, max_size=5)


def check(result: LoadResult) -> None:
    assert isinstance(result, LoadResult)
    assert result.ok == (result.course is not None)
    for diagnostic in result.diagnostics:
        assert diagnostic.message and str(diagnostic)
        assert not diagnostic.message.startswith("cannot build element"), diagnostic


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=400))
def test_random_text_never_raises(text: str) -> None:
    check(load_course(text))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(courses)
def test_random_course_shaped_yaml_never_raises(data: dict) -> None:
    check(load_course(yaml.safe_dump(data, allow_unicode=True)))


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            [
                "A:",
                "  type: quiz",
                "  text: q",
                "  answers:",
                "    - text: a",
                "      correct: yes",
                "\t",
                "- ",
                ": ",
                "&x",
                "*x",
                "<<: *x",
                "!!binary",
                "{",
                "[",
                "'",
                '"',
                "|",
                ">",
                "#",
            ]
        ),
        max_size=25,
    )
)
def test_random_line_soup_never_raises(lines: list[str]) -> None:
    check(load_course("\n".join(lines)))
