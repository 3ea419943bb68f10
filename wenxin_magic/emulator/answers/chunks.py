"""How a stream cuts an answer: sentence-sized deltas.
"""

from __future__ import annotations

import re

_SENTENCE_END = re.compile(r"[。！？!?\n]+|(?<!\d)\.+(?=\s|$)")


def _sentences(text: str) -> list[str]:
    out, start = [], 0
    for m in _SENTENCE_END.finditer(text):
        out.append(text[start:m.end()])
        start = m.end()
    if start < len(text):
        out.append(text[start:])
    return [s for s in out if s]


def chunk(text: str, *, low: int = 20, high: int = 60, target: int = 50) -> list[str]:
    """Sentence-sized stream deltas, about 20-60 characters each; ``"".join(chunk(t)) == t``."""
    if not text:
        return []
    sentences = _sentences(text)
    pieces: list[str] = []
    for s in sentences:  # split sentences that are too long
        while len(s) > high:
            cut = target
            space = s.rfind(" ", low, target + 1)
            if space > low:
                cut = space + 1
            pieces.append(s[:cut])
            s = s[cut:]
        if s:
            pieces.append(s)
    chunks: list[str] = []
    cur = ""
    for p in pieces:
        if cur and (len(cur) >= low and len(cur) + len(p) > high or len(cur) >= target):
            chunks.append(cur)
            cur = p
        else:
            cur += p
    if cur:
        if chunks and len(cur) < low // 2 and len(chunks[-1]) + len(cur) <= high + low:
            chunks[-1] += cur
        else:
            chunks.append(cur)
    assert "".join(chunks) == text
    return chunks
