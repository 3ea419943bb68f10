"""MemoryState, the State in one process: reservations and settling, waiting and timing out, fair turns among
students, the durable ledger, the pause flags."""

from __future__ import annotations

import asyncio

import pytest

from wenxin_magic.gateway import MemoryState, QuotaTimeout


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_a_request_waits_until_settling_frees_tokens():
    state = MemoryState(rpm=100, tpm=1000)
    first = await state.acquire("alice", 900, timeout=1)
    waiting = asyncio.ensure_future(state.acquire("bob", 500, timeout=2))
    await asyncio.sleep(0.05)
    assert not waiting.done()
    await state.settle(first, 300)  # it used less than reserved: room for bob now
    grant = await asyncio.wait_for(waiting, 1)
    assert grant.student == "bob" and grant.tokens == 500 and grant.key != first.key
    await state.close()


async def test_a_wait_past_the_timeout_raises_quota_timeout_and_leaves_no_reservation():
    state = MemoryState(rpm=1, tpm=1000)
    await state.acquire("alice", 10, timeout=1)
    with pytest.raises(QuotaTimeout, match="1 requests and 1000 tokens a minute"):
        await state.acquire("bob", 10, timeout=0.1)
    assert len(state._granted) == 1
    await state.close()


async def test_the_window_frees_after_the_services_minute_and_a_second_of_margin():
    clock = Clock()
    state = MemoryState(rpm=1, tpm=1000, clock=clock)
    first = await state.acquire("alice", 10, timeout=1)
    waiting = asyncio.ensure_future(state.acquire("alice", 10, timeout=2))
    await asyncio.sleep(0.02)
    assert not waiting.done()
    clock.now += 60.5  # the service's minute is over, but the request it counts arrived after this grant
    await state.settle(first, 10)  # any event looks at the window again
    await asyncio.sleep(0.02)
    assert not waiting.done()
    clock.now += 0.6
    await state.settle(first, 10)
    assert (await asyncio.wait_for(waiting, 1)).student == "alice"
    await state.close()


async def test_a_batch_of_one_student_does_not_starve_another():
    clock = Clock()
    state = MemoryState(rpm=2, tpm=10**6, clock=clock)
    held = [await state.acquire("warmup", 1, timeout=1) for _ in range(2)]
    order: list[str] = []

    async def ask(student: str):
        await state.acquire(student, 1, timeout=5)
        order.append(student)

    heavy = [asyncio.ensure_future(ask("heavy")) for _ in range(10)]
    await asyncio.sleep(0.01)
    light = [asyncio.ensure_future(ask("light")) for _ in range(2)]
    await asyncio.sleep(0.01)
    for _ in range(2):
        clock.now += 61
        await state.settle(held[0], 1)
        await asyncio.sleep(0.01)
    assert order == ["heavy", "light", "heavy", "light"]  # turns, although heavy queued ten first
    for task in heavy + light:
        task.cancel()
    await state.close()


async def test_the_ledger_lasts_across_a_new_state(tmp_path):
    path = tmp_path / "ledger.json"
    state = MemoryState(rpm=10, tpm=1000, ledger_path=path)
    await state.add_usage("alice", "ernie-speed-8k", "2026-12-07", input_tokens=10, output_tokens=20, yuan=0.5)
    await state.add_usage("alice", "ernie-speed-8k", "2026-12-07", input_tokens=1, output_tokens=2, errors=1)
    await state.add_usage("bob", "ernie-speed-8k", "2026-12-06", input_tokens=5)
    again = MemoryState(rpm=10, tpm=1000, ledger_path=path)
    assert await again.used_today("alice", "2026-12-07") == (33, 0.5)
    rows = await again.ledger(since_day="2026-12-07")
    assert rows == [{"student": "alice", "model": "ernie-speed-8k", "day": "2026-12-07", "requests": 2,
                     "input_tokens": 11, "output_tokens": 22, "yuan": 0.5, "errors": 1}]
    assert len(await again.ledger()) == 2


async def test_pause_flags():
    state = MemoryState(rpm=10, tpm=1000)
    await state.set_paused("a", True)
    assert await state.paused("a") and not await state.paused("b") and not await state.paused(None)
    await state.set_paused(None, True)
    assert await state.paused("b") and await state.paused(None)
    await state.set_paused(None, False)
    await state.set_paused("a", False)
    assert not await state.paused("a")
