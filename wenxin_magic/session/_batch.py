"""Batch runs: one prompt template over many items and models, paced to the service's quota.

``Batch`` fills the template for every item × model, runs the rows through a ``Pacer`` and keeps
each answer in a ``BatchRow``; ``frame()`` turns them into a pandas DataFrame. pandas is optional:
it is imported only by the functions that need it. No display code lives here.
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import logging
import math
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Callable

__all__ = ["TemplateError", "batch_items", "fill_template", "template_fields", "BatchRow", "COLUMNS", "Pacer",
           "Slot", "Window", "Progress", "Batch", "DEFAULT_CONCURRENCY", "MAX_ITEMS"]

log = logging.getLogger(__name__)

DEFAULT_CONCURRENCY = 8
MAX_ITEMS = 100_000  # an endless iterable must end in an error, not in a kernel that reads it forever
COLUMNS: tuple[str, ...] = ("i", "item", "model", "prompt", "answer", "reasoning", "finish_reason", "prompt_tokens",
                            "completion_tokens", "latency_s", "retries", "error", "status")
_ACCEPTED = "a list, tuple, range, set, generator, pandas Series or pandas DataFrame"
_LISTED = 8  # how many keys or attributes an error message names


# -- templates -----------------------------------------------------------------------------------

class TemplateError(ValueError):
    """A template names something an item lacks."""


_TOKEN = re.compile(r"\{\{|\}\}|\{([^{}]*)\}")
_FIELD = re.compile(r"i|item(?:\.[^\W\d]\w*|\[[^\[\]]*\])*")
_STEP = re.compile(r"\.([^\W\d]\w*)|\[([^\[\]]*)\]")
_QUOTED = re.compile(r"""'(.*)'|"(.*)\"""", re.DOTALL)


def template_fields(template: str) -> list[str]:
    """The ``{item...}`` and ``{i}`` paths ``template`` uses, each once, in order of first use."""
    fields: list[str] = []
    for match in _TOKEN.finditer(template):
        path = match.group(1)
        if path is not None and _FIELD.fullmatch(path) and path not in fields:
            fields.append(path)
    return fields


def fill_template(template: str, item, index: int) -> str:
    """``template`` with ``{item}``, ``{item.field}``, ``{item[key]}`` (nested too) and ``{i}`` filled for one item.

    ``{{`` and ``}}`` are literal braces; any other ``{...}`` stays as written, since it is text (JSON, say) or
    was the notebook's to fill. A path the item lacks raises TemplateError.
    """
    def replace(match: re.Match) -> str:
        path = match.group(1)
        if path is None:  # "{{" or "}}"
            return match.group(0)[0]
        if not _FIELD.fullmatch(path):
            return match.group(0)
        return str(index if path == "i" else _resolve(item, path, index))

    return _TOKEN.sub(replace, template)


def _resolve(item, path: str, index: int):
    value, walked = item, "item"
    for step in _STEP.finditer(path, pos=len("item")):
        name, key = step.group(1), step.group(2)
        try:
            value = _attribute_or_key(value, name) if name is not None else _subscript(value, _key(key))
        except (AttributeError, KeyError, IndexError, TypeError):
            owner = "the item" if walked == "item" else walked
            lacking = repr(name) if name is not None else f"[{key}]"
            raise TemplateError(f"item {index}: {{{path}}}: {owner} ({_describe(value)}) has no {lacking}; "
                                f"it has: {_contents(value)}") from None
        walked += step.group(0)
    return value


def _key(text: str):
    text = text.strip()
    quoted = _QUOTED.fullmatch(text)
    if quoted:
        return quoted.group(1) if quoted.group(1) is not None else quoted.group(2)
    return int(text) if re.fullmatch(r"-?\d+", text) else text


def _attribute_or_key(value, name: str):
    # a dict's or a DataFrame row's columns come before its attributes: a row's ``.name`` is its label
    if _has_key(value, name):
        return value[name]
    if isinstance(value, Mapping):
        raise KeyError(name)
    return getattr(value, name)


def _subscript(value, key):
    if isinstance(key, int) and isinstance(value, Mapping) and key not in value and str(key) in value:
        return value[str(key)]
    if isinstance(key, int) and _pandas_kind(value) == "Series" and not _has_key(value, key):
        return value.iloc[key]  # by position, as for a list
    return value[key]


def _has_key(value, key) -> bool:
    keys = getattr(value, "keys", None)
    if not callable(keys):
        return False
    try:
        return key in keys()
    except TypeError:
        return False


def _describe(value) -> str:
    if value is None:
        return "None"
    kind = type(value).__name__
    article = "an" if kind[:1].lower() in "aeiou" else "a"
    if isinstance(value, (list, tuple)) and not hasattr(value, "_fields"):
        return f"{article} {kind} of {len(value)}"
    return f"{article} {kind}"


def _contents(value) -> str:
    """What an item has, for an error message: its keys, its indices or its public attributes."""
    if isinstance(value, (str, bytes)):
        return "only its text"
    if isinstance(value, (list, tuple)) and not hasattr(value, "_fields"):
        return f"indices 0–{len(value) - 1}" if value else "nothing (it is empty)"
    names = _names(value)
    if not names:
        return "nothing"
    shown = ", ".join(names[:_LISTED])
    return shown if len(names) <= _LISTED else f"{shown}, … ({len(names)} in all)"


def _names(value) -> list[str]:
    keys = getattr(value, "keys", None)
    if callable(keys):
        try:
            return [str(k) for k in keys()]
        except TypeError:
            return []
    if hasattr(value, "_fields"):  # a namedtuple
        return list(value._fields)
    own = [n for n in getattr(value, "__dict__", {}) if not n.startswith("_")]
    return own or [n for n in dir(value) if not n.startswith("_") and not callable(getattr(value, n, None))]


# -- items ---------------------------------------------------------------------------------------

def batch_items(value, name: str = "items") -> list:
    """The items of a batch, as a list: the elements of a list, tuple, range, set (in its iteration order)
    or generator, a pandas Series' values, or a pandas DataFrame's rows (each a Series, so ``{item.col}``
    and ``{item[col]}`` work). A str, bytes, dict or non-iterable is refused with a TypeError, and more than
    MAX_ITEMS items with a ValueError."""
    kind = _pandas_kind(value)
    if kind is not None and len(value) > MAX_ITEMS:
        raise ValueError(_too_many(name))
    if kind == "DataFrame":
        return [row for _, row in value.iterrows()]
    if kind == "Series":
        return value.tolist()
    if isinstance(value, (str, bytes, bytearray)):
        raise TypeError(f"{name} is a {type(value).__name__}, which is one prompt, not a list of inputs: "
                        f"pass [{name}] for one item, or {name}.splitlines() for one per line. Accepted: {_ACCEPTED}.")
    if isinstance(value, Mapping):
        raise TypeError(f"{name} is a {type(value).__name__}: pass list({name}.items()) for (key, value) pairs "
                        f"or list({name}.values()) for the values. Accepted: {_ACCEPTED}.")
    try:
        iterator = iter(value)
    except TypeError:
        raise TypeError(f"{name} is {_describe(value)}, which holds no items. Accepted: {_ACCEPTED}.") from None
    items = list(itertools.islice(iterator, MAX_ITEMS + 1))
    if len(items) > MAX_ITEMS:
        raise ValueError(_too_many(name))
    return items


def _too_many(name: str) -> str:
    return (f"{name} has more than {MAX_ITEMS:,} items, the most a batch takes (an endless iterator such as "
            f"itertools.count() never ends): pass a slice of it, e.g. list(itertools.islice({name}, 1000)) "
            f"({name}[:1000] for a list), and run the rest as another batch.")


def _pandas_kind(value) -> str | None:
    """"DataFrame" or "Series" for pandas' (without importing pandas), else None."""
    for cls in type(value).__mro__:
        if cls.__module__.startswith("pandas") and cls.__name__ in ("DataFrame", "Series"):
            return cls.__name__
    return None


def _import_pandas():
    try:
        import pandas
    except ImportError:
        raise ImportError("A batch's table needs pandas: pip install pandas") from None
    return pandas


# -- rows ----------------------------------------------------------------------------------------

@dataclass
class BatchRow:
    """One item × one model: its prompt, and the reply once it ran."""

    index: int
    item: Any
    model: str
    prompt: str | None  # None when the template could not be filled
    reply: Any = None  # a session Reply (read: text, reasoning, finish_reason, usage, latency, retries, error, ok)
    error: str | None = None
    status: str = "not run"  # "done", "failed" or "not run"

    def record(self) -> dict:
        """The table row, keyed by COLUMNS."""
        reply = self.reply
        usage = getattr(reply, "usage", None)
        return {
            "i": self.index,
            "item": _plain(self.item),
            "model": self.model,
            "prompt": self.prompt,
            "answer": getattr(reply, "text", None),
            "reasoning": getattr(reply, "reasoning", None) or None,
            "finish_reason": getattr(reply, "finish_reason", None),
            "prompt_tokens": getattr(usage, "prompt_tokens", None),
            "completion_tokens": getattr(usage, "completion_tokens", None),
            "latency_s": getattr(reply, "latency", None),
            "retries": getattr(reply, "retries", None),
            "error": self.error,
            "status": self.status,
        }


def _plain(item):
    # a DataFrame row shown as a dict reads better in a table cell than a Series would
    return item.to_dict() if _pandas_kind(item) == "Series" else item


def _tokens(reply) -> int:
    usage = getattr(reply, "usage", None)
    total = getattr(usage, "total_tokens", None)
    if total is None:
        total = (getattr(usage, "prompt_tokens", 0) or 0) + (getattr(usage, "completion_tokens", 0) or 0)
    return total or 0


# -- pacing --------------------------------------------------------------------------------------

_RATE_LIMIT_CODES = frozenset({18, 336501, 336502})  # v1: QPS, RPM, TPM


def _rate_limited(error) -> bool:
    """Whether a reply's error says a quota is used up (v1 codes 18, 336501, 336502; v2 HTTP 429)."""
    if error is None:
        return False
    code = getattr(error, "code", None)
    return code in _RATE_LIMIT_CODES or getattr(error, "status", None) == 429 or (
        isinstance(code, str) and code.endswith("rate_limit_exceeded"))


@dataclass
class _Start:
    at: float
    tokens: int | None = None  # known once its reply came


@dataclass
class Window:
    """What the Pacer knows of one key's quota and use (read it, do not change it)."""

    concurrency: int  # how many may be in flight now: halved on a rate limit, raised back one per success
    limit_requests: int | None = None
    limit_tokens: int | None = None
    others: int = 0  # requests in the service's window that are not ours (another cell, kernel or client)
    others_seen: collections.deque = field(default_factory=collections.deque, repr=False)  # (time, lower bound)
    in_flight: int = 0
    peak_requests: int = 0  # the most starts ever counted in one window, this one included
    pauses: int = 0  # how many times a rate limit paused it
    paused_until: float = 0.0
    probed: bool = False  # a reply has come: starts no longer wait for a first one
    starts: collections.deque = field(default_factory=collections.deque, repr=False)
    finished_tokens: int = 0
    finished: int = 0

    @property
    def token_estimate(self) -> float:
        """A request's expected tokens (prompt and completion): the mean of those finished, 0 before any."""
        return self.finished_tokens / self.finished if self.finished else 0.0

    def tokens_in_window(self) -> float:
        estimate = self.token_estimate
        return sum(estimate if s.tokens is None else s.tokens for s in self.starts)


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
        if window.limit_tokens is not None and window.starts and (
                window.tokens_in_window() + window.token_estimate > self._usable(window.limit_tokens)):
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
        start.tokens = _tokens(reply) if usage is not None else 0  # a refused request used no tokens
        if usage is not None:
            window.finished_tokens += start.tokens
            window.finished += 1
        rate_limit = getattr(reply, "rate_limit", None)
        if rate_limit is not None:
            window.limit_requests = getattr(rate_limit, "limit_requests", None) or window.limit_requests
            window.limit_tokens = getattr(rate_limit, "limit_tokens", None) or window.limit_tokens
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


# -- the batch -----------------------------------------------------------------------------------

@dataclass
class Progress:
    """How far a batch is: counts of rows, tokens used, seconds elapsed and the seconds still expected."""

    total: int
    done: int
    failed: int
    not_run: int
    tokens: int
    elapsed: float
    eta: float | None
    running: bool = False

    def summary(self) -> str:
        """E.g. "37/120 · 2 failed · 5,120 tokens · 12.3 s · ETA 27 s" (37 rows finished, done or failed)."""
        parts = [f"{self.done + self.failed}/{self.total}"]
        if self.failed:
            parts.append(f"{self.failed:,} failed")
        if self.not_run and not self.running:
            parts.append(f"{self.not_run:,} not run")
        parts += [f"{self.tokens:,} tokens", f"{self.elapsed:.1f} s"]
        if self.running and self.eta is not None:
            parts.append(f"ETA {self.eta:.0f} s")
        return " · ".join(parts)


class Batch:
    """One run of a template over items × models; see ``run``, ``progress``, ``frame``."""

    def __init__(self, template: str, items, models: list[str], *, concurrency: int | None = None,
                 previous: "Batch | list[BatchRow] | None" = None):
        if not isinstance(template, str):
            raise TypeError(f"The template is a {type(template).__name__}; it must be a str.")
        self.template = template
        self.items = batch_items(items)
        self.models = _models(models)
        self.concurrency = DEFAULT_CONCURRENCY if concurrency is None else concurrency
        self.rows = [self._row(index, item, model) for index, item in enumerate(self.items) for model in self.models]
        self.pacer: Pacer | None = None
        self.resumed = 0
        self._clock: Callable[[], float] = time.monotonic
        self._started: float | None = None
        self._ended: float | None = None
        self._finished_in_run = 0
        if previous is not None:
            self._take_over(previous)

    def __repr__(self) -> str:
        return f"<Batch {len(self.items)} items × {len(self.models)} models: {self.summary()}>"

    def _row(self, index: int, item, model: str) -> BatchRow:
        try:
            return BatchRow(index, item, model, fill_template(self.template, item, index))
        except TemplateError as err:
            return BatchRow(index, item, model, None, error=str(err), status="failed")

    # -- resuming --
    def _take_over(self, previous) -> None:
        """Take the rows ``previous`` finished as "done"; the others run again."""
        if isinstance(previous, Batch):
            self._check_same(previous)
            old_rows = previous.rows
        else:
            old_rows = list(previous)
        here = {(row.index, row.model): row for row in self.rows}
        for old in old_rows:
            if old.status != "done":
                continue
            row = here.get((old.index, old.model))
            if row is None:
                raise ValueError(f"The previous run has item {old.index} × {old.model}, which this batch has not: "
                                 "resume the same items and models.")
            if row.prompt != old.prompt:
                raise ValueError(f"Item {old.index}'s prompt for {old.model} differs from the previous run's "
                                 f"({old.prompt!r} then, {row.prompt!r} now): the items or the template changed.")
            row.reply, row.error, row.status = old.reply, None, "done"
            self.resumed += 1

    def _check_same(self, previous: "Batch") -> None:
        if previous.template != self.template:
            raise ValueError(f"The template differs from the previous run's: {previous.template!r} then, "
                             f"{self.template!r} now.")
        if previous.models != self.models:
            raise ValueError(f"The models differ from the previous run's: {', '.join(previous.models)} then, "
                             f"{', '.join(self.models)} now.")
        if len(previous.items) != len(self.items):
            raise ValueError(f"The items differ from the previous run's: {len(previous.items)} then, "
                             f"{len(self.items)} now.")

    # -- progress --
    @property
    def progress(self) -> Progress:
        counts = collections.Counter(row.status for row in self.rows)
        elapsed = self._elapsed()
        not_run = counts["not run"]
        return Progress(total=len(self.rows), done=counts["done"], failed=counts["failed"], not_run=not_run,
                        tokens=sum(_tokens(row.reply) for row in self.rows if row.reply is not None),
                        elapsed=elapsed, eta=self._eta(elapsed, not_run),
                        running=self._started is not None and self._ended is None)

    def summary(self) -> str:
        """E.g. "37/120 · 2 failed · 5,120 tokens · 12.3 s · ETA 27 s"."""
        return self.progress.summary()

    def _elapsed(self) -> float:
        if self._started is None:
            return 0.0
        return (self._ended if self._ended is not None else self._clock()) - self._started

    def _eta(self, elapsed: float, not_run: int) -> float | None:
        if not not_run:
            return 0.0
        if not self._finished_in_run or elapsed <= 0:
            return None
        return not_run * elapsed / self._finished_in_run

    # -- running --
    async def run(self, ask: Callable[[str, str], Any], *, on_progress: Callable[[Progress], None] | None = None,
                  min_interval: float = 0.25, pacer: Pacer | None = None) -> "Batch":
        """Run the rows not run yet: ``await ask(prompt, model)`` for each, paced by ``pacer`` (a new
        ``Pacer(concurrency)`` unless given; keyed by model). ``on_progress(progress)`` hears how far it
        is, at most every ``min_interval`` seconds and once at the end. Cancelling cancels the asks in
        flight: their rows stay "not run", finished rows keep their results, and CancelledError propagates."""
        self.pacer = pacer = pacer if pacer is not None else Pacer(self.concurrency)
        self._clock, self._started, self._ended, self._finished_in_run = pacer.clock, pacer.clock(), None, 0
        report = _Throttled(on_progress, min_interval, pacer.clock, lambda: self.progress)
        report()
        tasks = [asyncio.ensure_future(self._run_row(row, ask, pacer, report))
                 for row in self.rows if row.status == "not run" and row.prompt is not None]
        try:
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)  # let each cancelled ask wind down
            self._ended = pacer.clock()
            report(final=True)
        return self

    async def _run_row(self, row: BatchRow, ask, pacer: Pacer, report: "_Throttled") -> None:
        slot = await pacer.acquire(row.model)
        try:
            reply = await ask(row.prompt, row.model)
        except asyncio.CancelledError:
            slot.release()
            raise
        except Exception as exc:  # a bug in ``ask`` fails its row, not the batch
            slot.release()
            self._settle(row, None, f"{type(exc).__name__}: {exc}")
        else:
            if _interrupted(reply):  # an ask that turns cancelling into an interrupted reply: the row never ran
                slot.release()
                return
            slot.release(reply)
            self._settle(row, reply, _failure(reply))
        report()

    def _settle(self, row: BatchRow, reply, failure: str | None) -> None:
        row.reply, row.error = reply, failure
        row.status = "failed" if failure else "done"
        self._finished_in_run += 1

    # -- results --
    def records(self) -> list[dict]:
        """Every row's ``record()``, in row order."""
        return [row.record() for row in self.rows]

    def replies(self) -> list:
        """The replies of the rows that ran, in row order."""
        return [row.reply for row in self.rows if row.reply is not None]

    def frame(self):
        """A pandas DataFrame of ``records()`` with COLUMNS (ImportError if pandas is not installed)."""
        pandas = _import_pandas()
        return pandas.DataFrame(self.records(), columns=list(COLUMNS))


def _models(models) -> list[str]:
    if isinstance(models, str) or not isinstance(models, (list, tuple)):
        raise TypeError(f"models must be a list of model names, got {_describe(models)}.")
    if not models:
        raise ValueError("models is empty: name at least one model.")
    bad = [m for m in models if not isinstance(m, str) or not m.strip()]
    if bad:
        raise ValueError(f"Each model must be a name, got {bad[0]!r}.")
    repeated = sorted({m for m in models if models.count(m) > 1})
    if repeated:
        raise ValueError(f"A model is named twice: {', '.join(repeated)}.")
    return list(models)


def _interrupted(reply) -> bool:
    return getattr(reply, "interrupted", False) is True and getattr(reply, "error", None) is None


def _failure(reply) -> str | None:
    """Why a reply does not count as done, or None when it does."""
    error = getattr(reply, "error", None)
    if error is not None:
        return str(error)
    return None if getattr(reply, "ok", True) else "not answered"


class _Throttled:
    """Calls ``callback(progress())`` at most every ``interval`` seconds, and always when final."""

    def __init__(self, callback, interval: float, clock, progress):
        self._callback, self._interval, self._clock, self._progress = callback, interval, clock, progress
        self._last: float | None = None

    def __call__(self, final: bool = False) -> None:
        if self._callback is None:
            return
        now = self._clock()
        if not final and self._last is not None and now - self._last < self._interval:
            return
        self._last = now
        try:
            self._callback(self._progress())
        except Exception:  # a display's bug must not stop the batch
            log.exception("batch progress callback failed")
