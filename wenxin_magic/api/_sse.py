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


async def aiter_lines(chunks: AsyncIterator[bytes]) -> AsyncIterator[str]:
    """Lines of a byte stream, split on LF, CRLF or CR, decoded as UTF-8."""
    pending = b""
    async for data in chunks:
        if not data:
            continue
        pending += data
        if b"\r" in pending:
            held_cr = pending.endswith(b"\r")  # maybe the first half of CRLF
            if held_cr:
                pending = pending[:-1]
            pending = pending.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        else:
            held_cr = False
        if b"\n" in pending:
            *lines, pending = pending.split(b"\n")
            for line in lines:
                yield line.decode("utf-8", "replace")
        if held_cr:
            pending += b"\r"
    if pending:
        yield pending.rstrip(b"\r").decode("utf-8", "replace")


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
