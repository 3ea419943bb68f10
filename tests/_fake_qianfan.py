"""A tiny HTTP server on 127.0.0.1 that answers from a script, for v2 answer shapes the emulator does not send:
usage on the last choice chunk, flags 3 and 4, a search-status packet, split rate-limit headers, GET /v2/models."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def sse(*events) -> bytes:
    return "".join(f"data: {json.dumps(event, ensure_ascii=False)}\n\n" for event in events).encode() + \
        b"data: [DONE]\n\n"


class FakeQianfan:
    """``answer(path, status, body, content_type, headers)`` sets what a path answers; ``requests`` records
    (method, path, headers, JSON body) of each request."""

    def __init__(self):
        self.answers: dict[str, tuple[int, bytes, str, dict]] = {}
        self.requests: list[tuple[str, str, dict, object]] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _answer(self):
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length) if length else b""
                fake.requests.append((self.command, self.path, dict(self.headers),
                                      json.loads(raw) if raw else None))
                status, body, content_type, headers = fake.answers.get(
                    self.path, (404, b'{"error": {"code": "not_found", "message": "no"}}', "application/json", {}))
                self.send_response(status)
                self.send_header("content-type", content_type)
                self.send_header("content-length", str(len(body)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = _answer

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def answer(self, path: str, status: int, body, *, content_type: str = "application/json",
               headers: dict | None = None) -> None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.answers[path] = (status, data, content_type, headers or {})

    def stream(self, path: str, *events, headers: dict | None = None) -> None:
        self.answer(path, 200, sse(*events), content_type="text/event-stream", headers=headers)

    def __enter__(self) -> "FakeQianfan":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
