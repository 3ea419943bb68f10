"""Re-execute the demo notebooks and save them with fresh outputs.

    python tests/execute_notebooks.py                       # every notebook in notebooks/
    python tests/execute_notebooks.py notebooks/02-*.ipynb

The stored outputs are what `pytest --nbval` compares against, so they must come
from the offline emulator: QIANFAN_* variables are removed from the environment
before any kernel starts, whatever the shell has set.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
KERNELSPEC = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}


def execute(path: Path) -> float:
    nb = nbformat.read(path, as_version=4)
    nb.metadata["kernelspec"] = dict(KERNELSPEC)
    started = time.perf_counter()
    client = NotebookClient(nb, timeout=120, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    client.execute()
    nbformat.write(nb, path)
    return time.perf_counter() - started


def main(argv: list[str]) -> int:
    for name in [n for n in os.environ if n.startswith("QIANFAN_")]:
        del os.environ[name]  # the kernels must answer from the built-in emulator
    # their turns go to a scratch log, not to the user's own
    os.environ.setdefault("WENXIN_MAGIC_LOG", str(Path(tempfile.mkdtemp(prefix="wenxin-log-")) / "logs.db"))
    paths = [Path(a).resolve() for a in argv] or sorted(NOTEBOOKS.glob("[0-9][0-9]-*.ipynb"))
    for path in paths:
        print(f"{path.name}: {execute(path):.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
