"""What every replica of the gateway shares: the key's quota, the ledger and the pause switch.

``State`` is the interface; ``MemoryState`` runs it in one process (the limits then hold only for that
process), and ``RedisState`` (``_redis_state.py``) shares it among replicas through Redis.

MemoryState's limiter is a sliding 60-second log of grants, counted against the key's RPM and TPM. Waiting
requests queue per student, and the students with a waiting request are served in turn (round robin), so one
student's batch of a thousand waits behind itself while every other student's next request goes first. A
student at the head of the turn whose request does not fit yet keeps its turn: a large request is not starved by
small ones.
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

# The service's window is 60 s, counted from when a request arrives there, a little after the gateway granted it.
# A grant is held one second longer, so that the forwarding's jitter never lets the service see RPM + 1 in a minute.
WINDOW_SECONDS = 61.0
LEDGER_FIELDS = ("requests", "input_tokens", "output_tokens", "yuan", "errors")


class QuotaTimeout(Exception): ...          # the quota did not free up within the wait; the gateway answers 429


@dataclass
class Grant:                                # a reservation: what was set aside for one request
    student: str
    tokens: int                             # tokens reserved (the estimate)
    at: float                               # when it was granted (time.time())
    key: str = ""                           # the backend's own id for the reservation


class State(Protocol):
    async def acquire(self, student: str, tokens: int, *, timeout: float) -> Grant:
        """Wait until one request of ~``tokens`` tokens fits the key's RPM and TPM (shared by every replica), serving
        waiting students fairly; QuotaTimeout after ``timeout`` seconds."""
    async def settle(self, grant: Grant, used_tokens: int) -> None:
        """Correct the reservation to what the request really used (the service's usage)."""
    async def add_usage(self, student: str, model: str, day: str, *, requests: int = 1, input_tokens: int = 0,
                        output_tokens: int = 0, yuan: float = 0.0, errors: int = 0) -> None:
        """Add to the ledger (durable): per student, model and day (YYYY-MM-DD)."""
    async def used_today(self, student: str, day: str) -> tuple[int, float]:
        """(tokens, ¥) the student used on ``day``, for the daily budgets."""
    async def ledger(self, since_day: str | None = None) -> list[dict]:
        """Rows {"student","model","day","requests","input_tokens","output_tokens","yuan","errors"}."""
    async def paused(self, group: str | None) -> bool:
        """Whether the class (group None) or ``group`` is paused (the exam switch)."""
    async def set_paused(self, group: str | None, paused: bool) -> None: ...
    async def close(self) -> None: ...


class _Waiter:
    __slots__ = ("student", "tokens", "future")

    def __init__(self, student: str, tokens: int, future: asyncio.Future):
        self.student, self.tokens, self.future = student, tokens, future


class MemoryState:
    """The State in one process: quota, fair waiting and pause in memory; the ledger in a JSON file when
    ``ledger_path`` is given (written whole, atomically, after every change), else in memory only."""

    def __init__(self, *, rpm: int, tpm: int, ledger_path: str | Path | None = None, clock=time.monotonic):
        if rpm < 1 or tpm < 1:
            raise ValueError("rpm and tpm must be at least 1")
        self.rpm, self.tpm = int(rpm), int(tpm)
        self._clock = clock
        self._granted: collections.OrderedDict[str, list] = collections.OrderedDict()  # id -> [when, tokens]
        self._queues: collections.OrderedDict[str, collections.deque[_Waiter]] = collections.OrderedDict()
        self._ids = itertools.count(1)
        self._timer: asyncio.TimerHandle | None = None
        self._paused: set[str] = set()
        self._ledger_path = Path(ledger_path) if ledger_path is not None else None
        self._ledger: dict[tuple[str, str, str], dict] = self._load_ledger()

    # -- the quota
    def _expire(self, now: float) -> None:
        while self._granted:
            first = next(iter(self._granted.values()))
            if first[0] > now - WINDOW_SECONDS:
                break
            self._granted.popitem(last=False)

    def _fits(self, tokens: int) -> bool:
        used = sum(entry[1] for entry in self._granted.values())
        if len(self._granted) >= self.rpm:
            return False
        # a request larger than the whole TPM goes alone, into an empty window, rather than never
        return used + tokens <= self.tpm or not self._granted

    def _pump(self) -> None:
        now = self._clock()
        self._expire(now)
        while self._queues:
            student, queue = next(iter(self._queues.items()))
            while queue and queue[0].future.done():  # timed out or cancelled
                queue.popleft()
            if not queue:
                del self._queues[student]
                continue
            waiter = queue[0]
            if not self._fits(waiter.tokens):
                break
            queue.popleft()
            grant_id = str(next(self._ids))
            self._granted[grant_id] = [now, waiter.tokens]
            waiter.future.set_result(Grant(student, waiter.tokens, time.time(), grant_id))
            self._queues.move_to_end(student)  # the next student's turn
            if not queue:
                del self._queues[student]
        self._schedule(now)

    def _schedule(self, now: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._queues and self._granted:
            first = next(iter(self._granted.values()))
            delay = max(0.0, first[0] + WINDOW_SECONDS - now) + 0.001
            self._timer = asyncio.get_running_loop().call_later(delay, self._pump)

    async def acquire(self, student: str, tokens: int, *, timeout: float) -> Grant:
        future = asyncio.get_running_loop().create_future()
        self._queues.setdefault(student, collections.deque()).append(_Waiter(student, max(0, int(tokens)), future))
        self._pump()
        try:
            return await asyncio.wait_for(future, timeout)
        except asyncio.TimeoutError:
            raise QuotaTimeout(f"the key's quota ({self.rpm} requests and {self.tpm} tokens a minute) did not free "
                               f"up within {timeout:g} s") from None

    async def settle(self, grant: Grant, used_tokens: int) -> None:
        entry = self._granted.get(grant.key)
        if entry is not None:
            entry[1] = max(0, int(used_tokens))
            grant.tokens = entry[1]
        self._pump()

    # -- the ledger
    def _load_ledger(self) -> dict[tuple[str, str, str], dict]:
        if self._ledger_path is None or not self._ledger_path.exists():
            return {}
        rows = json.loads(self._ledger_path.read_text(encoding="utf-8"))
        return {(row["student"], row["model"], row["day"]): row for row in rows}

    def _save_ledger(self) -> None:
        if self._ledger_path is None:
            return
        temporary = self._ledger_path.with_suffix(self._ledger_path.suffix + ".tmp")
        temporary.write_text(json.dumps(list(self._ledger.values()), ensure_ascii=False), encoding="utf-8")
        os.replace(temporary, self._ledger_path)

    async def add_usage(self, student: str, model: str, day: str, *, requests: int = 1, input_tokens: int = 0,
                        output_tokens: int = 0, yuan: float = 0.0, errors: int = 0) -> None:
        row = self._ledger.setdefault((student, model, day), {"student": student, "model": model, "day": day,
                                                              **{name: 0 for name in LEDGER_FIELDS}})
        row["yuan"] = float(row["yuan"])
        for name, value in zip(LEDGER_FIELDS, (requests, input_tokens, output_tokens, yuan, errors), strict=True):
            row[name] += value
        self._save_ledger()

    async def used_today(self, student: str, day: str) -> tuple[int, float]:
        rows = [row for (who, _, when), row in self._ledger.items() if who == student and when == day]
        return (sum(row["input_tokens"] + row["output_tokens"] for row in rows),
                float(sum(row["yuan"] for row in rows)))

    async def ledger(self, since_day: str | None = None) -> list[dict]:
        return [dict(row) for row in sorted(self._ledger.values(), key=lambda r: (r["day"], r["student"], r["model"]))
                if since_day is None or row["day"] >= since_day]

    # -- the exam switch
    async def paused(self, group: str | None) -> bool:
        return "" in self._paused or (group is not None and group in self._paused)

    async def set_paused(self, group: str | None, paused: bool) -> None:
        (self._paused.add if paused else self._paused.discard)(group or "")

    async def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        for queue in self._queues.values():
            for waiter in queue:
                if not waiter.future.done():
                    waiter.future.cancel()
        self._queues.clear()
