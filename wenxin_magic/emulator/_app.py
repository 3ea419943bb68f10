"""The emulator's Starlette app and its shared, lock-guarded state.

v1 (OAuth, the wenxinworkshop routes) is answered here; v2 (``/v2/chat/completions`` and the IAM bearer-token
route) in ``_v2``, which shares this module's authentication, fault, rate-limit and stream helpers.
"""

from __future__ import annotations

import asyncio
import calendar
import collections
import hmac
import json
import re
import secrets
import threading
import time
import zlib

from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..api import (CHAT, COMPLETION, CUSTOM_CHAT, CUSTOM_COMPLETION, InvalidRequestError, describe_code,
                   estimate_tokens, find_model, input_size, model_for_endpoint, parse_authorization, sign_request,
                   validate_request)
from .answers import Answer, chunk, compose

PREFIX = "/rpc/2.0/ai_custom/v1/wenxinworkshop"

# fault name -> (error_code, error_msg) for the ones that are plain v1 errors
ERROR_FAULTS = {
    "expired_token": (111, "Access token expired"),
    "invalid_token": (110, "Access token invalid or no longer valid"),
    "qps": (18, "Open api qps request limit reached"),
    "busy": (336100, "Server high load, please try again later"),
    "unavailable": (2, "Service temporarily unavailable"),
    "rpm": (336501, "Rate limit reached for RPM"),
    "tpm": (336502, "Rate limit reached for TPM"),
}
OUTCOME_FAULTS = frozenset(ERROR_FAULTS) | {"error", "http_500", "drop_stream", "stream_error"}
MODIFIER_FAULTS = frozenset({"slow_first_byte", "need_clear_history", "crlf", "keepalive", "fragment"})
FAULTS = OUTCOME_FAULTS | MODIFIER_FAULTS

_HTML_500 = ("<html>\r\n<head><title>500 Internal Server Error</title></head>\r\n<body>\r\n"
             "<center><h1>500 Internal Server Error</h1></center>\r\n<hr><center>nginx</center>\r\n"
             "</body>\r\n</html>\r\n")

# The log lives as long as its emulator, which in an offline notebook kernel is the kernel's whole life:
# it keeps only the newest requests, and a body too large to keep whole only by its size.
REQUEST_LOG_SIZE = 1000
LOGGED_BODY_LIMIT = 256 * 1024

_SECRET_HEADER = re.compile(r"key|token|secret|auth|password|cookie|credential|signature", re.I)

# (server addr, client addr) -> transport, filled in by the emulator's uvicorn protocol so a
# handler can cut its own connection.
CONNECTIONS: dict[tuple, object] = {}


def request_id() -> str:
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
    return "as-" + "".join(secrets.choice(alphabet) for _ in range(10))


def _json(obj) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


class EmulatorState:
    """Everything the handlers share with the controlling thread."""

    def __init__(self, *, ttft=0.0, chunk_delay=0.0, credentials=None, iam_credentials=None, rpm=300,
                 tpm=300000, token_ttl=2592000, deployments=None, strict_endpoints=False, answer_chars=None,
                 v2_keys=None, request_log_size=None):
        self.lock = threading.Lock()
        self.ttft = float(ttft)
        self.chunk_delay = float(chunk_delay)
        self.credentials = dict(credentials) if credentials is not None else None
        self.iam_credentials = dict(iam_credentials) if iam_credentials is not None else None
        self.rpm = int(rpm)
        self.tpm = int(tpm)
        self.token_ttl = int(token_ttl)
        self.deployments = {"my_yi_34b": "Yi-34B"} if deployments is None else dict(deployments)
        self.strict_endpoints = bool(strict_endpoints)
        self.answer_chars = answer_chars
        self.tokens: dict[str, dict] = {}
        self.v2_keys = frozenset(v2_keys) if v2_keys is not None else None  # None: any well-formed key will do
        self.bearer_tokens: dict[str, dict] = {}  # minted at /v1/BCE-BEARER/token
        self.faults: list[dict] = []
        self.requests: list[dict] = []
        self.request_log_size = REQUEST_LOG_SIZE if request_log_size is None else int(request_log_size)
        if self.request_log_size < 1:
            raise ValueError("request_log_size must be at least 1")
        self.windows: dict[tuple, collections.deque] = {}
        self.counter = 0
        self.seen_secrets: set[str] = set()

    # -- controls (called from any thread)
    def inject(self, fault: str, times: int = 1, **kw) -> None:
        if fault not in FAULTS:
            raise ValueError(f"unknown fault {fault!r}; choose from {', '.join(sorted(FAULTS))}")
        if times < 1:
            raise ValueError("times must be at least 1")
        path = kw.pop("path", None)
        with self.lock:
            self.faults.append({"name": fault, "remaining": int(times), "path": path, "kw": kw})

    def _mark_tokens(self, state: str) -> None:
        with self.lock:
            for info in (*self.tokens.values(), *self.bearer_tokens.values()):
                info["state"] = state

    def expire_tokens(self) -> None:
        self._mark_tokens("expired")

    def revoke_tokens(self) -> None:
        self._mark_tokens("revoked")

    def clear(self) -> None:
        with self.lock:
            self.requests.clear()
            self.faults.clear()

    def reset_limits(self) -> None:
        with self.lock:
            self.windows.clear()

    def set_limits(self, rpm: int | None = None, tpm: int | None = None) -> None:
        with self.lock:
            if rpm is not None:
                self.rpm = int(rpm)
            if tpm is not None:
                self.tpm = int(tpm)

    def snapshot_requests(self) -> list[dict]:
        with self.lock:
            return [dict(r) for r in self.requests]

    # -- used by handlers
    def take_faults(self, path: str) -> dict[str, dict]:
        """Consume the first matching outcome fault and one of each modifier fault."""
        taken: dict[str, dict] = {}
        with self.lock:
            outcome = False
            for fault in self.faults:
                if fault["path"] and fault["path"] not in path:
                    continue
                name = fault["name"]
                if name in OUTCOME_FAULTS:
                    if outcome:
                        continue
                    outcome = True
                elif name in taken:
                    continue
                taken[name] = dict(fault["kw"])
                fault["remaining"] -= 1
            self.faults = [f for f in self.faults if f["remaining"] > 0]
        return taken

    def issue_token(self, ak: str) -> dict:
        now = int(time.time())
        with self.lock:
            self.counter += 1
            n = self.counter
        appid = 10000000 + zlib.crc32(ak.encode()) % 90000000
        token = f"24.{secrets.token_hex(16)}.{self.token_ttl}.{now}.{100000 + n}-{appid}"
        refresh = f"25.{secrets.token_hex(16)}.315360000.{now + 315360000}.{100000 + n}-{appid}"
        with self.lock:
            self.tokens[token] = {"ak": ak, "issued": time.time(), "ttl": self.token_ttl, "state": "ok"}
            self.seen_secrets.update({token, refresh})
        return {"refresh_token": refresh, "expires_in": self.token_ttl, "scope": "public wise_adapt",
                "session_key": secrets.token_hex(24), "access_token": token, "session_secret": secrets.token_hex(16)}

    def issue_bearer(self, ak: str, ttl: int) -> dict:
        """A v2 bearer token for IAM key ``ak``, valid for ``ttl`` seconds, as /v1/BCE-BEARER/token answers."""
        now = time.time()
        token = f"bce-v3/ALTAK-{secrets.token_urlsafe(15).replace('-', 'x').replace('_', 'y')}/{secrets.token_hex(20)}"
        with self.lock:
            self.bearer_tokens[token] = {"ak": ak, "issued": now, "ttl": ttl, "state": "ok"}
            self.seen_secrets.add(token)

        def stamp(t: float) -> str:
            return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))

        return {"userId": f"{zlib.crc32(ak.encode()):08x}" * 4, "token": token, "status": "enable",
                "createTime": stamp(now), "expireTime": stamp(now + ttl)}

    def token_status(self, token: str, *, bearer: bool = False) -> tuple[str, str | None]:
        """("ok" | "expired" | "invalid", the key it was issued to) for an access token or a minted bearer token."""
        with self.lock:
            info = (self.bearer_tokens if bearer else self.tokens).get(token)
            if info is None:
                return "invalid", None
            if info["state"] == "revoked":
                return "invalid", info["ak"]
            if info["state"] == "expired" or time.time() > info["issued"] + info["ttl"]:
                return "expired", info["ak"]
            return "ok", info["ak"]

    def rate_headers(self, key, *, exhausted: bool = False) -> dict[str, str]:
        with self.lock:
            used_req, used_tok = self._usage(key)
            rpm, tpm = self.rpm, self.tpm
        return {
            "X-Ratelimit-Limit-Requests": str(rpm),
            "X-Ratelimit-Limit-Tokens": str(tpm),
            "X-Ratelimit-Remaining-Requests": "0" if exhausted else str(max(0, rpm - used_req)),
            "X-Ratelimit-Remaining-Tokens": "0" if exhausted else str(max(0, tpm - used_tok)),
        }

    def _usage(self, key) -> tuple[int, int]:
        window = self.windows.get(key)
        if not window:
            return 0, 0
        cutoff = time.monotonic() - 60.0
        while window and window[0][0] < cutoff:
            window.popleft()
        return len(window), sum(e[1] for e in window)

    def admit(self, key, prompt_tokens: int):
        """Record one request; (None, entry) if admitted, else (336501|336502, None)."""
        with self.lock:
            used_req, used_tok = self._usage(key)
            if used_req >= self.rpm:
                return 336501, None
            if used_tok + prompt_tokens > self.tpm:
                return 336502, None
            entry = [time.monotonic(), prompt_tokens]
            self.windows.setdefault(key, collections.deque()).append(entry)
            return None, entry

    def add_tokens(self, entry, tokens: int) -> None:
        with self.lock:
            entry[1] += tokens

    def log(self, request: Request, body: bytes) -> dict:
        query = {}
        for k, v in request.query_params.multi_items():
            if k in ("access_token", "client_id", "client_secret") or _SECRET_HEADER.search(k):
                if v:
                    self.seen_secrets.add(v)
                v = "***"
            query[k] = v
        headers = {}
        for k, v in request.headers.items():
            if k == "authorization":
                v = "bce-auth-v1/***" if v.startswith("bce-auth-v1") else \
                    "Bearer ***" if v[:7].lower() == "bearer " else "***"
            elif _SECRET_HEADER.search(k):
                v = "***"
            headers[k] = v
        cut = len(body) > LOGGED_BODY_LIMIT
        try:
            parsed = json.loads(body) if body and not cut else None
        except ValueError:
            parsed = None
        entry = {"method": request.method, "path": request.url.path, "query": query, "headers": headers,
                 "json": parsed, "status": None}
        if cut:
            entry.update(body_cut=True, body_size=len(body))
        if "appid" in request.headers:
            entry["appid"] = request.headers["appid"]
        with self.lock:
            known = [s for s in self.seen_secrets | set(self.tokens) | set(self.v2_keys or ()) |
                     set(self.credentials or {}) |
                     set((self.credentials or {}).values()) | set(self.iam_credentials or {}) |
                     set((self.iam_credentials or {}).values()) if s and len(s) >= 4]
            for section in ("query", "headers"):
                for k, v in entry[section].items():
                    for s in known:
                        if s in v:
                            v = v.replace(s, "***")
                    entry[section][k] = v
            self.requests.append(entry)
            del self.requests[:-self.request_log_size]
        return entry


# ----------------------------------------------------------------- responses

class _ClientGone(Exception):
    """The ASGI server could not send: the client hung up."""


class _Raw:
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


def _v1_error(code: int, message: str | None, headers: dict) -> Response:
    if message is None:
        known = describe_code(code)
        message = known[0] if known else "Unknown error"
    body = _json({"error_code": code, "error_msg": message, "id": request_id()})
    return Response(body, status_code=200, headers=headers, media_type="application/json")


def _oauth_error(error: str, description: str) -> Response:
    return Response(_json({"error": error, "error_description": description}), status_code=401,
                    media_type="application/json")


_ANY_METHOD = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"]


def build_app(state: EmulatorState) -> Starlette:
    from . import _v2

    async def token(request: Request):
        return await _serve_token(state, request)

    async def v1(request: Request):
        return await _serve_v1(state, request)

    async def not_found(request: Request):
        state.log(request, await request.body())["status"] = 404
        return Response(_json({"error_code": 3, "error_msg": "Unsupported openapi method", "id": request_id()}),
                        status_code=404, media_type="application/json")

    async def client_left(request: Request, exc: ClientDisconnect):
        # every handler reads the whole body before it logs the request: a client that hangs up meanwhile
        # (an interrupted notebook cell) is logged here, without the body it never finished sending
        state.log(request, b"")["client_closed"] = True
        return Response(status_code=400)  # never sent: uvicorn drops writes to a closed connection

    return Starlette(exception_handlers={ClientDisconnect: client_left}, routes=[
        Route("/oauth/2.0/token", token, methods=["GET", "POST"]),
        Route(PREFIX + "/{kind:str}/{endpoint:path}", v1, methods=_ANY_METHOD),
        *_v2.routes(state),
        Route("/{rest:path}", not_found, methods=_ANY_METHOD),
    ])


# ---------------------------------------------------------------------- token

async def _serve_token(state: EmulatorState, request: Request) -> Response:
    body = await request.body()
    entry = state.log(request, body)
    response = _token_answer(state, _token_params(request, body))
    entry["status"] = response.status_code
    return response


def _token_params(request: Request, body: bytes) -> dict:
    """The query's parameters, plus a form body's (the query wins)."""
    params = dict(request.query_params)
    if request.method == "POST" and "x-www-form-urlencoded" in request.headers.get("content-type", ""):
        from urllib.parse import parse_qsl

        for k, v in parse_qsl(body.decode("utf-8", "replace")):
            params.setdefault(k, v)
    return params


def _token_answer(state: EmulatorState, params: dict) -> Response:
    if params.get("grant_type") != "client_credentials":
        return _oauth_error("unsupported_grant_type", "The authorization grant type is not supported")
    ak, sk = params.get("client_id") or "", params.get("client_secret") or ""
    creds = state.credentials  # None: any keys will do
    if not ak or (creds is not None and ak not in creds):
        return _oauth_error("invalid_client", "unknown client id")
    if not sk or (creds is not None and not hmac.compare_digest(creds[ak], sk)):
        return _oauth_error("invalid_client", "Client authentication failed")
    return JSONResponse(state.issue_token(ak))


# ----------------------------------------------------------------------- auth

def _iam_failure(kind: str, headers: dict) -> Response:
    if kind == "notfound":
        code, msg = "NotFound", "NotFound, cause: Could not find credential."
    else:
        code, msg = "SignatureDoesNotMatch", "SignatureDoesNotMatch, cause: Fail to authn user: Signature does not match"
    h = dict(headers)
    h["X-Bce-Error-Code"] = code
    h["X-Bce-Error-Message"] = msg
    body = _json({"error_code": 14, "error_msg": "IAM Certification failed", "id": request_id()})
    return Response(body, status_code=401, headers=h, media_type="application/json")


def _check_iam(state: EmulatorState, request: Request, value: str) -> tuple[str | None, str | None]:
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


# ---------------------------------------------------------------- v1 handler

def _resolve(state: EmulatorState, seg: str, endpoint: str):
    kind = CHAT if seg == "chat" else COMPLETION if seg == "completions" else None
    if kind is None or not endpoint or "/" in endpoint.strip("/"):
        return None
    endpoint = endpoint.strip("/")
    spec = model_for_endpoint(kind, endpoint)
    if spec is not None:
        return spec
    if endpoint in state.deployments:
        spec = find_model(state.deployments[endpoint])
        if spec is not None and spec.kind == kind:
            return spec
        return None
    if state.strict_endpoints:
        return None
    return CUSTOM_CHAT if kind == CHAT else CUSTOM_COMPLETION


class _Refused(Exception):
    """Ends a v1 request early with ``response``: an error the service would send, or an injected fault."""

    def __init__(self, response: Response):
        super().__init__(response.status_code)
        self.response = response


class _Exchange:
    """One v1 request being answered: its log entry, the headers every answer carries, its rate-limit key."""

    def __init__(self, state: EmulatorState, entry: dict, request: Request):
        self.state = state
        self.entry = entry
        rid = request.headers.get("request_id") or request.headers.get("x-request-id") or secrets.token_hex(16)
        self.base_headers = {"Statement": "AI-generated", "X-Baidu-Request-Id": rid}
        self.key = None  # (identity, endpoint) once authenticated

    def headers(self, key=None, exhausted: bool = False) -> dict:
        return {**self.state.rate_headers(key or self.key, exhausted=exhausted), **self.base_headers}

    def refuse(self, code: int, message: str | None, *, key=None, exhausted: bool = False) -> _Refused:
        return _Refused(_v1_error(code, message, self.headers(key, exhausted)))

    def refuse_injected(self, fault: str, kw: dict) -> _Refused:
        """The refusal an injected error fault (a name in ERROR_FAULTS, or "error" with ``code``/``message``) gives."""
        if fault in ERROR_FAULTS:
            code, message = ERROR_FAULTS[fault]
            return self.refuse(code, message, exhausted=fault in ("rpm", "tpm"))
        return self.refuse(int(kw.get("code", 1)), kw.get("message"))

    def error_line(self, fault: dict, rid: str, eol: str) -> str:
        """What a ``stream_error`` fault writes into a stream."""
        return _error_line(fault, rid) + eol

    def error_body(self, fault: dict, rid: str) -> str:
        """What a ``stream_error`` fault answers instead of a whole (non-stream) answer."""
        return _error_line(fault, rid)


async def _serve_v1(state: EmulatorState, request: Request):
    body_bytes = await request.body()
    endpoint = request.path_params["endpoint"].strip("/")
    exchange = _Exchange(state, state.log(request, body_bytes), request)
    # the service's order: auth, method and endpoint, (faults), JSON and validation, rate limits
    try:
        exchange.key = (_authenticate(exchange, request, endpoint), endpoint)
        spec = _endpoint_spec(exchange, request, endpoint)
        faults = state.take_faults(request.url.path)
        slow = float(faults.get("slow_first_byte", {}).get("delay", 0.0) or 0.0)
        await _fail_as_injected(exchange, faults, slow)
        body = await _valid_body(exchange, spec, body_bytes, slow)
        prompt_tokens = input_size(body)[1]
        window_entry = _admit(exchange, prompt_tokens)
    except _Refused as refused:
        exchange.entry["status"] = refused.response.status_code
        return refused.response
    answer = _answer(state, spec, endpoint, body, faults)
    usage = _usage(prompt_tokens, _completion_tokens(answer))
    state.add_tokens(window_entry, usage["completion_tokens"])
    exchange.entry["status"] = 200
    if body.get("stream") is True:
        events = _stream_events(answer, usage, request_id(), spec.kind == COMPLETION)
        return _Raw(_make_stream(state, events, exchange.headers(), faults, slow, exchange.entry))
    payload = _full_body(answer, usage, request_id(), spec.kind == COMPLETION)
    return _Raw(_make_plain(state, payload, exchange.headers(), faults, slow, max(1, len(chunk(answer.text)))))


def _authenticate(exchange: _Exchange, request: Request, endpoint: str) -> tuple:
    """Who is asking, by access token or IAM signature; refused as the service refuses."""
    token = request.query_params.get("access_token")
    auth = request.headers.get("authorization")
    if token:
        status, ak = exchange.state.token_status(token)
        if status == "expired":
            raise exchange.refuse(111, "Access token expired", key=("token", token, endpoint))
        if status != "ok":
            raise exchange.refuse(110, "Access token invalid or no longer valid", key=("token", token, endpoint))
        return ("ak", ak)
    if auth:
        ak, failure = _check_iam(exchange.state, request, auth)
        if failure:
            raise _Refused(_iam_failure(failure, exchange.headers(("anonymous", endpoint))))
        return ("iam", ak)
    raise exchange.refuse(110, "Access token invalid or no longer valid", key=("anonymous", endpoint))


def _endpoint_spec(exchange: _Exchange, request: Request, endpoint: str):
    if request.method != "POST":
        raise exchange.refuse(336101, "Invalid HTTP method")
    spec = _resolve(exchange.state, request.path_params["kind"], endpoint)
    if spec is None:
        raise exchange.refuse(3, "Unsupported openapi method")
    return spec


async def _fail_as_injected(exchange: _Exchange, faults: dict, slow: float) -> None:
    """Refuse the request as an injected outcome fault says, if one does."""
    for name in (*ERROR_FAULTS, "error"):
        if name in faults:
            raise exchange.refuse_injected(name, faults[name])
    if "http_500" in faults:
        if slow:
            await asyncio.sleep(slow)
        raise _Refused(Response(_HTML_500, status_code=500, media_type="text/html"))


async def _valid_body(exchange: _Exchange, spec, body_bytes: bytes, slow: float) -> dict:
    try:
        body = json.loads(body_bytes) if body_bytes.strip() else None
    except ValueError:
        if slow:
            await asyncio.sleep(slow)
        raise exchange.refuse(336002, "Invalid JSON") from None
    if body is None:
        raise exchange.refuse(336002, "Invalid JSON")
    if not isinstance(body, dict):
        raise exchange.refuse(336001, "Invalid Argument")
    try:
        validate_request(spec, body)
    except InvalidRequestError as err:
        raise exchange.refuse(err.code, err.wire_message) from None
    return body


def _admit(exchange: _Exchange, prompt_tokens: int) -> list:
    """The request's entry in its RPM/TPM window; refused when a limit is reached."""
    tripped, window_entry = exchange.state.admit(exchange.key, prompt_tokens)
    if tripped:
        message = "Rate limit reached for RPM" if tripped == 336501 else "Rate limit reached for TPM"
        raise exchange.refuse(tripped, message, exhausted=True)
    return window_entry


def _answer(state: EmulatorState, spec, endpoint: str, body: dict, faults: dict) -> Answer:
    answer = compose(spec, endpoint, body, answer_chars=state.answer_chars)
    if "need_clear_history" in faults and not answer.need_clear_history:
        answer.need_clear_history = True
        answer.ban_round = int(faults["need_clear_history"].get("ban_round", -1))
        answer.flag = 1
    return answer


def _completion_tokens(answer: Answer) -> int:
    if answer.function_call:
        call = answer.function_call
        return estimate_tokens(call.get("arguments", "")) + estimate_tokens(call.get("thoughts", "")) + 1
    return estimate_tokens(answer.text) if answer.text else 0


def _usage(prompt_tokens: int, completion_tokens: int) -> dict:
    return {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens}


def _common(answer: Answer, rid: str, is_completion: bool) -> dict:
    return {"id": rid, "object": "completion" if is_completion else "chat.completion", "created": int(time.time())}


def _extras(answer: Answer, out: dict) -> None:
    if answer.function_call:
        out["function_call"] = answer.function_call
    if answer.search_info:
        out["search_info"] = answer.search_info
    if answer.need_clear_history:
        out["ban_round"] = answer.ban_round if answer.ban_round is not None else -1
        out["flag"] = answer.flag or 1


def _full_body(answer: Answer, usage: dict, rid: str, is_completion: bool) -> dict:
    out = _common(answer, rid, is_completion)
    out["result"] = answer.text
    if is_completion:
        out["is_safe"] = 0 if answer.need_clear_history else 1
        if answer.finish_reason != "normal":
            out["finish_reason"] = answer.finish_reason
    else:
        out["is_truncated"] = answer.is_truncated
        out["need_clear_history"] = answer.need_clear_history
        out["finish_reason"] = answer.finish_reason
    _extras(answer, out)
    out["usage"] = usage
    return out


def _stream_events(answer: Answer, usage: dict, rid: str, is_completion: bool) -> list[dict]:
    pieces = [] if answer.function_call else chunk(answer.text)
    partial = {"prompt_tokens": usage["prompt_tokens"], "completion_tokens": 0,
               "total_tokens": usage["prompt_tokens"]}
    events = []
    texts = pieces + [""]
    for i, text in enumerate(texts):
        last = i == len(texts) - 1
        ev = _common(answer, rid, is_completion)
        ev.update({"sentence_id": i, "is_end": last, "is_truncated": answer.is_truncated if last else False,
                   "result": text, "need_clear_history": answer.need_clear_history,
                   "finish_reason": answer.finish_reason if last else "normal"})
        if is_completion:
            ev["is_safe"] = 0 if answer.need_clear_history else 1
        if last or answer.search_info or answer.need_clear_history:
            _extras(answer, ev)
        ev["usage"] = usage if last else partial
        events.append(ev)
    return events


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


def _error_line(fault: dict, rid: str) -> str:
    """The bare JSON error the service sends instead of (the rest of) an answer."""
    code = int(fault.get("code", 336100))
    message = fault.get("message") or (describe_code(code) or ("Unknown error",))[0]
    return _json({"error_code": code, "error_msg": message, "id": rid})


def _event_text(event: dict, eol: str, keepalive: bool) -> str:
    text = ": keep-alive" + eol + eol if keepalive else ""
    return text + "data: " + _json(dict(event, created=int(time.time()))) + eol + eol


def _fault_position(fault: dict | None, events: list[dict]) -> int | None:
    """Before which event a stream fault strikes: ``after`` events in, never past the last one."""
    return min(int(fault.get("after", 1)), len(events) - 1) if fault is not None else None


def _make_stream(state: EmulatorState, events: list[dict], headers: dict, faults: dict, slow: float,
                 entry: dict | None = None, *, exchange: _Exchange | None = None, done: str | None = None):
    """The stream's writer; ``entry`` (its request log line) learns when the first chunk left,
    how many were sent and whether the client hung up first. ``exchange`` writes a ``stream_error``
    (v1's bare JSON line by default); ``done`` ends a whole stream (v2's ``data: [DONE]``)."""
    entry = entry if entry is not None else {}
    entry.update(chunks_sent=0, first_chunk_at=None, client_closed=False)
    eol = "\r\n" if "crlf" in faults else "\n"
    error = faults.get("stream_error")
    drop_at, error_at = _fault_position(faults.get("drop_stream"), events), _fault_position(error, events)
    ttft, delay = state.ttft, state.chunk_delay

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
                line = exchange.error_line(error, event["id"], eol) if exchange else _error_line(error, event["id"]) + eol
                await write(line.encode("utf-8"))
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


def _make_plain(state: EmulatorState, payload: dict, headers: dict, faults: dict, slow: float, n_chunks: int,
                exchange: _Exchange | None = None):
    async def run(scope, receive, send):
        if slow:
            await asyncio.sleep(slow)
        wait = state.ttft + state.chunk_delay * (n_chunks - 1)  # as long as the stream would take
        if wait:
            await asyncio.sleep(wait)
        if "drop_stream" in faults:
            await _drop(scope)
            return
        if "stream_error" in faults:
            fault, rid = faults["stream_error"], payload["id"]
            data = (exchange.error_body(fault, rid) if exchange else _error_line(fault, rid)).encode("utf-8")
            ctype = "application/json"
        else:
            data, ctype = _json(payload).encode("utf-8"), "application/json;charset=utf-8"
        await send(_start(200, {**headers, "Content-Length": str(len(data))}, ctype))
        await _sender(send, "fragment" in faults)(data)
        await send(_END)

    return run
