"""A real IPython kernel (jupyter_client) for tests: run cells, collect every iopub message.

Tests get kernels from conftest.py's ``kernel_factory`` / ``module_kernel_factory`` (a ``KernelPool``),
which run a setup cell and close every kernel they started.
"""

from __future__ import annotations

import json
import os
import queue
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from jupyter_client.manager import KernelManager

DISPLAY_TYPES = ("display_data", "update_display_data", "execute_result")

# A kernel online against a test-side emulator: quick retries, a short timeout.
ONLINE_SETUP = """
%load_ext wenxin_magic
import asyncio, wenxin_magic
session = wenxin_magic.get_session()
%config WenxinMagics.max_retries = 2
%config WenxinMagics.timeout = 5
session.backend.reconfigure(retry_backoff=0.01)
"""


@dataclass
class CellRun:
    messages: list[dict] = field(default_factory=list)
    reply: dict | None = None

    def of(self, *types) -> list[dict]:
        return [m for m in self.messages if m["msg_type"] in types]

    @property
    def stdout(self) -> str:
        return "".join(m["content"]["text"] for m in self.of("stream") if m["content"]["name"] == "stdout")

    @property
    def stderr(self) -> str:
        return "".join(m["content"]["text"] for m in self.of("stream") if m["content"]["name"] == "stderr")

    @property
    def error(self) -> dict | None:
        errors = self.of("error")
        return errors[0]["content"] if errors else None

    @property
    def displays(self) -> list[dict]:
        return self.of(*DISPLAY_TYPES)

    def final(self, mime: str = "text/html") -> str:
        """The last content shown for ``mime``."""
        for m in reversed(self.displays):
            if mime in m["content"]["data"]:
                data = m["content"]["data"][mime]
                return data if isinstance(data, str) else json.dumps(data)
        return ""

    def display_bytes(self) -> int:
        """Bytes of the display messages' content, as sent on the wire (JSON, UTF-8)."""
        return sum(len(json.dumps(m["content"], ensure_ascii=False).encode()) for m in self.displays)

    @property
    def text(self) -> str:
        """Everything the cell showed, for searching."""
        parts = [self.stdout, self.stderr]
        for m in self.displays:
            parts.extend(str(v) for v in m["content"]["data"].values())
        if self.error:
            parts.append("\n".join(self.error["traceback"]))
        return "\n".join(parts)


class Kernel:
    """One kernel process; ``env`` replaces QIANFAN_* variables of this process."""

    def __init__(self, env: dict[str, str] | None = None, cwd: str | None = None):
        base = {k: v for k, v in os.environ.items() if not k.startswith("QIANFAN_")}
        base.update(env or {})
        self.km = KernelManager(kernel_name="python3")
        self.km.start_kernel(env=base, cwd=cwd, extra_arguments=["--HistoryManager.enabled=False"])
        self.kc = self.km.client()
        self.all_messages: list[dict] = []
        self.setup_run: CellRun | None = None  # the setup cell's run, when a KernelPool started it
        self.closed = False
        try:
            self.kc.start_channels()
            self.kc.wait_for_ready(timeout=60)
        except BaseException:
            self.close()
            raise

    def run(self, code: str, timeout: float = 60, stdin: list[str] | None = None,
            on_message=None) -> CellRun:
        msg_id = self.kc.execute(code, allow_stdin=stdin is not None)
        result = CellRun()
        answers = list(stdin or [])
        deadline = time.monotonic() + timeout
        idle = False
        while not idle:
            if time.monotonic() > deadline:
                raise TimeoutError(f"cell did not finish in {timeout} s: {code[:80]!r}")
            if answers:
                try:
                    request = self.kc.get_stdin_msg(timeout=0.01)
                    result.messages.append(request)
                    self.kc.input(answers.pop(0))
                except queue.Empty:
                    pass
            try:
                msg = self.kc.get_iopub_msg(timeout=0.05)
            except queue.Empty:
                continue
            self.all_messages.append(msg)
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            result.messages.append(msg)
            if on_message is not None:
                on_message(msg)
            if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
                idle = True
        result.reply = self.kc.get_shell_msg(timeout=10)
        return result

    def run_all(self, codes: list[str], timeout: float = 60) -> list[CellRun]:
        """Queue every cell at once, as a front end's "Run All" does, and collect each one's messages."""
        ids = [self.kc.execute(code) for code in codes]
        runs = {msg_id: CellRun() for msg_id in ids}
        waiting = set(ids)
        deadline = time.monotonic() + timeout
        while waiting:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(waiting)} of {len(ids)} queued cells did not finish in {timeout} s")
            try:
                msg = self.kc.get_iopub_msg(timeout=0.05)
            except queue.Empty:
                continue
            parent = msg["parent_header"].get("msg_id")
            if parent in runs:
                runs[parent].messages.append(msg)
                if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
                    waiting.discard(parent)
        return [runs[msg_id] for msg_id in ids]

    def value(self, expression: str):
        """A JSON-able value computed in the kernel."""
        run = self.run(f"import json as _json; print(_json.dumps({expression}, ensure_ascii=False))")
        if run.error:
            raise AssertionError("\n".join(run.error["traceback"]))
        return json.loads(run.stdout.strip().splitlines()[-1])

    def interrupt_after(self, delay: float) -> threading.Thread:
        thread = threading.Thread(target=lambda: (time.sleep(delay), self.km.interrupt_kernel()), daemon=True)
        thread.start()
        return thread

    def close(self) -> None:
        """Stop the kernel process; closing twice is harmless."""
        if self.closed:
            return
        self.closed = True
        self.kc.stop_channels()
        self.km.shutdown_kernel(now=True)


class KernelPool:
    """Starts kernels for tests and closes every one of them in ``close_all()``."""

    def __init__(self, default_cwd: Callable[[], Path]):
        self._default_cwd = default_cwd
        self.kernels: list[Kernel] = []

    def start(self, setup: str | None = "%load_ext wenxin_magic", *, env: dict[str, str] | None = None,
              cwd: str | Path | None = None) -> Kernel:
        """A new kernel that ran ``setup`` (None: no cell) without an error; its run is ``kernel.setup_run``.

        ``env`` replaces the QIANFAN_* variables of this process; ``cwd`` defaults to the pool's temporary folder.
        """
        kernel = Kernel(env=env, cwd=str(cwd if cwd is not None else self._default_cwd()))
        self.kernels.append(kernel)
        if setup is not None:
            kernel.setup_run = kernel.run(setup)
            assert kernel.setup_run.error is None, kernel.setup_run.text
        return kernel

    def close_all(self) -> None:
        errors = []
        for kernel in reversed(self.kernels):
            try:
                kernel.close()
            except Exception as err:  # close the others all the same
                errors.append(err)
        self.kernels.clear()
        if errors:
            raise errors[0]
