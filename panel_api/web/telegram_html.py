"""A course's message text as Telegram shows it, made safe to put into a panel page.

Course texts come from tenants and students: any markup in them is hostile until proven
otherwise. Telegram itself renders only a handful of tags (HTML mode) or a few marks (the
legacy Markdown mode courses default to); the panel renders exactly those, from an
allow-list, and escapes everything else, so a `<script>`, an `onerror=` or a `javascript:`
link shows as text or not at all. One place for the rule: the preview, the simulator and
the run transcripts all use the `telegram` template filter.
"""

from __future__ import annotations

import re
from html import escape
from html.parser import HTMLParser
from urllib.parse import urlsplit

from markupsafe import Markup

# Telegram's HTML tags (core.telegram.org/bots/api#html-style) -> the tag the page uses.
_TAGS = {
    "b": "b",
    "strong": "b",
    "i": "i",
    "em": "i",
    "u": "u",
    "ins": "u",
    "s": "s",
    "strike": "s",
    "del": "s",
    "code": "code",
    "pre": "pre",
    "blockquote": "blockquote",
    "tg-spoiler": "span",
    "a": "a",
}
_LINK_SCHEMES = ("http", "https", "tg")
_SPOILER = ' class="tg-spoiler"'
_MARKDOWN = re.compile(
    r"```(?:[\w+-]*\n)?(?P<pre>.*?)```"
    r"|`(?P<code>[^`\n]+)`"
    r"|\*(?P<b>[^*\n]+)\*"
    r"|_(?P<i>[^_\n]+)_"
    r"|\[(?P<label>[^\]\n]+)\]\((?P<url>[^)\s]+)\)",
    re.S,
)


def safe_link(url: str) -> str | None:
    """`url` if a click on it may leave the panel for it (web and Telegram links only)."""
    url = url.strip()
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in _LINK_SCHEMES:
        return None
    if parts.scheme.lower() != "tg" and not parts.netloc:
        return None
    return url


def _link_open(url: str | None) -> str:
    if url is None:
        return ""
    return f'<a href="{escape(url)}" rel="noopener noreferrer nofollow" target="_blank">'


class _Sanitizer(HTMLParser):
    """Keeps allowed tags (attributes dropped, except a checked link target), escapes the
    text of every other tag, and closes whatever the text left open."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.open: list[tuple[str, str]] = []  # (Telegram tag, closing html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "span" and attributes.get("class") == "tg-spoiler":
            tag = "tg-spoiler"
        if tag == "tg-emoji":  # a custom emoji: its text is the ordinary emoji
            self.open.append((tag, ""))
            return
        page_tag = _TAGS.get(tag)
        if page_tag is None:
            self.out.append(escape(self.get_starttag_text() or f"<{tag}>"))
            return
        if tag == "a":
            opening = _link_open(safe_link(attributes.get("href") or ""))
            self.out.append(opening)
            self.open.append((tag, "</a>" if opening else ""))
            return
        self.out.append(f"<{page_tag}{_SPOILER if tag == 'tg-spoiler' else ''}>")
        self.open.append((tag, f"</{page_tag}>"))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.out.append(escape(self.get_starttag_text() or f"<{tag}/>"))

    def handle_endtag(self, tag: str) -> None:
        if tag == "span" and any(name == "tg-spoiler" for name, _ in self.open):
            tag = "tg-spoiler"
        if not any(name == tag for name, _ in self.open):
            if tag not in _TAGS and tag != "tg-emoji":
                self.out.append(escape(f"</{tag}>"))
            return
        while self.open:
            name, closing = self.open.pop()
            self.out.append(closing)
            if name == tag:
                return

    def handle_data(self, data: str) -> None:
        self.out.append(escape(data))

    def handle_comment(self, data: str) -> None:
        self.out.append(escape(f"<!--{data}-->"))

    def handle_decl(self, decl: str) -> None:
        self.out.append(escape(f"<!{decl}>"))

    def handle_pi(self, data: str) -> None:
        self.out.append(escape(f"<?{data}>"))

    def unknown_decl(self, data: str) -> None:
        self.out.append(escape(f"<![{data}]>"))

    def result(self) -> str:
        self.close()
        while self.open:
            self.out.append(self.open.pop()[1])
        return "".join(self.out)


def from_html(text: str) -> str:
    sanitizer = _Sanitizer()
    sanitizer.feed(text)
    return sanitizer.result()


def from_markdown(text: str) -> str:
    """Telegram's legacy Markdown: *bold*, _italic_, `code`, ```pre```, [text](url)."""
    out: list[str] = []
    position = 0
    for match in _MARKDOWN.finditer(text):
        out.append(escape(text[position : match.start()]))
        position = match.end()
        kind = match.lastgroup
        if kind == "url":
            opening = _link_open(safe_link(match["url"]))
            out.append(f"{opening}{escape(match['label'])}{'</a>' if opening else ''}")
        elif kind is not None:
            tag = "pre" if kind == "pre" else kind
            out.append(f"<{tag}>{escape(match[kind])}</{tag}>")
    out.append(escape(text[position:]))
    return "".join(out)


def telegram_html(text: str | None, parse_mode: str | None = "HTML") -> Markup:
    """`text` as Telegram would show it in `parse_mode` ("HTML", "MARKDOWN", None = plain),
    as page markup that can carry nothing but Telegram's formatting."""
    if not text:
        return Markup("")
    mode = (parse_mode or "").upper()
    if mode.startswith("HTML"):
        return Markup(from_html(text))
    if mode.startswith("MARKDOWN"):
        return Markup(from_markdown(text))
    return Markup(escape(text))
