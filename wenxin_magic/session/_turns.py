"""Filling a Reply from the service, streamed or whole."""

from __future__ import annotations

import time
from typing import Callable

from ..api import QianfanError, StreamInterruptedError
from ._conversation import Reply, TurnEvent

# call(client, stream) -> a ChatStream when stream is True, else an awaitable ChatResponse
Call = Callable[[object, bool], object]


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
        _end_reasoning(reply)
        reply.latency = time.perf_counter() - started
        reply.done = True


async def _read_stream(reply: Reply, stream, started: float, on_delta, emit) -> None:
    async for chunk in stream:
        if reply.time_to_first_token is None:
            reply.time_to_first_token = time.perf_counter() - started
            reply.first_token_at = time.time()
        reply.absorb(chunk)
        thought = chunk.reasoning
        if thought:
            _add_reasoning(reply, thought)
        if chunk.result:
            _end_reasoning(reply)
            reply.text += chunk.result
        if thought or chunk.result:
            if on_delta is not None:
                on_delta(reply, chunk.result)
            emit(TurnEvent("delta", reply.chat, reply, delta=chunk.result))


def _add_reasoning(reply: Reply, thought: str) -> None:
    if reply.reasoning_started is None:
        reply.reasoning_started = time.perf_counter()
    reply.reasoning += thought


def _end_reasoning(reply: Reply) -> None:
    if reply.reasoning_started is not None and reply.reasoning_ended is None:
        reply.reasoning_ended = time.perf_counter()


async def _read_whole(reply: Reply, response, started: float, on_delta) -> None:
    reply.time_to_first_token = time.perf_counter() - started
    reply.absorb(response)
    reply.reasoning = response.reasoning or ""
    reply.text = response.result
    reply.retries = response.retries
    if on_delta is not None and reply.text:
        on_delta(reply, reply.text)


async def _close_quietly(stream) -> None:
    try:
        await stream.aclose()
    except Exception:  # the stream is being abandoned; its errors were already reported or do not matter
        pass
