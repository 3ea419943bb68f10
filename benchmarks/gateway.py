"""The classroom gateway's shared limiter on a real redis-server: its round trips per request and its latency.

    python benchmarks/gateway.py            # starts Debian's redis-server on a free port in a temporary folder

A benchmark, not a test: it prints figures and never fails on time.

- round trips: what one request costs the limiter and the ledger, counted twice: by RedisState (commands and
  pipelines it sent), and the commands Redis ran for them (``INFO stats`` total_commands_processed, less our own
  INFO calls: each command a script calls counts, so this is Redis's work, not the network's).
  Uncontended (the quota never short), and contended (30 students, one of them a batch of 8 at a time, against
  RPM 60 in a 1-second window: every extra round trip is a waiter looking at the queue again).
- acquire latency: acquire's p50 and p99, beside a plain PING from the same client (the floor of any Redis
  limiter), and the script's own time in Redis (``INFO commandstats``, usec_per_call of EVALSHA).
"""

from __future__ import annotations

import asyncio
import re
import statistics
import tempfile
import time

from common import row  # first: it puts the checkout and tests/ on sys.path

from _redis import RedisServer

from wenxin_magic.gateway._redis_state import RedisState

UNCONTENDED = 2_000
DAY = "2026-12-07"


def _stat(server: RedisServer, section: str, name: str) -> float:
    text = server.command("INFO", section).decode()
    match = re.search(rf"^{re.escape(name)}:(.*)$", text, re.M)
    return float(match.group(1).strip()) if match else 0.0


def _script_usec(server: RedisServer) -> float:
    text = server.command("INFO", "commandstats").decode()
    match = re.search(r"cmdstat_evalsha:calls=\d+,usec=\d+,usec_per_call=([\d.]+)", text)
    return float(match.group(1)) if match else 0.0


async def _uncontended(server: RedisServer) -> dict:
    state = RedisState(server.url, rpm=10**9, tpm=10**12)
    await state.acquire("warm", 1, timeout=5)  # the scripts loaded, the connection open
    await state.settle(await state.acquire("warm", 10, timeout=5), 5)
    server.command("CONFIG", "RESETSTAT")
    before = _stat(server, "stats", "total_commands_processed")
    sent_before = state.round_trips
    acquire_ms, ping_ms = [], []
    for i in range(UNCONTENDED):
        start = time.perf_counter()
        grant = await state.acquire(f"s{i % 30}", 900, timeout=5)
        acquire_ms.append((time.perf_counter() - start) * 1000)
        await state.settle(grant, 400)
        await state.add_usage(grant.student, "ernie-speed-8k", DAY, input_tokens=300, output_tokens=100, yuan=0.001)
    sent = state.round_trips - sent_before
    processed = _stat(server, "stats", "total_commands_processed") - before - 1  # less that INFO
    script_usec = _script_usec(server)
    for _ in range(UNCONTENDED):
        start = time.perf_counter()
        await state._redis.ping()
        ping_ms.append((time.perf_counter() - start) * 1000)
    await state.close()
    return {"sent": sent / UNCONTENDED, "processed": processed / UNCONTENDED, "acquire": acquire_ms,
            "ping": ping_ms, "script_usec": script_usec}


async def _contended(server: RedisServer, seconds: float = 5.0) -> dict:
    server.flush()
    replicas = [RedisState(server.url, rpm=60, tpm=10**9, window=1.0) for _ in range(2)]
    loop = asyncio.get_running_loop()
    until = loop.time() + seconds
    granted: list[str] = []

    async def student(state: RedisState, name: str) -> None:
        while loop.time() < until:
            try:
                grant = await state.acquire(name, 100, timeout=until - loop.time())
            except Exception:
                return
            granted.append(grant.student)
            await state.settle(grant, 80)

    before = _stat(server, "stats", "total_commands_processed")
    tasks = [student(replicas[i % 2], f"s{i}") for i in range(29)]
    tasks += [student(replicas[0], "batch") for _ in range(8)]
    await asyncio.gather(*tasks)
    processed = _stat(server, "stats", "total_commands_processed") - before - 1
    sent = sum(state.round_trips for state in replicas)
    for state in replicas:
        await state.close()
    shares = [granted.count(f"s{i}") for i in range(29)] + [granted.count("batch")]
    jain = sum(shares) ** 2 / (len(shares) * sum(s * s for s in shares)) if any(shares) else 0.0
    return {"granted": len(granted), "sent": sent / max(1, len(granted)), "processed": processed / max(1, len(granted)),
            "jain": jain, "batch": granted.count("batch"), "bound": 60 * seconds}


def _p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100)[98]


def bench_limiter() -> None:
    print("the gateway's shared limiter (RedisState) on a real redis-server")
    with tempfile.TemporaryDirectory(prefix="wenxin-redis-bench-") as folder, RedisServer(folder) as server:
        quiet = asyncio.run(_uncontended(server))
        busy = asyncio.run(_contended(server))
    print(f"  uncontended: {UNCONTENDED} requests, each acquire + settle + add_usage")
    row("round trips per request (sent)", quiet["sent"], None, "")
    row("commands Redis ran per request (scripts' own)", quiet["processed"], None, "")
    row("acquire p50, beside a PING", statistics.median(quiet["acquire"]), statistics.median(quiet["ping"]), "ms",
        peer_name="PING")
    row("acquire p99, beside a PING", _p99(quiet["acquire"]), _p99(quiet["ping"]), "ms", peer_name="PING")
    row("the acquire script's time in Redis", quiet["script_usec"], None, "µs")
    print(f"  contended: 29 students and a batch of 8, two replicas, RPM 60 in a 1 s window, 5 s: "
          f"{busy['granted']} granted of a bound of {busy['bound']:.0f} (60 a second), "
          f"the batch {busy['batch']}, Jain's index {busy['jain']:.3f}")
    row("round trips per granted request (sent)", busy["sent"], None, "")
    row("commands Redis ran per granted request", busy["processed"], None, "")


if __name__ == "__main__":
    bench_limiter()
