"""The panel's UI languages: catalogs (i18n/<lang>.json), choosing a language, translating.

Catalogs are flat `key -> text` maps with `{name}` placeholders. A key missing from a
catalog is a bug caught by the catalog test, not something to paper over at run time, so
`Translator` raises instead of showing the key to a teacher.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import cache
from pathlib import Path

CATALOG_DIR = Path(__file__).parent / "i18n"
LANGUAGES: tuple[str, ...] = ("en", "ru")
DEFAULT_LANGUAGE = "en"
LANGUAGE_NAMES: Mapping[str, str] = {"en": "English", "ru": "Русский"}


@cache
def catalog(lang: str) -> Mapping[str, str]:
    if lang not in LANGUAGES:
        raise KeyError(f"no catalog for {lang!r}")
    return json.loads((CATALOG_DIR / f"{lang}.json").read_text(encoding="utf-8"))


class Translator:
    """`t("bots.title")`, `t("runs.total", count=3)` in one language."""

    def __init__(self, lang: str) -> None:
        self.lang = lang
        self._texts = catalog(lang)

    def __call__(self, key: str, **params: object) -> str:
        text = self._texts[key]
        return text.format(**params) if params else text

    def has(self, key: str) -> bool:
        return key in self._texts


def supported(lang: str | None) -> str | None:
    """`lang` if the panel speaks it (case-insensitive), else None."""
    if lang is None:
        return None
    lang = lang.strip().lower()
    return lang if lang in LANGUAGES else None


def from_accept_language(header: str | None) -> str | None:
    """The best language of an Accept-Language header that the panel speaks.

    Browsers send e.g. `ru-RU,ru;q=0.9,en-US;q=0.8`: ranges are ordered by q (ties keep the
    header's order), and a regional range (`ru-RU`) counts as its primary language.
    """
    if not header:
        return None
    ranked: list[tuple[float, int, str]] = []
    for index, part in enumerate(header.split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        params = params.strip()
        if params.startswith("q="):
            try:
                quality = float(params[2:])
            except ValueError:
                continue
        primary = tag.strip().split("-")[0].lower()
        if primary and quality > 0:
            ranked.append((-quality, index, primary))
    for _, _, primary in sorted(ranked):
        if primary in LANGUAGES:
            return primary
    return None


def choose(stored: str | None, cookie: str | None, accept_language: str | None) -> str:
    """The member's saved choice, else this browser's last choice, else what it asks for."""
    return (
        supported(stored)
        or supported(cookie)
        or from_accept_language(accept_language)
        or DEFAULT_LANGUAGE
    )
