"""Speed figures for wenxin-magic, each beside the same figure for a peer measured in the same run.

    python benchmarks/run.py            # everything
    python benchmarks/run.py client     # one section: client, imports, magics

A benchmark, not a test: it prints figures and goal ratios and never fails on time.
The emulator runs in its own process so the client's CPU time is the client's alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

PYTHON = sys.executable


def row(label: str, ours: float | None, peer: float | None, unit: str, goal: str = "", peer_name: str = "") -> None:
    def fmt(v):
        return "n/a" if v is None else f"{v:,.2f} {unit}"
    ratio = f"{peer / ours:5.1f}x" if ours and peer else "  -  "
    print(f"  {label:<46} {fmt(ours):>16}   {peer_name + ' ' if peer_name else ''}{fmt(peer):>14}   "
          f"ratio {ratio}   {goal}")


@contextlib.contextmanager
def emulator_process(*args: str):
    """`python -m wenxin_magic.emulator` in a child process; yields its base URL."""
    proc = subprocess.Popen([PYTHON, "-m", "wenxin_magic.emulator", "--port", "0", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=ROOT)
    try:
        url = proc.stdout.readline().strip()
        if not url.startswith("http://127.0.0.1:"):
            raise RuntimeError(f"emulator did not start: {url!r}")
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def has(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


# -- client CPU per chunk --------------------------------------------------------------------
CHUNKS = 2000
PROMPT = f"write {CHUNKS * 50} characters about Beijing"


async def _ours(url: str) -> tuple[float, int]:
    from wenxin_magic.api import QianfanClient

    async with QianfanClient("bench", "bench", base_url=url, timeout=120) as client:
        await client.chat(messages=[{"role": "user", "content": "你好"}])  # token and connection warm
        cpu = time.process_time()
        count = 0
        async for _ in client.stream_chat(model="ERNIE-Speed-8K", messages=[{"role": "user", "content": PROMPT}]):
            count += 1
        return time.process_time() - cpu, count


async def _sdk(url: str) -> tuple[float, int]:
    os.environ.update(QIANFAN_AK="bench", QIANFAN_SK="bench", QIANFAN_BASE_URL=url,
                      QIANFAN_CONSOLE_API_BASE_URL=url, QIANFAN_IAM_BASE_URL=url)
    import qianfan

    chat = qianfan.ChatCompletion(model="ERNIE-Speed-8K")
    await chat.ado(messages=[{"role": "user", "content": "你好"}])
    cpu = time.process_time()
    count = 0
    async for _ in await chat.ado(messages=[{"role": "user", "content": PROMPT}], stream=True):
        count += 1
    return time.process_time() - cpu, count


def _cpu_child(which: str, url: str) -> dict:
    code = (f"import asyncio, json, sys; sys.path.insert(0, {str(ROOT / 'benchmarks')!r}); import run; "
            f"cpu, n = asyncio.run(run._{which}({url!r})); print(json.dumps([cpu, n]))")
    out = subprocess.run([PYTHON, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=600)
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-2000:])
    cpu, n = json.loads(out.stdout.strip().splitlines()[-1])
    return {"cpu": cpu, "chunks": n}


def bench_client(repeats: int = 3) -> None:
    print(f"client CPU per streamed chunk ({CHUNKS}-chunk stream from the emulator in another process)")
    with emulator_process() as url:
        ours = [_cpu_child("ours", url) for _ in range(repeats)]
        peer = [_cpu_child("sdk", url) for _ in range(repeats)] if has("qianfan") else []
    ours_us = statistics.median(r["cpu"] / r["chunks"] * 1e6 for r in ours)
    peer_us = statistics.median(r["cpu"] / r["chunks"] * 1e6 for r in peer) if peer else None
    print(f"  chunks received: ours {ours[0]['chunks']}" + (f", official SDK {peer[0]['chunks']}" if peer else ""))
    row("CPU per chunk", ours_us, peer_us, "µs", "goal: ratio >= 3x", "qianfan SDK")


# -- import time --------------------------------------------------------------------------------
def _import_ms(statement: str, repeats: int = 7) -> float:
    code = f"import time; t = time.perf_counter(); {statement}; print((time.perf_counter() - t) * 1000)"
    times = []
    for _ in range(repeats):
        out = subprocess.run([PYTHON, "-c", code], capture_output=True, text=True, cwd=ROOT,
                             env={**os.environ, "PYTHONWARNINGS": "ignore"})
        times.append(float(out.stdout.strip().splitlines()[-1]))
    return statistics.median(times)


def bench_imports() -> None:
    print("import time (fresh interpreter, median of 7)")
    ours = _import_ms("import wenxin_magic")
    peer = _import_ms("import qianfan") if has("qianfan") else None
    row("import wenxin_magic", ours, peer, "ms", "goal: < 50 ms", "import qianfan")
    api = _import_ms("import wenxin_magic.api")
    row("import wenxin_magic.api", api, peer, "ms", "", "import qianfan")


SECTIONS = {"client": bench_client, "imports": bench_imports}


def main(argv: list[str]) -> None:
    chosen = argv or list(SECTIONS)
    print(f"wenxin-magic benchmarks — Python {sys.version.split()[0]}, {os.cpu_count()} cores")
    for name in chosen:
        print()
        SECTIONS[name]()


if __name__ == "__main__":
    main(sys.argv[1:])
