"""JupyterLab on loopback and Debian's Chromium driven by Playwright, for the browser tests."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]
KERNEL_IDLE = ("() => window.jupyterapp && window.jupyterapp.shell.currentWidget"
               " && window.jupyterapp.shell.currentWidget.sessionContext"
               " && window.jupyterapp.shell.currentWidget.sessionContext.session"
               " && window.jupyterapp.shell.currentWidget.sessionContext.session.kernel"
               " && window.jupyterapp.shell.currentWidget.sessionContext.session.kernel.status === 'idle'")


def write_notebook(path: Path, cells: list[str]) -> Path:
    """A notebook of code cells for JupyterLab to open, on the python3 kernel."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(source) for source in cells]
    nbformat.write(nb, path)
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for(url: str, proc: subprocess.Popen, log: Path, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"JupyterLab exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"JupyterLab did not answer at {url} within {timeout} s:\n{log.read_text()[-3000:]}")


@contextlib.contextmanager
def jupyterlab(root: Path, state: Path, env: dict[str, str] | None = None):
    """JupyterLab serving ``root`` on a free loopback port; yields its base URL. QIANFAN_* come from ``env`` only."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: the README's test command installs Debian's chromium (apt-get)")
    port = free_port()
    environ = {k: v for k, v in os.environ.items() if not k.startswith("QIANFAN_")}
    environ.update(JUPYTERLAB_SETTINGS_DIR=str(state / "settings"), JUPYTERLAB_WORKSPACES_DIR=str(state / "ws"),
                   JUPYTER_RUNTIME_DIR=str(state / "runtime"), **(env or {}))
    # no "get notified about news?" prompt over the page
    notification = state / "settings" / "@jupyterlab" / "apputils-extension"
    notification.mkdir(parents=True, exist_ok=True)
    (notification / "notification.jupyterlab-settings").write_text(json.dumps({"fetchNews": "false"}))
    # every cell in the DOM, not only those in view: what a test checks must be there to check
    notebook = state / "settings" / "@jupyterlab" / "notebook-extension"
    notebook.mkdir(parents=True, exist_ok=True)
    (notebook / "tracker.jupyterlab-settings").write_text(json.dumps({"windowingMode": "none"}))
    log = state / "lab.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ServerApp.ip=127.0.0.1",
             f"--ServerApp.port={port}", "--ServerApp.port_retries=0", "--IdentityProvider.token=",
             "--ServerApp.password=", f"--ServerApp.root_dir={root}", "--LabApp.news_url=None",
             "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
             "--LabApp.expose_app_in_browser=True", "--ServerApp.allow_root=True"],
            stdout=out, stderr=subprocess.STDOUT, env=environ, cwd=root)
    try:
        base = f"http://127.0.0.1:{port}"
        _wait_for(f"{base}/api/status", proc, log)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()


@contextlib.contextmanager
def chromium(profile: Path):
    """A persistent Chromium context (Debian's binary, no download) and its first page."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        try:
            context = p.chromium.launch_persistent_context(
                str(profile), executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS,
                viewport={"width": 1280, "height": 1000})
        except Exception as err:  # the browser must start: say why it did not
            pytest.fail(f"Chromium did not start: {err}")
        page = context.pages[0] if context.pages else context.new_page()
        page.set_default_timeout(60000)
        try:
            yield page
        finally:
            context.close()


def open_notebook(page, base: str, name: str) -> None:
    """Open ``name`` and wait until its kernel is idle."""
    page.goto(f"{base}/lab/tree/{name}")
    page.wait_for_function(KERNEL_IDLE)


def run_new_cell(page, source: str) -> None:
    page.evaluate("""(source) => {
        const panel = window.jupyterapp.shell.currentWidget;
        const model = panel.content.model;
        model.sharedModel.insertCell(model.cells.length, {cell_type: 'code', source});
        panel.content.activeCellIndex = model.cells.length - 1;
        return window.jupyterapp.commands.execute('notebook:run-cell');
    }""", source)
