"""Client CPU per streamed v2 chunk, beside the official OpenAI Python SDK reading the same stream.

    python benchmarks/v2.py

A benchmark, not a test: it prints figures and the goal ratio and never fails on time. The emulator runs
in its own process and each measurement in a fresh interpreter, so the CPU time is the client's alone.
"""

from __future__ import annotations

import statistics
import time

from common import CHUNKS, PROMPT, cpu_in_child, emulator_process, has, row

KEY = "bce-v3/ALTAK-bench/0000"
MODEL = "ernie-speed-8k"
HELLO = [{"role": "user", "content": "你好"}]
QUESTION = [{"role": "user", "content": PROMPT}]


async def _ours(url: str) -> tuple[float, int]:
    from wenxin_magic.api import QianfanClient

    async with QianfanClient(bearer_token=KEY, base_url=url, timeout=120) as client:
        await client.chat(MODEL, HELLO)  # connection warm
        cpu = time.process_time()
        count = 0
        async for _ in client.stream_chat(MODEL, QUESTION):
            count += 1
        return time.process_time() - cpu, count


async def _openai(url: str) -> tuple[float, int]:
    from openai import AsyncOpenAI

    async with AsyncOpenAI(base_url=url + "/v2", api_key=KEY, timeout=120) as client:
        await client.chat.completions.create(model=MODEL, messages=HELLO)
        cpu = time.process_time()
        count = 0
        stream = await client.chat.completions.create(model=MODEL, messages=QUESTION, stream=True,
                                                      stream_options={"include_usage": True})
        async for _ in stream:
            count += 1
        return time.process_time() - cpu, count


def bench_client_v2(repeats: int = 3) -> dict:
    """Median over ``repeats`` runs of process CPU time / chunks for a v2 stream, ours and the OpenAI SDK's."""
    print(f"v2 client CPU per streamed chunk ({CHUNKS}-chunk stream from the emulator in another process, "
          f"median of {repeats})")
    with emulator_process() as url:
        ours = [cpu_in_child("ours", url, "v2") for _ in range(repeats)]
        peer = [cpu_in_child("openai", url, "v2") for _ in range(repeats)] if has("openai") else []
    ours_us = statistics.median(r["cpu"] / r["chunks"] * 1e6 for r in ours)
    peer_us = statistics.median(r["cpu"] / r["chunks"] * 1e6 for r in peer) if peer else None
    print(f"  chunks received: ours {ours[0]['chunks']}" + (f", openai SDK {peer[0]['chunks']}" if peer else ""))
    row("CPU per v2 chunk", ours_us, peer_us, "µs", "goal: ratio >= 2x", "openai SDK")
    return {"ours_us": ours_us, "openai_us": peer_us}


if __name__ == "__main__":
    bench_client_v2()
