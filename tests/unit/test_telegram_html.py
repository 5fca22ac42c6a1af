"""Course texts in panel pages: Telegram's formatting renders, nothing else does (the texts
come from tenants and students, so every other tag, attribute and link scheme is hostile)."""

from __future__ import annotations

from html.parser import HTMLParser
from urllib.parse import urlsplit

import pytest

from panel_api.web.telegram_html import telegram_html

ALLOWED_TAGS = {"b", "i", "u", "s", "code", "pre", "blockquote", "span", "a"}
ALLOWED_ATTRIBUTES = {"href", "rel", "target", "class"}


class Elements(HTMLParser):
    """The real tags and attributes a browser would build from the page's markup."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag, attrs):
        self.found.append((tag, dict(attrs)))


def elements(markup: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = Elements()
    parser.feed(markup)
    return parser.found


def html(text: str) -> str:
    return str(telegram_html(text, "HTML"))


def test_telegram_tags_render():
    shown = html(
        "<b>bold</b> <strong>too</strong> <i>it</i> <em>em</em> <u>u</u> <ins>ins</ins> "
        "<s>s</s> <del>d</del> <code>x = 1</code> <pre>block</pre> "
        '<tg-spoiler>secret</tg-spoiler> <span class="tg-spoiler">hidden</span> '
        "<blockquote>quoted</blockquote>"
    )
    assert shown == (
        "<b>bold</b> <b>too</b> <i>it</i> <i>em</i> <u>u</u> <u>ins</u> "
        "<s>s</s> <s>d</s> <code>x = 1</code> <pre>block</pre> "
        '<span class="tg-spoiler">secret</span> <span class="tg-spoiler">hidden</span> '
        "<blockquote>quoted</blockquote>"
    )


def test_links_to_the_web_and_telegram_render_and_keep_only_href():
    assert html('<a href="https://example.com/a?b=1&amp;c=2" onclick="x()">site</a>') == (
        '<a href="https://example.com/a?b=1&amp;c=2" rel="noopener noreferrer nofollow" '
        'target="_blank">site</a>'
    )
    assert 'href="tg://user?id=5"' in html('<a href="tg://user?id=5">me</a>')


@pytest.mark.parametrize(
    "text",
    [
        "<script>alert(1)</script>",
        '<img src=x onerror="alert(1)">',
        '<b onmouseover="alert(1)">hover</b>',
        '<a href="javascript:alert(1)">click</a>',
        '<a href=" JaVaScRiPt:alert(1)">click</a>',
        '<a href="data:text/html,<script>alert(1)</script>">click</a>',
        '<a href="vbscript:msgbox(1)">click</a>',
        '<svg onload="alert(1)"><b>x</b></svg>',
        '<iframe src="https://evil.example"></iframe>',
        "<b><script>alert(1)</script></b>",
        '<a href="https://ok.example" style="x" onfocus="alert(1)" autofocus>x</a>',
        "<!--<script>alert(1)</script>-->",
        "<style>body{display:none}</style>",
    ],
)
def test_scripts_handlers_and_other_schemes_never_pass(text):
    for tag, attributes in elements(html(text)):
        assert tag in ALLOWED_TAGS
        assert set(attributes) <= ALLOWED_ATTRIBUTES
        if "href" in attributes:
            assert urlsplit(attributes["href"] or "").scheme in ("http", "https", "tg")
        if "class" in attributes:
            assert attributes["class"] == "tg-spoiler"


def test_other_tags_show_as_the_text_the_student_wrote():
    assert html("2 < 3 and <x>y</x>") == "2 &lt; 3 and &lt;x&gt;y&lt;/x&gt;"
    assert html("<a href='javascript:x'>label</a>") == "label"


def test_entities_stay_text_and_unclosed_tags_are_closed():
    assert html("&lt;b&gt; &amp; <b>open") == "&lt;b&gt; &amp; <b>open</b>"
    assert html("<b><i>both</b> after") == "<b><i>both</i></b> after"


def test_legacy_markdown_renders_its_marks_and_escapes_the_rest():
    shown = str(
        telegram_html("*bold* _it_ `code` [site](https://example.com) <b>x</b>", "MARKDOWN")
    )
    assert shown == (
        "<b>bold</b> <i>it</i> <code>code</code> "
        '<a href="https://example.com" rel="noopener noreferrer nofollow" target="_blank">site</a>'
        " &lt;b&gt;x&lt;/b&gt;"
    )
    assert elements(str(telegram_html("[x](javascript:alert(1))", "MARKDOWN"))) == []
    assert str(telegram_html("```\nprint(1)\n```", "MARKDOWN")) == "<pre>print(1)\n</pre>"


def test_plain_text_is_only_escaped():
    assert str(telegram_html("*a* <b>", None)) == "*a* &lt;b&gt;"
    assert str(telegram_html(None)) == ""
