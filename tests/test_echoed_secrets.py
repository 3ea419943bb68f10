"""A service that echoes the credentials it was sent: none of them may reach an error, its chain, or the locals
of the frames it was raised through (what ``%xmode Verbose`` prints), over real loopback HTTP.

The server is a plain ``http.server`` on 127.0.0.1 that answers v1 chat (``access_token`` query), the OAuth
token service (``client_id``/``client_secret``), v2 chat (``Authorization: Bearer``) and the IAM bearer mint,
each failure quoting back what that request carried.
"""

from __future__ import annotations

import json
import secrets
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

from _fakes import fake_keys
from wenxin_magic.api import (AuthenticationError, InvalidRequestError, QianfanClient, QianfanError, ServerError,
                              StreamInterruptedError)

KEYS = fake_keys("echo")
BEARER = f"bce-v3/ALTAK-{KEYS.ak.rsplit('-', 1)[1]}/{KEYS.sk.rsplit('-', 1)[1]}"
HELLO = [{"role": "user", "content": "hello"}]
V1_MODEL, V2_MODEL = "ERNIE-Speed-8K", "ernie-speed-8k"
CHAT_PREFIX = "/rpc/2.0/ai_custom/v1/wenxinworkshop/chat/"


# -- the echoing service -------------------------------------------------------------------------------

class EchoServer(ThreadingHTTPServer):
    """Answers as ``scenario`` says; ``received`` is every credential a request carried or the server issued."""

    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), EchoHandler)
        self.scenario = ""
        self.received: set[str] = set()
        self.lock = threading.Lock()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def note(self, *values) -> None:
        with self.lock:
            self.received.update(v for v in values if v)


class EchoHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: EchoServer

    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:
        self._answer()

    def do_POST(self) -> None:
        self._answer()

    def _answer(self) -> None:
        parts = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        length = int(self.headers.get("content-length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        authorization = self.headers.get("authorization") or ""
        bearer = authorization.removeprefix("Bearer ")
        self.server.note(authorization, bearer, *(query.get(k) for k in ("access_token", "client_id",
                                                                             "client_secret")))
        scenario = self.server.scenario
        if parts.path == "/oauth/2.0/token":
            self._token(scenario, query)
        elif parts.path == "/v1/BCE-BEARER/token":
            self._mint(scenario, authorization)
        elif parts.path.startswith(CHAT_PREFIX):
            self._v1_chat(scenario, query.get("access_token", ""), body.get("stream"))
        elif parts.path == "/v2/chat/completions":
            self._v2_chat(scenario, bearer, authorization, body.get("stream"))
        else:
            self._send(404, "text/plain", b"no such path")

    def _token(self, scenario: str, query: dict) -> None:
        client_id, client_secret = query.get("client_id"), query.get("client_secret")
        if scenario == "token refused":
            self._json(401, {"error": "invalid_client",
                             "error_description": f"unknown client_id {client_id} (client_secret={client_secret}, "
                                                  f"secret {client_secret})"})
            return
        token = f"24.FAKE-ECHO-token-{secrets.token_hex(8)}.2592000.1-{secrets.token_hex(4)}"
        self.server.note(token)
        self._json(200, {"access_token": token, "expires_in": 2592000})

    def _mint(self, scenario: str, authorization: str) -> None:
        if scenario == "mint refused":
            self._json(401, {"code": "SignatureDoesNotMatch", "requestId": "req-echo",
                             "message": f"Fail to authn user: Signature does not match: {authorization}, "
                                        f"access key {KEYS.iak}"})
            return
        token = f"bce-v3/ALTAK-FAKEECHO{secrets.token_hex(6)}/{secrets.token_hex(20)}"
        self.server.note(token, token.rpartition("/")[2])
        self._json(200, {"token": token, "createTime": "2024-01-01T00:00:00Z", "expireTime": "2024-01-02T00:00:00Z"})

    def _v1_chat(self, scenario: str, token: str, stream: bool) -> None:
        error = {"error_code": 110, "error_msg": f"Access token invalid or no longer valid: {token} "
                                                 f"(access_token={token})", "id": "as-echo"}
        if scenario == "v1 keys":
            error["error_msg"] = f"invalid api key {KEYS.ak} or secret key {KEYS.sk}"
            error["error_code"] = 336004
        if scenario == "v1 page":
            self._send(502, "text/html", f"<html>bad gateway for {self.path} (token {token})</html>".encode())
        elif scenario == "v1 truncated":
            self._send(200, "application/json", json.dumps(error).encode()[:-20])
        elif scenario == "v1 not json line" and stream:
            self._send(200, "text/event-stream", f'data: {{"error_code": 110, "error_msg": "bad {token}\n\n'.encode())
        elif scenario == "v1 midstream" and stream:
            first = {"id": "as-echo", "result": "Hi", "is_end": False, "sentence_id": 0}
            lines = f"data: {json.dumps(first)}\n\n{json.dumps(error)}\n"
            self._send(200, "text/event-stream", lines.encode())
        elif stream:  # a failure before any chunk, as a bare JSON line in the event stream
            self._send(200, "text/event-stream", f"{json.dumps(error)}\n".encode())
        else:
            self._json(401, error)

    def _v2_chat(self, scenario: str, bearer: str, authorization: str, stream: bool) -> None:
        error = {"error": {"code": "invalid_iam_token", "type": "invalid_request_error",
                           "message": f"invalid api key {bearer}; header was Authorization: {authorization}"},
                 "id": "as-echo"}
        text = json.dumps(error)
        if scenario == "v2 escaped slashes":
            text = text.replace("/", "\\/")
        if scenario == "v2 midstream" and stream:
            first = {"id": "as-echo", "object": "chat.completion.chunk", "created": 1, "model": V2_MODEL,
                     "choices": [{"index": 0, "delta": {"content": "Hi"}, "finish_reason": None, "flag": 0}]}
            self._send(200, "text/event-stream", f"data: {json.dumps(first)}\n\ndata: {text}\n\n".encode())
        elif stream:
            self._send(200, "text/event-stream", f"data: {text}\n\n".encode())
        else:
            self._send(401, "application/json", text.encode())

    def _json(self, status: int, data: dict) -> None:
        self._send(status, "application/json", json.dumps(data).encode())

    def _send(self, status: int, content_type: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture(scope="module")
def echo():
    server = EchoServer()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def server(echo):
    echo.received.clear()
    yield echo
    echo.scenario = ""


def v1_client(server) -> QianfanClient:
    return QianfanClient(KEYS.ak, KEYS.sk, base_url=server.base_url, retry_backoff=0.001, timeout=5)


def v2_client(server) -> QianfanClient:
    return QianfanClient(bearer_token=BEARER, base_url=server.base_url, retry_backoff=0.001, timeout=5)


def iam_client(server) -> QianfanClient:
    return QianfanClient(access_key=KEYS.iak, secret_access_key=KEYS.isk, base_url=server.base_url,
                         retry_backoff=0.001, timeout=5)


async def failure(client: QianfanClient, model: str, *, stream: bool) -> QianfanError:
    """The error a chat ends in; caught here, so the traceback starts at a frame that holds no credential."""
    try:
        async with client:
            if stream:
                async for _ in client.stream_chat(model, HELLO):
                    pass
            else:
                await client.chat(model, HELLO)
    except QianfanError as err:
        return err
    raise AssertionError("the chat did not fail")


# -- where a credential could hide ----------------------------------------------------------------------

def _texts(value, seen: set[int]):
    """Every string in ``value``, its containers and objects walked (as a debugger's variable view would)."""
    if id(value) in seen:
        return
    seen.add(id(value))
    if isinstance(value, (str, bytes)):
        yield value if isinstance(value, str) else value.decode("utf-8", "replace")
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _texts(k, seen)
            yield from _texts(v, seen)
    elif isinstance(value, (list, tuple, set, frozenset)):
        for v in value:
            yield from _texts(v, seen)
    elif hasattr(value, "__dict__"):
        yield from _texts(vars(value), seen)


def _chain(err: BaseException):
    seen = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        yield err
        err = err.__cause__ or err.__context__


def _frames(err: BaseException):
    for link in _chain(err):
        tb = link.__traceback__
        while tb is not None:
            yield tb.tb_frame
            tb = tb.tb_next


def exposed(err: BaseException) -> dict[str, str]:
    """Where the error shows text: str, repr, args, every attribute, the chain, and the raising frames' locals."""
    places = {}
    for depth, link in enumerate(_chain(err)):
        places[f"str #{depth}"] = str(link)
        places[f"repr #{depth}"] = repr(link)
        places[f"args #{depth}"] = repr(link.args)
        places[f"vars #{depth}"] = "\n".join(_texts(vars(link), set()))
    for frame in _frames(err):
        for name, value in frame.f_locals.items():
            try:
                shown = repr(value)
            except Exception as exc:  # a repr that fails shows nothing
                shown = type(exc).__name__
            places[f"{frame.f_code.co_name}:{name}"] = shown
    return places


def assert_no_credential(err: QianfanError, server: EchoServer) -> None:
    assert server.received, "the service saw no credential to echo"
    credentials = server.received | KEYS.all | {BEARER}
    for place, text in exposed(err).items():
        for secret in credentials:
            assert secret not in text, f"{secret!r} in {place}: {text[:300]}"
    # the frames were looked at: a traceback that stopped at the catching frame would prove nothing
    assert any(frame.f_code.co_name in ("_send", "_parse", "_fetch", "_mint") for frame in _frames(err))


# -- v1 -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
async def test_v1_error_echoing_the_access_token(server, stream):
    err = await failure(v1_client(server), V1_MODEL, stream=stream)
    assert isinstance(err, AuthenticationError) and err.code == 110
    assert "Access token invalid or no longer valid" in err.message and "***" in err.message
    assert "[110]" in str(err)
    assert_no_credential(err, server)


async def test_v1_error_echoing_the_application_keys(server):
    server.scenario = "v1 keys"
    err = await failure(v1_client(server), V1_MODEL, stream=False)
    assert err.code == 336004 and err.message == "invalid api key *** or secret key ***"
    assert_no_credential(err, server)


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
async def test_token_service_echoing_client_id_and_secret(server, stream):
    server.scenario = "token refused"
    err = await failure(v1_client(server), V1_MODEL, stream=stream)
    assert isinstance(err, AuthenticationError) and err.status == 401
    assert "invalid_client: unknown client_id ***" in err.message and "check QIANFAN_AK" in err.message
    assert_no_credential(err, server)


async def test_v1_error_page_quoting_the_url(server):
    server.scenario = "v1 page"
    err = await failure(v1_client(server), V1_MODEL, stream=False)
    assert isinstance(err, ServerError) and err.status == 502 and "HTTP 502" in str(err)
    assert_no_credential(err, server)


async def test_v1_truncated_error_leaves_no_body_in_the_decode_error(server):
    server.scenario = "v1 truncated"
    err = await failure(v1_client(server), V1_MODEL, stream=False)
    assert isinstance(err, ServerError) and "not JSON" in err.message
    assert_no_credential(err, server)


async def test_v1_stream_line_that_is_not_json_has_no_context(server):
    server.scenario = "v1 not json line"
    err = await failure(v1_client(server), V1_MODEL, stream=True)
    assert isinstance(err, StreamInterruptedError) and "not JSON" in err.message
    assert err.__context__ is None and err.__cause__ is None
    assert_no_credential(err, server)


async def test_v1_stream_failing_after_a_chunk(server):
    server.scenario = "v1 midstream"
    err = await failure(v1_client(server), V1_MODEL, stream=True)
    assert isinstance(err, StreamInterruptedError) and err.code == 110 and err.partial_text == "Hi"
    assert "after 1 chunks: Access token invalid or no longer valid: ***" in err.message
    assert_no_credential(err, server)


# -- v2 -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("scenario", ["v2 plain", "v2 escaped slashes"])
@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
async def test_v2_error_echoing_the_bearer_key(server, stream, scenario):
    server.scenario = scenario
    err = await failure(v2_client(server), V2_MODEL, stream=stream)
    assert isinstance(err, AuthenticationError) and err.code == "invalid_iam_token" and err.status == 401
    assert err.message == "invalid api key bce-v3/***; header was Authorization: Bearer bce-v3/***"
    assert "[invalid_iam_token]" in str(err) and "QIANFAN_API_KEY" in err.hint
    assert_no_credential(err, server)


async def test_v2_stream_failing_after_a_chunk(server):
    server.scenario = "v2 midstream"
    err = await failure(v2_client(server), V2_MODEL, stream=True)
    assert isinstance(err, StreamInterruptedError) and err.code == "invalid_iam_token" and err.partial_text == "Hi"
    assert "after 1 chunks: invalid api key bce-v3/***; header was Authorization: Bearer bce-v3/***" in err.message
    assert_no_credential(err, server)


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
async def test_v2_error_echoing_a_minted_token(server, stream):
    err = await failure(iam_client(server), V2_MODEL, stream=stream)
    assert err.code == "invalid_iam_token" and "invalid api key bce-v3/***" in err.message
    assert sum(s.startswith("bce-v3/ALTAK-FAKEECHO") for s in server.received) == 2  # minted again once
    assert_no_credential(err, server)


async def test_iam_mint_refusal_echoing_the_signature(server):
    server.scenario = "mint refused"
    err = await failure(iam_client(server), V2_MODEL, stream=False)
    assert isinstance(err, AuthenticationError) and err.status == 401
    assert "(SignatureDoesNotMatch: Fail to authn user: Signature does not match: bce-auth-v1/***" in err.message
    assert "access key ***)" in err.message
    assert_no_credential(err, server)


def test_wire_message_is_redacted():
    err = InvalidRequestError("bad", wire_message="rejected ?access_token=24.abc-def")
    assert err.wire_message == "rejected ?access_token=***"
    assert InvalidRequestError("rejected bce-v3/ALTAK-x/y").wire_message == "rejected bce-v3/***"
