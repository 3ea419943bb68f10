"""Batch runs: paced to the quota, and concurrent when there is none.

    python benchmarks/batch.py        (also: python benchmarks/run.py batch)

1. 1,000 items against an emulator allowing 500 requests a minute. The service counts requests in a sliding
   60-second window, so the quickest any client can finish is 500 at once, then 500 more a minute later: the
   quota bound is 60 s. The figure is the wall time beside that bound, with the rate-limit errors met.
2. 1,000 items, no limit, each answer taking 0.5 s, 50 at a time: the ideal is 1,000 / 50 × 0.5 s = 10 s.

Each run is a fresh interpreter against an emulator in its own process, so the client's CPU time and peak
memory (max RSS) are its own. A benchmark, not a test: it prints figures and never fails on time.
"""

from __future__ import annotations

import time
from pathlib import Path

from common import emulator_process, json_from_child, row

ITEMS = 1000
RPM = 500
LATENCY = 0.5
CONCURRENCY = 50

_RUN = """
import json, resource, sys, time
from wenxin_magic.session import Session

session = Session(environ={{"QIANFAN_AK": "bench", "QIANFAN_SK": "bench", "QIANFAN_BASE_URL": {url!r}}})
# token and connection, outside the timing; on another model, whose requests the quota of this one does not count
session.ask("你好", model="ERNIE-Lite-8K", chat="warm")
items = [f"城市{{n}}" for n in range({items})]
cpu, wall = time.process_time(), time.perf_counter()
run = session.batch("用一句话介绍{{item}}。", items, model="ERNIE-Speed-8K", concurrency={concurrency})
wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
rows = run.records()
limited = sum(1 for r in rows if r["error"] and ("336501" in r["error"] or "336502" in r["error"]))
print(json.dumps({{"wall": wall, "cpu": cpu, "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "done": sum(r["status"] == "done" for r in rows), "failed": sum(r["status"] == "failed" for r in rows),
                  "rate_limited": limited, "retries": sum(r["retries"] or 0 for r in rows)}}))
session.close()
"""


def _batch_in_child(url: str, concurrency: int) -> dict:
    code = _RUN.format(url=url, items=ITEMS, concurrency=concurrency)
    return json_from_child(code, timeout=900,
                           env={"PATH": "/usr/bin:/bin", "WENXIN_MAGIC_LOG": "off", "HOME": str(Path.home())})


def _report(label: str, result: dict, bound: float, bound_name: str, goal: str) -> None:
    print(f"  rows: {result['done']} done, {result['failed']} failed, {result['rate_limited']} rate-limited, "
          f"{result['retries']} retries")
    row(label, result["wall"], bound, "s", goal, bound_name)
    print(f"  client CPU {result['cpu']:.2f} s ({result['cpu'] / ITEMS * 1000:.2f} ms per item), "
          f"peak memory {result['rss_mb']:.0f} MB")


def bench_batch() -> None:
    print(f"batch: {ITEMS:,} items, an emulator allowing {RPM} requests a minute (sliding window), concurrency 50")
    with emulator_process("--ttft", "0", "--chunk-delay", "0", "--rpm", str(RPM), "--tpm", "100000000") as url:
        result = _batch_in_child(url, CONCURRENCY)
    _report("wall time, paced to the quota", result, 60.0, "quota bound", "goal: within 10 % of the bound, no 336501")

    print(f"batch: {ITEMS:,} items, no limit, {LATENCY} s per answer, concurrency {CONCURRENCY}")
    with emulator_process("--ttft", str(LATENCY), "--chunk-delay", "0", "--rpm", "1000000",
                          "--tpm", "1000000000") as url:
        result = _batch_in_child(url, CONCURRENCY)
    ideal = ITEMS / CONCURRENCY * LATENCY
    _report("wall time, 50 at a time", result, ideal, "ideal", "")


if __name__ == "__main__":
    started = time.perf_counter()
    bench_batch()
    print(f"({time.perf_counter() - started:.0f} s)")
