"""Course -> YAML text in the legacy format, readable by people and by `load_course`.

Creators download a course, edit it in a text editor and upload it again, so the output
must look like what they wrote: element order kept, `type` first, multi-line texts as `|`
blocks, unicode as is, yes/no booleans, unknown fields kept. `load_course(export_course(c))`
gives back an equal course. The course title is not part of the legacy format (the panel
stores it next to the source), so it is not written.
"""

from __future__ import annotations

from typing import Any

import yaml

from engine.model import BaseElement, Course, element_to_data

_COMMON_KEYS = ("parse_mode", "link_preview", "media")


class _LegacyDumper(yaml.SafeDumper):
    """SafeDumper with list items indented under their key, like the legacy files."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)


# Line breaks other than \n that YAML normalises when they appear unescaped: PyYAML's
# emitter would still write them raw (plain or block style), and they would not survive.
_OTHER_BREAKS = frozenset("\r\x85\u2028\u2029")


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    if _OTHER_BREAKS.intersection(value):
        style: str | None = '"'
    else:
        style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


def _represent_bool(dumper: yaml.SafeDumper, value: bool) -> yaml.ScalarNode:
    return dumper.represent_scalar("tag:yaml.org,2002:bool", "yes" if value else "no")


_LegacyDumper.add_representer(str, _represent_str)
_LegacyDumper.add_representer(bool, _represent_bool)


def element_yaml_data(element: BaseElement) -> dict[str, Any]:
    """The element's YAML mapping in reading order: type, own fields, common ones, unknown."""
    data = element_to_data(element)
    extra_keys = [key for key in element.extra if key in data]
    own = [key for key in data if key not in _COMMON_KEYS and key not in extra_keys]
    common = [key for key in _COMMON_KEYS if key in data]
    return {key: data[key] for key in (*own, *common, *extra_keys)}


def export_course(course: Course) -> str:
    """The course as YAML text; elements are separated by a blank line."""
    chunks = [
        yaml.dump(
            {element.id: element_yaml_data(element)},
            Dumper=_LegacyDumper,
            allow_unicode=True,
            sort_keys=False,
            default_flow_style=False,
            width=4096,
        )
        for element in course.elements
    ]
    return "\n".join(chunks)
