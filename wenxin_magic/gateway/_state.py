"""The gateway's shared state: the quota's reservations, the ledger and the pause flags (in memory, or in Redis)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


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
