"""The official Qianfan SDK, pointed at the emulator, gets streamed and non-streamed answers.

A fidelity check: the emulator speaks the protocol well enough for the reference client.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap


from wenxin_magic.emulator import Emulator

# a test dependency: its absence must fail, not skip
assert __import__("importlib.util").util.find_spec("qianfan") is not None, "pip install -e '.[test]' installs qianfan"

SYNC = textwrap.dedent("""
    import json, qianfan
    chat = qianfan.ChatCompletion(model="ERNIE-Speed-8K")
    whole = chat.do(messages=[{"role": "user", "content": "介绍下故宫"}])
    parts = [r["result"] for r in chat.do(messages=[{"role": "user", "content": "介绍下故宫"}], stream=True)]
    bloomz = qianfan.ChatCompletion(model="BLOOMZ-7B").do(messages=[{"role": "user", "content": "你好"}])
    comp = qianfan.Completion(endpoint="my_yi_34b").do(prompt="Introduce the city Beijing")
    print(json.dumps({"whole": whole["result"], "usage": whole["usage"], "parts": parts,
                      "bloomz": bloomz["result"], "completion": comp["result"]}, ensure_ascii=False))
""")

# The SDK's rate limiter binds to the first event loop it meets, so its sync
# and async calls cannot share a process; the async check runs on its own.
ASYNC = textwrap.dedent("""
    import asyncio, json, qianfan

    async def main():
        chat = qianfan.ChatCompletion(model="ERNIE-Speed-8K")
        whole = await chat.ado(messages=[{"role": "user", "content": "你好"}])
        parts = [r["result"] async for r in await chat.ado(messages=[{"role": "user", "content": "你好"}],
                                                            stream=True)]
        return {"whole": whole["result"], "parts": parts}

    print(json.dumps(asyncio.run(main()), ensure_ascii=False))
""")


def _start(script, env) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)


def _result(proc: subprocess.Popen):
    import json

    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 0, stderr[-3000:]
    return json.loads(stdout.strip().splitlines()[-1])


def test_official_sdk_against_the_emulator(tmp_path):
    with Emulator(credentials={"sdk-ak-1": "sdk-sk-1"}) as emu:
        env = {k: v for k, v in os.environ.items() if not k.startswith("QIANFAN_")}
        env.update(QIANFAN_AK="sdk-ak-1", QIANFAN_SK="sdk-sk-1", QIANFAN_BASE_URL=emu.base_url,
                   QIANFAN_CONSOLE_API_BASE_URL=emu.base_url, QIANFAN_IAM_BASE_URL=emu.base_url,
                   QIANFAN_LLM_API_RETRY_COUNT="1")
        # The two run at the same time (each spends most of its time importing the SDK), each with a home
        # of its own so that neither meets a file the other is writing.
        homes = [tmp_path / "sync", tmp_path / "async"]
        for home in homes:
            home.mkdir()
        procs = [_start(script, {**env, "HOME": str(home)}) for script, home in zip((SYNC, ASYNC), homes, strict=True)]
        try:
            data, adata = [_result(proc) for proc in procs]
        finally:
            for proc in procs:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
        paths = [r["path"] for r in emu.requests]
        statuses = [(r["path"], r["status"]) for r in emu.requests]
    assert "故宫" in data["whole"] and data["usage"]["total_tokens"] > 0
    assert len(data["parts"]) >= 2 and "".join(data["parts"]) == data["whole"]
    assert data["bloomz"] and adata["whole"] and "".join(adata["parts"]) == adata["whole"]
    assert data["completion"]
    assert "/oauth/2.0/token" in paths
    assert any(p.endswith("/chat/ernie_speed") for p in paths)
    assert any(p.endswith("/completions/my_yi_34b") for p in paths)
    # every request stayed on loopback: nothing else answered, and nothing failed on a missing route
    assert all(status < 400 for _, status in statuses), statuses
