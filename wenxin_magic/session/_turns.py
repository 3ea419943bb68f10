"""A turn: what it asks (``TurnSpec``), and filling its Reply from the service, streamed or whole.

Every kind of turn (a chat, a completion, a column of a comparison, a row of a batch) and every round of tool
calls is described by one ``TurnSpec``; ``Session`` builds, fills and records its Reply through one path.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Any, Callable

from ..api import InvalidRequestError, QianfanError, StreamInterruptedError
from ._answer_schema import AnswerSchema, answer_schema, schema_request, with_instructions
from ._conversation import Conversation, Reply, TurnEvent
from ._cost import reply_cost

__all__ = ["TurnSpec", "asked_params", "fill_reply", "schema_of"]

# call(client, stream) -> a ChatStream when stream is True, else an awaitable ChatResponse
Call = Callable[[object, bool], object]

# what a caller of ``ask`` may set by name; any other keyword is a parameter of the request
_ASKABLE = ("model", "endpoint", "chat", "stream", "system", "new", "function_name", "raise_on_error", "images")


@dataclass
class TurnSpec:
    """One turn: what is asked of whom, how, and who hears of it. As asked by the caller until the session
    routes it (``api``, ``messages`` and the request's ``params`` are then set), and the same for each of
    its rounds of tool calls."""

    prompt: str
    kind: str = "chat"  # "chat", "completion", "compare" or "batch": the Reply's kind and the log's
    model: str | None = None  # the name the request carries (None: the endpoint's own, or the default)
    endpoint: str | None = None  # a deployed v1 service
    chat: str | None = None  # the conversation's name, on the Reply
    stream: bool = True
    system: str | None = None  # as asked; once routed, in ``params`` if it is sent
    new: bool = False  # a chat that starts its conversation afresh
    function_name: str | None = None  # the prompt is this function's result, not the user's words
    raise_on_error: bool = True  # the caller wants the error raised, not only kept on the Reply
    images: tuple = ()  # ``images.Picture``s sent with the prompt, as image_url parts (vision models only)
    params: dict[str, Any] = field(default_factory=dict)  # the request's parameters (``system`` once routed)
    tools: Any = None  # a ``_tools.ToolUse``: which functions the model may call, where, approved how
    schema: AnswerSchema | None = None  # the answer must be JSON of this shape: validated, repaired once
    on_start: Callable[[Reply], None] | None = None  # each Reply of the turn, as it begins
    on_delta: Callable[[Reply, str], None] | None = None
    # -- set when routed --
    api: str | None = None  # "v1" or "v2"
    messages: list[dict] | None = None  # a chat request's messages, its question last; None: a completion
    request: dict | None = None  # the turn's message as recorded (default: the prompt, from the user)
    asked: dict[str, Any] = field(default_factory=dict)  # what the Reply records of the request's parameters
    conversation: Conversation | None = None  # where the finished turn is kept
    settings: tuple | None = None  # the conversation's settings before the turn: back if it fails outright
    refused: QianfanError | None = None  # why it cannot be asked: its Reply carries it and nothing is sent

    @classmethod
    def of(cls, prompt: str, options: dict, **given) -> "TurnSpec":
        """A turn from a call's keyword ``options``: the spec's own by name (``completion=True`` its kind),
        every other one a request parameter."""
        own = {name: options.pop(name) for name in _ASKABLE if name in options}
        if options.pop("completion", False):
            own["kind"] = "completion"
        own["schema"] = schema_of(options.pop("schema", None), options.pop("many", False))
        if "images" in own:  # a figure is drawn here, in the caller's thread
            from ._pictures import as_pictures

            own["images"] = as_pictures(own["images"])
        return cls(prompt=prompt, params=options, **own, **given)

    @property
    def request_message(self) -> dict:
        return self.request or {"role": "user", "content": self.prompt}

    def reply(self) -> Reply:
        """A new Reply of this turn (its first, or the next round's)."""
        reply = Reply(prompt=self.prompt, model=self.model, endpoint=self.endpoint, chat=self.chat, kind=self.kind)
        reply.api, reply.params = self.api, self.asked
        reply.schema = self.schema.name if self.schema is not None else None
        if self.images:
            from ._pictures import picture_notes

            reply.notes.extend(picture_notes(self.images))
            reply.pictures = [f"[image {p.width}×{p.height}]" if p.data is not None else f"[image {p.url}]"
                              for p in self.images]
            reply.downscaled = sum(p.downscaled for p in self.images)
        return reply

    def asking_for_schema(self, spec) -> "TurnSpec":
        """The routed turn, asking for its schema's JSON: a ``json_schema`` response format where the model's row
        says it takes one, else ``json_object`` with the schema stated in the system message (in the question,
        for a v1 model without a system message). The conversation's own system prompt is not changed."""
        if self.schema is None:
            return self
        if self.messages is None:
            raise InvalidRequestError("A completion (continuation) cannot be asked for a schema's JSON; ask a chat "
                                      "model instead.", field="schema")
        extra, instructions = schema_request(self.schema, self.api, spec)
        params, messages = {**self.params, **extra}, self.messages
        if instructions and (self.api == "v2" or spec is None or spec.accepts("system")):
            params["system"] = with_instructions(params.get("system"), instructions)
        elif instructions:
            question = messages[-1]
            messages = messages[:-1] + [{**question, "content": f"{instructions}\n\n{question['content']}"}]
        return replace(self, params=params, messages=messages, asked={**self.asked, "schema": self.schema.name})

    def send(self, client, stream: bool, after: list[dict], first: bool):
        """The request of one round: its messages end with ``after`` (the rounds so far); the tools are offered,
        ``tool_choice`` in the first request only (sent again, it would force a call every round)."""
        if self.messages is None:
            return (client.stream_complete if stream else client.complete)(
                self.prompt, endpoint=self.endpoint, model=self.model, **self.params)
        params = self.params
        if self.tools is not None:
            params = {**params, "functions": self.tools.toolbox.definitions()}
            if first and self.tools.choice is not None:
                params["tool_choice"] = self.tools.choice
        return (client.stream_chat if stream else client.chat)(
            model=self.model, messages=self.messages + after, endpoint=self.endpoint, **params)


def schema_of(spec, many: bool = False) -> AnswerSchema | None:
    """``schema=`` of a call as an AnswerSchema: one already made, a class, or a short spec (``many``: a list)."""
    if spec is None:
        if many:
            raise InvalidRequestError("many=True asks for a list of objects of a schema's shape: give schema= too.",
                                      field="many")
        return None
    if isinstance(spec, AnswerSchema):
        return spec  # made with its own ``many``
    return answer_schema(spec, many=bool(many))


def asked_params(params: dict, tools) -> dict:
    """What a reply records of its request's parameters: as given, with the tools by name."""
    asked = {name: value for name, value in params.items() if name != "system"}
    if tools is not None:
        asked["tools"] = tools.toolbox.names
    return asked


async def fill_reply(reply: Reply, client, call: Call, stream: bool, on_delta, emit) -> None:
    """Fill ``reply`` from the service; errors are stored on it, interrupts re-raised.

    ``emit(event)`` tells observers of the start and of each delta; ``on_delta(reply, text)``
    tells the caller. The end is the caller's to announce, once the turn is recorded.
    """
    emit(TurnEvent("start", reply.chat, reply))
    started = time.perf_counter()
    pending = None
    try:
        if stream:
            pending = call(client, True)
            await _read_stream(reply, pending, started, on_delta, emit)
            reply.retries = pending.retries
        else:
            await _read_whole(reply, await call(client, False), started, on_delta)
    except StreamInterruptedError as err:
        reply.error, reply.interrupted, reply.retries = err, True, err.retries
    except QianfanError as err:
        reply.error, reply.retries = err, err.retries
    except BaseException:
        # Cancelled, interrupted, or a failing on_delta: the turn stopped early,
        # and whatever arrived is kept (by the caller) so it must say so.
        reply.interrupted = True
        raise
    finally:
        if pending is not None:
            await _close_quietly(pending)
        reply.status = None
        _end_reasoning(reply)
        reply.latency = time.perf_counter() - started
        reply.cost_yuan = reply_cost(reply)
        reply.done = True


async def _read_stream(reply: Reply, stream, started: float, on_delta, emit) -> None:
    async for chunk in stream:
        if reply.time_to_first_token is None:
            reply.time_to_first_token = time.perf_counter() - started
            reply.first_token_at = time.time()
            _add_notes(reply, chunk)  # notes on the request ride the first chunk
        was_hidden, was_status = reply.hidden, reply.status
        reply.absorb(chunk)
        reply.status = getattr(chunk, "status", None)
        thought, text = chunk.reasoning, chunk.result
        if reply.hidden:  # flag 3 or 4: nothing more of the answer is shown
            reply.withheld += len(thought or "") + len(text or "")
            thought = text = ""
        if thought:
            _add_reasoning(reply, thought)
        if text:
            _end_reasoning(reply)
            reply.text += text
        if thought or text or reply.hidden != was_hidden or reply.status != was_status:
            if on_delta is not None:
                on_delta(reply, text)
            emit(TurnEvent("delta", reply.chat, reply, delta=text))


def _add_notes(reply: Reply, part) -> None:
    """The api's one-line notes on how the request was sent; a later round of the turn repeats none."""
    for note in getattr(part, "notes", ()) or ():
        if note not in reply.notes:
            reply.notes.append(str(note))


def _add_reasoning(reply: Reply, thought: str) -> None:
    if reply.reasoning_started is None:
        reply.reasoning_started = time.perf_counter()
    reply.reasoning += thought


def _end_reasoning(reply: Reply) -> None:
    if reply.reasoning_started is not None and reply.reasoning_ended is None:
        reply.reasoning_ended = time.perf_counter()


async def _read_whole(reply: Reply, response, started: float, on_delta) -> None:
    reply.time_to_first_token = time.perf_counter() - started
    _add_notes(reply, response)
    reply.absorb(response)
    reply.reasoning = response.reasoning or ""
    reply.text = response.result
    if reply.hidden:
        reply.withhold()
    reply.retries = response.retries
    if on_delta is not None and reply.text:
        on_delta(reply, reply.text)


async def _close_quietly(stream) -> None:
    try:
        await stream.aclose()
    except Exception:  # the stream is being abandoned; its errors were already reported or do not matter
        pass
