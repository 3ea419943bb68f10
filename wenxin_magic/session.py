"""The kernel-level session: named conversations, their state and the turns that change them.

Magics and the chat panel are two views over one Session. It knows nothing
about displays: views learn about progress through ``on_delta`` callbacks
and turn events (``subscribe``).

Every turn runs on the session's own event loop, in a daemon thread. Running
it on the kernel's loop instead (nested with nest-asyncio) lets ipykernel step
its own message tasks inside a cell: with queued cells ("Run All") that fails
with "cannot enter context" and stalls the kernel. With a loop of its own, a
cell simply waits for its answer while its display is drawn in the kernel's
thread, and the chat panel's answers run while the kernel is idle.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import logging
import os
import queue
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from .api import (COMPLETION, DEFAULT_MODEL, InvalidRequestError, QianfanError, StreamInterruptedError, Usage,
                  check_endpoint_name, find_model, unknown_model_error)
from .api._auth import Credentials
from .api._validation import input_size

log = logging.getLogger(__name__)

OFFLINE_NOTICE = ("wenxin-magic: no Qianfan credentials found, so answers come from the built-in offline emulator. "
                  "For the real service set QIANFAN_AK and QIANFAN_SK (or run %wenxin login), then %wenxin online.")

NORMAL_FINISH = (None, "", "normal")


class Reply:
    """One answer: its text, the model, usage, latency and how it ended."""

    def __init__(self, *, prompt: str, model: str | None, endpoint: str | None, chat: str | None,
                 kind: str = "chat"):
        self.prompt = prompt
        self.model = model
        self.endpoint = endpoint
        self.chat = chat
        self.kind = kind
        self.text = ""
        self.usage: Usage | None = None
        self.latency: float | None = None
        self.time_to_first_token: float | None = None
        self.first_token_at: float | None = None  # wall clock, to line up with server-side logs
        self.finish_reason: str | None = None
        self.is_truncated = False
        self.id: str | None = None
        self.retries = 0
        self.interrupted = False
        self.error: QianfanError | None = None
        self.need_clear_history = False
        self.ban_round: int | None = None
        self.function_call: dict | None = None
        self.search_info: dict | None = None
        self.cleared_rounds: list[int] = []
        self.done = False
        self.created = time.time()

    @property
    def ok(self) -> bool:
        return self.error is None and not self.interrupted

    @property
    def label(self) -> str:
        """What answered: the model, or the deployed endpoint."""
        if self.endpoint and self.model:
            return f"{self.model} @ {self.endpoint}"
        return self.model or self.endpoint or "?"

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        text = self.text if len(self.text) <= 50 else self.text[:47] + "..."
        state = "interrupted" if self.interrupted else ("error" if self.error else self.finish_reason)
        return f"Reply(model={self.label!r}, text={text!r}, state={state!r}, usage={self.usage!r})"

    def to_dict(self) -> dict:
        return {
            "prompt": self.prompt, "text": self.text, "model": self.model, "endpoint": self.endpoint,
            "chat": self.chat, "kind": self.kind, "id": self.id, "finish_reason": self.finish_reason,
            "is_truncated": self.is_truncated, "interrupted": self.interrupted,
            "error": str(self.error) if self.error else None,
            "usage": None if self.usage is None else {"prompt_tokens": self.usage.prompt_tokens,
                                                      "completion_tokens": self.usage.completion_tokens,
                                                      "total_tokens": self.usage.total_tokens},
            "latency": self.latency, "time_to_first_token": self.time_to_first_token, "retries": self.retries,
            "function_call": self.function_call, "search_info": self.search_info,
            "need_clear_history": self.need_clear_history, "ban_round": self.ban_round, "created": self.created,
        }


@dataclass
class Turn:
    """A request message (user, or a function's result) and the reply to it."""

    request: dict
    reply: Reply

    def messages(self) -> list[dict]:
        answer: dict[str, Any] = {"role": "assistant", "content": self.reply.text}
        if self.reply.function_call:
            answer["function_call"] = self.reply.function_call
        return [self.request, answer]


@dataclass
class TurnEvent:
    """What observers hear: kind is start, delta, end, cleared or reset."""

    kind: str
    chat: str
    reply: Reply | None = None
    delta: str = ""
    message: str = ""


class Conversation:
    """A named conversation: its model (or endpoint), system prompt, default parameters and turns."""

    def __init__(self, name: str, model: str | None = None, endpoint: str | None = None):
        self.name = name
        self.model = model
        self.endpoint = endpoint
        self.system: str | None = None
        self.params: dict[str, Any] = {}
        self.turns: list[Turn] = []
        self.removed: list[Turn] = []  # turns cleared at the service's request, kept for export
        self._lock: asyncio.Lock | None = None

    @property
    def lock(self) -> asyncio.Lock:
        # every turn runs on the session's loop, so one lock serves all writers
        if self._lock is None:
            self._lock = asyncio.Lock()
        return self._lock

    def messages(self) -> list[dict]:
        out: list[dict] = []
        for turn in self.turns:
            out.extend(turn.messages())
        return out

    @property
    def totals(self) -> dict:
        return _totals(t.reply for t in self.turns)

    def __repr__(self) -> str:
        return f"Conversation({self.name!r}, model={self.model!r}, turns={len(self.turns)})"


def _totals(replies) -> dict:
    totals = {"turns": 0, "prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0, "latency": 0.0}
    for reply in replies:
        totals["turns"] += 1
        if reply.usage is not None:
            totals["prompt_tokens"] += reply.usage.prompt_tokens
            totals["completion_tokens"] += reply.usage.completion_tokens
            totals["total_tokens"] += reply.usage.total_tokens
        totals["latency"] += reply.latency or 0.0
    return totals


class Session:
    """Conversations and the connection to Qianfan (or to the built-in emulator when offline)."""

    def __init__(self, *, model: str = DEFAULT_MODEL, offline: bool | None = None,
                 client_options: dict | None = None, emulator_options: dict | None = None,
                 environ=os.environ):
        self.default_model = model
        self.client_options = dict(client_options or {})
        self.emulator_options = {"ttft": 0.2, "chunk_delay": 0.03, **(emulator_options or {})}
        self._credentials = Credentials.from_env(environ)
        self._base_url = environ.get("QIANFAN_BASE_URL")
        has_credentials = self._credentials.method != "none"
        self.offline = (not has_credentials) if offline is None else offline
        self.notices: list[str] = [OFFLINE_NOTICE] if self.offline and offline is None else []
        self.trim_history = False
        self._conversations: dict[str, Conversation] = {}
        self._observers: list[Callable[[TurnEvent], None]] = []
        self._client = None
        self._emulator = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self.replies: list[Reply] = []  # every finished reply, for usage accounting
        self.last_reply: Reply | None = None

    # -- connection ----------------------------------------------------------------
    @property
    def mode(self) -> str:
        return "offline" if self.offline else "online"

    @property
    def emulator(self):
        """The built-in emulator, started on first use when offline."""
        if self._emulator is None:
            from .emulator import Emulator

            self._emulator = Emulator(**self.emulator_options)
            self._emulator.start()
        return self._emulator

    @property
    def client(self):
        if self._client is None:
            from .api import QianfanClient

            if self.offline:
                # The emulator accepts any key pair; these name no real credential.
                self._client = QianfanClient("offline", "offline", base_url=self.emulator.base_url,
                                             **self.client_options)
            else:
                c = self._credentials
                self._client = QianfanClient(c.api_key, c.secret_key, access_key=c.access_key,
                                             secret_access_key=c.secret_access_key, access_token=c.access_token,
                                             base_url=self._base_url, **self.client_options)
        return self._client

    @property
    def secrets(self) -> tuple[str, ...]:
        return self._credentials.secrets

    @property
    def auth_method(self) -> str:
        return "emulator" if self.offline else self._credentials.method

    def _drop_client(self) -> None:
        client, self._client = self._client, None
        if client is not None and client._http is not None and self._loop is not None:
            closing = asyncio.run_coroutine_threadsafe(client._http.aclose(), self._loop)
            if threading.current_thread() is not self._thread:
                try:  # pooled sockets closed before the next client opens its own
                    closing.result(timeout=2)
                except Exception:
                    pass

    def login(self, api_key: str, secret_key: str) -> str:
        """Use these application keys (kept in memory only) and go online."""
        if not api_key or not secret_key:
            raise InvalidRequestError("Both the API Key and the Secret Key are needed.", field="credentials")
        self._credentials = Credentials(api_key.strip(), secret_key.strip())
        return self.go_online()

    def go_online(self) -> str:
        if self._credentials.method == "none":
            raise InvalidRequestError(
                "No credentials to go online with: set QIANFAN_AK and QIANFAN_SK (or QIANFAN_ACCESS_KEY and "
                "QIANFAN_SECRET_KEY) in the environment, or run %wenxin login.", field="credentials")
        self.offline = False
        self._drop_client()
        return f"Online: answers come from {self._base_url or 'https://aip.baidubce.com'} ({self.auth_method} auth)."

    def go_offline(self) -> str:
        self.offline = True
        self._drop_client()
        return "Offline: answers come from the built-in emulator."

    def close(self) -> None:
        self._drop_client()
        loop, thread = self._loop, self._thread
        self._loop = self._thread = None
        if loop is not None:
            async def finish():  # as asyncio.run does: let abandoned stream generators close
                await loop.shutdown_asyncgens()
                loop.stop()

            loop.call_soon_threadsafe(lambda: loop.create_task(finish()))
            if thread is not threading.current_thread():
                thread.join(timeout=5)
            if not loop.is_running():
                loop.close()
        if self._emulator is not None:
            self._emulator.stop()
            self._emulator = None

    # -- conversations ---------------------------------------------------------------
    def conversation(self, name: str | None = None) -> Conversation:
        name = name or "default"
        if name not in self._conversations:
            self._conversations[name] = Conversation(name)
        return self._conversations[name]

    def chats(self) -> list[Conversation]:
        return list(self._conversations.values())

    def history(self, chat: str | None = None) -> list[dict]:
        """The conversation's messages as they will be sent: user/assistant alternating."""
        return self.conversation(chat).messages()

    def reset(self, chat: str | None = None) -> None:
        conv = self.conversation(chat)
        conv.turns.clear()
        self._emit(TurnEvent("reset", conv.name))

    def set_system(self, text: str | None, chat: str | None = None) -> None:
        self.conversation(chat).system = text or None

    def use(self, model: str | None = None, *, endpoint: str | None = None, chat: str | None = None) -> Conversation:
        """Make a model (or deployed endpoint) the conversation's own from now on."""
        conv = self.conversation(chat)
        if model is not None:
            spec = find_model(model)
            if spec is None and endpoint is None:
                raise unknown_model_error(model)
            conv.model = spec.name if spec else model
        if endpoint is not None:
            check_endpoint_name(endpoint)
            conv.endpoint = endpoint
        elif model is not None:
            conv.endpoint = None
        return conv

    # -- observers -------------------------------------------------------------------
    def subscribe(self, callback: Callable[[TurnEvent], None]) -> Callable[[], None]:
        """Call ``callback(event)`` on every turn event; returns a function that unsubscribes."""
        self._observers.append(callback)
        return lambda: self._observers.remove(callback) if callback in self._observers else None

    def _emit(self, event: TurnEvent) -> None:
        for callback in list(self._observers):
            try:
                callback(event)
            except Exception:  # an observer's bug must not break the turn
                log.exception("turn observer failed")

    # -- asking ------------------------------------------------------------------------
    def _settings(self, conv: Conversation, model, endpoint, system) -> tuple[str | None, str | None, str | None]:
        if model is not None or endpoint is not None:
            self.use(model, endpoint=endpoint, chat=conv.name)
        if system is not None:
            conv.system = system or None
        # Without a model of its own, a conversation follows the session's default.
        model = conv.model or (None if conv.endpoint else self.default_model)
        return model, conv.endpoint, conv.system

    def _fit(self, conv: Conversation, messages: list[dict], spec, system) -> list[dict]:
        """Drop the oldest turns until the input fits the model, when the user opted in."""
        if not self.trim_history or spec is None:
            return messages
        while len(messages) > 1:
            chars, tokens = input_size({"messages": messages, "system": system})
            if chars <= spec.max_input_chars and (spec.max_input_tokens is None or tokens <= spec.max_input_tokens):
                break
            messages = messages[2:]
        return messages

    async def _aask_here(self, prompt: str, *, model: str | None = None, endpoint: str | None = None,
                   chat: str | None = None, stream: bool = True, system: str | None = None,
                   completion: bool = False, new: bool = False, function_name: str | None = None,
                   on_start: Callable[[Reply], None] | None = None,
                   on_delta: Callable[[Reply, str], None] | None = None, raise_on_error: bool = True,
                   **params) -> Reply:
        """A turn, on the session's loop."""
        if not isinstance(prompt, str) or not prompt.strip():
            raise InvalidRequestError("The prompt is empty: write a question in the cell (or after %wenxin).",
                                      field="prompt")
        if completion:  # a continuation joins no conversation, so none is created for it
            conv = self._conversations.get(chat or "default") or Conversation(chat or "default")
            return await self._complete(prompt, conv, model, endpoint, stream, on_start, on_delta, raise_on_error,
                                        params)
        conv = self.conversation(chat)
        async with conv.lock:
            if new:
                conv.turns.clear()
            before = (conv.model, conv.endpoint, conv.system)
            try:
                model, endpoint, system = self._settings(conv, model, endpoint, system)
            except QianfanError:
                conv.model, conv.endpoint, conv.system = before
                raise
            spec = find_model(model) if model else None
            request = ({"role": "function", "name": function_name, "content": prompt} if function_name
                       else {"role": "user", "content": prompt})
            messages = self._fit(conv, conv.messages() + [request], spec, system)
            call = {**conv.params, **params}
            if system:
                call["system"] = system
            reply = Reply(prompt=prompt, model=model, endpoint=endpoint, chat=conv.name)
            if on_start is not None:
                on_start(reply)
            try:
                await self._run_turn(reply, lambda c, s: (c.stream_chat if s else c.chat)(
                    model=model, messages=messages, endpoint=endpoint, **call), stream, on_delta)
            finally:  # also when interrupted: the partial answer is kept, marked
                if reply.error is not None and not reply.text and not reply.interrupted:
                    # a cell that failed outright changes nothing, its settings included
                    conv.model, conv.endpoint, conv.system = before
                self._settle(conv, request, reply)
        if reply.error is not None and raise_on_error:
            raise reply.error
        return reply

    async def _complete(self, prompt, conv, model, endpoint, stream, on_start, on_delta, raise_on_error,
                        params) -> Reply:
        model = model or (conv.model if endpoint is None else None)
        endpoint = endpoint or (conv.endpoint if model is None else None)
        spec = find_model(model) if model else None
        if spec is not None and spec.kind != COMPLETION and endpoint is None and model == conv.model:
            model = None  # the conversation's chat model is not a completion default
        reply = Reply(prompt=prompt, model=model, endpoint=endpoint, chat=conv.name, kind="completion")
        if on_start is not None:
            on_start(reply)
        call = {**params}
        await self._run_turn(reply, lambda c, s: (c.stream_complete if s else c.complete)(
            prompt, endpoint=endpoint, model=model, **call), stream, on_delta)
        self.replies.append(reply)
        self._emit(TurnEvent("end", conv.name, reply))
        if reply.error is not None and raise_on_error:
            raise reply.error
        return reply

    async def _run_turn(self, reply: Reply, call: Callable, stream: bool, on_delta) -> None:
        """Fill ``reply`` from the service; errors are stored on it, interrupts re-raised."""
        self.last_reply = reply
        self._emit(TurnEvent("start", reply.chat, reply))
        started = time.perf_counter()
        pending = None
        try:
            client = self.client
            if stream:
                pending = call(client, True)
                async for chunk in pending:
                    if reply.time_to_first_token is None:
                        reply.time_to_first_token = time.perf_counter() - started
                        reply.first_token_at = time.time()
                    self._absorb(reply, chunk)
                    if chunk.result:
                        reply.text += chunk.result
                        if on_delta is not None:
                            on_delta(reply, chunk.result)
                        self._emit(TurnEvent("delta", reply.chat, reply, delta=chunk.result))
                reply.retries = pending.retries
            else:
                response = await call(client, False)
                reply.time_to_first_token = time.perf_counter() - started
                self._absorb(reply, response)
                reply.text = response.result
                reply.retries = response.retries
                if on_delta is not None and reply.text:
                    on_delta(reply, reply.text)
        except StreamInterruptedError as err:
            reply.error, reply.interrupted = err, True
            reply.retries = err.retries
        except QianfanError as err:
            reply.error = err
            reply.retries = err.retries
        except BaseException:
            # Cancelled, interrupted, or a failing on_delta: the turn stopped early,
            # and whatever arrived is kept (by the caller) so it must say so.
            reply.interrupted = True
            raise
        finally:
            if pending is not None:
                await _close_quietly(pending)
            reply.latency = time.perf_counter() - started
            reply.done = True

    @staticmethod
    def _absorb(reply: Reply, part) -> None:
        reply.id = part.id or reply.id
        if getattr(part, "is_end", True):
            reply.usage = part.usage
            reply.finish_reason = part.finish_reason
            reply.is_truncated = part.is_truncated
        if part.function_call:
            reply.function_call = part.function_call
        if part.search_info:
            reply.search_info = part.search_info
        if part.need_clear_history:
            reply.need_clear_history = True
            reply.ban_round = part.ban_round

    def _settle(self, conv: Conversation, request: dict, reply: Reply) -> None:
        """Record a finished turn so the history stays a valid alternation."""
        self.replies.append(reply)
        if reply.need_clear_history:
            # Drop the flagged round and everything after it, as the service asks;
            # -1 means the question just asked. Earlier rounds stay.
            rounds = len(conv.turns) + 1
            first = rounds if reply.ban_round in (None, -1) else max(1, min(int(reply.ban_round), rounds))
            reply.cleared_rounds = list(range(first, rounds + 1))
            conv.removed.extend(conv.turns[first - 1:])
            del conv.turns[first - 1:]
            conv.removed.append(Turn(request, reply))
            kept = first - 1
            message = (f"The service flagged round {first if first < rounds else 'just asked'} as unsafe and asked "
                       f"to clear the conversation: {len(reply.cleared_rounds)} round(s) removed, {kept} kept.")
            self._emit(TurnEvent("cleared", conv.name, reply, message=message))
        elif reply.text.strip() or reply.function_call:
            conv.turns.append(Turn(request, reply))  # an interrupted answer is kept, marked
        self._emit(TurnEvent("end", conv.name, reply))

    def ask(self, prompt: str, *, model: str | None = None, chat: str | None = None, stream: bool = True,
            on_start: Callable[[Reply], None] | None = None, on_delta: Callable[[Reply, str], None] | None = None,
            **params) -> Reply:
        """Ask in a conversation and wait: from plain code, a terminal or a notebook cell.

        ``on_start(reply)`` and ``on_delta(reply, text)`` are called in the calling thread as
        the answer streams. Interrupting (Ctrl-C, the kernel's stop button) cancels the
        turn, which keeps what arrived, marked interrupted, and closes the HTTP stream.
        """
        calls: queue.SimpleQueue = queue.SimpleQueue()
        return self.run(self._aask_here(prompt, model=model, chat=chat, stream=stream,
                                        on_start=_through(calls, on_start), on_delta=_through(calls, on_delta),
                                        **params), calls)

    async def aask(self, prompt: str, *, on_start: Callable[[Reply], None] | None = None,
                   on_delta: Callable[[Reply, str], None] | None = None, **kwargs) -> Reply:
        """``ask`` for async code: awaitable from any event loop; callbacks run on the caller's loop."""
        return await self._on_session_loop(self._aask_here(
            prompt, on_start=_on_caller_loop(on_start), on_delta=_on_caller_loop(on_delta), **kwargs))

    def compare(self, prompt: str, models: list[str], *, on_start: Callable[[list[Reply]], None] | None = None,
                on_delta: Callable[[int, Reply, str], None] | None = None, **kwargs) -> list[Reply]:
        """The same prompt to several models at once; no conversation changes. Errors stay in their reply."""
        calls: queue.SimpleQueue = queue.SimpleQueue()
        return self.run(self._acompare_here(prompt, models, on_start=_through(calls, on_start),
                                            on_delta=_through(calls, on_delta), **kwargs), calls)

    async def acompare(self, prompt: str, models: list[str], *,
                       on_start: Callable[[list[Reply]], None] | None = None,
                       on_delta: Callable[[int, Reply, str], None] | None = None, **kwargs) -> list[Reply]:
        """``compare`` for async code."""
        return await self._on_session_loop(self._acompare_here(
            prompt, models, on_start=_on_caller_loop(on_start), on_delta=_on_caller_loop(on_delta), **kwargs))

    async def _acompare_here(self, prompt: str, models: list[str], *, stream: bool = True,
                             system: str | None = None,
                       on_start: Callable[[list[Reply]], None] | None = None,
                       on_delta: Callable[[int, Reply, str], None] | None = None, **params) -> list[Reply]:
        """A comparison, on the session's loop."""
        if not models:
            raise InvalidRequestError("Name at least one model to compare.", field="models")
        if not isinstance(prompt, str) or not prompt.strip():
            raise InvalidRequestError("The prompt is empty.", field="prompt")
        specs = [find_model(name) for name in models]
        replies = [Reply(prompt=prompt, model=spec.name if spec else name, endpoint=None, chat=None)
                   for name, spec in zip(models, specs)]
        if on_start is not None:
            on_start(replies)

        async def one(index: int) -> None:
            reply, spec = replies[index], specs[index]
            call = dict(params)
            if system and (spec is None or spec.accepts("system")):
                call["system"] = system
            delta = (lambda r, d: on_delta(index, r, d)) if on_delta else None
            await self._run_turn(reply, lambda c, s: (c.stream_chat if s else c.chat)(
                model=reply.model, messages=[{"role": "user", "content": prompt}], **call), stream, delta)
            self.replies.append(reply)
            # Observers heard this reply start; without its end they would wait for it forever.
            self._emit(TurnEvent("end", reply.chat, reply))

        await asyncio.gather(*(one(i) for i in range(len(replies))))
        return replies

    # -- accounting and export ---------------------------------------------------------
    def usage(self) -> dict:
        """Tokens and latency per model and per conversation."""
        by_model: dict[str, list[Reply]] = {}
        for reply in self.replies:
            by_model.setdefault(reply.label, []).append(reply)
        return {
            "models": {name: _totals(replies) for name, replies in by_model.items()},
            "chats": {conv.name: conv.totals for conv in self.chats()},
            "total": _totals(self.replies),
        }

    def export(self, path: str | os.PathLike, chat: str | None = None) -> Path:
        """Write conversations (one, or all) as Markdown (.md) or JSON (.json)."""
        target = Path(path)
        suffix = target.suffix.lower()
        if suffix not in (".md", ".markdown", ".json"):
            raise InvalidRequestError(f"Cannot export to {target.name!r}: use a .md (Markdown) or .json path.",
                                      field="path", allowed=".md, .markdown, .json")
        convs = [self.conversation(chat)] if chat else self.chats()
        if suffix == ".json":
            data = {"conversations": [{
                "name": c.name, "model": c.model, "endpoint": c.endpoint, "system": c.system,
                "turns": [{"request": t.request, "reply": t.reply.to_dict()} for t in c.turns],
                "removed_turns": [{"request": t.request, "reply": t.reply.to_dict()} for t in c.removed],
                "totals": c.totals} for c in convs]}
            text = json.dumps(data, ensure_ascii=False, indent=2)
        else:
            text = "\n".join(_markdown_transcript(c, self.default_model) for c in convs)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
        return target

    # -- the session's loop ------------------------------------------------------------------
    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The event loop every turn runs on (started on first use, in a daemon thread)."""
        with self._start_lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                ready = threading.Event()

                def serve():
                    asyncio.set_event_loop(loop)
                    loop.call_soon(ready.set)
                    loop.run_forever()

                thread = threading.Thread(target=serve, name="wenxin-session", daemon=True)
                thread.start()
                ready.wait()
                self._loop, self._thread = loop, thread
            return self._loop

    def submit(self, coro) -> concurrent.futures.Future:
        """Start ``coro`` on the session's loop; ``future.finished`` is set once it has really ended."""
        finished = threading.Event()

        async def guarded():
            try:
                return await coro
            finally:
                finished.set()

        future = asyncio.run_coroutine_threadsafe(guarded(), self.loop)
        future.finished = finished
        return future

    async def _on_session_loop(self, coro):
        if asyncio.get_running_loop() is self._loop:
            return await coro
        future = self.submit(coro)
        try:
            return await asyncio.wrap_future(future)
        except asyncio.CancelledError:
            # cancelling the wait cancels the turn; return once it has kept what arrived
            future.cancel()
            await asyncio.to_thread(future.finished.wait, 5)
            raise

    def run(self, coro, calls: queue.SimpleQueue | None = None):
        """Run ``coro`` on the session's loop and wait, running the callbacks queued on ``calls`` here.

        An interrupt (or a failing callback) cancels the work, waits for it to wind
        down (its HTTP stream closed, its partial answer kept) and re-raises.
        """
        if threading.current_thread() is self._thread:
            raise RuntimeError("ask()/compare() wait for the session's loop: on it, use await aask()/acompare()")
        calls = calls if calls is not None else queue.SimpleQueue()
        future = self.submit(coro)
        future.add_done_callback(lambda _: calls.put(None))
        try:
            while True:
                try:
                    item = calls.get(timeout=0.5)
                except queue.Empty:
                    continue
                if item is None:
                    break
                item()
            return future.result()
        except BaseException:  # an interrupt, or a callback that failed: the turn stops with the caller
            future.cancel()
            future.finished.wait(timeout=5)
            raise


def _through(calls: queue.SimpleQueue, callback):
    """``callback``, run in the thread that drains ``calls`` instead of the session's."""
    if callback is None:
        return None
    return lambda *args: calls.put(lambda: callback(*args))


def _on_caller_loop(callback):
    if callback is None:
        return None
    loop = asyncio.get_running_loop()
    return lambda *args: loop.call_soon_threadsafe(callback, *args)


async def _close_quietly(stream) -> None:
    try:
        await stream.aclose()
    except Exception:
        pass


def model_label(conv: Conversation, default_model: str) -> str:
    """What answers a conversation: its model, its endpoint, or the session's default."""
    if conv.endpoint:
        return f"{conv.model} @ {conv.endpoint}" if conv.model else f"endpoint {conv.endpoint}"
    return conv.model or f"{default_model} (default)"


def _markdown_transcript(conv: Conversation, default_model: str = DEFAULT_MODEL) -> str:
    lines = [f"# Conversation: {conv.name}", ""]
    lines.append(f"- model: {model_label(conv, default_model)}")
    if conv.system:
        lines.append(f"- system: {conv.system}")
    totals = conv.totals
    lines += [f"- turns: {totals['turns']}, tokens: {totals['total_tokens']}", ""]
    for turn in conv.turns:
        who = "Function result" if turn.request.get("role") == "function" else "User"
        lines += [f"**{who}:**", "", str(turn.request.get("content") or ""), ""]
        reply = turn.reply
        lines += [f"**{reply.label}:**", "", reply.text or "", ""]
        if reply.function_call:
            lines += [f"_function call: `{json.dumps(reply.function_call, ensure_ascii=False)}`_", ""]
        notes = []
        if reply.usage is not None:
            notes.append(f"{reply.usage.total_tokens} tokens")
        if reply.latency is not None:
            notes.append(f"{reply.latency:.2f} s")
        if reply.interrupted:
            notes.append("interrupted")
        if notes:
            lines += [f"_{', '.join(notes)}_", ""]
    return "\n".join(lines)
