"""The classroom gateway's cost: what it adds to the first byte, and the streamed requests one process sustains.

    python benchmarks/gateway_overhead.py

1. Time to the first byte of a streamed answer, p50 and p99 over 200 requests one after another, through a
   gateway process (in memory, no Redis) beside the same request sent directly to the emulator.
2. Streamed requests a second one gateway process sustains, 32 clients at once for 10 s, beside the emulator
   alone under the same load. On this machine the emulator, the gateway and the clients share two cores, so
   the figure is a floor, not the gateway's own ceiling.

A benchmark, not a test: it prints figures and never fails on time.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import statistics
import tempfile
import time
from pathlib import Path

from common import emulator_process, row, served

_DIGEST = hashlib.sha256(b"gateway-benchmark").hexdigest()
TEACHER_KEY = f"bce-v3/ALTAK-BENCH{_DIGEST[:8]}/{_DIGEST[8:40]}"
STUDENT = "tok-bench-" + _DIGEST[40:52]
QUESTION = {"model": "ernie-speed-8k", "stream": True, "messages": [{"role": "user", "content": "你好"}]}
SEQUENTIAL = 200
CLIENTS, SECONDS = 32, 10.0


@contextlib.contextmanager
def gateway_process(upstream: str):
    with tempfile.TemporaryDirectory() as folder:
        Path(folder, "roster.csv").write_text(f"name,token\nbench,{STUDENT}\n", encoding="utf-8")
        config = Path(folder, "class.toml")
        config.write_text(f'[upstream]\nbase_url = "{upstream}"\n[quota]\nrpm = 1000000\ntpm = 1000000000\n',
                          encoding="utf-8")
        with served("wenxin_magic.gateway", "--config", str(config),
                    env={**os.environ, "QIANFAN_API_KEY": TEACHER_KEY}) as url:
            yield url


async def _first_bytes(url: str, key: str) -> list[float]:
    import httpx

    async with httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=60) as http:
        times = []
        for n in range(SEQUENTIAL + 10):
            began = time.perf_counter()
            async with http.stream("POST", "/v2/chat/completions", json=QUESTION) as answer:
                first = True
                async for _ in answer.aiter_raw():
                    if first and n >= 10:  # the first ten warm the connection
                        times.append((time.perf_counter() - began) * 1000)
                    first = False
        return times


async def _sustained(url: str, key: str) -> float:
    import httpx

    done = 0
    deadline = time.perf_counter() + SECONDS

    async def client(http):
        nonlocal done
        while time.perf_counter() < deadline:
            async with http.stream("POST", "/v2/chat/completions", json=QUESTION) as answer:
                await answer.aread()
                if answer.status_code == 200:
                    done += 1

    limits = httpx.Limits(max_connections=CLIENTS)
    async with httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=60,
                                 limits=limits) as http:
        began = time.perf_counter()
        await asyncio.gather(*(client(http) for _ in range(CLIENTS)))
        return done / (time.perf_counter() - began)


def _p(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[q - 1]


def bench_gateway() -> None:
    print("classroom gateway (one process, in memory)")
    with emulator_process("--rpm", "1000000", "--tpm", "1000000000") as emulator, gateway_process(emulator) as gw:
        direct = asyncio.run(_first_bytes(emulator, TEACHER_KEY))
        through = asyncio.run(_first_bytes(gw, STUDENT))
        row("first byte, p50", _p(through, 50), _p(direct, 50), "ms", "goal: within 5 ms of direct", "direct")
        row("first byte, p99", _p(through, 99), _p(direct, 99), "ms", "", "direct")
        direct_rate = asyncio.run(_sustained(emulator, TEACHER_KEY))
        gateway_rate = asyncio.run(_sustained(gw, STUDENT))
        row(f"streamed requests/s, {CLIENTS} clients", gateway_rate, direct_rate, "req/s",
            "two cores shared with the emulator and clients", "direct")


if __name__ == "__main__":
    bench_gateway()
