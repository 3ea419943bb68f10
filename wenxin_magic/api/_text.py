"""A request's text: the one estimate of its size (characters and tokens), and whether it can be encoded.

Both APIs' rules, the session (to fit a conversation) and the emulator (to charge tokens) measure with these,
so a request is as long for one as for the other.
"""

from __future__ import annotations

import json
import re

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")


def estimate_tokens(text: str) -> int:
    """The service's published local estimate: 0.625 per CJK character plus one per word."""
    if not text:
        return 0
    han = len(_CJK.findall(text))
    words = len(_CJK.sub(" ", text).split())
    return int(han * 0.625 + words)


def text_of(content) -> str | None:
    """The text of a message's content: a string, or the text parts of a list of parts; None if neither."""
    if isinstance(content, str):
        return content
    if isinstance(content, list) and content and all(isinstance(part, dict) for part in content):
        return "".join(part.get("text", "") for part in content if isinstance(part.get("text"), str))
    return None


def input_size(body: dict) -> tuple[int, int]:
    """(characters, estimated tokens) of what counts against a model's input limit, in either API's body:
    the prompt, every message's text and (v2) the tool calls it made, the system text, and the functions (v1)
    or tools (v2) as JSON."""
    texts = []
    if isinstance(body.get("prompt"), str):
        texts.append(body["prompt"])
    for message in body.get("messages") or ():
        if not isinstance(message, dict):
            continue
        text = text_of(message.get("content"))
        if text:
            texts.append(text)
        if message.get("tool_calls"):
            texts.append(json.dumps(message["tool_calls"], ensure_ascii=False))
    if isinstance(body.get("system"), str):
        texts.append(body["system"])
    for name in ("functions", "tools"):
        if body.get(name):
            texts.append(json.dumps(body[name], ensure_ascii=False))
    return sum(len(t) for t in texts), sum(estimate_tokens(t) for t in texts)


def _surrogate_in(value) -> tuple[str, int] | None:
    """(the text, the offset) of the first lone surrogate anywhere in ``value``."""
    if isinstance(value, str):
        match = _SURROGATE.search(value)
        return (value, match.start()) if match else None
    items = value.items() if isinstance(value, dict) else value if isinstance(value, (list, tuple)) else ()
    for item in items:
        found = _surrogate_in(item)
        if found:
            return found
    return None


def unencodable(body: dict) -> tuple[str, str] | None:
    """(a message for people, the field) when ``body`` holds a lone surrogate, which UTF-8 cannot encode."""
    for name, value in body.items():
        found = _surrogate_in(value)
        if not found:
            continue
        text, at = found
        where = f"`{name}`"
        if name == "messages" and isinstance(value, list):
            index = next(i for i, m in enumerate(value, start=1) if _surrogate_in(m))
            where = f"Message {index}"
        # ascii() shows the bad character as an escape: printing it raw would fail the same way
        return (f"{where} contains {ascii(text[at])} at character {at}, a lone surrogate that is not valid Unicode "
                "and cannot be sent. It usually comes from text decoded with errors='surrogateescape' (file names, "
                "command output): decode it with the right encoding, or clean it with "
                "text.encode('utf-8', 'replace').decode('utf-8').", "messages" if name == "messages" else name)
    return None
