"""The kernel-level session: named conversations and the turns that change them.

Magics and the chat panel are two views over one Session. It knows nothing
about displays: views learn about progress through ``on_delta`` callbacks
and turn events (``subscribe``). Its parts each do one job: the Backend
(credentials, client, emulator), the Runner (the event-loop thread every turn
runs on), the conversations, and the transcript export.
"""

from __future__ import annotations

import asyncio
import logging
import os
import queue
from pathlib import Path
from typing import Callable

from ..api import COMPLETION, DEFAULT_MODEL, InvalidRequestError, QianfanError, Route, check_endpoint_name
from ..api import find_model, route
from . import _transcript
from ._backend import NO_CREDENTIALS, Backend
from ._conversation import Conversation, Reply, TurnEvent, totals
from ._runner import Runner, in_caller_thread, on_caller_loop
from ._turns import fill_reply

log = logging.getLogger(__name__)

ALL_APIS = frozenset({"v1", "v2"})


class Session:
    """Conversations, and the connection to Qianfan (or to the built-in emulator when offline)."""

    def __init__(self, *, model: str = DEFAULT_MODEL, offline: bool | None = None,
                 client_options: dict | None = None, emulator_options: dict | None = None,
                 environ=os.environ):
        self.default_model = model
        self.trim_history = False
        self.runner = Runner()
        self.backend = Backend(self.runner, offline=offline, client_options=client_options,
                               emulator_options=emulator_options, environ=environ)
        # what a view should tell the user once: NO_CREDENTIALS when it fell back to the emulator
        self.notices: list[str] = [NO_CREDENTIALS] if self.backend.offline_by_default else []
        self._conversations: dict[str, Conversation] = {}
        self._observers: list[Callable[[TurnEvent], None]] = []
        self.replies: list[Reply] = []  # every finished reply, for usage accounting
        self.last_reply: Reply | None = None

    def __repr__(self) -> str:
        return f"Session({self.backend.mode}, auth={self.auth_method!r}, conversations={len(self._conversations)})"

    # -- the connection (see Backend) --------------------------------------------------------
    @property
    def offline(self) -> bool:
        return self.backend.offline

    @property
    def mode(self) -> str:
        return self.backend.mode

    @property
    def auth_method(self) -> str:
        return self.backend.auth_method

    @property
    def secrets(self) -> tuple[str, ...]:
        return self.backend.secrets

    def login(self, api_key: str | None = None, secret_key: str | None = None, *, v2_key: str | None = None) -> str:
        """Use a v2 API Key, or an application's v1 keys (kept in memory only), and go online."""
        return self.backend.login(api_key, secret_key, v2_key=v2_key)

    def go_online(self) -> str:
        return self.backend.go_online()

    def go_offline(self) -> str:
        return self.backend.go_offline()

    def close(self) -> None:
        """Close the client, stop the session's loop and the emulator; the conversations stay."""
        self.backend.drop_client()
        self.runner.close()
        self.backend.close()

    # -- conversations -----------------------------------------------------------------------
    def conversation(self, name: str | None = None) -> Conversation:
        name = name or "default"
        if name not in self._conversations:
            self._conversations[name] = Conversation(name)
        return self._conversations[name]

    def has_conversation(self, name: str) -> bool:
        return name in self._conversations

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
            if endpoint is None:
                conv.model = route(model, ALL_APIS).model  # a known name, or a v2 id; else an error
            else:
                spec = find_model(model)
                conv.model = spec.name if spec else model
        if endpoint is not None:
            check_endpoint_name(endpoint)
            conv.endpoint = endpoint
        elif model is not None:
            conv.endpoint = None
        return conv

    # -- observers ---------------------------------------------------------------------------
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

    # -- asking ------------------------------------------------------------------------------
    def ask(self, prompt: str, *, model: str | None = None, chat: str | None = None, stream: bool = True,
            on_start: Callable[[Reply], None] | None = None, on_delta: Callable[[Reply, str], None] | None = None,
            **params) -> Reply:
        """Ask in a conversation and wait: from plain code, a terminal or a notebook cell.

        ``on_start(reply)`` and ``on_delta(reply, text)`` are called in the calling thread as
        the answer streams. Interrupting (Ctrl-C, the kernel's stop button) cancels the
        turn, which keeps what arrived, marked interrupted, and closes the HTTP stream.
        """
        calls: queue.SimpleQueue = queue.SimpleQueue()
        return self.runner.wait(self._aask_here(prompt, model=model, chat=chat, stream=stream,
                                                on_start=in_caller_thread(calls, on_start),
                                                on_delta=in_caller_thread(calls, on_delta), **params), calls)

    async def aask(self, prompt: str, *, on_start: Callable[[Reply], None] | None = None,
                   on_delta: Callable[[Reply, str], None] | None = None, **kwargs) -> Reply:
        """``ask`` for async code: awaitable from any event loop; callbacks run on the caller's loop."""
        return await self.runner.relay(self._aask_here(
            prompt, on_start=on_caller_loop(on_start), on_delta=on_caller_loop(on_delta), **kwargs))

    def compare(self, prompt: str, models: list[str], *, on_start: Callable[[list[Reply]], None] | None = None,
                on_delta: Callable[[int, Reply, str], None] | None = None, **kwargs) -> list[Reply]:
        """The same prompt to several models at once; no conversation changes. Errors stay in their reply."""
        calls: queue.SimpleQueue = queue.SimpleQueue()
        return self.runner.wait(self._acompare_here(prompt, models, on_start=in_caller_thread(calls, on_start),
                                                    on_delta=in_caller_thread(calls, on_delta), **kwargs), calls)

    async def acompare(self, prompt: str, models: list[str], *,
                       on_start: Callable[[list[Reply]], None] | None = None,
                       on_delta: Callable[[int, Reply, str], None] | None = None, **kwargs) -> list[Reply]:
        """``compare`` for async code."""
        return await self.runner.relay(self._acompare_here(
            prompt, models, on_start=on_caller_loop(on_start), on_delta=on_caller_loop(on_delta), **kwargs))

    async def _aask_here(self, prompt: str, *, model: str | None = None, endpoint: str | None = None,
                         chat: str | None = None, stream: bool = True, system: str | None = None,
                         completion: bool = False, new: bool = False, function_name: str | None = None,
                         on_start: Callable[[Reply], None] | None = None,
                         on_delta: Callable[[Reply, str], None] | None = None, raise_on_error: bool = True,
                         **params) -> Reply:
        """A turn, on the session's loop."""
        if not isinstance(prompt, str) or not prompt.strip():
            raise InvalidRequestError("The prompt is empty: write a question.", field="prompt")
        if completion:  # a continuation joins no conversation, so none is created for it
            conv = self._conversations.get(chat or "default") or Conversation(chat or "default")
            reply = await self._complete(prompt, conv, model, endpoint, stream, on_start, on_delta, params)
        else:
            conv = self.conversation(chat)
            async with conv.lock:
                reply = await self._chat_turn(conv, prompt, model, endpoint, system, new, function_name, stream,
                                              on_start, on_delta, params)
        if reply.error is not None and raise_on_error:
            raise reply.error
        return reply

    async def _chat_turn(self, conv: Conversation, prompt, model, endpoint, system, new, function_name, stream,
                         on_start, on_delta, params) -> Reply:
        if new:
            conv.turns.clear()
        before = conv.settings()
        try:
            model, endpoint, system = self._settings(conv, model, endpoint, system)
            chosen = self._route_turn(model, endpoint)  # credentials that cannot reach it: said before any change
        except QianfanError:
            conv.restore(before)
            raise
        request = ({"role": "function", "name": function_name, "content": prompt} if function_name
                   else {"role": "user", "content": prompt})
        messages = conv.messages() + [request]
        model = chosen.model
        if self.trim_history and chosen.spec is not None:
            messages = conv.fit(messages, chosen.spec, system)
        call = {**conv.params, **params}
        if system:
            call["system"] = system
        reply = Reply(prompt=prompt, model=model, endpoint=endpoint, chat=conv.name)
        reply.api = chosen.api
        if on_start is not None:
            on_start(reply)
        try:
            await self._fill(reply, lambda c, s: (c.stream_chat if s else c.chat)(
                model=model, messages=messages, endpoint=endpoint, **call), stream, on_delta)
        finally:  # also when interrupted: the partial answer is kept, marked
            if reply.error is not None and not reply.text and not reply.interrupted:
                conv.restore(before)  # a cell that failed outright changes nothing, its settings included
            self._finish(reply, conv, request)
        return reply

    def route(self, model: str | None) -> Route:
        """Which API answers ``model`` with the credentials at hand, and under which name."""
        return route(model, self.backend.apis)

    def _route_turn(self, model: str | None, endpoint: str | None) -> Route:
        if endpoint is not None:  # a deployed service is a v1 endpoint
            return Route(api="v1", model=model, spec=find_model(model) if model else None)
        return self.route(model)

    def _settings(self, conv: Conversation, model, endpoint, system) -> tuple[str | None, str | None, str | None]:
        if model is not None or endpoint is not None:
            self.use(model, endpoint=endpoint, chat=conv.name)
        if system is not None:
            conv.system = system or None
        # Without a model of its own, a conversation follows the session's default.
        model = conv.model or (None if conv.endpoint else self.default_model)
        return model, conv.endpoint, conv.system

    async def _complete(self, prompt, conv, model, endpoint, stream, on_start, on_delta, params) -> Reply:
        model = model or (conv.model if endpoint is None else None)
        endpoint = endpoint or (conv.endpoint if model is None else None)
        spec = find_model(model) if model else None
        if spec is not None and spec.kind != COMPLETION and endpoint is None and model == conv.model:
            model = None  # the conversation's chat model is not a completion default
        reply = Reply(prompt=prompt, model=model, endpoint=endpoint, chat=conv.name, kind="completion")
        if on_start is not None:
            on_start(reply)
        await self._fill(reply, lambda c, s: (c.stream_complete if s else c.complete)(
            prompt, endpoint=endpoint, model=model, **params), stream, on_delta)
        self._finish(reply)
        return reply

    async def _acompare_here(self, prompt: str, models: list[str], *, stream: bool = True,
                             system: str | None = None, on_start: Callable[[list[Reply]], None] | None = None,
                             on_delta: Callable[[int, Reply, str], None] | None = None, **params) -> list[Reply]:
        """A comparison, on the session's loop."""
        if not models:
            raise InvalidRequestError("Name at least one model to compare.", field="models")
        if not isinstance(prompt, str) or not prompt.strip():
            raise InvalidRequestError("The prompt is empty.", field="prompt")
        routes = [self._route_or_error(name) for name in models]
        replies = [Reply(prompt=prompt, model=r.model if isinstance(r, Route) else name, endpoint=None, chat=None)
                   for name, r in zip(models, routes, strict=True)]
        if on_start is not None:
            on_start(replies)

        async def one(index: int) -> None:
            reply, chosen = replies[index], routes[index]
            if not isinstance(chosen, Route):  # this column cannot be asked; the others go on
                reply.error, reply.done = chosen, True
                self._finish(reply)
                return
            reply.api = chosen.api
            call = dict(params)
            if system and (chosen.api == "v2" or chosen.spec is None or chosen.spec.accepts("system")):
                call["system"] = system
            delta = (lambda r, d: on_delta(index, r, d)) if on_delta else None
            await self._fill(reply, lambda c, s: (c.stream_chat if s else c.chat)(
                model=reply.model, messages=[{"role": "user", "content": prompt}], **call), stream, delta)
            # Observers heard this reply start; without its end they would wait for it forever.
            self._finish(reply)

        await asyncio.gather(*(one(i) for i in range(len(replies))))
        return replies

    def _route_or_error(self, model: str) -> Route | QianfanError:
        try:
            return self.route(model)
        except QianfanError as err:
            return err

    async def _fill(self, reply: Reply, call, stream: bool, on_delta) -> None:
        self.last_reply = reply
        try:
            client = self.backend.connect()
        except BaseException:
            reply.done = True
            raise
        await fill_reply(reply, client, call, stream, on_delta, self._emit)

    def _finish(self, reply: Reply, conv: Conversation | None = None, request: dict | None = None) -> None:
        """Account for a finished reply, record it in its conversation, and announce its end."""
        self.replies.append(reply)
        if conv is not None:
            cleared = conv.record(request, reply)
            if cleared:
                self._emit(TurnEvent("cleared", conv.name, reply, message=cleared))
        chat = conv.name if conv is not None else reply.chat
        self._emit(TurnEvent("end", chat, reply))

    # -- accounting and export ---------------------------------------------------------------
    def usage(self) -> dict:
        """Tokens and latency per model and per conversation."""
        by_model: dict[str, list[Reply]] = {}
        for reply in self.replies:
            by_model.setdefault(reply.label, []).append(reply)
        return {
            "models": {name: totals(replies) for name, replies in by_model.items()},
            "chats": {conv.name: conv.totals for conv in self.chats()},
            "total": totals(self.replies),
        }

    def transcript(self, chat: str | None = None) -> str:
        """A conversation as Markdown."""
        return _transcript.markdown(self.conversation(chat), self.default_model)

    def export(self, path: str | os.PathLike, chat: str | None = None) -> Path:
        """Write conversations (one, or all) as Markdown (.md) or JSON (.json)."""
        convs = [self.conversation(chat)] if chat else self.chats()
        return _transcript.export(convs, path, self.default_model)
