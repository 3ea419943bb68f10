"""What every exchange with the emulator shares, v1's and v2's: who asks (IAM signatures), the faults injected
into it, its rate-limit window, and the ASGI writers that send a whole answer or a stream (slowly, cut, broken).

An :class:`Exchange` is one request being answered; each API's subclass (``_v1.V1Exchange``, ``_v2.V2Exchange``)
says how it refuses, in its own wire form.
"""

from __future__ import annotations

import asyncio
import calendar
import hmac
import json
import re
import secrets
import time

from starlette.requests import Request
from starlette.responses import Response

from ..api import parse_authorization, sign_request
from ._faults import ERROR_FAULTS, HTML_500
from ._state import EmulatorState

# (server addr, client addr) -> transport, filled in by the emulator's uvicorn protocol so a
# handler can cut its own connection.
CONNECTIONS: dict[tuple, object] = {}

ANY_METHOD = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"]


def request_id(prefix: str = "as-") -> str:
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
    return prefix + "".join(secrets.choice(alphabet) for _ in range(10))


def json_text(obj) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


class _ClientGone(Exception):
    """The ASGI server could not send: the client hung up."""


class RawResponse:
    """A response written by hand to the ASGI ``send``, for streams and cut connections."""

    def __init__(self, fn):
        self.fn = fn

    async def __call__(self, scope, receive, send):
        async def send_to_client(message):
            try:
                await send(message)
            except OSError:  # ASGI lets a server raise this for a closed connection (uvicorn's h11 just drops it)
                raise _ClientGone from None

        try:
            await self.fn(scope, receive, send_to_client)
        except _ClientGone:
            pass  # nobody is left to answer, and a hang-up is no error of the emulator's


def _connection(scope) -> tuple:
    """The key of a request's connection in CONNECTIONS."""
    return _addr(scope.get("server")), _addr(scope.get("client"))


def _addr(value):
    return tuple(value) if value else None


async def _drop(scope) -> None:
    """Cut the connection mid-answer, as a failing network does."""
    transport = CONNECTIONS.get(_connection(scope))
    if transport is None:
        raise ConnectionAbortedError("drop_stream")  # no transport to cut: uvicorn closes it
    transport.abort()
    await asyncio.sleep(0.01)  # let connection_lost run: later sends are then dropped


class Refused(Exception):
    """Ends a request early with ``response``: an error the service would send, or an injected fault."""

    def __init__(self, response: Response):
        super().__init__(response.status_code)
        self.response = response


class Exchange:
    """One request being answered: its log entry, the headers every answer carries, its rate-limit key.

    Each API's subclass refuses in its own form: :meth:`refuse` (an error the service sends),
    :meth:`refuse_injected` (an injected error fault), :meth:`error_line` and :meth:`error_body` (what a
    ``stream_error`` fault writes into a stream, or answers instead of a whole answer).
    """

    def __init__(self, state: EmulatorState, entry: dict, request: Request):
        self.state = state
        self.entry = entry
        rid = request.headers.get("request_id") or request.headers.get("x-request-id") or secrets.token_hex(16)
        self.base_headers = {"Statement": "AI-generated", "X-Baidu-Request-Id": rid}
        self.key = None  # (identity, endpoint) once authenticated

    def headers(self, key=None, exhausted: bool = False) -> dict:
        return {**self.state.rate_headers(key or self.key, exhausted=exhausted), **self.base_headers}

    def refuse(self, code, message: str | None = None, *, key=None, exhausted: bool = False) -> Refused:
        raise NotImplementedError

    def refuse_injected(self, fault: str, kw: dict) -> Refused:
        """The refusal an injected error fault (a name in ERROR_FAULTS, or "error" with ``code``/``message``) gives."""
        raise NotImplementedError

    def error_line(self, fault: dict, rid: str, eol: str) -> str:
        raise NotImplementedError

    def error_body(self, fault: dict, rid: str) -> str:
        raise NotImplementedError


def check_iam(state: EmulatorState, request: Request, value: str) -> tuple[str | None, str | None]:
    """(access key, None) when the signature holds, else (None, "notfound"|"signature")."""
    parts = parse_authorization(value)
    if parts is None or not re.fullmatch(r"[0-9a-f]{64}", parts["signature"]):
        return None, "signature"
    try:
        ts = calendar.timegm(time.strptime(parts["timestamp"], "%Y-%m-%dT%H:%M:%SZ"))
    except ValueError:
        return None, "signature"
    if abs(time.time() - ts) > max(parts["expiration"], 0):
        return None, "signature"
    ak = parts["access_key"]
    creds = state.iam_credentials
    if creds is None:
        return ak, None
    if ak not in creds:
        return None, "notfound"
    listed = tuple(h.lower() for h in parts["headers_to_sign"])
    params = {k: v for k, v in request.query_params.items()}
    all_headers = dict(request.headers.items())
    candidates = (
        {k: v for k, v in all_headers.items() if k in listed or k.startswith("x-bce-")},
        {k: v for k, v in all_headers.items() if k in listed},
    )
    for headers in candidates:
        expected = sign_request(ak, creds[ak], request.method, request.url.path, params, headers,
                                timestamp=parts["timestamp"], expiration=parts["expiration"],
                                headers_to_sign=listed).rsplit("/", 1)[-1]
        if hmac.compare_digest(expected, parts["signature"]):
            return ak, None
        # headers_to_sign=() would make sign() fall back to its defaults; nothing else to try
    return None, "signature"


def decoded_body(body_bytes: bytes):
    """The request's JSON (any type; None for an empty body); ValueError when it is not JSON."""
    return json.loads(body_bytes) if body_bytes.strip() else None


def injected_faults(state: EmulatorState, request: Request) -> tuple[dict, float]:
    """The faults this request meets (name -> options), and how long its first byte waits."""
    faults = state.take_faults(request.url.path)
    return faults, float(faults.get("slow_first_byte", {}).get("delay", 0.0) or 0.0)


async def fail_as_injected(exchange: Exchange, faults: dict, slow: float) -> None:
    """Refuse the request as an injected outcome fault says, if one does."""
    for name in (*ERROR_FAULTS, "error"):
        if name in faults:
            raise exchange.refuse_injected(name, faults[name])
    if "http_500" in faults:
        if slow:
            await asyncio.sleep(slow)
        raise Refused(Response(HTML_500, status_code=500, media_type="text/html"))


def admit(exchange: Exchange, prompt_tokens: int) -> list:
    """The request's entry in its RPM/TPM window; refused when a limit is reached."""
    tripped, window_entry = exchange.state.admit(exchange.key, prompt_tokens)
    if tripped:
        message = "Rate limit reached for RPM" if tripped == 336501 else "Rate limit reached for TPM"
        raise exchange.refuse(tripped, message, exhausted=True)
    return window_entry


def _sender(send, fragment: bool):
    async def write(data: bytes):
        if not fragment:
            await send({"type": "http.response.body", "body": data, "more_body": True})
            return
        for i in range(0, len(data), 5):
            await send({"type": "http.response.body", "body": data[i:i + 5], "more_body": True})
            await asyncio.sleep(0.0005)
    return write


def _start(status: int, headers: dict, content_type: str) -> dict:
    raw = [(k.lower().encode("latin-1"), str(v).encode("latin-1")) for k, v in headers.items()]
    raw.append((b"content-type", content_type.encode()))
    return {"type": "http.response.start", "status": status, "headers": raw}


_END = {"type": "http.response.body", "body": b"", "more_body": False}


def _event_text(event: dict, eol: str, keepalive: bool) -> str:
    text = ": keep-alive" + eol + eol if keepalive else ""
    return text + "data: " + json_text(dict(event, created=int(time.time()))) + eol + eol


def _fault_position(fault: dict | None, events: list[dict]) -> int | None:
    """Before which event a stream fault strikes: ``after`` events in, never past the last one."""
    return min(int(fault.get("after", 1)), len(events) - 1) if fault is not None else None


def make_stream(exchange: Exchange, events: list[dict], faults: dict, slow: float, *, done: str | None = None,
                pace: tuple[float, float] | None = None):
    """The stream's writer; the exchange's log entry learns when the first chunk left, how many were sent and
    whether the client hung up first, and the exchange writes a ``stream_error``; ``done`` ends a whole stream
    (v2's ``data: [DONE]``); ``pace`` (time to the first chunk, delay between chunks) replaces the emulator's."""
    state, headers, entry = exchange.state, exchange.headers(), exchange.entry
    entry.update(chunks_sent=0, first_chunk_at=None, client_closed=False)
    eol = "\r\n" if "crlf" in faults else "\n"
    error = faults.get("stream_error")
    drop_at, error_at = _fault_position(faults.get("drop_stream"), events), _fault_position(error, events)
    ttft, delay = pace if pace is not None else (state.ttft, state.chunk_delay)

    async def run(scope, receive, send):
        try:
            await write_stream(scope, send)
        except _ClientGone:
            entry["client_closed"] = True
            raise

    async def write_stream(scope, send):
        if slow:
            await asyncio.sleep(slow)
        await send(_start(200, {**headers, "Cache-Control": "no-cache"}, "text/event-stream;charset=utf-8"))
        conn = _connection(scope)
        if conn not in CONNECTIONS:
            conn = None  # not recorded: there is no telling when the client leaves
        write = _sender(send, "fragment" in faults)
        if ttft:
            await asyncio.sleep(ttft)
        for i, event in enumerate(events):
            if i == drop_at:
                await _drop(scope)
                return
            if i == error_at:
                await write(exchange.error_line(error, event["id"], eol).encode("utf-8"))
                break
            if i and delay:
                await asyncio.sleep(delay)
            if conn is not None and conn not in CONNECTIONS:
                entry["client_closed"] = True
                return  # the client went away: stop generating
            text = _event_text(event, eol, "keepalive" in faults)
            if entry["first_chunk_at"] is None:
                entry["first_chunk_at"] = time.time()
            await write(text.encode("utf-8"))
            entry["chunks_sent"] += 1
        else:
            if done is not None:
                await write(f"data: {done}{eol}{eol}".encode("utf-8"))
        await send(_END)

    return run


def make_plain(exchange: Exchange, payload: dict, faults: dict, slow: float, n_chunks: int,
               pace: tuple[float, float] | None = None):
    """The writer of a whole answer, as late as the stream of ``n_chunks`` would have ended."""
    state, headers = exchange.state, exchange.headers()
    ttft, delay = pace if pace is not None else (state.ttft, state.chunk_delay)

    async def run(scope, receive, send):
        if slow:
            await asyncio.sleep(slow)
        wait = ttft + delay * (n_chunks - 1)  # as long as the stream would take
        if wait:
            await asyncio.sleep(wait)
        if "drop_stream" in faults:
            await _drop(scope)
            return
        if "stream_error" in faults:
            fault, rid = faults["stream_error"], payload["id"]
            data = exchange.error_body(fault, rid).encode("utf-8")
            ctype = "application/json"
        else:
            data, ctype = json_text(payload).encode("utf-8"), "application/json;charset=utf-8"
        await send(_start(200, {**headers, "Content-Length": str(len(data))}, ctype))
        await _sender(send, "fragment" in faults)(data)
        await send(_END)

    return run
