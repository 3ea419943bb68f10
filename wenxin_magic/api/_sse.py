"""Server-sent events as the service sends them.

httpx-sse follows the SSE spec, which drops lines that are not fields; the
service reports a mid-stream failure as a bare JSON line, so we read lines
ourselves. Splitting bytes before decoding keeps a multi-byte character that
straddles two network reads whole.
"""

from __future__ import annotations

import json
from typing import AsyncIterator

DONE = object()
NOT_JSON = object()  # what a stream makes of a line that does not parse


class LineDecoder:
    """Complete lines from byte pieces, split on LF, CRLF or CR, decoded as UTF-8.

    ``feed`` returns a list rather than yielding, so a stream pays no generator
    hop per line.
    """

    __slots__ = ("_pending",)

    def __init__(self):
        self._pending = b""

    def feed(self, data: bytes) -> list[str]:
        pending = self._pending + data if self._pending else data
        held_cr = False
        if b"\r" in pending:
            held_cr = pending.endswith(b"\r")  # maybe the first half of CRLF
            if held_cr:
                pending = pending[:-1]
            pending = pending.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        if b"\n" not in pending:
            self._pending = pending + b"\r" if held_cr else pending
            return []
        *lines, rest = pending.split(b"\n")
        self._pending = rest + b"\r" if held_cr else rest
        return [line.decode("utf-8", "replace") for line in lines]

    def flush(self) -> list[str]:
        rest, self._pending = self._pending, b""
        return [rest.rstrip(b"\r").decode("utf-8", "replace")] if rest else []


async def aiter_lines(chunks: AsyncIterator[bytes]) -> AsyncIterator[str]:
    """Lines of a byte stream (see LineDecoder)."""
    decoder = LineDecoder()
    async for data in chunks:
        for line in decoder.feed(data):
            yield line
    for line in decoder.flush():
        yield line


def parse_line(line: str):
    """The JSON object a line carries, None for lines to skip, DONE at a v2 end marker.

    ``data:`` lines carry chunks; a bare JSON line is an error report; comments
    (``: keep-alive``) and other SSE fields are skipped.
    """
    if not line or line[0] == ":":
        return None
    if line.startswith("data:"):
        payload = line[5:].strip()
        if not payload:
            return None
        if payload == "[DONE]":
            return DONE
        return json.loads(payload)
    if line[0] in "{[":
        return json.loads(line)
    return None  # event:, id:, retry: fields carry nothing for us
