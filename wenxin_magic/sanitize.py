"""The one way a string from outside reaches HTML or Markdown.

JupyterLab trusts what a running kernel displays: HTML in a ``text/markdown`` or ``text/html`` output is
inserted as it is, so an answer holding ``<img onerror=…>`` would run script as the user, and again each
time the saved notebook is opened. Every string that came from the model, the service, a tool, the user's
data or a name is therefore untrusted, and reaches a display only through ``safe_html`` (or, for a
Markdown file, ``safe_markdown``, or a terminal, ``safe_terminal``).

``safe_html`` renders Markdown itself (markdown-it-py, with raw HTML switched off, so a tag is shown as
text), limits links to http, https and mailto, shows Markdown images as links (``allow_remote_images``
lets them load), keeps ``$math$`` whole for MathJax minus the TeX commands that make links or load code,
and passes the result through nh3, an allowlist sanitizer. The views then send HTML, which JupyterLab does
not parse again, so no second parser can read the text differently. ``clean`` is the same allowlist for
the HTML the views assemble around those pieces, the last step before anything is displayed.

markdown-it-py and nh3 are imported on first use: loading the extension stays nearly free.
"""

from __future__ import annotations

import html
import re
from functools import lru_cache

LINK_SCHEMES = ("http", "https", "mailto")

_state = {"remote_images": False}

# TeX commands MathJax would turn into links, styles, ids or loaded code; shown as text (with a wide backslash)
_TEX_ACTIVE = re.compile(r"\\(?=(?:href|url|class|cssId|style|data|html[A-Za-z]*|require|unicode)\b)")
_SAFE_URL = re.compile(r"^(?:https?|mailto):", re.IGNORECASE)
# C0 controls and white space browsers drop from a URL before reading its scheme ("java\tscript:")
_URL_NOISE = re.compile(r"[\x00-\x20\x7f]+")

_TAGS = {"a", "b", "blockquote", "br", "code", "del", "details", "div", "em", "h1", "h2", "h3", "h4", "h5", "h6",
         "hr", "i", "kbd", "li", "ol", "p", "pre", "s", "span", "strong", "sub", "sup", "summary", "table", "tbody",
         "td", "th", "thead", "tr", "ul"}
_ATTRIBUTES = {"a": {"href", "title"}, "img": {"src", "alt", "title"}, "ol": {"start"},
               "td": {"style", "width", "valign"}, "th": {"style"}}
_CLASSES = {"div": {"wenxin-math", "wenxin-grid"}, "span": {"wenxin-math", "wenxin-footer", "wenxin-image"},
            "sub": {"wenxin-footer"}, "table": {"wenxin-grid"}}


def allow_remote_images(allowed: bool) -> None:
    """Whether a Markdown image in an answer loads (``WenxinMagics.remote_images``); off, it is a link.

    Off by default: an image's URL can carry the conversation to whoever serves it, without a click.
    """
    _state["remote_images"] = bool(allowed)


def remote_images() -> bool:
    return _state["remote_images"]


def safe_url(url: str) -> str | None:
    """``url`` if it is an http, https or mailto link, else None."""
    candidate = _URL_NOISE.sub("", html.unescape(url or ""))
    return url if _SAFE_URL.match(candidate) else None


def _defang_tex(text: str) -> str:
    return _TEX_ACTIVE.sub("＼", text)


@lru_cache(maxsize=2)
def _markdown(images: bool):
    from markdown_it import MarkdownIt
    from mdit_py_plugins.dollarmath import dollarmath_plugin

    md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
    md.enable(["table", "strikethrough"])
    md.use(dollarmath_plugin, allow_space=False, allow_digits=False, double_inline=True)
    md.validateLink = lambda url: safe_url(url) is not None

    def math_inline(self, tokens, idx, options, env):
        return f'<span class="wenxin-math">${html.escape(_defang_tex(tokens[idx].content))}$</span>'

    def math_block(self, tokens, idx, options, env):
        content = tokens[idx].content.strip("\n")
        return f'<div class="wenxin-math">$$\n{html.escape(_defang_tex(content))}\n$$</div>\n'

    def image(self, tokens, idx, options, env):
        token = tokens[idx]
        src = token.attrGet("src") or ""
        alt = html.escape(self.renderInlineAsText(token.children or [], options, env))
        if images:
            return f'<img src="{html.escape(src)}" alt="{alt}">'
        return f'<a href="{html.escape(src)}" title="image, not loaded">🖼 {alt or "image"}</a>'

    def text(self, tokens, idx, options, env):
        return html.escape(_defang_tex(tokens[idx].content))

    for name, rule in (("math_inline", math_inline), ("math_inline_double", math_block), ("math_block", math_block),
                       ("math_block_label", math_block), ("image", image), ("text", text)):
        md.add_render_rule(name, rule)
    return md


@lru_cache(maxsize=2)
def _cleaner(images: bool):
    import nh3

    tags = _TAGS | ({"img"} if images else set())
    return nh3.Cleaner(tags=tags, clean_content_tags={"script", "style"}, attributes=_ATTRIBUTES,
                       url_schemes=set(LINK_SCHEMES), link_rel="noopener noreferrer nofollow",
                       allowed_classes=_CLASSES, filter_style_properties={"text-align", "vertical-align"},
                       strip_comments=True)


def clean(fragment: str) -> str:
    """HTML the views assembled, through the allowlist: no script, handler, style sheet, frame or form survives."""
    return _cleaner(remote_images()).clean(fragment)


def safe_html(value: object, *, markdown: bool = True, inline: bool = False) -> str:
    """An untrusted string as HTML that cannot run, load or break out of anything.

    ``markdown``: render its Markdown (emphasis, lists, tables, code, math, links); otherwise it is plain
    text, escaped. ``inline``: a label or table cell, without the paragraph around it.
    """
    text = "" if value is None else str(value)
    if not markdown:
        return html.escape(_defang_tex(text))
    md = _markdown(remote_images())
    rendered = md.renderInline(text) if inline else md.render(text)
    return _cleaner(remote_images()).clean(rendered)


# C0 and C1 controls but tab and newline: an answer must not move a terminal's cursor, retitle it or write its
# clipboard (OSC 52)
_TERMINAL_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def safe_terminal(value: object) -> str:
    """An untrusted string for a terminal: printable, with no escape sequence left to act on."""
    return _TERMINAL_CONTROLS.sub("", "" if value is None else str(value))


# -- Markdown files -------------------------------------------------------------------------------------------
_LINK_TARGET = re.compile(r"\]\(\s*<?([^)\s>]*)")
_LINK_DEFINITION = re.compile(r"^( {0,3})\[([^\]\n]+)\]:[ \t]*<?(\S*)", re.MULTILINE)
_FENCE_LINE = re.compile(r"^ {0,3}(`{3,}|~{3,})")


def _code_spans(line: str):
    """(start, end) of each CommonMark code span in ``line``, honouring backslash escapes outside spans."""
    spans, i, n = [], 0, len(line)
    while i < n:
        if line[i] == "\\":
            i += 2
            continue
        if line[i] != "`":
            i += 1
            continue
        run = len(line[i:]) - len(line[i:].lstrip("`"))
        closing = re.compile(rf"(?<!`)`{{{run}}}(?!`)")
        found = closing.search(line, i + run)
        if found is None:
            i += run
            continue
        spans.append((i, found.end()))
        i = found.end()
    return spans


def _neutral_line(line: str) -> str:
    """One line of prose: '<' made text outside code spans, links limited, images as links."""
    pieces, last = [], 0
    for start, end in _code_spans(line):
        pieces.append(_neutral_prose(line[last:start]))
        pieces.append(line[start:end])
        last = end
    pieces.append(_neutral_prose(line[last:]))
    return "".join(pieces)


def _escape_backticks(text: str) -> str:
    """Backticks left in prose, escaped: a code span would otherwise open here and close on a later line,
    turning what this line left as prose into code, and what it kept as code into prose."""
    out, i = [], 0
    while i < len(text):
        if text[i] == "\\":
            out.append(text[i:i + 2])
            i += 2
            continue
        out.append("\\`" if text[i] == "`" else text[i])
        i += 1
    return "".join(out)


def _neutral_prose(text: str) -> str:
    text = _escape_backticks(text).replace("<", "&lt;")
    if not remote_images():
        text = text.replace("![", "\\![")
    text = _LINK_TARGET.sub(lambda m: m.group(0) if safe_url(m.group(1)) else m.group(0).replace("](", "]\\(", 1),
                            text)
    return _defang_tex(text)


def safe_markdown(value: object) -> str:
    """An untrusted string as Markdown for a file (an export), with its HTML neutralised.

    Prose keeps its Markdown, but every '<' outside code becomes '&lt;', so no reader makes a tag of it;
    links other than http, https and mailto are left as text; images are links unless remote images are
    allowed. Code fences are kept, and one left open is closed, so what follows stays outside it.
    """
    text = "" if value is None else str(value)
    out, fence = [], None
    for line in text.split("\n"):
        marker = _FENCE_LINE.match(line)
        if fence is not None:
            out.append(line)
            if marker and marker.group(1)[0] == fence[0] and len(marker.group(1)) >= len(fence) \
                    and not line.strip().lstrip(fence[0]):
                fence = None
            continue
        if marker and not (marker.group(1)[0] == "`" and "`" in line[marker.end():]):
            fence = marker.group(1)
            out.append(line[:marker.end()] + line[marker.end():].replace("<", "&lt;"))  # the info string
            continue
        definition = _LINK_DEFINITION.match(line)
        if definition and not safe_url(definition.group(3)):
            line = f"{definition.group(1)}\\[{line[definition.end(1) + 1:]}"
        out.append(_neutral_line(line))
    if fence is not None:
        out.append(fence)
    return "\n".join(out)


def fenced(text: str, info: str = "") -> str:
    """``text`` in a Markdown code fence longer than any run of backticks inside it."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{info}\n{text}\n{fence}"


def code_span(text: str) -> str:
    """``text`` as a Markdown code span that no backtick inside it can close early."""
    text = " ".join(str(text).split("\n"))
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    ticks = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") or not text.strip() else ""
    return f"{ticks}{pad}{text}{pad}{ticks}"
