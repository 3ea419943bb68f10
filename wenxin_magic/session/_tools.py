"""Python functions the model may call: the calls it asks for, running them, and their results as sent.

A turn with tools is a chain of replies: each reply that asks for calls gets them
run (where the user's code lives: the kernel's main thread), and their results go
back in the next request, until a reply answers in words. The functions' schemas
come from ``_tool_schema`` (pydantic, imported only once tools are used).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import inspect
import itertools
import json
import threading
import time
import traceback
import weakref
from dataclasses import dataclass
from typing import Any, Callable, Iterable

from ..api import InvalidRequestError

# what a ToolCall's status means to the model, when it did not run to an answer
DECLINED = "declined: the user did not allow this call"
NOT_RUN = "not run: the turn ended before this call ran"
INTERRUPTED = "interrupted: the user stopped this call before it finished"

MAX_GENERATED_ITEMS = 1000  # what a generator tool's result keeps: an endless one must still give an answer

_PACKAGE_DIR = __file__.rsplit("session", 1)[0]  # frames from here on are the extension's, not the user's

# A function's schema, kept while the function lives: a cell that redefines it makes a new function object.
_SCHEMAS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def schema_of(fn):
    """``function_schema(fn)``, built once per function."""
    from ._tool_schema import function_schema

    try:
        return _SCHEMAS[fn]
    except (KeyError, TypeError):  # TypeError: not weakly referable, so not kept
        pass
    schema = function_schema(fn)
    try:
        _SCHEMAS[fn] = schema
    except TypeError:
        pass
    return schema


@dataclass
class ToolCall:
    """One call the model asked for, and what became of it.

    ``status``: pending, running, ok, error (the function raised), invalid (the arguments did not fit),
    unknown (no such tool), declined, interrupted, or not run.
    """

    name: str
    arguments: str  # the model's JSON text, as it sent it
    id: str
    round: int = 1
    thoughts: str = ""  # why the model asked (v1 models say so)
    status: str = "pending"
    value: Any = None  # what the function returned
    error: str = ""  # "ValueError: bad city" when it raised, or why it did not run
    user_frames: str = ""  # the traceback's frames of the user's own code
    result: str = ""  # the text sent back to the model
    duration: float | None = None

    @property
    def done(self) -> bool:
        return self.status not in ("pending", "running")

    def label(self, limit: int = 80) -> str:
        """``name(a=1, b='x')``, shortened."""
        try:
            data = json.loads(self.arguments or "{}")
        except ValueError:
            data = None
        if isinstance(data, dict):
            inner = ", ".join(f"{k}={v!r}" for k, v in data.items())
        else:
            inner = self.arguments
        text = f"{self.name}({inner})"
        return text if len(text) <= limit else text[:limit - 1] + "…"

    def close(self, status: str, reason: str) -> None:
        """End a call that did not run to an answer; the model is told ``reason``."""
        if not self.done:
            self.status, self.error = status, reason
            self.result = json.dumps({"error": reason}, ensure_ascii=False)

    def to_dict(self) -> dict:
        return {"id": self.id, "name": self.name, "arguments": self.arguments, "round": self.round,
                "thoughts": self.thoughts or None, "status": self.status, "error": self.error or None,
                "user_frames": self.user_frames or None, "result": self.result, "duration": self.duration}

    @classmethod
    def from_dict(cls, data: dict) -> "ToolCall":
        """A call again from ``to_dict()``; the function's value itself is not kept, only what was sent."""
        return cls(name=data.get("name") or "", arguments=data.get("arguments") or "{}", id=data.get("id") or "",
                   round=int(data.get("round") or 1), thoughts=data.get("thoughts") or "",
                   status=data.get("status") or "ok", error=data.get("error") or "",
                   user_frames=data.get("user_frames") or "", result=data.get("result") or "",
                   duration=data.get("duration"))


def format_result(value: Any, limit: int) -> str:
    """A function's return value as sent: text as it is, JSON when it serialises, else its repr; cut at ``limit``."""
    if isinstance(value, str):
        text = value
    else:
        try:
            text = json.dumps(value, ensure_ascii=False)
        except (TypeError, ValueError):
            text = _safe_repr(value)
    if len(text) > limit:
        text = text[:limit] + f"… [cut: {len(text) - limit} more characters]"
    return text


def _safe_repr(value: Any) -> str:
    try:
        return repr(value)
    except Exception as err:  # a broken __repr__ must not break the turn
        return f"<{type(value).__name__} object; its repr raised {type(err).__name__}>"


def _user_frames(err: BaseException) -> str:
    """The traceback without the extension's own frames: what the user's code did."""
    frames = [f for f in traceback.extract_tb(err.__traceback__) if not f.filename.startswith(_PACKAGE_DIR)]
    return "".join(traceback.format_list(frames))


class Toolbox:
    """The functions offered in a turn, by name, with their schemas."""

    def __init__(self, functions: Iterable[Callable], *, max_result_chars: int):
        from ._tool_schema import ToolDefinitionError

        self.schemas = {}
        for fn in functions:
            try:
                schema = schema_of(fn)
            except ToolDefinitionError as err:
                raise InvalidRequestError(str(err), field="tools") from None
            if schema.name in self.schemas and self.schemas[schema.name].function is not fn:
                raise InvalidRequestError(f"Two tools are named {schema.name!r}; each needs a name of its own.",
                                          field="tools")
            self.schemas[schema.name] = schema
        if not self.schemas:
            raise InvalidRequestError("tools= is empty: give at least one function.", field="tools")
        self.max_result_chars = max_result_chars

    @property
    def names(self) -> list[str]:
        return list(self.schemas)

    @property
    def notes(self) -> list[str]:
        """What the user should hear about the schemas (e.g. functions without type hints)."""
        return [note for schema in self.schemas.values() for note in schema.notes]

    def definitions(self) -> list[dict]:
        """As v1 ``functions``; the client turns them into v2 ``tools`` for v2 models."""
        return [schema.definition() for schema in self.schemas.values()]

    def calls_in(self, reply, round_number: int) -> list[ToolCall]:
        """The calls ``reply`` asks for: v2 ``tool_calls`` (several), or a v1 ``function_call`` (one)."""
        calls = []
        for index, call in enumerate(reply.tool_calls or ()):
            function = call.get("function") if isinstance(call, dict) else None
            if isinstance(function, dict):
                calls.append(ToolCall(name=str(function.get("name") or ""), arguments=_text(function.get("arguments")),
                                      id=str(call.get("id") or f"call_{round_number}_{index}"), round=round_number))
        if not calls and isinstance(reply.function_call, dict):
            call = reply.function_call
            calls.append(ToolCall(name=str(call.get("name") or ""), arguments=_text(call.get("arguments")),
                                  id=f"call_{round_number}_0", round=round_number,
                                  thoughts=str(call.get("thoughts") or "")))
        return calls

    def run(self, call: ToolCall):
        """Validate the arguments and run the function, here and now; the outcome goes on ``call``.

        A function's exception becomes the call's result (the turn goes on); an interrupt does not. A
        generator's items become a list (at most MAX_GENERATED_ITEMS). For an ``async def`` or an async
        generator, this returns the part still to await, which settles ``call``; else None.
        """
        schema = self.schemas.get(call.name)
        if schema is None:
            return self._refuse(call, "unknown", f"no tool named {call.name!r}; the tools are {self.names}")
        from ._tool_schema import ToolArgumentsError

        try:
            args, kwargs = schema.validate(call.arguments)
        except ToolArgumentsError as err:
            return self._refuse(call, "invalid", f"invalid arguments: {err}")
        call.status = "running"
        started = time.perf_counter()
        with _outcome(call, started):
            value = schema.function(*args, **kwargs)
            if inspect.iscoroutine(value) or inspect.isasyncgen(value):
                return self._awaited(call, value, started)
            self._answered(call, *_collected(value))
        return None

    async def _awaited(self, call: ToolCall, pending, started: float) -> None:
        with _outcome(call, started):
            if inspect.isasyncgen(pending):
                self._answered(call, *await _collected_async(pending))
            else:
                self._answered(call, await pending, False)

    def _answered(self, call: ToolCall, value, cut: bool) -> None:
        call.status, call.value = "ok", value
        call.result = format_result(value, self.max_result_chars)
        if cut:
            call.result += (f" [cut: the generator yielded more than {MAX_GENERATED_ITEMS:,} items; these are the "
                            f"first {MAX_GENERATED_ITEMS:,}]")

    def _refuse(self, call: ToolCall, status: str, reason: str) -> None:
        call.status, call.error = status, reason
        call.result = json.dumps({"error": reason}, ensure_ascii=False)


@contextlib.contextmanager
def _outcome(call: ToolCall, started: float):
    """A function's exception becomes the call's result (the turn goes on); an interrupt is raised on."""
    try:
        yield
    except Exception as err:
        call.status, call.error = "error", f"{type(err).__name__}: {err}"
        call.user_frames = _user_frames(err)
        call.result = json.dumps({"error": call.error}, ensure_ascii=False)
    except BaseException:
        call.close("interrupted", INTERRUPTED)
        raise
    finally:
        call.duration = time.perf_counter() - started


def _collected(value) -> tuple[Any, bool]:
    """A generator's items as a list, and whether it had more than MAX_GENERATED_ITEMS; any other value as it is."""
    if not inspect.isgenerator(value):
        return value, False
    try:  # in Python code, item by item, so an interrupt stops an endless or slow generator
        items = list(itertools.islice(value, MAX_GENERATED_ITEMS + 1))
    finally:
        value.close()
    return items[:MAX_GENERATED_ITEMS], len(items) > MAX_GENERATED_ITEMS


async def _collected_async(generator) -> tuple[list, bool]:
    """``_collected`` for an async generator."""
    items: list = []
    try:
        async for item in generator:
            if len(items) == MAX_GENERATED_ITEMS:
                return items, True
            items.append(item)
    finally:
        await generator.aclose()
    return items, False


def _text(arguments) -> str:
    if isinstance(arguments, str):
        return arguments
    return json.dumps(arguments if arguments is not None else {}, ensure_ascii=False)


def ask_in_terminal(call: ToolCall) -> bool:
    """The default approval: a yes/no question on stdin (a prompt in the cell, in a notebook)."""
    answer = input(f"Allow {call.label()}? [y/N] ")
    return answer.strip().lower() in ("y", "yes")


# -- where functions run -------------------------------------------------------------------------------------

class InCallerThread:
    """Runs jobs in the thread that waits for the turn (``Session.ask``), through its callback queue.

    An ``async def`` tool (or an async generator) is awaited to its end on an event loop of its own, in a
    short-lived thread, while this thread waits: in a kernel this thread's loop is busy running the cell that
    waits for the turn, and a running loop cannot be entered again.
    """

    def __init__(self, calls):
        self._calls = calls

    async def run(self, job: Callable[[], Any]) -> Any:
        loop = asyncio.get_running_loop()
        future = loop.create_future()

        def work():
            if future.cancelled():
                return
            # An interrupt is raised on in the waiting thread, which then cancels the turn: it must not
            # reach the session's loop, where it would stop the loop itself.
            value = job()
            loop.call_soon_threadsafe(_resolve, future, value)

        self._calls.put(work)
        return await future

    @staticmethod
    def settle(pending):
        """An async tool's part still to await (or None), awaited to its end here; returns None."""
        return None if pending is None else _run_on_own_loop(pending)


class OnLoop:
    """Runs jobs on an event loop (the kernel's, for ``aask`` and the panel); a job may return an awaitable."""

    def __init__(self, loop: asyncio.AbstractEventLoop):
        self._loop = loop

    async def run(self, job: Callable[[], Any]) -> Any:
        if asyncio.get_running_loop() is self._loop:
            return await _settle(job())
        future = asyncio.run_coroutine_threadsafe(_call(job), self._loop)
        return await asyncio.wrap_future(future)

    @staticmethod
    def settle(pending):
        """An async tool's part still to await (or None), left to the job's caller, which awaits it on the loop."""
        return pending


def _run_on_own_loop(awaitable):
    """``awaitable``'s result, awaited on a new event loop in a short-lived thread while this thread waits.

    The wait is where an interrupt reaches this thread: it cancels the awaitable and is raised on.
    """
    started: concurrent.futures.Future = concurrent.futures.Future()  # (loop, task), to cancel it
    outcome: concurrent.futures.Future = concurrent.futures.Future()

    async def main():
        started.set_result((asyncio.get_running_loop(), asyncio.current_task()))
        return await awaitable

    def work():
        try:
            outcome.set_result(asyncio.run(main()))
        except BaseException as err:
            outcome.set_exception(err)

    threading.Thread(target=work, name="wenxin-async-tool", daemon=True).start()
    try:
        return outcome.result()
    except BaseException:
        if not outcome.done():
            loop, task = started.result()
            with contextlib.suppress(RuntimeError):  # it ended meanwhile and its loop is closed
                loop.call_soon_threadsafe(task.cancel)
            concurrent.futures.wait([outcome], timeout=5)  # its own clean-up first, then the turn's
        raise


async def _call(job):
    try:
        return await _settle(job())
    except KeyboardInterrupt:
        # On an event loop an interrupt would stop the loop itself; for the turn it means: stop here.
        raise asyncio.CancelledError() from None


async def _settle(value):
    return await value if inspect.isawaitable(value) else value


def _resolve(future: asyncio.Future, value) -> None:
    if not future.done():
        future.set_result(value)


@dataclass
class ToolUse:
    """How a turn may call tools: which, where they run, whether each call is approved first, how many rounds."""

    toolbox: Toolbox
    host: Any  # InCallerThread or OnLoop
    approve: Callable[[ToolCall], Any] | None = None
    max_rounds: int = 5
    on_call: Callable[[Any, ToolCall], None] | None = None  # (reply, call), in the host's thread
    choice: Any = None  # tool_choice for the first request only: sent again, it would force a call every round

    @classmethod
    def build(cls, tools, where: tuple, approve, on_call, params: dict, *, max_rounds, max_result_chars: int):
        """How a turn may call ``tools`` (a function or a list of them); takes ``tool_choice`` out of ``params``.

        ``where`` the functions run: ("thread", the queue the waiting thread drains) or ("loop", an event loop).
        ``approve``: True asks in the terminal, a function ``approve(call) -> bool`` decides, False allows all.
        """
        if "functions" in params:
            raise InvalidRequestError("Give tools= (Python functions) or functions= (JSON schemas), not both.",
                                      field="tools")
        if not isinstance(max_rounds, int) or isinstance(max_rounds, bool) or max_rounds < 1:
            raise InvalidRequestError(f"max_tool_rounds must be a whole number of at least 1, got {max_rounds!r}.",
                                      field="max_tool_rounds", allowed="an integer >= 1")
        toolbox = Toolbox([tools] if callable(tools) else tools, max_result_chars=max_result_chars)
        host = InCallerThread(where[1]) if where[0] == "thread" else OnLoop(where[1])
        return cls(toolbox, host, ask_in_terminal if approve is True else (approve or None), max_rounds, on_call,
                   params.pop("tool_choice", None))

    async def run_calls(self, reply, calls: list[ToolCall]) -> None:
        """Run ``calls`` in order; when the turn is stopped, the ones not finished are closed as such."""
        try:
            for call in calls:
                await self.host.run(lambda call=call: self._one(reply, call))
        except BaseException:
            for call in calls:
                call.close("interrupted" if call.status == "running" else "not run",
                           INTERRUPTED if call.status == "running" else NOT_RUN)
            raise

    def _one(self, reply, call: ToolCall):
        if self.approve is not None:
            try:
                allowed = self.approve(call)
            except Exception as err:  # e.g. no stdin to ask on (a notebook run by a script)
                call.close("declined", f"declined: approval could not be asked ({type(err).__name__}: {err})")
                return self._tell(reply, call)
            if inspect.isawaitable(allowed):
                return self._approved_later(reply, call, allowed)
            if not allowed:
                return self._declined(reply, call)
        return self._run(reply, call)

    async def _approved_later(self, reply, call: ToolCall, allowed):
        if not await allowed:
            return self._declined(reply, call)
        return await _settle(self._run(reply, call))

    def _declined(self, reply, call: ToolCall) -> None:
        call.close("declined", DECLINED)
        self._tell(reply, call)

    def _run(self, reply, call: ToolCall):
        """Run the call; for an async tool on a loop, returns what the host's loop must still await."""
        call.status = "running"
        self._tell(reply, call)
        pending = None
        try:
            pending = self.host.settle(self.toolbox.run(call))
        finally:
            if pending is None:  # it ended here (or was stopped); otherwise once awaited
                self._tell(reply, call)
        return None if pending is None else self._told_after(reply, call, pending)

    async def _told_after(self, reply, call: ToolCall, pending) -> None:
        try:
            await pending
        finally:
            self._tell(reply, call)

    def _tell(self, reply, call: ToolCall) -> None:
        if self.on_call is not None:
            self.on_call(reply, call)
