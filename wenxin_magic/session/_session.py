"""The kernel-level session: named conversations and the turns that change them.

Magics and the chat panel are two views over one Session. It knows nothing
about displays: views learn about progress through ``on_delta`` callbacks
and turn events (``subscribe``). Its parts each do one job: the Backend
(credentials, client, emulator), the Runner (the event-loop thread every turn
runs on), the conversations, and the transcript export.

Every turn is a ``TurnSpec``: ``ask`` makes one from its arguments, routes it
(``_chat``, ``_completion``; ``compare`` one per column, ``batch`` one per
row), and ``_answer`` builds, fills and records its Reply, round after round
of tool calls: one path for every kind.
"""

from __future__ import annotations

import asyncio
import logging
import os
import queue
from dataclasses import replace
from pathlib import Path
from typing import Callable

from ..api import COMPLETION, DEFAULT_MODEL, InvalidRequestError, QianfanError, Route, check_endpoint_name
from ..api import find_model, route
from ._backend import NO_CREDENTIALS, Backend
from ._conversation import Conversation, Reply, TurnEvent, new_run_id, step_messages, totals
from ._cost import BatchDeclinedError, BatchEstimate, BudgetExceededError, estimate_batch, over_budget, spent
from ._cost import turn_bound
from ._pictures import check_vision, request_with_pictures, sees_images, text_only
from ._runner import Runner, in_caller_thread, on_caller_loop
from ._session_log import SessionLog
from ._transcript import export as export_transcripts
from ._transcript import markdown as markdown_transcript
from ._turns import TurnSpec, asked_params, fill_reply

log = logging.getLogger(__name__)

ALL_APIS = frozenset({"v1", "v2"})
LESSON_ENV = "WENXIN_MAGIC_LESSON"  # a lesson file to load when the session starts
MAX_TOOL_ROUNDS = 5
MAX_RESULT_CHARS = 8000  # what one tool result may put into the next request
# (``_tools``, and pydantic through it, is imported when a turn is given tools: loading stays light)


class Session:
    """Conversations, and the connection to Qianfan (or to the built-in emulator when offline)."""

    def __init__(self, *, model: str = DEFAULT_MODEL, offline: bool | None = None,
                 client_options: dict | None = None, emulator_options: dict | None = None,
                 environ=os.environ):
        self.default_model = model
        self.trim_history = False
        self.max_tool_rounds = MAX_TOOL_ROUNDS  # rounds of tool calls in one turn before it stops
        self.max_tool_result_chars = MAX_RESULT_CHARS  # a function's result is cut there, marked
        self.runner = Runner()
        self.backend = Backend(self.runner, offline=offline, client_options=client_options,
                               emulator_options=emulator_options, environ=environ)
        # what a view should tell the user once: NO_CREDENTIALS when it fell back to the emulator
        self.notices: list[str] = [NO_CREDENTIALS] if self.backend.offline_by_default else []
        self._conversations: dict[str, Conversation] = {}
        self._observers: list[Callable[[TurnEvent], None]] = []
        self.replies: list[Reply] = []  # every finished reply, for usage accounting
        self.last_reply: Reply | None = None
        self.log = SessionLog(self._restore)  # every turn, written when it ends; searchable, resumable
        self.last_batch = None  # the latest batch run (a _batch.Batch), finished or stopped
        self.budget_yuan: float | None = None  # a cap on this kernel's estimated spend; None: no cap
        self._reserved = 0.0  # the worst-case ¥ of the requests on their way, so concurrent rows share the cap
        # (replies counted, their ¥, the last counted): a batch of many rows need not add them all up each time
        self._spent: tuple[int, float, Reply | None] = (0, 0.0, None)
        if environ.get(LESSON_ENV):  # a class's lesson, set before the kernel started
            from ..emulator import LessonError

            try:
                self.notices.append(self.load_lesson(environ[LESSON_ENV]))
            except LessonError as err:
                self.notices.append(f"{LESSON_ENV}: {err}")

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

    # -- lessons: recorded conversations the emulator answers from ------------------------------
    @property
    def lesson(self):
        """The loaded lesson (``wenxin_magic.emulator.Lesson``: its conversations, questions and hits), or None."""
        return self.backend.lesson

    @property
    def lesson_speed(self) -> float:
        """How fast a lesson's answers stream: 1.0 at the recorded pace, 0.5 twice as fast, 0 at once."""
        return self.backend.lesson_speed

    @lesson_speed.setter
    def lesson_speed(self, speed: float) -> None:
        if isinstance(speed, bool) or not isinstance(speed, (int, float)) or not 0 <= speed <= 100:
            raise InvalidRequestError(f"lesson_speed must be a number from 0 (at once) to 100; 1.0 is the recorded "
                                      f"pace (got {speed!r}).", field="lesson_speed")
        self.backend.lesson_speed = float(speed)

    def load_lesson(self, path: str | os.PathLike) -> str:
        """Answer from a lesson file when offline: a question it holds (same model, same conversation so far)
        gets the recorded answer at the recorded pace; any other, the emulator's answer after a notice."""
        from ..emulator import Lesson

        lesson = Lesson.load(path)
        self.backend.lesson = lesson
        where = ("Offline, the questions it holds are answered from it." if self.backend.offline else
                 "It answers when offline; online, answers come from Qianfan.")
        return (f"Lesson {lesson.name!r} loaded: {len(lesson.conversations)} conversation(s), {len(lesson)} "
                f"question(s). {where}")

    def unload_lesson(self) -> str:
        lesson, self.backend.lesson = self.backend.lesson, None
        return f"Lesson {lesson.name!r} unloaded." if lesson is not None else "No lesson was loaded."

    def save_lesson(self, path: str | os.PathLike, chats: list[str] | None = None, *, name: str | None = None) -> str:
        """Write conversations (default: every one of this kernel) into a lesson file. A name not among this
        kernel's conversations is resumed from the log."""
        from ._lessons import lesson_data, write_lesson

        conversations = [self._lesson_conversation(chat) for chat in chats] if chats else \
            [conv for conv in self.chats() if conv.turns]
        if not conversations or not any(conv.turns for conv in conversations):
            raise InvalidRequestError("No conversation has a turn to save: ask something first, or name "
                                      "conversations with -c.", field="chats")
        data, skipped = lesson_data(conversations, name=name or Path(path).stem, secrets=self.secrets)
        written = write_lesson(path, data)
        turns = sum(len(conv["turns"]) for conv in data["conversations"])
        left_out = f"; {skipped} turn(s) that failed before answering left out" if skipped else ""
        return (f"Lesson saved to {written}: {len(data['conversations'])} conversation(s), {turns} question(s)"
                f"{left_out}.")

    def _lesson_conversation(self, chat: str) -> Conversation:
        if chat in self._conversations:
            return self._conversations[chat]
        try:
            logged = self.log.conversation(chat)
        except Exception as err:  # LogUnavailable says what happened to the file and what to do
            raise InvalidRequestError(f"No conversation {chat!r} in this kernel, and the log cannot be read: {err}",
                                      field="chats") from None
        if logged is None:
            known = ", ".join(sorted(self._conversations)) or "none yet"
            raise InvalidRequestError(f"No conversation {chat!r} in this kernel or the log (this kernel's: "
                                      f"{known}).", field="chats")
        return logged

    def close(self) -> None:
        """Close the client, stop the session's loop and the emulator; the conversations stay."""
        self.backend.drop_client()
        self.runner.close()
        self.backend.close()
        self.log.close()

    def take_notices(self) -> list:
        """What a view should tell the user once (the log's place, or why it stopped), then forgotten."""
        notices, self.log.notices[:] = list(self.log.notices), []
        return notices

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
        conv.run_id = new_run_id()  # what follows is a new run in the log
        self._emit(TurnEvent("reset", conv.name))

    def resume(self, chat: str, run_id: str | None = None) -> Conversation:
        """Restore a conversation from the log (its latest run, or ``run_id``): the next turn continues it."""
        return self.log.resume(chat, run_id)

    def _restore(self, conv: Conversation) -> Conversation:
        current = self._conversations.get(conv.name)
        if current is not None and current.turns and current.run_id != conv.run_id:
            raise InvalidRequestError(
                f"Conversation {conv.name!r} already has {len(current.turns)} turn(s) in this kernel; reset it first "
                "to resume the logged one.", field="resume")
        self._conversations[conv.name] = conv
        self._emit(TurnEvent("reset", conv.name))
        return conv

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

    def remote_models(self) -> list[str]:
        """The model ids these credentials can call, as the service lists them (``GET /v2/models``); offline, the
        emulator's. The service's list is the authority: a shipped table is a cache of it."""
        return self.runner.wait(self._remote_models())

    async def _remote_models(self) -> list[str]:
        lister = getattr(self.backend.connect(), "list_models", None)
        if lister is None:
            raise InvalidRequestError("This version of the client cannot ask the service which models a key can "
                                      "call (GET /v2/models).", field="models")
        return [str(model) for model in await lister()]

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
            tools=None, approve=False, on_call=None, **params) -> Reply:
        """Ask in a conversation and wait: from plain code, a terminal or a notebook cell.

        ``on_start(reply)`` and ``on_delta(reply, text)`` are called in the calling thread as
        the answer streams. Interrupting (Ctrl-C, the kernel's stop button) cancels the
        turn, which keeps what arrived, marked interrupted, and closes the HTTP stream.

        ``tools=[fn, ...]``: Python functions the model may call. They run in this thread, between
        the requests of the turn, until the model answers in words (at most ``max_tool_rounds``
        rounds). ``approve=True`` asks before each call (or give a function ``approve(call) -> bool``);
        ``on_call(reply, call)`` hears each call start and end. A new request begins each round, with
        ``on_start`` called again for its reply; the one returned is the last, its ``rounds`` the others.
        An ``async def`` tool is awaited to its end on an event loop of its own, in a short-lived thread (this
        thread's loop, in a kernel, is busy running the cell that waits); a generator's items are sent as a list
        of at most 1,000.

        ``schema``: the answer is JSON of this shape (a pydantic model, a dataclass, a TypedDict or a short spec
        such as ``"city, population int"``; ``many=True`` a list of them). The model is asked with a ``json_schema``
        response format where its catalog row says it takes one, else ``json_object`` with the schema in the system
        message; the answer is validated into ``reply.data``, and one repair round sends the validation error back.
        If that fails too, the reply keeps the raw answer (``reply.text``) with a SchemaMismatchError.

        ``images=[fig, "chart.png", ...]``: pictures sent with the prompt (anything ``images.picture_of`` takes) to a
        model whose catalog row sees images; any other model is refused before anything is sent.

        Other keywords: ``endpoint``, ``system``, ``new``, ``completion``, ``function_name``, ``raise_on_error``
        (see ``TurnSpec``), and the request's parameters (``temperature=0.5``, ...).

        ``reply.cost_yuan`` is its estimated ¥ at the catalog's price (0.0 free, None unknown). With
        ``session.budget_yuan`` set, a question whose worst case (its input and the longest answer the model may
        write) would take the kernel's spend past it is not sent: ``BudgetExceededError`` says so.
        """
        calls: queue.SimpleQueue = queue.SimpleQueue()
        use = self._tool_use(tools, ("thread", calls), approve, on_call, params)
        turn = TurnSpec.of(prompt, dict(params, model=model, chat=chat, stream=stream), tools=use,
                           on_start=in_caller_thread(calls, on_start), on_delta=in_caller_thread(calls, on_delta))
        return self.runner.wait(self._aask_here(turn), calls)

    async def aask(self, prompt: str, *, on_start: Callable[[Reply], None] | None = None,
                   on_delta: Callable[[Reply, str], None] | None = None, tools=None, approve=False,
                   on_call=None, tools_loop: asyncio.AbstractEventLoop | None = None, **kwargs) -> Reply:
        """``ask`` for async code: awaitable from any event loop; callbacks, and tools, run on the caller's loop
        (or on ``tools_loop``), where an ``async def`` tool is awaited. ``approve`` may return an awaitable there."""
        use = self._tool_use(tools, ("loop", tools_loop or asyncio.get_running_loop()), approve, on_call, kwargs)
        turn = TurnSpec.of(prompt, kwargs, tools=use, on_start=on_caller_loop(on_start),
                           on_delta=on_caller_loop(on_delta))
        return await self.runner.relay(self._aask_here(turn))

    def compare(self, prompt: str, models: list[str], *, on_start: Callable[[list[Reply]], None] | None = None,
                on_delta: Callable[[int, Reply, str], None] | None = None, tools=None, approve=False,
                on_call=None, **kwargs) -> list[Reply]:
        """The same prompt to several models at once; no conversation changes. Errors stay in their reply.

        With ``tools``, each model runs its own calls; a column's reply is replaced by the next round's.
        """
        calls: queue.SimpleQueue = queue.SimpleQueue()
        use = self._tool_use(tools, ("thread", calls), approve, on_call, kwargs)
        return self.runner.wait(self._acompare_here(prompt, models, on_start=in_caller_thread(calls, on_start),
                                                    on_delta=in_caller_thread(calls, on_delta), tool_use=use,
                                                    **kwargs), calls)

    async def acompare(self, prompt: str, models: list[str], *,
                       on_start: Callable[[list[Reply]], None] | None = None,
                       on_delta: Callable[[int, Reply, str], None] | None = None, tools=None, approve=False,
                       on_call=None, **kwargs) -> list[Reply]:
        """``compare`` for async code."""
        use = self._tool_use(tools, ("loop", asyncio.get_running_loop()), approve, on_call, kwargs)
        return await self.runner.relay(self._acompare_here(
            prompt, models, on_start=on_caller_loop(on_start), on_delta=on_caller_loop(on_delta), tool_use=use,
            **kwargs))

    def batch(self, template: str, items, *, models: list[str] | None = None, model: str | None = None,
              concurrency: int | None = None, resume=None, endpoint: str | None = None, completion: bool = False,
              on_progress: Callable | None = None, items_name: str = "items", confirm: Callable | None = None,
              **params):
        """One prompt template over many items and models, paced to the service's quota; returns the Batch.

        ``template`` uses ``{item}``, ``{item.field}``, ``{item[key]}`` and ``{i}``; ``items`` is a list, a pandas
        Series or DataFrame (its rows). Each row is a fresh single question: no conversation changes. A row that
        fails keeps its error and the others go on. ``resume``: a previous Batch of the same cell, whose finished
        rows are kept. ``batch.frame()`` is the table (pandas), ``batch.replies()`` the answers. On an interrupt
        the Batch so far stays in ``session.last_batch``, its unfinished rows marked not run; an interrupt while the
        items are read leaves ``last_batch`` as it was. At most ``MAX_ITEMS`` (100,000) items. ``items_name`` is
        what messages call the items. ``schema``: each row's answer as JSON of that shape (see ``ask``), and the
        table gets one typed column per field; a row that does not follow it keeps its raw answer and the error.
        ``confirm(estimate)``: called with the ``BatchEstimate`` of the rows to run before any is asked; unless it
        returns True, nothing runs and ``BatchDeclinedError`` says so.
        """
        from ._batch import Batch, batch_items
        from ._turns import schema_of

        schema = schema_of(params.pop("schema", None), params.pop("many", False))
        if schema is not None and (schema.many or completion):
            raise InvalidRequestError("A batch row's schema is one object: drop many=True (and completion=True); "
                                      "each row then gets one column per field.", field="schema")
        if concurrency is not None and (not isinstance(concurrency, int) or isinstance(concurrency, bool)
                                        or concurrency < 1):
            raise InvalidRequestError(f"concurrency must be a whole number of at least 1, got {concurrency!r}.",
                                      field="concurrency", allowed="an integer >= 1")
        # a deployed service without a model name goes by its endpoint's name in the table
        names = list(models) if models else [model or endpoint or self.default_model]
        routes = {name: self._batch_route(name, endpoint, completion) for name in names}
        previous = getattr(resume, "batch", resume)  # a Batch, or the list of replies that carries one
        # read here, in the caller's thread, where an interrupt can stop a slow generator
        items = batch_items(items, items_name)
        if not items:
            raise InvalidRequestError(f"{items_name} is empty: the batch has nothing to run.", field="items")
        run = Batch(template, items, names, concurrency=concurrency, previous=previous, schema=schema)
        if confirm is not None and confirm(self._estimate(run, routes, endpoint, params)) is not True:
            raise BatchDeclinedError("The batch was not run: its estimated cost was not confirmed.", field="confirm")
        if concurrency is not None and concurrency > self.backend.client_options.get("max_connections", 20):
            self.backend.reconfigure(max_connections=concurrency)  # the connection pool must not be the limit
        self.last_batch = run

        async def ask(prompt: str, name: str) -> Reply:  # one row: a fresh single question, whole
            chosen = routes[name]
            return await self._answer(TurnSpec(
                prompt, kind="batch", model=chosen.model, endpoint=endpoint, stream=False, params=params,
                api=chosen.api, messages=None if completion else [{"role": "user", "content": prompt}],
                asked=dict(params), schema=schema).asking_for_schema(chosen.spec))
        calls: queue.SimpleQueue = queue.SimpleQueue()
        self.runner.wait(run.run(ask, on_progress=in_caller_thread(calls, on_progress)), calls)
        return run

    def _estimate(self, run, routes: dict[str, Route], endpoint: str | None, params: dict) -> BatchEstimate:
        """What the rows of ``run`` still to run may cost, from their filled prompts and the catalog's prices."""
        from ..api import CATALOG_DATE  # read from the catalog file on first use

        earlier: dict[str, list[int]] = {}
        for reply in self.replies:
            if reply.usage is not None and reply.model:
                earlier.setdefault(reply.model, []).append(reply.usage.completion_tokens)
        rows = [(routes[row.model].model or row.model, row.prompt) for row in run.rows
                if row.status == "not run" and row.prompt is not None]
        return estimate_batch(rows, params, earlier, endpoint, CATALOG_DATE)

    def _batch_route(self, model: str | None, endpoint: str | None, completion: bool) -> Route:
        if model == endpoint:  # the endpoint alone, named in the table by its name
            return Route(api="v1", model=None, spec=None)
        if completion or endpoint is not None:
            return Route(api="v1", model=model, spec=find_model(model) if model else None)
        return self.route(model)  # a model no credentials reach: said before anything runs

    def _tool_use(self, tools, where: tuple, approve, on_call, params: dict):
        """How the turn may call ``tools`` (a ``ToolUse``, None without any); takes its settings out of ``params``."""
        rounds = params.pop("max_tool_rounds", None)
        if tools is None or tools == []:
            return None
        from ._tools import ToolUse

        def told(reply: Reply, call) -> None:
            self._emit(TurnEvent("call", reply.chat, reply))
            if on_call is not None:
                on_call(reply, call)
        return ToolUse.build(tools, where, approve, told, params,
                             max_rounds=self.max_tool_rounds if rounds is None else rounds,
                             max_result_chars=self.max_tool_result_chars)

    async def _aask_here(self, turn: TurnSpec) -> Reply:
        """A chat or completion turn, on the session's loop."""
        if not isinstance(turn.prompt, str) or not turn.prompt.strip():
            raise InvalidRequestError("The prompt is empty: write a question.", field="prompt")
        if turn.kind == "completion":
            if turn.images:
                raise InvalidRequestError("A completion (continuation) takes text only; ask a vision chat model to "
                                          "see pictures.", field="images")
            if turn.tools is not None:
                raise InvalidRequestError("A completion (continuation) cannot call tools; ask a chat model "
                                          "instead.", field="tools")
            if turn.schema is not None:
                raise InvalidRequestError("A completion (continuation) cannot be asked for a schema's JSON; ask a "
                                          "chat model instead.", field="schema")
            reply = await self._answer(self._completion(turn))
        else:
            conv = self.conversation(turn.chat)
            async with conv.lock:
                reply = await self._answer(self._chat(conv, turn))
        if reply.error is not None and turn.raise_on_error:
            raise reply.error
        return reply

    def _chat(self, conv: Conversation, turn: TurnSpec) -> TurnSpec:
        """The chat turn routed: the conversation's settings changed as asked, its history as messages."""
        if turn.new:
            conv.turns.clear()
            conv.run_id = new_run_id()
        before = conv.settings()
        try:
            model, endpoint, system = self._settings(conv, turn.model, turn.endpoint, turn.system)
            chosen = self._route_turn(model, endpoint)  # credentials that cannot reach it: said before any change
            if turn.images:
                check_vision(chosen, len(turn.images))
        except QianfanError:
            conv.restore(before)
            raise
        request = ({"role": "function", "name": turn.function_name, "content": turn.prompt} if turn.function_name
                   else request_with_pictures(turn.prompt, turn.images) if turn.images
                   else {"role": "user", "content": turn.prompt})
        messages = conv.messages(chosen.api) + [request]
        if self.trim_history and chosen.spec is not None:
            messages = conv.fit(request, chosen.spec, system, chosen.api)
        if not turn.images and not sees_images(chosen):  # earlier pictures go to a text model as their labels
            messages = text_only(messages)
        params = {**conv.params, **turn.params}
        if system:
            params["system"] = system
        return replace(turn, model=chosen.model, endpoint=endpoint, chat=conv.name, api=chosen.api, params=params,
                       messages=messages, request=request, asked=asked_params(params, turn.tools),
                       conversation=conv, settings=before).asking_for_schema(chosen.spec)

    def _completion(self, turn: TurnSpec) -> TurnSpec:
        """The continuation routed: the conversation's model or endpoint by default, unless it is a chat model.
        It joins no conversation, so none is created for it."""
        conv = self._conversations.get(turn.chat or "default") or Conversation(turn.chat or "default")
        model = turn.model or (conv.model if turn.endpoint is None else None)
        endpoint = turn.endpoint or (conv.endpoint if model is None else None)
        spec = find_model(model) if model else None
        if spec is not None and spec.kind != COMPLETION and endpoint is None and model == conv.model:
            model = None  # the conversation's chat model is not a completion default
        return replace(turn, model=model, endpoint=endpoint, chat=conv.name, api="v1")  # continuations are v1's

    async def _acompare_here(self, prompt: str, models: list[str], *, stream: bool = True,
                             system: str | None = None, on_start: Callable[[list[Reply]], None] | None = None,
                             on_delta: Callable[[int, Reply, str], None] | None = None,
                             tool_use=None, **params) -> list[Reply]:
        """A comparison, on the session's loop: a turn for each model, side by side."""
        if "schema" in params or "many" in params:
            raise InvalidRequestError("A comparison does not take a schema: ask each model with ask(..., schema=), or "
                                      "run batch(..., models=[...], schema=) for one typed row per model.",
                                      field="schema")
        if not models:
            raise InvalidRequestError("Name at least one model to compare.", field="models")
        if not isinstance(prompt, str) or not prompt.strip():
            raise InvalidRequestError("The prompt is empty.", field="prompt")
        turns = [self._column(prompt, name, system, stream, tool_use, params) for name in models]
        replies = [turn.reply() for turn in turns]
        if on_start is not None:
            on_start(replies)

        async def one(index: int) -> None:
            delta = (lambda r, d: on_delta(index, r, d)) if on_delta else None

            def next_round(following: Reply) -> None:  # the column shows the latest reply of its chain
                replies[index] = following
                if delta is not None:
                    delta(following, "")
            await self._answer(replace(turns[index], on_start=next_round, on_delta=delta), replies[index])

        await asyncio.gather(*(one(i) for i in range(len(replies))))
        return replies

    def _column(self, prompt: str, model: str, system: str | None, stream: bool, tool_use, params: dict) -> TurnSpec:
        """One model's turn of a comparison; a model that cannot be asked is refused in its column alone."""
        column = TurnSpec(prompt, kind="compare", model=model, stream=stream, tools=tool_use)
        try:
            chosen = self.route(model)
        except QianfanError as err:
            return replace(column, refused=err)
        call = dict(params)
        if system and (chosen.api == "v2" or chosen.spec is None or chosen.spec.accepts("system")):
            call["system"] = system
        return replace(column, model=chosen.model, api=chosen.api, params=call,
                       messages=[{"role": "user", "content": prompt}])

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

    # -- the one path every turn takes -------------------------------------------------------
    async def _answer(self, turn: TurnSpec, first: Reply | None = None) -> Reply:
        """Make the turn's Reply (or take ``first``, made and announced by the caller), fill it, run the tool
        calls it asks for round after round, and record the last: in the conversation, the log, the usage."""
        chain = [first or turn.reply()]
        if first is None and turn.on_start is not None:
            turn.on_start(chain[0])
        try:
            if turn.refused is not None:
                chain[0].error, chain[0].done = turn.refused, True
            else:
                await self._rounds(chain, turn)
                if turn.schema is not None:
                    await self._conform(chain, turn)
        finally:  # also when interrupted: the partial answer is kept, marked
            reply = chain[-1]
            if not reply.done:  # stopped between rounds, before this reply's request went out
                reply.interrupted = reply.done = True
            self._finish(reply, turn)
        return reply

    async def _rounds(self, chain: list[Reply], turn: TurnSpec) -> None:
        """Fill the chain's last reply; while it asks for tool calls, run them and ask again with their results.
        The chain's last reply is the answer; every earlier one asked for calls that ran."""
        use = turn.tools
        if use is not None:
            chain[0].notes.extend(use.toolbox.notes)  # shown with the first reply; every later one carries them too
        while True:
            reply = chain[-1]
            after = [m for step in chain[:-1] for m in step_messages(step, reply.api or "v1")]
            first = len(chain) == 1
            refused, bound = self._within_budget(turn, after)
            if refused is not None:  # not sent: the reply carries why
                reply.error, reply.done = refused, True
                return
            self._reserved += bound
            try:
                await self._fill(reply, lambda c, s, after=after, first=first: turn.send(c, s, after, first),
                                 turn.stream, turn.on_delta)
            finally:
                self._reserved -= bound
            if use is None or not reply.ok:
                return
            reply.calls = use.toolbox.calls_in(reply, reply.round)
            if not reply.calls:
                return
            if reply.round > use.max_rounds:
                from ._tools import NOT_RUN

                reply.tool_stop = (f"Stopped after {use.max_rounds} round(s) of tool calls: the model asked for "
                                   f"more ({', '.join(c.label(40) for c in reply.calls)}). Raise max_tool_rounds "
                                   "to allow more.")
                for pending in reply.calls:
                    pending.close("not run", NOT_RUN)
                return
            try:
                await use.run_calls(reply, reply.calls)
            except BaseException:
                reply.interrupted = True
                raise
            self._account(reply)  # this round's reply is done; the turn goes on
            following = turn.reply()
            following.rounds, following.notes = list(chain), list(reply.notes)
            chain.append(following)
            if turn.on_start is not None:
                turn.on_start(following)

    async def _conform(self, chain: list[Reply], turn: TurnSpec) -> None:
        """The answer's value by the turn's schema, into ``reply.data``. An answer that does not follow it gets one
        repair round, a new reply in the chain that is sent the validation error; if that one fails too, its
        reply keeps the raw answer as its text and a SchemaMismatchError."""
        from ._answer_schema import REPAIR_REQUEST, AnswerSchemaError, SchemaMismatchError

        answer = chain[-1]
        if not answer.ok or answer.hidden:
            return
        try:
            answer.data = turn.schema.validate(answer.text)
            return
        except AnswerSchemaError as err:
            problem = str(err)
        answer.notes.append(f"{problem} One repair round asks again.")
        self._account(answer)  # its tokens were spent; the repaired reply ends the turn
        repair = turn.reply()
        repair.rounds = list(answer.rounds)
        repair.notes = [note for note in answer.notes[:-1]] + [f"Repaired: the first answer did not follow the "
                                                                f"schema ({problem})"]
        chain.append(repair)
        if turn.on_start is not None:
            turn.on_start(repair)
        after = [m for step in answer.rounds for m in step_messages(step, answer.api or "v1")]
        after += [{"role": "assistant", "content": answer.text},
                  {"role": "user", "content": REPAIR_REQUEST.format(problem=problem)}]
        await self._fill(repair, lambda c, s: turn.send(c, s, after, False), turn.stream, turn.on_delta)
        if not repair.ok or repair.hidden:
            return
        try:
            repair.data = turn.schema.validate(repair.text)
        except AnswerSchemaError as err:
            repair.error = SchemaMismatchError(
                f"{err} This was the answer after one repair round; its raw text is kept (reply.text).",
                problem=str(err))

    def _within_budget(self, turn: TurnSpec, after: list[dict]) -> tuple[QianfanError | None, float]:
        """Whether the turn's next request fits ``budget_yuan`` (if not, why), and its worst-case ¥ to set aside
        while it runs. A model whose price the catalog does not know is not held back: its cost cannot be told."""
        if self.budget_yuan is None:
            return None, 0.0
        bound = turn_bound(turn, after)
        why = over_budget(self.budget_yuan, self.spent_yuan() + self._reserved, bound, turn.model)
        if why is not None:
            return BudgetExceededError(why, field="budget_yuan"), 0.0
        return None, bound or 0.0

    def spent_yuan(self) -> float:
        """This kernel's estimated spend so far, in ¥ (answers of models without a known price count 0)."""
        counted, total, last = self._spent
        if counted and (counted > len(self.replies) or self.replies[counted - 1] is not last):
            counted, total = 0, 0.0  # the list was cleared or changed: count again
        total += spent(self.replies[counted:])
        self._spent = (len(self.replies), total, self.replies[-1] if self.replies else None)
        return total

    async def _fill(self, reply: Reply, call, stream: bool, on_delta) -> None:
        self.last_reply = reply
        try:
            client = self.backend.connect()
        except BaseException:
            reply.done = True
            raise
        reply.emulated = self.backend.offline
        lesson = self.backend.lesson if reply.emulated else None
        if lesson is not None:  # labelled from its first chunk on, so the footer says "lesson" as it streams
            from ..emulator import answered_from_lesson

            def labelled(r: Reply, delta: str, shown=on_delta) -> None:
                if r.lesson is None and answered_from_lesson(r.id):
                    r.lesson = lesson.name
                if shown is not None:
                    shown(r, delta)
            on_delta = labelled
        await fill_reply(reply, client, call, stream, on_delta, self._emit)
        if lesson is not None and answered_from_lesson(reply.id):
            reply.lesson = lesson.name

    def _finish(self, reply: Reply, turn: TurnSpec) -> None:
        """A turn's end: its reply accounted for, recorded in its conversation and the log, and announced."""
        conv = turn.conversation
        if conv is not None and reply.error is not None and not reply.text and not reply.interrupted \
                and not reply.rounds:
            conv.restore(turn.settings)  # a cell that failed outright changes nothing, its settings included
        self.replies.append(reply)
        if conv is not None:
            cleared = conv.record(turn.request_message, reply)
            if cleared:
                self._emit(TurnEvent("cleared", conv.name, reply, message=cleared))
        self.log.record(turn.request_message, reply, conv, turn.kind)
        self._emit(TurnEvent("end", conv.name if conv is not None else reply.chat, reply))

    def _account(self, reply: Reply) -> None:
        """A reply that is not the end of a turn (a round of tool calls)."""
        self.replies.append(reply)
        self._emit(TurnEvent("end", reply.chat, reply))

    # -- accounting and export ---------------------------------------------------------------
    def usage(self) -> dict:
        """Tokens, latency and estimated ¥ (``cost_yuan``; ``unpriced``: answers whose price is not known) per model
        and per conversation."""
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
        return markdown_transcript(self.conversation(chat), self.default_model)

    def export(self, path: str | os.PathLike, chat: str | None = None, *,
               conversations: list[Conversation] | None = None) -> Path:
        """Write conversations (one, all, or those given) as Markdown (.md) or JSON (.json)."""
        convs = conversations if conversations is not None else [self.conversation(chat)] if chat else self.chats()
        return export_transcripts(convs, path, self.default_model)

