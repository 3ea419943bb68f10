"""The emulator's request log stays bounded, and a client hanging up is no error, over real loopback HTTP."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import time

import httpx
import pytest

from _fakes import FAKE
from wenxin_magic.emulator._app import build_app
from wenxin_magic.emulator._state import LOGGED_BODY_LIMIT, REQUEST_LOG_SIZE, EmulatorState

PREFIX = "/rpc/2.0/ai_custom/v1/wenxinworkshop"
V2 = "/v2/chat/completions"
V2_KEY = "bce-v3/ALTAK-FAKErequests/0123456789abcdef0123456789abcdef01234567"
NOISE = ("Traceback", "ClientDisconnect", "Exception in ASGI application")


def user(text: str) -> list[dict]:
    return [{"role": "user", "content": text}]


def stored_body_bytes(entry: dict) -> int:
    """What an entry holds of its body: its parsed JSON, as compact UTF-8."""
    if entry["json"] is None:
        return 0
    return len(json.dumps(entry["json"], ensure_ascii=False, separators=(",", ":")).encode("utf-8"))


def wait_for(predicate, timeout: float = 5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.01)
    return predicate()


class _Records(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def texts(self) -> list[str]:
        return [self.format(r) for r in self.records]


@pytest.fixture
def server_log(emu):
    """What uvicorn and asyncio log while the test runs (after the emulator's own filters), the emulator
    already started: starting one reconfigures uvicorn's loggers and would drop this handler."""
    handler = _Records()
    loggers = [logging.getLogger(name) for name in ("uvicorn.error", "asyncio")]
    for logger in loggers:
        logger.addHandler(handler)
    yield handler
    for logger in loggers:
        logger.removeHandler(handler)


def assert_quiet(server_log: _Records, capfd) -> None:
    time.sleep(0.1)  # the server thread logs, if it does, right after the hang-up
    printed = "".join(capfd.readouterr())
    logged = "\n".join(server_log.texts())
    for text in NOISE:
        assert text not in printed and text not in logged, (printed, logged)
    assert not [r for r in server_log.records if r.levelno >= logging.WARNING], logged


# -- 1. a bounded log --------------------------------------------------------------------------------

def test_log_keeps_only_the_newest_requests_in_order(emulator_factory):
    server = emulator_factory(request_log_size=5)
    with httpx.Client(base_url=server.base_url, timeout=10) as http:
        for i in range(12):
            http.get("/nothing", params={"i": str(i)})
    log = server.requests
    assert isinstance(log, list) and len(log) == 5
    assert [r["query"]["i"] for r in log] == ["7", "8", "9", "10", "11"]
    assert [r["query"]["i"] for r in log[2:]] == ["9", "10", "11"] and log[-1]["status"] == 404
    server.clear()
    assert server.requests == []


def test_default_log_size_holds_the_newest_thousand(emu):
    assert REQUEST_LOG_SIZE == 1000 and emu.state().request_log_size == REQUEST_LOG_SIZE
    with httpx.Client(base_url=emu.base_url, timeout=10) as http:
        for i in range(REQUEST_LOG_SIZE + 3):
            http.get("/nothing", params={"i": str(i)})
    log = emu.requests
    assert len(log) == REQUEST_LOG_SIZE
    assert [int(r["query"]["i"]) for r in log] == list(range(3, REQUEST_LOG_SIZE + 3))


def test_log_size_must_be_positive():
    with pytest.raises(ValueError, match="request_log_size"):
        EmulatorState(request_log_size=0)


def test_small_body_is_logged_whole(emu):
    body = {"model": "ernie-speed-8k", "messages": user("你好" * 1000)}
    r = httpx.post(emu.base_url + V2, json=body, headers={"Authorization": f"Bearer {V2_KEY}"}, timeout=10)
    assert r.status_code == 200
    entry = emu.requests[-1]
    assert entry["json"] == body and entry["status"] == 200
    assert "body_cut" not in entry and "body_size" not in entry


def test_large_body_is_cut_to_its_size(emu):
    body = {"model": "ernie-speed-8k", "messages": user("长" * 700_000)}  # ~2 MB of UTF-8
    data = json.dumps(body, ensure_ascii=False).encode("utf-8")
    assert len(data) > 2_000_000
    r = httpx.post(emu.base_url + V2, content=data, timeout=30,
                   headers={"Authorization": f"Bearer {V2_KEY}", "Content-Type": "application/json"})
    assert r.status_code in (200, 400)  # answered (or refused as too long) from the whole body all the same
    entry = emu.requests[-1]
    assert (entry["method"], entry["path"], entry["status"]) == ("POST", V2, r.status_code)
    assert entry["headers"]["content-length"] == str(len(data)) and entry["headers"]["authorization"] == "Bearer ***"
    assert entry["body_cut"] is True and entry["body_size"] == len(data) and entry["json"] is None


def test_body_at_the_limit_is_kept_and_one_byte_more_is_cut(emu):
    def body_of(size: int) -> bytes:
        head = b'{"messages":[{"role":"user","content":"'
        tail = b'"}]}'
        return head + b"x" * (size - len(head) - len(tail)) + tail

    for size in (LOGGED_BODY_LIMIT, LOGGED_BODY_LIMIT + 1):
        httpx.post(emu.base_url + "/nothing", content=body_of(size), timeout=10)
    kept, cut = emu.requests[-2:]
    assert stored_body_bytes(kept) == LOGGED_BODY_LIMIT and "body_cut" not in kept
    assert cut["json"] is None and cut["body_cut"] and cut["body_size"] == LOGGED_BODY_LIMIT + 1


def test_memory_held_by_the_log_stays_bounded(emulator_factory):
    cap = 4
    server = emulator_factory(request_log_size=cap)
    large = json.dumps({"messages": user("x" * 2_000_000)}).encode()
    near_limit = json.dumps({"messages": user("y" * (LOGGED_BODY_LIMIT - 100))}).encode()
    with httpx.Client(base_url=server.base_url, timeout=30) as http:
        for i in range(10):
            http.post("/nothing", content=large if i % 2 else near_limit)
    log = server.requests
    assert len(log) == cap
    assert sum(stored_body_bytes(r) for r in log) <= cap * LOGGED_BODY_LIMIT
    assert [bool(r.get("body_cut")) for r in log] == [False, True, False, True]
    assert all(r["body_size"] == len(large) for r in log if r.get("body_cut"))


# -- 2. a client hanging up -----------------------------------------------------------------------------

def hang_up_mid_body(server, path: str, headers: str = "") -> None:
    """Promise 10 MB, send 100 KB of it, and close the socket."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as s:
        s.sendall(f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n{headers}"
                  f"Content-Length: 10000000\r\n\r\n".encode() + b'{"messages":' + b" " * 100_000)
        time.sleep(0.05)


@pytest.mark.parametrize("path, headers", [
    (V2, f"Authorization: Bearer {V2_KEY}\r\n"),
    (PREFIX + "/chat/ernie_speed?access_token=24.unknown", ""),
    ("/oauth/2.0/token?grant_type=client_credentials", ""),
    ("/nothing", ""),
], ids=["v2", "v1", "oauth", "not-found"])
def test_hang_up_mid_body_is_logged_quietly(emu, server_log, capfd, path, headers):
    hang_up_mid_body(emu, path, headers)
    entry = wait_for(lambda: next((r for r in emu.requests if r.get("client_closed")), None))
    assert entry is not None and entry["path"] == path.split("?")[0] and entry["status"] is None
    assert entry["json"] is None and entry["headers"]["content-length"] == "10000000"
    r = httpx.post(emu.base_url + V2, json={"model": "ernie-speed-8k", "messages": user("你好")},
                   headers={"Authorization": f"Bearer {V2_KEY}"}, timeout=10)
    assert r.status_code == 200 and r.json()["choices"][0]["message"]["content"]
    assert_quiet(server_log, capfd)


@pytest.mark.parametrize("api", ["v1", "v2"])
def test_hang_up_mid_stream_is_quiet(emu, server_log, capfd, api):
    emu.chunk_delay = 0.02
    prompt = user("write 3000 characters about the Great Wall")
    with httpx.Client(base_url=emu.base_url, timeout=10) as http:
        if api == "v2":
            request = http.build_request("POST", V2, json={"model": "ernie-speed-8k", "messages": prompt,
                                                           "stream": True},
                                         headers={"Authorization": f"Bearer {V2_KEY}"})
        else:
            token = http.post("/oauth/2.0/token", params={"grant_type": "client_credentials",
                                                          "client_id": FAKE.SESSION.ak,
                                                          "client_secret": FAKE.SESSION.sk}).json()["access_token"]
            request = http.build_request("POST", PREFIX + "/chat/ernie_speed", params={"access_token": token},
                                         json={"messages": prompt, "stream": True})
        response = http.send(request, stream=True)
        lines = response.iter_lines()
        assert [next(lines) for _ in range(3)]
        response.close()
    streamed = emu.requests[-1]
    assert wait_for(lambda: emu.requests[-1]["client_closed"])
    assert streamed["status"] == 200 and emu.requests[-1]["chunks_sent"] < 50
    emu.chunk_delay = 0.0
    r = httpx.post(emu.base_url + V2, json={"model": "ernie-speed-8k", "messages": user("你好")},
                   headers={"Authorization": f"Bearer {V2_KEY}"}, timeout=10)
    assert r.status_code == 200
    assert_quiet(server_log, capfd)


def test_send_failing_on_a_closed_connection_ends_the_stream_quietly():
    # uvicorn's h11 drops writes to a closed connection; ASGI also lets a server raise OSError from ``send``
    state = EmulatorState()
    app = build_app(state)
    body = json.dumps({"model": "ernie-speed-8k", "messages": user("write 3000 characters"), "stream": True}).encode()
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
             "path": V2, "raw_path": V2.encode(), "query_string": b"", "root_path": "",
             "headers": [(b"host", b"127.0.0.1"), (b"content-type", b"application/json"),
                         (b"authorization", f"Bearer {V2_KEY}".encode())],
             "client": ("127.0.0.1", 5), "server": ("127.0.0.1", 6)}
    sent = []

    async def receive():
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message):
        if len(sent) == 3:
            raise ConnectionResetError("the client went away")
        sent.append(message)

    asyncio.run(app(scope, receive, send))  # no exception: a hang-up is not the emulator's error
    entry = state.snapshot_requests()[-1]
    assert sent[0]["status"] == 200 and entry["client_closed"] and entry["chunks_sent"] == 2
