"""A small v2 chat server on 127.0.0.1 for shapes the emulator does not send by default.

The question picks the shape: ``hide-me`` answers with flag 3, ``withdraw-me`` streams some text and then a
chunk with flag 4, ``search-me`` first sends a search status packet (``delta_tag: "search_status"``); anything
else is a plain answer. Every request's JSON body is kept in ``requests``.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SHOWN_BEFORE_WITHDRAWAL = "This part was streamed before the service withdrew it."
HIDDEN_ANSWER = "This answer must never be displayed."
PLAIN_ANSWER = "A plain answer."
V2_TEST_KEY = "bce-v3/ALTAK-shapesTEST0a1b/2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f"


def _chunk(model: str, delta: dict, *, flag: int = 0, finish=None, usage=None, **extra) -> dict:
    choice = {"index": 0, "delta": delta, "finish_reason": finish, "flag": flag}
    if flag:
        choice["ban_round"] = -1
    out = {"id": "as-shape", "object": "chat.completion.chunk", "created": 0, "model": model,
           "choices": [choice], **extra}
    if usage:
        out["usage"] = usage
    return out


USAGE = {"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12}


def stream_for(question: str, model: str) -> list[dict]:
    if "hide-me" in question:
        return [_chunk(model, {"role": "assistant", "content": HIDDEN_ANSWER}, flag=3),
                _chunk(model, {"content": ""}, flag=3, finish="stop", usage=USAGE)]
    if "withdraw-me" in question:
        words = SHOWN_BEFORE_WITHDRAWAL.split(" ")
        return ([_chunk(model, {"role": "assistant", "content": words[0] + " "})]
                + [_chunk(model, {"content": word + " "}) for word in words[1:]]
                + [_chunk(model, {"content": " and more"}, flag=4),
                   _chunk(model, {"content": ""}, flag=4, finish="stop", usage=USAGE)])
    head = []
    if "search-me" in question:
        head = [_chunk(model, {}, delta_tag="search_status")]
    return head + [_chunk(model, {"role": "assistant", "content": "A plain "}),
                   _chunk(model, {"content": "answer."}, finish="stop", usage=USAGE)]


def whole_for(question: str, model: str) -> dict:
    flag = 3 if "hide-me" in question else 4 if "withdraw-me" in question else 0
    text = HIDDEN_ANSWER if flag else PLAIN_ANSWER
    choice = {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop", "flag": flag}
    if flag:
        choice["ban_round"] = -1
    return {"id": "as-shape", "object": "chat.completion", "created": 0, "model": model, "choices": [choice],
            "usage": USAGE}


class ShapeServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.requests: list[dict] = []
        self.chunk_delay = 0.0
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def __enter__(self) -> "ShapeServer":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.shutdown()
        self.server_close()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:
        pass

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        self.server.requests.append(body)
        if not self.path.startswith("/v2/chat/completions"):
            return self._send(404, "application/json", b'{"error": {"code": "not_found", "message": "no"}}')
        messages = body.get("messages") or [{}]
        question, model = str(messages[-1].get("content") or ""), str(body.get("model"))
        if not body.get("stream"):
            return self._send(200, "application/json", json.dumps(whole_for(question, model)).encode())
        events = [b"data: " + json.dumps(chunk, ensure_ascii=False).encode() + b"\n\n"
                  for chunk in stream_for(question, model)] + [b"data: [DONE]\n\n"]
        if not self.server.chunk_delay:
            return self._send(200, "text/event-stream", b"".join(events))
        # paced: the body ends when the connection closes, so each event reaches the client on its own
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        for event in events:
            self.wfile.write(event)
            self.wfile.flush()
            time.sleep(self.server.chunk_delay)

    def _send(self, status: int, content_type: str, data: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
