"""Speed figures for wenxin-magic, each beside the same figure for a peer measured in the same run.

    python benchmarks/run.py            # everything
    python benchmarks/run.py client     # one section: client, v2, imports, magics, tools, batch, render, gateway, limiter

A benchmark, not a test: it prints figures and goal ratios and never fails on time.
The emulator runs in its own process so the client's CPU time is the client's alone.
Each section lives here or in its own file (v2, tools, batch, render); what they share is in common.py.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

from common import CHUNKS, PROMPT, PYTHON, ROOT, cpu_in_child, emulator_process, has, row


# -- client CPU per chunk --------------------------------------------------------------------
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


def bench_client(repeats: int = 3) -> None:
    print(f"client CPU per streamed chunk ({CHUNKS}-chunk stream from the emulator in another process)")
    with emulator_process() as url:
        ours = [cpu_in_child("ours", url, "run") for _ in range(repeats)]
        peer = [cpu_in_child("sdk", url, "run") for _ in range(repeats)] if has("qianfan") else []
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


# -- magics ----------------------------------------------------------------------------------
def _compile_bytecode() -> None:
    """Write .pyc files first, as an installed package has them: with PYTHONDONTWRITEBYTECODE set (as in
    some environments), each fresh interpreter would otherwise compile every edited module from source."""
    import compileall

    compileall.compile_dir(str(ROOT / "wenxin_magic"), quiet=1)


def _in_fresh_ipython(code: str, repeats: int) -> list[dict[str, float]]:
    """Run ``code`` after creating an IPython shell, in fresh interpreters; it prints a JSON dict of timings."""
    script = "from IPython.core.interactiveshell import InteractiveShell\nip = InteractiveShell.instance()\n" + code
    runs = []
    for _ in range(repeats):
        out = subprocess.run([PYTHON, "-c", script], capture_output=True, text=True, cwd=tempfile.gettempdir(),
                             env={k: v for k, v in os.environ.items() if not k.startswith("QIANFAN_")})
        if out.returncode != 0:
            return []
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    return runs


def _load_ext_ms(extension: str, repeats: int = 9) -> float | None:
    code = ("import json, time\nt = time.perf_counter()\n"
            f"ip.run_line_magic('load_ext', {extension!r})\n"
            "print(json.dumps({'ms': (time.perf_counter() - t) * 1000}))")
    runs = _in_fresh_ipython(code, repeats)
    return statistics.median(r["ms"] for r in runs) if runs else None


def _load_ext_parts(repeats: int = 9) -> dict[str, float]:
    """Where %load_ext's time goes: each part imported in turn, on top of the ones before it."""
    parts = ["wenxin_magic.api", "wenxin_magic.session", "wenxin_magic.parsers", "wenxin_magic.magics"]
    code = ("import importlib, json, time\ntimes = {}\n"
            f"for name in {parts!r}:\n"
            "    t = time.perf_counter(); importlib.import_module(name); times[name] = (time.perf_counter() - t) * 1000\n"
            "t = time.perf_counter(); ip.run_line_magic('load_ext', 'wenxin_magic')\n"
            "times['registering, the session'] = (time.perf_counter() - t) * 1000\n"
            "print(json.dumps(times))")
    runs = _in_fresh_ipython(code, repeats)
    return {name: statistics.median(r[name] for r in runs) for name in (runs[0] if runs else {})}


def _first_display_ms(kernel, options: str, repeats: int = 5) -> tuple[float, float]:
    """Medians of (first display with text or thinking, first chunk parsed), after the server sent its first."""
    extras, client_extras = [], []
    for _ in range(repeats):
        run = kernel.run(f"%%wenxin --new{options}\n介绍一下北京")
        first = next(m for m in run.of("update_display_data", "display_data")
                     if not m["content"]["data"].get("text/html", "<p>…</p>").startswith("<p>…</p>")
                     or "Thinking" in m["content"]["data"].get("text/html", ""))
        served = kernel.value("session.backend.start_emulator().requests[-1]['first_chunk_at']")
        parsed = kernel.value("session.last_reply.first_token_at")
        extras.append((_iso(first["header"]["date"]) - served) * 1000)
        client_extras.append((parsed - served) * 1000)
    return statistics.median(extras), statistics.median(client_extras)


def _iso(date) -> float:
    return date.timestamp() if hasattr(date, "timestamp") else float(date)


def bench_magics() -> None:
    from _kernel import Kernel

    print("%load_ext in a fresh IPython (median of 9, bytecode compiled)")
    _compile_bytecode()
    ours = _load_ext_ms("wenxin_magic")
    jai = _load_ext_ms("jupyter_ai_magics") if has("jupyter_ai_magics") else None
    row("%load_ext wenxin_magic", ours, jai, "ms", "goal: < 50 ms", "jupyter_ai_magics")
    if jai is None:
        sdk = _import_ms("import qianfan", repeats=5) if has("qianfan") else None
        row("%load_ext wenxin_magic vs import qianfan", ours, sdk, "ms", "", "import qianfan")
    parts = _load_ext_parts()
    print("  of which: " + ", ".join(f"{name} {ms:.1f} ms" for name, ms in parts.items()))

    setup = ("%load_ext wenxin_magic\nimport wenxin_magic\nsession = wenxin_magic.get_session()\n"
             "session.backend.emulator_options.update(ttft={ttft}, chunk_delay={delay})")
    kernel = Kernel(cwd=tempfile.gettempdir())
    try:
        print()
        print("display traffic for a 20 KB answer in about 400 chunks (real kernel, emulator chunk delay 10 ms)")
        kernel.run(setup.format(ttft=0.0, delay=0.01))
        run = kernel.run("%%wenxin\nwrite 20000 characters about Beijing", timeout=300)
        text = kernel.value("session.last_reply.text")
        chunks = kernel.value("session.backend.start_emulator().requests[-1]['chunks_sent']")
        size = len(text.encode())
        sent = run.display_bytes()
        # the peer: re-sending the whole Markdown after every chunk, as streaming magics commonly do
        pieces = kernel.value("__import__('wenxin_magic.emulator.answers', fromlist=['chunk']).chunk("
                              "session.last_reply.text)")
        naive, so_far = 0, 0
        for piece in pieces:
            so_far += len(piece.encode())
            naive += so_far
        print(f"  answer {size:,} bytes in {chunks} chunks; {len(run.of('update_display_data'))} display updates")
        row("display bytes per answer byte", sent / size, naive / size, "x", "goal: <= 5x",
            "full re-send per chunk")

        print()
        print("extra time to first displayed token over the server's first byte (emulator ttft 0.5 s, median of 5)")
        kernel.run("session.close()\nsession.backend.emulator_options.update(ttft=0.5, chunk_delay=0.01)")
        for label, options in (("v1", ""), ("v2, a reasoning model", " -m deepseek-r1")):
            display_ms, parsed_ms = _first_display_ms(kernel, options)
            row(f"first display after the server's first chunk ({label})", display_ms, parsed_ms, "ms",
                "goal: < 10 ms", "chunk parsed")

        print()
        print("--compare wall time, 4 models that each take 1 s")
        # every answer takes 1 s before its first chunk; the rest arrives at once
        kernel.run("session.close()\nsession.backend.emulator_options.update(ttft=1.0, chunk_delay=0.0)")
        models = ["BLOOMZ-7B", "ERNIE-Speed-8K", "ERNIE-3.5-8K", "ERNIE-Lite-8K"]
        prompt = "write 500 characters about Beijing"
        kernel.run(f"%%wenxin --new\n{prompt}")  # warm: emulator started, token fetched
        started = time.perf_counter()
        kernel.run(f"%%wenxin --compare {','.join(models)}\n{prompt}")
        together = time.perf_counter() - started
        single = kernel.value("[r.latency for r in session.replies[-4:]]")
        started = time.perf_counter()
        for model in models:
            kernel.run(f"%%wenxin -c seq -m {model} --new\n{prompt}")
        one_by_one = time.perf_counter() - started
        print(f"  each model alone: {', '.join(f'{t:.2f} s' for t in single)}")
        row("--compare of 4 models (wall time)", together, one_by_one, "s", "goal: < 1.1 s and ~ the slowest",
            "one after another")
    finally:
        kernel.close()


def bench_v2() -> None:
    from v2 import bench_client_v2

    bench_client_v2()


def bench_tools() -> None:
    from tools import bench_tools as run

    run()


def bench_render() -> None:
    from render import bench_render as run

    run()


def bench_batch() -> None:
    from batch import bench_batch as run

    run()


def bench_gateway() -> None:
    from gateway_overhead import bench_gateway as run

    run()


def bench_limiter() -> None:
    from gateway import bench_limiter as run

    run()


SECTIONS = {"client": bench_client, "v2": bench_v2, "imports": bench_imports, "magics": bench_magics,
            "tools": bench_tools, "batch": bench_batch, "render": bench_render, "gateway": bench_gateway,
            "limiter": bench_limiter}


def main(argv: list[str]) -> None:
    chosen = argv or list(SECTIONS)
    print(f"wenxin-magic benchmarks — Python {sys.version.split()[0]}, {os.cpu_count()} cores")
    for name in chosen:
        print()
        SECTIONS[name]()


if __name__ == "__main__":
    main(sys.argv[1:])
