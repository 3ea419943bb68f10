"""A v2 chat server on 127.0.0.1 that answers from a script, with no logic of its own: answers no emulator
could write, for recording lessons. ``script[question]`` is the list of steps of that question's turn; a step is
``{"text", "reasoning"}`` or ``{"calls": [(name, arguments JSON)]}``, and which one answers is the number of tool
results the request carries since its question. A step's text may hold ``{authorization}``: the server then
echoes the request's credentials into its answer, as a careless service might.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

CHUNK_CHARS = 6


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        if not isinstance(sys.exc_info()[1], ConnectionError):  # a client closing its kept-alive connection
            super().handle_error(request, client_address)


class ScriptedModel:
    def __init__(self, script: dict[str, list[dict]], *, first_byte: float = 0.15, between: float = 0.01):
        self.script, self.first_byte, self.between = script, first_byte, between
        self.requests: list[dict] = []
        model = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers.get("content-length") or 0)) or b"{}")
                model.requests.append(body)
                step = model.step(body.get("messages") or [])
                text = step.get("text", "").replace("{authorization}", self.headers.get("authorization", ""))
                self.send_response(200)
                self.send_header("content-type", "text/event-stream")
                self.send_header("transfer-encoding", "chunked")
                self.end_headers()
                time.sleep(model.first_byte)
                for event in model.events(body.get("model"), step, text):
                    self._chunk(f"data: {json.dumps(event, ensure_ascii=False)}\n\n".encode())
                    time.sleep(model.between)
                self._chunk(b"data: [DONE]\n\n")
                self._chunk(b"")

            def _chunk(self, data: bytes) -> None:
                self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
                self.wfile.flush()

        self.server = _QuietServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def step(self, messages: list[dict]) -> dict:
        last_user = max(i for i, m in enumerate(messages) if m.get("role") == "user")
        question = messages[last_user]["content"]
        results = sum(1 for m in messages[last_user:] if m.get("role") == "assistant")
        steps = self.script.get(question) or [{"text": "(not in the script)"}]
        return steps[min(results, len(steps) - 1)]

    def events(self, model: str, step: dict, text: str) -> list[dict]:
        def event(delta: dict, finish=None, usage=None) -> dict:
            out = {"id": "as-scripted", "object": "chat.completion.chunk", "created": int(time.time()),
                   "model": model, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
            if usage:
                out["usage"] = usage
            return out

        usage = {"prompt_tokens": 10, "completion_tokens": 20, "total_tokens": 30}
        if step.get("calls"):
            calls = [{"index": i, "id": f"call_{name}_{i}", "type": "function",
                      "function": {"name": name, "arguments": arguments}}
                     for i, (name, arguments) in enumerate(step["calls"])]
            return [event({"role": "assistant", "content": "", "tool_calls": calls}),
                    event({}, "tool_calls", usage)]
        pieces = [{"reasoning_content": step["reasoning"]}] if step.get("reasoning") else []
        pieces += [{"content": text[i:i + CHUNK_CHARS]} for i in range(0, len(text), CHUNK_CHARS)]
        return [event({"role": "assistant", **pieces[0]})] + [event(p) for p in pieces[1:]] + [event({}, "stop", usage)]

    def __enter__(self) -> "ScriptedModel":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
