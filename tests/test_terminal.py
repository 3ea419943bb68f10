"""Terminal IPython cannot update displays: answers arrive as plain streamed text."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap


def run_ipython(code: str, tmp_path) -> subprocess.CompletedProcess:
    script = tmp_path / "session.ipy"
    script.write_text(textwrap.dedent(code))
    env = {k: v for k, v in os.environ.items() if not k.startswith("QIANFAN_")}
    return subprocess.run([sys.executable, "-m", "IPython", "--no-banner", "--colors=NoColor", str(script)],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)


def test_terminal_ipython_gets_plain_streamed_text(tmp_path):
    out = run_ipython("""
        %load_ext wenxin_magic
        import wenxin_magic
        wenxin_magic.get_session().backend.emulator_options.update(ttft=0, chunk_delay=0)
        print(type(get_ipython()).__name__)
        get_ipython().run_cell_magic("wenxin", "", "介绍下故宫")
        get_ipython().run_cell_magic("wenxin", "--compare BLOOMZ-7B,ERNIE-Speed-8K", "你好")
        get_ipython().run_cell_magic("wenxin", "-m BLOOMZ-7B -s nope", "你好")
    """, tmp_path)
    assert out.returncode == 0, out.stderr
    text = out.stdout
    assert "TerminalInteractiveShell" in text
    assert "故宫" in text and "[ERNIE-Speed-8K · " in text and "tokens" in text
    assert "=== BLOOMZ-7B ===" in text and "=== ERNIE-Speed-8K ===" in text
    assert "Error: [336003]" in text and "system" in text  # an API error in words, not a traceback
    assert "<IPython.core.display" not in text and "text/markdown" not in text and "Traceback" not in text
