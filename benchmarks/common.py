"""What the benchmarks share: where things are, a figure's row, timing, and runs in other processes.

Every benchmark imports this module, and none imports another benchmark (``run.py`` calls the sections it
runs, and nothing calls it back). Importing it puts the repository and its ``tests/`` first on ``sys.path``,
so ``wenxin_magic`` is this checkout's and the tests' helpers (``_kernel``) are importable.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

PYTHON = sys.executable

# the streamed answer whose client CPU per chunk the v1 and v2 client figures measure
CHUNKS = 2000
PROMPT = f"write {CHUNKS * 50} characters about Beijing"


def row(label: str, ours: float | None, peer: float | None, unit: str, goal: str = "", peer_name: str = "") -> None:
    """One figure beside its peer's, with the ratio peer / ours and the goal."""
    def fmt(v):
        return "n/a" if v is None else f"{v:,.2f} {unit}"
    ratio = f"{peer / ours:5.1f}x" if ours and peer else "  -  "
    print(f"  {label:<46} {fmt(ours):>16}   {peer_name + ' ' if peer_name else ''}{fmt(peer):>14}   "
          f"ratio {ratio}   {goal}")


def has(module: str) -> bool:
    """Whether ``module`` is installed (a peer the figure can be set beside)."""
    return importlib.util.find_spec(module) is not None


def median_ms(call, repeats: int) -> float:
    """The median wall time of ``call()``, in milliseconds, over ``repeats`` calls."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


@contextlib.contextmanager
def served(module: str, *args: str, env: dict | None = None):
    """`python -m MODULE ARGS` in a child process, a server that prints its base URL first; yields the URL."""
    proc = subprocess.Popen([PYTHON, "-m", module, *args], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            text=True, cwd=ROOT, env=env)
    try:
        url = proc.stdout.readline().strip()
        if not url.startswith("http://127.0.0.1:"):
            raise RuntimeError(f"{module} did not start: {url!r}")
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def emulator_process(*args: str):
    """`python -m wenxin_magic.emulator` in a child process; yields its base URL."""
    return served("wenxin_magic.emulator", "--port", "0", *args)


def json_from_child(code: str, *, timeout: float = 600, env: dict | None = None):
    """Run ``code`` in a fresh interpreter (in the repository's folder) and return the JSON of its last line."""
    out = subprocess.run([PYTHON, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=timeout, env=env)
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-2000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def cpu_in_child(which: str, url: str, module: str) -> dict:
    """CPU time and chunks of ``module._<which>(url)``, run in a fresh interpreter so the figure is its own."""
    code = (f"import asyncio, json, sys; sys.path.insert(0, {str(HERE)!r}); import {module}; "
            f"cpu, n = asyncio.run({module}._{which}({url!r})); print(json.dumps([cpu, n]))")
    cpu, n = json_from_child(code)
    return {"cpu": cpu, "chunks": n}
