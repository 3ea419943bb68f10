"""RedisState on a real redis-server: one quota shared by replicas, fair waiting, the ledger, the exam switch, faults.

Two RedisState objects on one Redis are two gateway replicas. Nothing here asserts a speed (the machine is shared):
counts, order and shares only. The quota's window is shortened (``window=``) so that waits end within a test.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

import _redis
from _redis import RedisServer
from wenxin_magic.gateway._redis_state import RedisState, RedisUnavailable
from wenxin_magic.gateway._state import QuotaTimeout

CHECKOUT = Path(__file__).resolve().parents[1]  # child processes import this checkout's wenxin_magic

# the harness's fixtures, made this module's
redis_server_module, redis_server, redis_factory = _redis.redis_server_module, _redis.redis_server, _redis.redis_factory


def test_the_harness_starts_a_redis_with_appendonly_and_stops_it(redis_factory):
    server = redis_factory()
    assert server.command("PING").startswith(b"+PONG")
    assert b"yes" in server.command("CONFIG", "GET", "appendonly")
    assert server.process.pid > 0
    server.stop()
    with pytest.raises(OSError):
        server.command("PING")
    server.start()
    assert server.command("PING").startswith(b"+PONG")


def test_the_module_server_is_emptied_for_each_test(redis_server: RedisServer):
    assert redis_server.command("DBSIZE").strip() == b":0"
    assert redis_server.command("SET", "left-behind", "1").startswith(b"+OK")


# -- one quota, shared by two replicas -----------------------------------------------------------------------

@pytest.fixture
async def replicas(redis_server):
    """Two RedisState objects on one Redis: what two gateway processes are."""
    made = []

    def make(**quota) -> RedisState:
        state = RedisState(redis_server.url, **{"rpm": 1000, "tpm": 1_000_000, **quota})
        made.append(state)
        return state

    yield make
    for state in made:
        await state.close()


def _queue_length(server: RedisServer) -> int:
    return int(server.command("HLEN", "wenxin-gateway:{quota}:waiting").strip().lstrip(b":"))


async def test_two_replicas_share_one_rpm(replicas, redis_server):
    first, second = replicas(rpm=3, burst=3), replicas(rpm=3, burst=3)
    grants = [await first.acquire("ana", 10, timeout=1), await second.acquire("bo", 10, timeout=1),
              await first.acquire("bo", 10, timeout=1)]
    assert len({g.key for g in grants}) == 3
    for state in (first, second):
        with pytest.raises(QuotaTimeout, match="3 requests"):
            await state.acquire("cy", 10, timeout=0.3)
    assert _queue_length(redis_server) == 0  # a waiter that gave up left the queue at once


async def test_two_replicas_share_one_tpm_and_settle_corrects_the_reservation(replicas):
    first, second = replicas(tpm=1000), replicas(tpm=1000)
    big = await first.acquire("ana", 600, timeout=1)
    assert (big.student, big.tokens) == ("ana", 600)
    with pytest.raises(QuotaTimeout, match="1000 tokens"):
        await second.acquire("bo", 500, timeout=0.3)
    await first.settle(big, 100)  # the answer was short: 500 tokens come back to the class
    small = await second.acquire("bo", 500, timeout=0.3)
    await second.settle(small, 850)  # and longer than estimated: the excess is counted against everyone
    with pytest.raises(QuotaTimeout):
        await first.acquire("cy", 100, timeout=0.3)
    assert await first.acquire("cy", 50, timeout=0.3)


async def test_a_request_waits_for_the_quota_then_gets_it(replicas):
    first, second = replicas(rpm=2, window=1.0), replicas(rpm=2, window=1.0)
    earliest = await first.acquire("ana", 1, timeout=1)
    await second.acquire("ana", 1, timeout=1)
    late = await second.acquire("bo", 1, timeout=10)  # waits for the window to move past the first grant
    assert late.at >= earliest.at + 1.0
    assert late.key not in (earliest.key, "")


async def test_grants_are_paced_one_per_window_over_rpm_after_a_short_burst(replicas):
    first, second = replicas(rpm=40, window=1.0), replicas(rpm=40, window=1.0)  # a burst of 40 // 20 = 2
    grants = []
    for i in range(8):
        grants.append(await (first, second)[i % 2].acquire("ana", 1, timeout=5))
    times = [g.at for g in grants]
    assert times == sorted(times)
    # GCRA: the k-th grant comes no sooner than (k - burst + 1) intervals of 1/40 s after the first
    assert all(times[k] - times[0] >= (k - 1) * 0.025 - 1e-6 for k in range(2, 8)), times


async def test_an_estimate_over_the_whole_tpm_goes_alone_into_an_empty_window(replicas):
    first, second = replicas(tpm=1000, window=1.0), replicas(tpm=1000, window=1.0)
    small = await first.acquire("ana", 10, timeout=1)
    with pytest.raises(QuotaTimeout):
        await second.acquire("bo", 5000, timeout=0.3)  # not beside anyone
    huge = await second.acquire("bo", 5000, timeout=5)  # once the window is empty
    assert huge.tokens == 1000 and huge.at >= small.at + 1.0  # it holds the whole TPM
    with pytest.raises(QuotaTimeout):
        await first.acquire("cy", 1, timeout=0.3)
    await second.settle(huge, 300)  # the answer was short: the rest comes back
    assert await first.acquire("cy", 700, timeout=0.3)


@pytest.mark.parametrize("quota, named", [({"rpm": 0}, "rpm"), ({"tpm": -5}, "tpm"), ({"rpm": 2.5}, "rpm"),
                                          ({"window": 0}, "window")])
def test_a_bad_quota_is_refused_by_name(redis_server, quota, named):
    with pytest.raises(ValueError, match=named):
        RedisState(redis_server.url, **{"rpm": 10, "tpm": 100, **quota})


# -- fairness: a batch does not starve the others --------------------------------------------------------------

async def _keep_asking(state: RedisState, student: str, until: float, grants: list) -> None:
    loop = asyncio.get_running_loop()
    while loop.time() < until:
        try:
            grants.append(await state.acquire(student, 1, timeout=max(0.05, until - loop.time())))
        except QuotaTimeout:
            return


@pytest.mark.load  # seconds of real waiting: in the full run, out of the fast tier
async def test_a_light_student_gets_half_the_quota_beside_a_batch_of_twelve(replicas):
    """Both always want more (four requests at a time against twelve): the fair queue gives them equal turns, where
    first-come would give the light one a quarter."""
    batch, alone = replicas(rpm=20, window=1.0), replicas(rpm=20, window=1.0)
    loop = asyncio.get_running_loop()
    start = loop.time()
    until = start + 4.0
    grants: list = []
    await asyncio.gather(*[_keep_asking(batch, "heavy", until, grants) for _ in range(12)],
                         *[_keep_asking(alone, "light", until, grants) for _ in range(4)])
    # after the first window's burst, every grant is a freed slot that both were waiting for
    steady = [g for g in grants if g.at >= min(g.at for g in grants) + 1.0]
    light = sum(g.student == "light" for g in steady)
    assert len(steady) >= 10, len(steady)
    assert light / len(steady) >= 0.35, (light, len(steady))
    assert light / len(steady) <= 0.65, (light, len(steady))  # and the batch uses what the light one leaves


def jain_index(amounts: list[int]) -> float:
    """1 when every student got the same, 1/n when one got everything."""
    return sum(amounts) ** 2 / (len(amounts) * sum(a * a for a in amounts))


@pytest.mark.load  # seconds of real waiting: in the full run, out of the fast tier
async def test_eight_students_and_a_batch_of_sixteen_share_with_jain_index_over_0_9(replicas):
    gateways = [replicas(rpm=40, window=1.0), replicas(rpm=40, window=1.0)]
    until = asyncio.get_running_loop().time() + 4.0
    grants: list = []
    await asyncio.gather(*[_keep_asking(gateways[0], "batch", until, grants) for _ in range(16)],
                         *[_keep_asking(gateways[i % 2], f"s{i}", until, grants) for i in range(8)])
    counts = [sum(g.student == name for g in grants) for name in ["batch", *(f"s{i}" for i in range(8))]]
    assert jain_index(counts) >= 0.9, counts
    assert jain_index([1] + [0] * 8) < 0.9  # the index can tell


@pytest.mark.load  # seconds of real waiting: in the full run, out of the fast tier
async def test_a_student_who_arrives_behind_a_batch_goes_next(replicas):
    batch, alone = replicas(rpm=10, window=1.0), replicas(rpm=10, window=1.0)
    loop = asyncio.get_running_loop()
    until = loop.time() + 3.0
    grants: list = []
    heavy = [asyncio.create_task(_keep_asking(batch, "heavy", until, grants)) for _ in range(10)]
    await asyncio.sleep(1.5)  # the batch has the whole quota and a queue of its own
    arrived = len(grants)
    late = await alone.acquire("late", 1, timeout=5)
    await asyncio.gather(*heavy)
    ahead = sorted(grants, key=lambda g: int(g.key))[arrived:]
    ahead = [g for g in ahead if int(g.key) < int(late.key)]
    assert len(ahead) <= 1, ahead  # at most the slot being handed out as it arrived


# -- the ledger, the daily totals, the exam switch -------------------------------------------------------------

DAY, NEXT_DAY = "2026-12-07", "2026-12-08"


async def _fill_ledger(state: RedisState) -> None:
    await state.add_usage("ana", "ernie-speed-8k", DAY, input_tokens=100, output_tokens=20, yuan=0.1)
    await state.add_usage("ana", "ernie-speed-8k", DAY, input_tokens=50, output_tokens=30, yuan=0.2)
    await state.add_usage("ana", "ernie-4.5-turbo-32k", DAY, input_tokens=10, output_tokens=5, yuan=0.05, errors=1)
    await state.add_usage("bo:李", "ernie-speed-8k", DAY, input_tokens=7, output_tokens=3)
    await state.add_usage("ana", "ernie-speed-8k", NEXT_DAY, requests=2, input_tokens=1, output_tokens=1, yuan=1.0)


EXPECTED_LEDGER = [
    {"student": "ana", "model": "ernie-4.5-turbo-32k", "day": DAY, "requests": 1, "input_tokens": 10,
     "output_tokens": 5, "yuan": pytest.approx(0.05), "errors": 1},
    {"student": "ana", "model": "ernie-speed-8k", "day": DAY, "requests": 2, "input_tokens": 150,
     "output_tokens": 50, "yuan": pytest.approx(0.3), "errors": 0},
    {"student": "bo:李", "model": "ernie-speed-8k", "day": DAY, "requests": 1, "input_tokens": 7,
     "output_tokens": 3, "yuan": 0.0, "errors": 0},
    {"student": "ana", "model": "ernie-speed-8k", "day": NEXT_DAY, "requests": 2, "input_tokens": 1,
     "output_tokens": 1, "yuan": pytest.approx(1.0), "errors": 0},
]


async def test_the_ledger_counts_per_student_model_and_day(replicas):
    first, second = replicas(), replicas()
    await _fill_ledger(first)
    assert await second.ledger() == EXPECTED_LEDGER
    assert await second.ledger(since_day=NEXT_DAY) == EXPECTED_LEDGER[3:]
    assert await second.ledger(since_day="2027-01-01") == []
    tokens, yuan = await second.used_today("ana", DAY)
    assert (tokens, yuan) == (215, pytest.approx(0.35))
    assert await second.used_today("bo:李", DAY) == (10, 0.0)
    assert await second.used_today("cy", DAY) == (0, 0.0)


async def test_replicas_counting_at_once_lose_nothing(replicas):
    first, second = replicas(), replicas()
    await asyncio.gather(*[state.add_usage("ana", "m", DAY, input_tokens=3, output_tokens=2, yuan=0.01)
                           for _ in range(50) for state in (first, second)])
    [row] = await first.ledger()
    assert (row["requests"], row["input_tokens"], row["output_tokens"]) == (100, 300, 200)
    assert row["yuan"] == pytest.approx(1.0)
    assert await second.used_today("ana", DAY) == (500, pytest.approx(1.0))


@pytest.mark.parametrize("day", ["2026-1-07", "07.12.2026", "", None])
async def test_a_bad_day_is_refused_with_the_form_it_takes(replicas, day):
    state = replicas()
    with pytest.raises(ValueError, match="YYYY-MM-DD"):
        await state.add_usage("ana", "m", day)
    with pytest.raises(ValueError, match="YYYY-MM-DD"):
        await state.used_today("ana", day)
    assert await state.ledger() == []


async def test_the_ledger_outlives_the_state_that_wrote_it(replicas, redis_server):
    writer = replicas()
    await _fill_ledger(writer)
    await writer.close()
    reader = RedisState(redis_server.url, rpm=10, tpm=100)
    try:
        assert await reader.ledger() == EXPECTED_LEDGER
    finally:
        await reader.close()


@pytest.mark.parametrize("appendonly, kept", [(True, True), (False, False)])
async def test_the_ledger_survives_a_killed_redis_with_appendonly_only(redis_factory, appendonly, kept):
    server = redis_factory(appendonly=appendonly)
    state = RedisState(server.url, rpm=10, tpm=100)
    await _fill_ledger(state)
    await state.close()
    server.kill()  # SIGKILL: no save on the way out
    server.start()
    state = RedisState(server.url, rpm=10, tpm=100)
    try:
        assert await state.ledger() == (EXPECTED_LEDGER if kept else [])
        assert await state.used_today("ana", DAY) == ((215, pytest.approx(0.35)) if kept else (0, 0.0))
    finally:
        await state.close()


async def test_the_exam_switch_is_shared_and_the_class_switch_covers_every_group(replicas):
    teacher, gateway = replicas(), replicas()
    assert not await gateway.paused(None) and not await gateway.paused("A")
    await teacher.set_paused("A", True)
    assert await gateway.paused("A")
    assert not await gateway.paused("B") and not await gateway.paused(None)
    await teacher.set_paused(None, True)
    assert await gateway.paused(None) and await gateway.paused("B")
    await teacher.set_paused(None, False)
    assert not await gateway.paused(None) and not await gateway.paused("B") and await gateway.paused("A")
    await teacher.set_paused("A", False)
    assert not await gateway.paused("A")
    await teacher.set_paused("A", False)  # resuming what runs is no error
    assert not await gateway.paused("A")


# -- Redis down: a clear error, never a request sent unseen ---------------------------------------------------

async def test_no_redis_at_the_url_is_one_clear_error_without_the_password(caplog):
    from _redis import free_port

    port = free_port()
    state = RedisState(f"redis://:s3cret-Redis-pass@127.0.0.1:{port}/0", rpm=10, tpm=100)
    try:
        for call in (lambda: state.acquire("ana", 1, timeout=5), lambda: state.paused(None),
                     lambda: state.used_today("ana", DAY), state.ledger, lambda: state.set_paused(None, True)):
            with pytest.raises(RedisUnavailable) as caught:
                await call()
            message = str(caught.value)
            assert f"redis://127.0.0.1:{port}" in message and "no request is sent" in message
            assert "s3cret" not in message and "s3cret" not in repr(caught.value)
            assert isinstance(caught.value, ConnectionError)
        await state.add_usage("ana", "m", DAY)  # kept in the process, and said so
        assert "1 ledger entries wait" in caplog.text
    finally:
        await state.close()
    assert "1 ledger entries are lost with this process" in caplog.text
    assert "s3cret" not in caplog.text


async def test_a_redis_killed_while_in_use_stops_grants_until_it_is_back(redis_factory):
    server = redis_factory()
    first, second = RedisState(server.url, rpm=2, tpm=1000, burst=2), RedisState(server.url, rpm=2, tpm=1000, burst=2)
    try:
        await first.acquire("ana", 10, timeout=1)
        server.kill()
        with pytest.raises(RedisUnavailable, match="does not answer"):
            await second.acquire("bo", 10, timeout=1)
        with pytest.raises(RedisUnavailable):
            await first.paused(None)
        server.start()  # the AOF brings back the first grant: the quota still counts it
        await second.acquire("bo", 10, timeout=1)
        with pytest.raises(QuotaTimeout):
            await first.acquire("cy", 10, timeout=0.3)
    finally:
        await first.close()
        await second.close()


def test_a_url_that_is_not_redis_is_refused_by_name():
    with pytest.raises(ValueError, match=r"\[redis\] url must look like redis://"):
        RedisState("http://127.0.0.1:6379", rpm=10, tpm=100)


# -- leaving the queue -------------------------------------------------------------------------------------------

async def test_a_cancelled_wait_leaves_the_queue_at_once(replicas, redis_server):
    state = replicas(rpm=1)
    await state.acquire("ana", 1, timeout=1)
    waiting = [asyncio.create_task(state.acquire("bo", 1, timeout=30)) for _ in range(3)]
    await asyncio.sleep(0.3)
    assert _queue_length(redis_server) == 1  # one student, however many of its requests wait
    for task in waiting:
        task.cancel()
    await asyncio.gather(*waiting, return_exceptions=True)
    assert _queue_length(redis_server) == 0
    assert redis_server.command("HLEN", "wenxin-gateway:{quota}:waiters").strip() == b":0"


async def test_a_student_whose_replica_died_while_waiting_goes_stale_and_others_go_on(replicas, redis_server):
    from wenxin_magic.gateway._redis_state import STALE_SECONDS

    state = replicas(rpm=1, window=0.5)
    await state.acquire("ana", 1, timeout=1)
    seconds, micros = (int(line) for line in redis_server.command("TIME").split(b"\r\n")[2::2][:2])
    ghost_seen = seconds + micros / 1e6
    # what a killed replica leaves: a student first in line (no service yet) that never looks again
    redis_server.command("HSET", "wenxin-gateway:{quota}:waiting", "a-ghost", f"{ghost_seen:.6f}")
    redis_server.command("HSET", "wenxin-gateway:{quota}:waiters", "a-ghost", "1")
    grant = await state.acquire("bo", 1, timeout=10)
    assert grant.at >= ghost_seen + STALE_SECONDS
    assert _queue_length(redis_server) == 0


async def test_usage_counted_while_redis_is_down_reaches_the_ledger_when_it_is_back(redis_factory, caplog):
    server = redis_factory()
    state = RedisState(server.url, rpm=10, tpm=1000)
    try:
        grant = await state.acquire("ana", 500, timeout=1)
        server.kill()  # as the answer streams
        await state.settle(grant, 120)  # the estimate stays counted: never less than what was spent
        await state.add_usage("ana", "m", DAY, input_tokens=100, output_tokens=20)
        await asyncio.gather(*[state.add_usage("bo", "m", DAY, input_tokens=1) for _ in range(5)])
        assert "ledger entries wait in this process" in caplog.text
        with pytest.raises(RedisUnavailable):
            await state.used_today("ana", DAY)  # a budget it cannot check is refused, not assumed
        server.start()
        assert await state.used_today("ana", DAY) == (120, 0.0)
        assert [(r["student"], r["requests"], r["input_tokens"]) for r in await state.ledger()] == [
            ("ana", 1, 100), ("bo", 5, 5)]
        with pytest.raises(QuotaTimeout):  # the unsettled estimate (500) still holds its place in the TPM
            await state.acquire("cy", 501, timeout=0.3)
    finally:
        await state.close()


async def test_usage_is_counted_once_when_calls_overlap_a_recovery(redis_factory):
    server = redis_factory()
    state = RedisState(server.url, rpm=10, tpm=1000)
    try:
        server.kill()
        for _ in range(3):
            await state.add_usage("ana", "m", DAY, input_tokens=1)
        server.start()
        await asyncio.gather(*[state.add_usage("ana", "m", DAY, input_tokens=1) for _ in range(20)])
        [row] = await state.ledger()
        assert (row["requests"], row["input_tokens"]) == (23, 23)
    finally:
        await state.close()


# -- what a request costs Redis ---------------------------------------------------------------------------------

async def test_an_uncontended_request_costs_three_round_trips(replicas):
    state = replicas()
    await state.acquire("warm", 1, timeout=1)  # the script is loaded once per Redis (EVALSHA, then SCRIPT LOAD)
    await state.settle(await state.acquire("warm", 5, timeout=1), 3)
    before = state.round_trips
    grant = await state.acquire("ana", 900, timeout=1)
    assert state.round_trips - before == 1
    await state.settle(grant, 900)  # nothing to correct: nothing sent
    assert state.round_trips - before == 1
    await state.settle(grant, 400)
    await state.add_usage("ana", "m", DAY, input_tokens=300, output_tokens=100)
    assert state.round_trips - before == 3


async def test_settling_a_reservation_that_left_the_window_changes_nothing(replicas):
    state = replicas(tpm=100, window=0.2, burst=5)
    grant = await state.acquire("ana", 60, timeout=1)
    await asyncio.sleep(0.3)
    await state.settle(grant, 100)  # too late to count against anyone: the window has moved on
    assert await state.acquire("bo", 100, timeout=0.1)


def test_importing_the_module_leaves_redis_unimported():
    import subprocess
    import sys

    code = "import sys, wenxin_magic.gateway._redis_state; print('redis' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=CHECKOUT)
    assert out.stdout.strip() == "False", out.stdout + out.stderr


@pytest.mark.load  # seconds of real waiting: in the full run, out of the fast tier
async def test_replicas_in_separate_processes_share_one_rpm(redis_server):
    import subprocess
    import sys

    child = ("import asyncio, sys\n"
             "from wenxin_magic.gateway._redis_state import RedisState\n"
             "from wenxin_magic.gateway._state import QuotaTimeout\n"
             "async def main():\n"
             "    state = RedisState(sys.argv[1], rpm=10, tpm=10**6, burst=10)\n"
             "    granted = 0\n"
             "    for _ in range(8):\n"
             "        try:\n"
             "            await state.acquire('from-child', 1, timeout=0.5)\n"
             "            granted += 1\n"
             "        except QuotaTimeout:\n"
             "            pass\n"
             "    await state.close()\n"
             "    print(granted)\n"
             "asyncio.run(main())\n")
    process = subprocess.Popen([sys.executable, "-c", child, redis_server.url], stdout=subprocess.PIPE, text=True,
                               cwd=CHECKOUT)
    state = RedisState(redis_server.url, rpm=10, tpm=10**6, burst=10)
    granted = 0
    try:
        for _ in range(8):
            try:
                await state.acquire("from-parent", 1, timeout=0.5)
                granted += 1
            except QuotaTimeout:
                pass
    finally:
        await state.close()
    out, _ = process.communicate(timeout=60)
    assert process.returncode == 0
    assert granted + int(out.strip()) == 10
