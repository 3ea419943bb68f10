"""nbval, taught to apply display updates the way notebook front ends do.

Streamed answers arrive as one display_data followed by update_display_data
messages for the same display id. JupyterLab and nbclient apply each update
in place, so a saved notebook holds the final answer; nbval ignores the
updates and would compare the first placeholder instead. Handing nbval the
display's data as a NotebookNode (which it keeps by reference) and applying
every update to that node makes it compare what a reader of the notebook sees.

Every nbval item is marked ``notebook``, so ``-m "not notebook"`` leaves the notebooks out.

It stands at the top of the repository, not in notebooks/, so the folder a learner opens holds only the lessons.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import nbformat
import pytest
from nbval.kernel import RunningKernel

_get_message = RunningKernel.get_message
_DISPLAYS = ("display_data", "execute_result", "update_display_data")


def _get_message_with_updates(self, stream, timeout=None):
    shown = self.__dict__.setdefault("_displays_by_id", {})
    while True:
        msg = _get_message(self, stream, timeout)
        if stream != "iopub" or msg["msg_type"] not in _DISPLAYS:
            return msg
        content = msg["content"]
        content["data"] = nbformat.from_dict(content.get("data", {}))
        display_id = (content.get("transient") or {}).get("display_id")
        if msg["msg_type"] != "update_display_data":
            if display_id:
                shown.setdefault(display_id, []).append(content["data"])
            return msg
        for data in shown.get(display_id, ()):
            data.clear()
            data.update(content["data"])


RunningKernel.get_message = _get_message_with_updates


@pytest.hookimpl(tryfirst=True)  # before -m deselects by marker
def pytest_collection_modifyitems(config, items):
    """Mark nbval's items (IPyNbCell and its kin) ``notebook``; items from tests/ pass through this hook too."""
    for item in items:
        if type(item).__name__.startswith("IPyNb"):
            item.add_marker(pytest.mark.notebook)


def pytest_configure(config):
    # Sessions and kernels started by the tests and notebooks log here, never into the user's data directory.
    os.environ.setdefault("WENXIN_MAGIC_LOG", str(Path(tempfile.mkdtemp(prefix="wenxin-log-")) / "logs.db"))
