"""An answer's length: lengthened to the characters a prompt or the emulator's ``answer_chars`` asks for, cut to
them, and without repeated sentences when ``penalty_score`` is high.

The emulator does not write essays, so a long answer is the answer, then placeholder paragraphs that say what
they are and count towards the length (each one different, in order), then the answer's closing line, only at
the very end. Long answers stay long, for the tests and the classroom load test that rely on them.
"""

from __future__ import annotations

from .request import Context

_SEPARATOR = "\n\n"


def _split_closing(text: str, closings: tuple[str, ...]) -> tuple[str, str]:
    """(the answer without its closing line, the closing line or "")."""
    body, sep, last = text.rpartition(_SEPARATOR)
    if sep and last.strip() in closings:
        return body, last
    return text, ""


def placeholder(ctx: Context, reached: int, target: int) -> str:
    """One paragraph of placeholder text; ``reached`` (the length so far, with it) makes each one different."""
    if ctx.zh:
        return (f"（模拟器占位文字，已到 {reached}/{target} 字）离线模拟器不会真正写作，这段文字只为让回答达到所要求的长度，"
                "方便检验长回答的显示和流式输出；设置 QIANFAN_API_KEY 后，同样的问题会得到真正的文章。")
    return (f"(Emulator placeholder, {reached} of {target} characters so far) The offline emulator does not really "
            "write; this text only brings the answer to the length asked for, to try how long answers display and stream.")


def fit_length(ctx: Context, text: str, target: int, closings: tuple[str, ...] = ()) -> str:
    """``text`` at about ``target`` characters, never more: lengthened with placeholder paragraphs before its
    closing line (one of ``closings``), or cut at a sentence's end."""
    if len(text) > target:
        return _cut(text, target)
    body, closing = _split_closing(text, closings)
    ending = _SEPARATOR + closing if closing else ""
    parts, size = [body], len(body)
    while True:
        estimate = size + len(_SEPARATOR) + len(placeholder(ctx, 0, target))
        paragraph = placeholder(ctx, estimate, target)
        if size + len(_SEPARATOR) + len(paragraph) + len(ending) > target:
            break
        parts.append(paragraph)
        size += len(_SEPARATOR) + len(paragraph)
    return _SEPARATOR.join(parts) + ending


def _cut(text: str, target: int) -> str:
    """At most ``target`` characters, ending at a sentence's end when one is not far back, else after a clause
    or a word with an ellipsis; a hard cut only when there is neither."""
    cut = text[:target]
    end = max(cut.rfind(c) for c in "。！？.!?\n")
    if end >= target * 0.6:
        return cut[:end + 1]
    pause = max(cut.rfind(c, 0, target - 1) for c in "，；、,; ")
    if pause >= target * 0.6:
        return cut[:pause].rstrip() + "…"
    return cut


_QUOTES = {"“": "”", "「": "」", "\"": "\""}


def _sentences_outside_quotes(text: str) -> list[str]:
    """Sentences with their ends kept; an end inside a quotation does not end one."""
    pieces, start, closing = [], 0, None
    for i, ch in enumerate(text):
        if closing is not None:
            if ch == closing:
                closing = None
        elif ch in _QUOTES:
            closing = _QUOTES[ch]
        elif ch in "。！？!?\n":
            pieces.append(text[start:i + 1])
            start = i + 1
    pieces.append(text[start:])
    return pieces


def dedupe(text: str) -> str:
    """penalty_score >= 1.5: drop sentences that repeat an earlier one, quotations kept whole."""
    seen = set()
    out = []
    for piece in _sentences_outside_quotes(text):
        key = piece.strip()
        if key and key in seen:
            continue
        seen.add(key)
        out.append(piece)
    return "".join(out)
