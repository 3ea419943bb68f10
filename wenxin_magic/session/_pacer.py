"""Pacing a batch to the service's quota: the ``Pacer``, a ``Window`` per model, and a ``Slot`` per request.

It knows nothing of templates or rows: it reads what a reply says of the quota (``rate_limit``, ``usage``,
``error``), whatever object carries it.
"""

from __future__ import annotations

import asyncio
import collections
import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable

__all__ = ["Pacer", "Slot", "Window", "DEFAULT_CONCURRENCY", "reply_tokens"]

DEFAULT_CONCURRENCY = 8


def reply_tokens(reply) -> int:
    """The tokens a reply used, prompt and completion (0 when it says nothing)."""
    usage = getattr(reply, "usage", None)
    total = getattr(usage, "total_tokens", None)
    if total is None:
        total = (getattr(usage, "prompt_tokens", 0) or 0) + (getattr(usage, "completion_tokens", 0) or 0)
    return total or 0


_RATE_LIMIT_CODES = frozenset({18, 336501, 336502})  # v1: QPS, RPM, TPM


def _rate_limited(error) -> bool:
    """Whether a reply's error says a quota is used up (v1 codes 18, 336501, 336502; v2 HTTP 429)."""
    if error is None:
        return False
    code = getattr(error, "code", None)
    return code in _RATE_LIMIT_CODES or getattr(error, "status", None) == 429 or (
        isinstance(code, str) and code.endswith("rate_limit_exceeded"))


def reply_split_tokens(reply) -> tuple[int, int]:
    """The prompt (input) and completion (output) tokens a reply used (0 when it says nothing)."""
    usage = getattr(reply, "usage", None)
    return (getattr(usage, "prompt_tokens", 0) or 0), (getattr(usage, "completion_tokens", 0) or 0)


@dataclass
class _Start:
    at: float
    tokens: int | None = None  # known once its reply came
    input_tokens: int | None = None  # v2 counts input and output tokens against limits of their own
    output_tokens: int | None = None


@dataclass
class Window:
    """What the Pacer knows of one key's quota and use (read it, do not change it)."""

    concurrency: int  # how many may be in flight now: halved on a rate limit, raised back one per success
    limit_requests: int | None = None
    limit_tokens: int | None = None
    limit_input_tokens: int | None = None  # v2's split token limits (X-Ratelimit-Limit-Input-Tokens, -Output-)
    limit_output_tokens: int | None = None
    others: int = 0  # requests in the service's window that are not ours (another cell, kernel or client)
    others_seen: collections.deque = field(default_factory=collections.deque, repr=False)  # (time, lower bound)
    in_flight: int = 0
    peak_requests: int = 0  # the most starts ever counted in one window, this one included
    pauses: int = 0  # how many times a rate limit paused it
    paused_until: float = 0.0
    probed: bool = False  # a reply has come: starts no longer wait for a first one
    starts: collections.deque = field(default_factory=collections.deque, repr=False)
    finished_tokens: int = 0
    finished_input_tokens: int = 0
    finished_output_tokens: int = 0
    finished: int = 0

    @property
    def token_estimate(self) -> float:
        """A request's expected tokens (prompt and completion): the mean of those finished, 0 before any."""
        return self.finished_tokens / self.finished if self.finished else 0.0

    def estimate(self, kind: str = "tokens") -> float:
        """A request's expected ``tokens``, ``input_tokens`` or ``output_tokens``: the mean of those finished."""
        return getattr(self, f"finished_{kind}") / self.finished if self.finished else 0.0

    def tokens_in_window(self, kind: str = "tokens") -> float:
        """The window's ``kind`` of tokens: those reported, the mean for those in flight."""
        estimate = self.estimate(kind)
        counted = (getattr(s, kind) for s in self.starts)
        return sum(estimate if tokens is None else tokens for tokens in counted)

    def full(self, limit: int, kind: str) -> bool:
        """One more request of the mean size would pass ``limit`` for this kind of tokens."""
        return bool(self.starts) and self.tokens_in_window(kind) + self.estimate(kind) > limit


class Slot:
    """A request's place in the quota. ``release(reply)`` (or ``done(reply)`` then leaving the ``async with``)
    frees it and tells the Pacer what the reply said; ``release()`` without one: the request never ran."""

    def __init__(self, pacer: "Pacer", key: str, start: _Start):
        self._pacer, self.key, self._start = pacer, key, start
        self._reply = None
        self._released = False

    def done(self, reply) -> None:
        self._reply = reply

    def release(self, reply=None) -> None:
        if reply is not None:
            self._reply = reply
        if not self._released:
            self._released = True
            self._pacer._release(self.key, self._start, self._reply)


class _Held:
    """``async with pacer.slot(key) as slot``: waits for the place on entry, frees it on exit."""

    def __init__(self, pacer: "Pacer", key: str):
        self._pacer, self._key = pacer, key
        self._slot: Slot | None = None

    async def __aenter__(self) -> Slot:
        self._slot = await self._pacer.acquire(self._key)
        return self._slot

    async def __aexit__(self, *exc) -> None:
        self._slot.release()


@dataclass(frozen=True)
class _Wait:
    seconds: float | None  # None: no timer
    on_reply: bool  # a reply (any slot released) may open the way sooner


class Pacer:
    """Keeps a batch within the service's quota instead of hammering it.

    The service counts requests and tokens per credential and model in a sliding 60-second window,
    so requests go out while the window has room and wait when it is full; spreading them evenly
    would take up to twice as long. Each key (a model) has its own ``Window``: the limits learned
    from the replies' ``rate_limit``, the starts of the last minute, and its own concurrency.

    - At most ``concurrency`` requests are in flight in all, and at most a key's current concurrency for it.
    - Until a key has a reply, one request goes first and the others wait for it, so the quota is
      known before a burst.
    - With ``limit_requests`` known, a request starts only while fewer than that (less ``reserve``, a
      fraction of the limit, at least 1 when not 0) started within the window; with ``limit_tokens`` known,
      only while the window's tokens (those reported, the mean for those in flight) and one more mean fit.
      v2's split limits (``limit_input_tokens``, ``limit_output_tokens``) are kept the same way, the prompt
      tokens against the one and the completion tokens against the other.
      A start leaves the count ``window + slack`` seconds after it was made.
    - What the service counts beyond all our starts in the window (``limit - remaining`` less them; the
      highest such bound of the last minute) is someone else's use of the quota, and leaves that much
      less room in the window.
    - A rate-limit error halves the key's concurrency (not below 1) and pauses its new starts for the
      error's ``retry_after`` or ``pause`` seconds; each later success raises it back by one.

    Use: ``async with pacer.slot(key) as slot: reply = await ask(...); slot.done(reply)``, or
    ``slot = await pacer.acquire(key)`` … ``slot.release(reply)``. ``clock`` and ``sleep`` are injectable.
    """

    def __init__(self, concurrency: int = DEFAULT_CONCURRENCY, *, window: float = 60.0, slack: float = 1.0,
                 reserve: float = 0.0, pause: float = 5.0, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Any] = asyncio.sleep):
        if concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, got {concurrency!r}")
        self.concurrency = concurrency
        self.window = window
        # the service stamps a request when it arrives, a little after we count it as started
        self.slack = slack
        self.reserve = reserve
        self.pause = pause
        self.clock = clock
        self.sleep = sleep
        self.in_flight = 0
        self._windows: dict[str, Window] = {}
        self._gates: dict[str, asyncio.Lock] = {}
        self._changed: asyncio.Event | None = None

    def state(self, key: str) -> Window:
        """What is known of ``key``'s quota (created empty on first use)."""
        if key not in self._windows:
            self._windows[key] = Window(concurrency=self.concurrency)
        return self._windows[key]

    def slot(self, key: str) -> _Held:
        """``async with pacer.slot(key) as slot``: a place for one request for ``key``."""
        return _Held(self, key)

    async def acquire(self, key: str) -> Slot:
        """Wait until a request for ``key`` may start, and count it as started."""
        window = self.state(key)
        async with self._gates.setdefault(key, asyncio.Lock()):  # first come, first served
            while True:
                now = self.clock()
                self._forget_old(window, now)
                wait = self._wait_needed(window, now)
                if wait is None:
                    break
                await self._wait(wait)
            start = _Start(now)
            window.starts.append(start)
            window.in_flight += 1
            self.in_flight += 1
            window.peak_requests = max(window.peak_requests, len(window.starts))
        return Slot(self, key, start)

    def _forget_old(self, window: Window, now: float) -> None:
        while window.starts and window.starts[0].at <= now - self.window - self.slack:
            window.starts.popleft()

    def _wait_needed(self, window: Window, now: float) -> _Wait | None:
        """None when a request may start now, else what to wait for."""
        if now < window.paused_until:
            return _Wait(window.paused_until - now, on_reply=False)
        if not window.probed and window.in_flight:
            return _Wait(None, on_reply=True)
        if window.in_flight >= window.concurrency or self.in_flight >= self.concurrency:
            return _Wait(None, on_reply=True)
        until_oldest_leaves = (window.starts[0].at + self.window + self.slack - now) if window.starts else 0.0
        if window.limit_requests is not None and \
                len(window.starts) >= self._usable(window.limit_requests) - window.others:
            # a reply of one in flight may show that less of the quota is someone else's
            return _Wait(until_oldest_leaves, on_reply=window.in_flight > 0 and window.others > 0)
        for kind in ("tokens", "input_tokens", "output_tokens"):
            limit = getattr(window, f"limit_{kind}")
            if limit is not None and window.full(self._usable(limit), kind):
                # a request in flight, counted at the mean, may report fewer tokens and make room
                return _Wait(until_oldest_leaves, on_reply=window.in_flight > 0)
        return None

    def _usable(self, limit: int) -> int:
        return limit - max(1, math.ceil(limit * self.reserve)) if self.reserve > 0 else limit

    async def _wait(self, wait: _Wait) -> None:
        if self._changed is None:
            self._changed = asyncio.Event()
        replied = self._changed
        if not wait.on_reply:
            await self.sleep(wait.seconds)
        elif wait.seconds is None:
            await replied.wait()
        else:
            waits = {asyncio.ensure_future(self.sleep(wait.seconds)), asyncio.ensure_future(replied.wait())}
            try:
                await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for task in waits:
                    task.cancel()

    def _release(self, key: str, start: _Start, reply) -> None:
        window = self.state(key)
        window.in_flight -= 1
        self.in_flight -= 1
        if reply is not None:
            self._learn(window, start, reply)
        if self._changed is not None:  # wake the waiters; later ones wait on a fresh event
            self._changed.set()
            self._changed = asyncio.Event()

    def _learn(self, window: Window, start: _Start, reply) -> None:
        window.probed = True
        error = getattr(reply, "error", None)
        usage = getattr(reply, "usage", None)
        start.tokens = reply_tokens(reply) if usage is not None else 0  # a refused request used no tokens
        start.input_tokens, start.output_tokens = reply_split_tokens(reply) if usage is not None else (0, 0)
        if usage is not None:
            window.finished_tokens += start.tokens
            window.finished_input_tokens += start.input_tokens
            window.finished_output_tokens += start.output_tokens
            window.finished += 1
        rate_limit = getattr(reply, "rate_limit", None)
        if rate_limit is not None:
            # v1 and v2 spell the token limits either whole or split into input and output (read both)
            for name in ("limit_requests", "limit_tokens", "limit_input_tokens", "limit_output_tokens"):
                setattr(window, name, getattr(rate_limit, name, None) or getattr(window, name))
            self._count_others(window, rate_limit)
        if _rate_limited(error):
            self._back_off(window, getattr(error, "retry_after", None))
        elif error is None:
            window.concurrency = min(self.concurrency, window.concurrency + 1)

    def _count_others(self, window: Window, rate_limit) -> None:
        """What the service counted beyond our own starts: the quota someone else is using now."""
        remaining = getattr(rate_limit, "remaining_requests", None)
        if window.limit_requests is None or remaining is None:
            return
        now = self.clock()
        self._forget_old(window, now)
        # The service counted this reply's request and whatever had arrived before it, so what it counted
        # beyond all our starts is surely someone else's: a lower bound, exact when ours were all answered
        # (the first request goes alone for that). Replies come back out of order, so a single bound can
        # fall short: the highest of the last minute stands, as someone else's requests stay a minute too.
        window.others_seen.append((now, max(0, (window.limit_requests - remaining) - len(window.starts))))
        while window.others_seen and window.others_seen[0][0] <= now - self.window:
            window.others_seen.popleft()
        window.others = max(bound for _, bound in window.others_seen)

    def _back_off(self, window: Window, retry_after: float | None) -> None:
        now = self.clock()
        if now >= window.paused_until:  # one halving per episode: the replies already under way say the same
            window.concurrency = max(1, window.concurrency // 2)
            window.pauses += 1
        window.paused_until = max(window.paused_until, now + (retry_after or self.pause))
        # after the pause one request goes first again, and its reply says how much of the quota is free
        window.others, window.probed = 0, False
        window.others_seen.clear()

