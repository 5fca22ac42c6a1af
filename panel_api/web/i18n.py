"""The panel's UI languages: catalogs (i18n/<lang>.json), choosing a language, translating.

Catalogs are flat `key -> text` maps with `{name}` placeholders. A text that depends on a
number is a map of plural forms instead (`{"one": ..., "few": ..., "many": ..., "other": ...}`,
the forms the language has, chosen by the `count` parameter): "1 бот, 2 бота, 5 ботов" is
not a matter of adding an "s". A key missing from a catalog is a bug caught by the catalog
test, not something to paper over at run time, so `Translator` raises instead of showing the
key to a teacher.

Errors carry a `Message` (panel_api/messages.py) from any depth; a page says it in its own
language with `Translator.say` (the `say` template filter).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import cache
from pathlib import Path

from panel_api.messages import Message

CATALOG_DIR = Path(__file__).parent / "i18n"
LANGUAGES: tuple[str, ...] = ("en", "ru")
DEFAULT_LANGUAGE = "en"
LANGUAGE_NAMES: Mapping[str, str] = {"en": "English", "ru": "Русский"}


Entry = str | Mapping[str, str]
"""A catalog's value: a text, or a text's plural forms."""

PLURAL_FORMS: Mapping[str, tuple[str, ...]] = {
    "en": ("one", "other"),
    "ru": ("one", "few", "many", "other"),
}


@cache
def catalog(lang: str) -> Mapping[str, Entry]:
    if lang not in LANGUAGES:
        raise KeyError(f"no catalog for {lang!r}")
    return json.loads((CATALOG_DIR / f"{lang}.json").read_text(encoding="utf-8"))


def plural_form(lang: str, count: object) -> str:
    """CLDR's cardinal rule for the language (whole numbers; anything else is "other")."""
    if isinstance(count, bool) or not isinstance(count, int):
        return "other"
    n = abs(count)
    if lang == "ru":
        if n % 10 == 1 and n % 100 != 11:
            return "one"
        if 2 <= n % 10 <= 4 and not 12 <= n % 100 <= 14:
            return "few"
        return "many"
    return "one" if n == 1 else "other"


class Translator:
    """`t("bots.title")`, `t("runs.total", count=3)` in one language."""

    def __init__(self, lang: str) -> None:
        self.lang = lang
        self._texts = catalog(lang)

    def __call__(self, key: str, **params: object) -> str:
        text = self._text(key, params.get("count"))
        return text.format(**params) if params else text

    def _text(self, key: str, count: object) -> str:
        entry = self._texts[key]
        if isinstance(entry, str):
            return entry
        return entry.get(plural_form(self.lang, count), entry["other"])

    def has(self, key: str) -> bool:
        return key in self._texts

    def say(self, message: Message | str) -> str:
        """A Message in this language; a plain string is already words and passes through."""
        if isinstance(message, str):
            return message
        if message.key is None or not self.has(message.key):
            return message.fallback
        params = {
            name: self.say(value) if isinstance(value, Message) else value
            for name, value in message.params.items()
        }
        text = self._text(message.key, params.get("count"))
        try:
            return text.format(**params)
        except (KeyError, IndexError):  # a parameter the error did not carry: its own words
            return message.fallback or text


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
