"""The conversation log through real kernels: a conversation survives a kernel restart and a SIGKILL mid-answer,
``%wenxin log`` lists and searches it, ``%wenxin resume`` / ``export --log`` read it, and a broken log file costs
one warning and never an answer.

Each kernel is online against this module's emulator (in the test process, so its request log shows exactly what
a resumed conversation sent) and logs to a file of the test's own.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import time
from pathlib import Path

import pytest

from _fakes import FAKE, assert_history_valid, model_requests
from _kernel import ONLINE_SETUP, Kernel

pytestmark = pytest.mark.kernel

KEYS = FAKE.SESSION
MODEL = "ERNIE-Speed-8K"  # the default model
LONG = "write 600 characters about the Great Wall"
NOTICE = "wenxin-magic: Conversations are logged to {path}. %wenxin log off (or %config WenxinMagics.log = False) " \
         "turns it off."


def kernel_env(emu, log: Path, **extra) -> dict[str, str]:
    return {**KEYS.oauth_env(emu.base_url), "WENXIN_MAGIC_LOG": str(log), **extra}


def rows_of(path: Path) -> list[dict]:
    conn = sqlite3.connect(path)
    try:
        conn.row_factory = sqlite3.Row
        return [dict(r) for r in conn.execute("SELECT * FROM turns ORDER BY id")]
    finally:
        conn.close()


def ok(run) -> None:
    assert run.error is None, run.text
    assert "Traceback" not in run.text, run.text


def usage_error(run) -> str:
    """A bad command's answer: a message on stderr, no exception, no traceback."""
    assert run.error is None, run.text
    assert "Traceback" not in run.text, run.text
    assert run.stderr.strip(), run.text
    return run.stderr


# -- a module kernel for the magics -------------------------------------------------------------------

@pytest.fixture(scope="module")
def log_file(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("kernel-log") / "logs.db"


@pytest.fixture(scope="module")
def kernel(module_kernel_factory, emulator, log_file) -> Kernel:
    k = module_kernel_factory(ONLINE_SETUP, env=kernel_env(emulator, log_file,
                                                          JPY_SESSION_NAME="/home/me/log-tests.ipynb"))
    assert "emulator" not in k.setup_run.stdout  # online
    return k


# -- (a) a restart, (d) the notice once per kernel, (f) export, (g) resume of an unknown name --------------

def test_a_conversation_survives_a_kernel_restart(kernel_factory, emu, tmp_path):
    log = tmp_path / "logs.db"
    k = kernel_factory(ONLINE_SETUP, env=kernel_env(emu, log))
    first = k.run("%%wenxin -c trip\n我想去北京玩三天")
    ok(first)
    notice = NOTICE.format(path=log)
    assert first.stdout.count(notice) == 1 and notice not in first.stderr
    second = k.run("%%wenxin -c trip\n第一天去哪里")
    ok(second)
    assert "Conversations are logged" not in second.text  # once per kernel
    ok(k.run("%%wenxin -c panelled\n介绍下西湖"))
    ok(k.run("%%wenxin -c clash\nan older run of clash"))
    assert "Conversations are logged" not in k.run("%%wenxin --compare ERNIE-Speed-8K,ERNIE-Lite-8K\n你好").text
    before = k.value("session.history('trip')")
    assert len(before) == 4
    assert_history_valid(before)
    panelled = k.value("session.history('panelled')")
    run_id = k.value("session.conversation('trip').run_id")
    clash_run = k.value("session.conversation('clash').run_id")

    k.km.restart_kernel(now=True)
    k.kc.wait_for_ready(timeout=60)
    ok(k.run(ONLINE_SETUP))
    assert k.value("session.has_conversation('trip')") is False  # a new process: nothing in memory

    resumed = k.run("%wenxin resume trip")
    ok(resumed)
    assert resumed.stdout.strip() == (f"Resumed 'trip': 2 turn(s) with {MODEL}; the next %%wenxin -c trip "
                                      "continues it.")
    assert k.value("session.history('trip')") == before
    emu.clear()
    third = k.run("%%wenxin -c trip\n第二天呢")
    ok(third)
    assert third.stdout.count(notice) == 1  # a new kernel says it again, once
    sent = model_requests(emu)[-1]["json"]["messages"]
    assert sent == before + [{"role": "user", "content": "第二天呢"}]
    assert sent[0]["content"] == "我想去北京玩三天" and sent[1]["content"] == first_answer(log)
    rows = [r for r in rows_of(log) if r["chat"] == "trip"]
    assert [r["question"] for r in rows] == ["我想去北京玩三天", "第一天去哪里", "第二天呢"]
    assert {r["run_id"] for r in rows} == {run_id}  # the resumed run goes on

    # the panel opens on a logged conversation
    panel = k.run("%wenxin panel -c panelled --resume")
    ok(panel)
    assert any("application/vnd.jupyter.widget-view+json" in m["content"]["data"] for m in panel.displays)
    assert k.value("session.history('panelled')") == panelled

    # a resume that would lose this kernel's turns of that name is refused, in words
    ok(k.run("%%wenxin -c clash\na new run of clash in this kernel"))
    clash = k.run(f"%wenxin resume clash --id {clash_run}")
    assert "clash" in usage_error(clash) and "reset" in clash.stderr
    assert [m["content"] for m in k.value("session.history('clash')")][::2] == ["a new run of clash in this kernel"]

    # (f) a transcript from the log
    exported = k.run("%wenxin export x.md --log -c trip")
    ok(exported)
    assert "Exported 'trip' from the log" in exported.stdout
    text = (tmp_path / "x.md").read_text(encoding="utf-8")
    for row in rows:
        assert row["question"] in text and row["answer"].splitlines()[0] in text
    bogus = k.run("%wenxin export y.md --log -c trip --id no-such-run")
    assert "no-such-run" in usage_error(bogus) and not (tmp_path / "y.md").exists()

    # (g) a name the log does not have
    nothere = k.run("%wenxin resume nothere")
    message = usage_error(nothere)
    assert "nothere" in message and "%wenxin log -c nothere" in message
    assert k.value("session.has_conversation('nothere')") is False


def first_answer(log: Path) -> str:
    return [r for r in rows_of(log) if r["chat"] == "trip"][0]["answer"]


# -- (b) SIGKILL while an answer streams -------------------------------------------------------------

def kernel_pid(k: Kernel) -> int:
    provisioner = getattr(k.km, "provisioner", None)
    pid = getattr(provisioner, "pid", None) or getattr(getattr(provisioner, "process", None), "pid", None)
    if pid is None:
        pid = k.km.kernel.pid  # jupyter_client before 7
    assert pid
    return pid


def test_sigkill_while_an_answer_streams_leaves_a_sound_log(kernel_factory, emu, tmp_path, session_factory,
                                                            monkeypatch):
    log = tmp_path / "logs.db"
    k = kernel_factory(ONLINE_SETUP, env=kernel_env(emu, log))
    ok(k.run("%%wenxin -c trip\n我想去北京玩三天"))
    ok(k.run("%%wenxin -c trip\n第一天去哪里"))
    before = rows_of(log)
    assert len(before) == 2

    emu.chunk_delay = 0.5  # the answer streams for several seconds
    msg_id = k.kc.execute(f"%%wenxin -c trip\n{LONG}")
    deadline = time.monotonic() + 30
    streamed = False
    while not streamed:  # wait until part of the answer has been shown
        assert time.monotonic() < deadline, "the answer never started"
        try:
            msg = k.kc.get_iopub_msg(timeout=0.1)
        except Exception:
            continue
        if msg["parent_header"].get("msg_id") == msg_id and msg["msg_type"] in ("display_data",
                                                                               "update_display_data"):
            shown = msg["content"]["data"].get("text/html", "")
            streamed = "Great Wall" in shown and "characters so far" in shown  # part of the answer, not all
    os.kill(kernel_pid(k), signal.SIGKILL)
    deadline = time.monotonic() + 20
    while k.km.is_alive():
        assert time.monotonic() < deadline, "the kernel outlived SIGKILL"
        time.sleep(0.05)
    k.closed = True  # nothing left to shut down
    k.kc.stop_channels()

    conn = sqlite3.connect(log)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        questions = [q for (q,) in conn.execute("SELECT question FROM turns ORDER BY id")]
    finally:
        conn.close()
    assert questions == ["我想去北京玩三天", "第一天去哪里"]  # no row for the half answer
    assert rows_of(log) == before  # the earlier turns intact

    # and the log still resumes the conversation
    monkeypatch.setenv("WENXIN_MAGIC_LOG", str(log))
    s = session_factory(against=emu)
    conv = s.resume("trip")
    assert [t.request["content"] for t in conv.turns] == ["我想去北京玩三天", "第一天去哪里"]
    assert_history_valid(s.history("trip"))


# -- (c) %wenxin log ------------------------------------------------------------------------------------

def test_log_lists_and_searches_the_logged_turns(kernel, log_file):
    ok(kernel.run("%%wenxin -c beijing\n介绍下故宫的历史"))
    ok(kernel.run("%%wenxin -c beijing\nTell me about the Summer Palace"))
    ok(kernel.run("%%wenxin -c hangzhou -m ERNIE-Lite-8K\n介绍下西湖"))

    listed = kernel.run("%wenxin log")
    ok(listed)
    table = listed.final()
    assert table.startswith("<table><thead><tr><th>id</th><th>when</th><th>chat</th><th>run</th><th>model</th>"
                            "<th>question</th><th>answer</th><th>tokens</th></tr></thead>")
    for question in ("介绍下故宫的历史", "Tell me about the Summer Palace", "介绍下西湖"):
        assert question in table
    assert table.index("介绍下西湖") < table.index("Tell me about the Summer Palace") < table.index("介绍下故宫")
    rows = {r["question"]: r for r in rows_of(log_file)}
    assert f"<td>{rows['介绍下西湖']['id']}</td>" in table and str(rows["介绍下西湖"]["total_tokens"]) in table
    assert rows["介绍下西湖"]["notebook"] == "/home/me/log-tests.ipynb"

    found = kernel.run("%wenxin log -q 故宫").final()
    assert "介绍下故宫的历史" in found and "Summer Palace" not in found and "西湖" not in found
    english = kernel.run("%wenxin log -q Summer").final()
    assert "Summer Palace" in english and "故宫" not in english
    by_chat = kernel.run("%wenxin log -c hangzhou").final()
    assert "介绍下西湖" in by_chat and "beijing" not in by_chat
    by_model = kernel.run("%wenxin log -m ERNIE-Lite-8K").final()
    assert "介绍下西湖" in by_model and "故宫" not in by_model
    one = kernel.run("%wenxin log -n 1").final()
    assert "介绍下西湖" in one and "Summer Palace" not in one and one.count("<tr>") == 2
    recent = kernel.run("%wenxin log --since 1d -c beijing").final()
    assert "故宫" in recent and "Summer Palace" in recent
    chats = kernel.run("%wenxin log --kind chat -n 1").final()
    assert "介绍下西湖" in chats
    nothing = kernel.run("%wenxin log -q nothing-like-this-was-said")
    ok(nothing)
    assert "No logged turns" in nothing.final() and str(log_file) in nothing.final()

    bad = kernel.run("%wenxin log --since nonsense")
    message = usage_error(bad)
    assert "nonsense" in message and "7d" in message


def test_log_off_then_on(kernel, log_file):
    off = kernel.run("%wenxin log off")
    ok(off)
    assert off.stdout.startswith("Conversation log off for this kernel") and str(log_file) in off.stdout
    ok(kernel.run("%%wenxin -c switch\nthis turn is not logged"))
    on = kernel.run("%wenxin log on")
    ok(on)
    assert on.stdout.startswith("Conversation log on for this kernel")
    ok(kernel.run("%%wenxin -c switch\nthis turn is logged"))
    questions = [r["question"] for r in rows_of(log_file)]
    assert "this turn is logged" in questions and "this turn is not logged" not in questions
    assert len(kernel.value("session.history('switch')")) == 4  # the conversation kept both
    ok(kernel.run("%config WenxinMagics.log = False"))
    ok(kernel.run("%%wenxin -c switch\nnot logged either"))
    ok(kernel.run("%config WenxinMagics.log = True"))
    assert "not logged either" not in [r["question"] for r in rows_of(log_file)]


def test_an_interrupted_cell_is_logged_with_its_partial_answer(kernel, log_file, emu):
    emu.chunk_delay = 0.3
    kernel.interrupt_after(1.5)
    run = kernel.run(f"%%wenxin -c stopped\n{LONG}")
    assert "Traceback" not in run.text
    kept = kernel.value("[session.last_reply.interrupted, session.last_reply.text]")
    assert kept[0] is True and kept[1].strip()
    [row] = [r for r in rows_of(log_file) if r["chat"] == "stopped"]
    assert row["interrupted"] == 1 and row["answer"] == kept[1] and row["question"] == LONG


# -- (e) a corrupt log file -----------------------------------------------------------------------------

def test_a_corrupt_log_warns_once_and_the_answers_go_on(kernel, tmp_path, log_file):
    corrupt = tmp_path / "corrupt.db"
    garbage = b"definitely not sqlite " * 300
    corrupt.write_bytes(garbage)
    ok(kernel.run(f"%config WenxinMagics.log_path = {str(corrupt)!r}"))
    try:
        first = kernel.run("%%wenxin -c broken\n介绍下故宫")
        ok(first)
        assert first.final().strip() and "故宫" in first.final()  # the answer is shown all the same
        warnings = [line for line in first.stderr.splitlines() if line.startswith("wenxin-magic:")]
        assert len(warnings) == 1, first.stderr
        [warning] = warnings
        assert str(corrupt) in warning and "%wenxin log off" in warning
        assert "WENXIN_MAGIC_LOG" in warning and "memory" in warning
        assert "Conversations are logged" not in first.stdout
        second = kernel.run("%%wenxin -c broken\n再说一遍")
        ok(second)
        assert second.stderr.strip() == "" and second.final().strip()
        history = kernel.value("session.history('broken')")
        assert len(history) == 4
        assert_history_valid(history)
        listed = kernel.run("%wenxin log")
        assert str(corrupt) in usage_error(listed) and "not a readable SQLite database" in listed.stderr
        resumed = kernel.run("%wenxin resume broken")
        assert str(corrupt) in usage_error(resumed)
        assert len(kernel.value("session.history('broken')")) == 4  # untouched
        assert corrupt.read_bytes() == garbage  # the user's file is left as it was
    finally:
        ok(kernel.run(f"%config WenxinMagics.log_path = {str(log_file)!r}"))
    back = kernel.run("%%wenxin -c broken\nand now it is logged again")
    ok(back)
    assert "and now it is logged again" in [r["question"] for r in rows_of(log_file)]
