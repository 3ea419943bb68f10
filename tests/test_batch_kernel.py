"""%%wenxin --batch in a real kernel: the table stored and shown, the summary line, failing rows, the progress
widget's updates, an interrupt then --resume, completions, notebook interpolation, and every usage error.

One module kernel on its built-in (offline) emulator; each test counts that emulator's requests itself.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.kernel

SETUP = '''
%load_ext wenxin_magic
import wenxin_magic
session = wenxin_magic.get_session()
session.backend.emulator_options.update(ttft=0.0, chunk_delay=0.0)
trips = ["长城", "故宫", "颐和园"]
sights = [{"name": "长城", "year": 1987}, {"name": "故宫"}, {"name": "颐和园", "year": 1998}]
empty = []
number = 42
text = "长城 故宫"
mapping = {"a": 1}
def _ttft(seconds):
    session.backend.emulator_options.update(ttft=seconds)
    if session.backend.emulator is not None:
        session.backend.emulator.ttft = seconds
def _sent():
    emulator = session.backend.emulator
    return [r["path"] for r in (emulator.requests if emulator is not None else [])
            if "wenxinworkshop" in r["path"] or r["path"] == "/v2/chat/completions"]
def calc(x: int) -> int:
    """Double a number"""
    return 2 * x
'''

V1, V2 = "ERNIE-Speed-8K", "ernie-speed-8k"
SUMMARY = re.compile(r"^(\d+)/(\d+) · (?:.* · )?[\d,]+ tokens · [\d.]+ s → (\w+)")


@pytest.fixture(scope="module")
def k(module_kernel_factory):
    kernel = module_kernel_factory(SETUP)
    assert "emulator" in kernel.setup_run.stdout  # offline: the built-in emulator answers
    return kernel


@pytest.fixture
def fast(k):
    """The built-in emulator fast again after a test that slowed it."""
    yield k
    ok(k.run("_ttft(0.0)"))


def ok(run) -> None:
    assert run.error is None, run.text
    assert "Traceback" not in run.text, run.text


def requests_sent(k) -> int:
    return k.value("len(_sent())")


def summary_line(run) -> re.Match:
    lines = [line for line in run.stdout.splitlines() if "→" in line]
    assert len(lines) == 1, run.stdout
    match = SUMMARY.match(lines[0])
    assert match, lines[0]
    return match


def table(k, name: str) -> dict:
    """The stored table's statuses, models, items' indices, errors and answers."""
    return k.value(f"{{c: {name}[c].astype(object).where({name}[c].notna(), None).tolist() "
                   f"for c in ('i', 'model', 'prompt', 'answer', 'error', 'status')}}")


# -- the table -----------------------------------------------------------------------------------

def test_a_batch_stores_shows_and_sums_up_its_table(k):
    before = requests_sent(k)
    run = k.run(f"%%wenxin --batch trips --compare {V1},{V2} -o tbl\n用一句话介绍{{item}}")
    ok(run)
    done, total, name = summary_line(run).groups()
    assert (done, total, name) == ("6", "6", "tbl")
    assert "failed" not in run.stdout and "--resume" not in run.stdout
    html = run.final("text/html")
    assert "<table" in html and "长城" in html and "颐和园" in html
    shape = k.run("print(tbl.shape, list(tbl.columns))")
    ok(shape)
    assert shape.stdout.strip() == ("(6, 13) ['i', 'item', 'model', 'prompt', 'answer', 'reasoning', "
                                    "'finish_reason', 'prompt_tokens', 'completion_tokens', 'latency_s', 'retries', "
                                    "'error', 'status']")
    rows = table(k, "tbl")
    assert rows["i"] == [0, 0, 1, 1, 2, 2] and rows["model"] == [V1, V2] * 3
    assert rows["prompt"] == [f"用一句话介绍{t}" for t in ("长城", "故宫", "颐和园") for _ in range(2)]
    assert rows["status"] == ["done"] * 6 and all(a and a.strip() for a in rows["answer"])
    assert k.value("int(tbl.prompt_tokens.min())") > 0 and k.value("int(tbl.completion_tokens.min())") > 0
    assert requests_sent(k) - before == 6
    assert k.value("session.chats() == []")  # no conversation was made


def test_the_default_name_is_wenxin_batch(k):
    ok(k.run("_wenxin_batch = None"))
    run = k.run(f"%%wenxin --batch trips -m {V1}\n一句话：{{item}}")
    ok(run)
    assert summary_line(run).groups() == ("3", "3", "_wenxin_batch")
    assert k.value("list(_wenxin_batch.shape)") == [3, 13]
    assert k.value("_wenxin_batch.prompt.tolist()") == ["一句话：长城", "一句话：故宫", "一句话：颐和园"]


def test_a_row_missing_a_field_fails_alone(k):
    before = requests_sent(k)
    run = k.run(f"%%wenxin --batch sights -m {V1} -o failing\n{{item[name]}}于{{item[year]}}年入选")
    ok(run)
    done, total, _ = summary_line(run).groups()
    assert (done, total) == ("3", "3")  # finished: two done, one failed
    assert "1 failed" in run.stdout and "1 row(s) failed" in run.stdout and "error column" in run.stdout
    rows = table(k, "failing")
    assert rows["status"] == ["done", "failed", "done"]
    assert rows["error"][0] is None and rows["error"][2] is None
    assert "year" in rows["error"][1] and "name" in rows["error"][1]
    assert rows["prompt"] == ["长城于1987年入选", None, "颐和园于1998年入选"]
    assert requests_sent(k) - before == 2


# -- the progress widget -------------------------------------------------------------------------

def test_progress_arrives_as_widget_updates_rising_to_the_total(k):
    run = k.run(f"%%wenxin --batch trips --compare {V1},{V2} -o watched\n用一句话介绍{{item}}")
    ok(run)
    opened = {m["content"]["comm_id"]: m["content"]["data"]["state"] for m in run.of("comm_open")}
    bars = [cid for cid, state in opened.items() if state.get("_model_name") == "IntProgressModel"]
    boxes = [state for state in opened.values() if state.get("_model_name") == "HBoxModel"]
    assert len(bars) == 1 and len(boxes) == 1, opened
    assert boxes[0]["_dom_classes"] == []  # class-less
    bar = bars[0]
    shown = [m for m in run.displays if "application/vnd.jupyter.widget-view+json" in m["content"]["data"]]
    assert len(shown) == 1
    updates = [m["content"]["data"]["state"] for m in run.of("comm_msg") if m["content"]["comm_id"] == bar]
    values = [state["value"] for state in updates if "value" in state]
    maxima = [state["max"] for state in updates if "max" in state]
    assert maxima and maxima[-1] == 6
    assert values and values[-1] == 6 and values == sorted(values)
    assert [state["bar_style"] for state in updates if "bar_style" in state][-1] == "success"
    labels = [m["content"]["data"]["state"]["value"] for m in run.of("comm_msg")
              if m["content"]["comm_id"] != bar and isinstance(m["content"]["data"]["state"].get("value"), str)]
    assert labels and labels[-1].startswith("6/6 · ")


# -- an interrupt, then --resume -----------------------------------------------------------------

def test_an_interrupted_batch_keeps_its_rows_and_resume_runs_the_rest(fast):
    k = fast
    ok(k.run("_ttft(0.4)\nseven = list(range(7))"))
    interrupted = []

    def interrupt_after_a_row(msg):
        state = msg["content"].get("data", {}).get("state", {}) if msg["msg_type"] == "comm_msg" else {}
        if not interrupted and isinstance(state.get("value"), int) and state["value"] >= 2:
            interrupted.append(True)
            k.km.interrupt_kernel()

    before = requests_sent(k)
    cell = f"%%wenxin --batch seven -m {V1} --concurrency 2 -o halted\n用一句话介绍数字{{item}}"
    run = k.run(cell, timeout=60, on_message=interrupt_after_a_row)
    assert interrupted, run.text
    ok(run)
    done, total, name = summary_line(run).groups()
    assert total == "7" and name == "halted" and 2 <= int(done) < 7
    assert "not run" in run.stdout and "--resume" in run.stdout
    rows = table(k, "halted")
    finished = [i for i, s in enumerate(rows["status"]) if s == "done"]
    assert len(finished) == int(done) and set(rows["status"]) == {"done", "not run"}
    assert all(rows["answer"][i] for i in finished)
    assert all(rows["answer"][i] is None for i in range(7) if i not in finished)
    answers = {i: rows["answer"][i] for i in finished}
    assert k.value("session.last_batch.progress.not_run") == 7 - len(finished)

    ok(k.run("_ttft(0.0)"))
    sent = requests_sent(k)
    resumed = k.run(cell.replace("-o halted", "-o halted --resume"), timeout=60)
    ok(resumed)
    assert summary_line(resumed).groups() == ("7", "7", "halted")
    assert "not run" not in resumed.stdout and "--resume" not in resumed.stdout
    after = table(k, "halted")
    assert after["status"] == ["done"] * 7
    assert {i: after["answer"][i] for i in finished} == answers  # kept, not asked again
    assert requests_sent(k) - sent == 7 - len(finished)
    assert sent - before >= len(finished)


# -- completions and interpolation ---------------------------------------------------------------

def test_a_completion_batch(k):
    before = requests_sent(k)
    run = k.run("%%wenxin --batch trips --completion -m SQLCoder-7B -o sql\nSELECT * FROM {item}")
    ok(run)
    assert summary_line(run).groups() == ("3", "3", "sql")
    rows = table(k, "sql")
    assert rows["status"] == ["done"] * 3 and rows["prompt"][0] == "SELECT * FROM 长城"
    assert requests_sent(k) - before == 3
    assert k.value("[p.rsplit('/', 2)[-2:] for p in _sent()[-3:]]") == [["completions", "sqlcoder_7b"]] * 3


def test_a_completion_batch_on_an_endpoint(k):
    run = k.run("%%wenxin --batch trips --completion --endpoint my_yi_34b -o cont\n从前有一座{item}")
    ok(run)
    assert run.stderr == "", run.stderr
    assert summary_line(run).groups() == ("3", "3", "cont")
    assert table(k, "cont")["status"] == ["done"] * 3


def test_notebook_names_are_filled_but_not_item_or_i(k):
    ok(k.run('topic = "世界遗产"\nitem = "NOTEBOOK_ITEM"\ni = 99'))
    run = k.run(f"%%wenxin --batch trips -m {V1} -o filled\n{{topic}}：{{item}}（{{i}}）{{not_defined}}")
    ok(run)
    assert table(k, "filled")["prompt"] == ["世界遗产：长城（0）{not_defined}", "世界遗产：故宫（1）{not_defined}",
                                            "世界遗产：颐和园（2）{not_defined}"]
    assert "NOTEBOOK_ITEM" not in run.text


def test_doubled_braces_stay_literal_without_interpolation(k):
    ok(k.run(f"%%wenxin --batch trips -m {V1} -o literal --no-interpolate\n"
             "{{item}} {{topic}} {{i}}: {item} #{i}"))
    assert table(k, "literal")["prompt"][:2] == ["{item} {topic} {i}: 长城 #0", "{item} {topic} {i}: 故宫 #1"]


def test_doubled_braces_stay_literal_with_interpolation(k):
    ok(k.run('topic = "世界遗产"'))
    ok(k.run(f"%%wenxin --batch trips -m {V1} -o literal\n{{{{item}}}} {{{{topic}}}} {{{{i}}}}: {{item}} #{{i}}"))
    assert table(k, "literal")["prompt"][:2] == ["{item} {topic} {i}: 长城 #0", "{item} {topic} {i}: 故宫 #1"]

# -- usage errors --------------------------------------------------------------------------------

USAGE_ERRORS = {
    "undefined": ("--batch nowhere", ["'nowhere'", "not defined"]),
    "int": ("--batch number", ["number is an int", "int"]),
    "str": ("--batch text", ["text is a str", "str"]),
    "dict": ("--batch mapping", ["mapping is a dict", "dict"]),
    "empty": ("--batch empty", ["empty is empty", "empty"]),
    "concurrency-0": ("--batch trips --concurrency 0", ["--concurrency"]),
    "concurrency-negative": ("--batch trips --concurrency -3", ["--concurrency"]),
    "resume-first": ("--batch trips --resume", ["--resume", "no batch"]),
    "chat": ("--batch trips -c support", ["-c/--chat"]),
    "new": ("--batch trips --new", ["--new"]),
    "tools": ("--batch trips --tools calc", ["--tools"]),
    "concurrency-alone": ("--concurrency 2", ["--concurrency", "--batch"]),
    "resume-alone": ("--resume", ["--resume", "--batch"]),
}


@pytest.mark.parametrize("options, words", USAGE_ERRORS.values(), ids=USAGE_ERRORS.keys())
def test_usage_errors_say_what_is_wrong_and_run_nothing(k, options, words):
    ok(k.run("for _n in ('never', '_wenxin_never'):\n    globals().pop(_n, None)"))
    before = requests_sent(k)
    run = k.run(f"%%wenxin {options} -o never\n用一句话介绍{{item}}")
    ok(run)
    assert run.stderr.strip(), run.text
    for word in words:
        assert word in run.stderr, run.stderr
    assert "→" not in run.stdout  # no summary line
    assert not [m for m in run.displays if "text/html" in m["content"]["data"]]  # no table
    assert k.value("'never' in globals()") is False
    assert requests_sent(k) == before
    assert k.value("session.chats() == []")


# The magic shows its progress bar before session.batch has looked at the items, and finishes it only when a
# run came back: a refused VAR leaves an "info" bar stuck at 0 and "starting…" above the error message.
REFUSED_ITEMS = {name: USAGE_ERRORS[name] for name in ("int", "str", "dict", "empty")}


def test_usage_errors_found_before_the_items_show_no_progress_bar(k):
    for options in ("--batch nowhere", "--batch trips --concurrency 0", "--batch trips -c support", "--resume"):
        run = k.run(f"%%wenxin {options} -o never\n用一句话介绍{{item}}")
        ok(run)
        assert run.stderr.strip() and not run.of("comm_open") and not run.displays, (options, run.text)


@pytest.mark.parametrize("options, words", REFUSED_ITEMS.values(), ids=REFUSED_ITEMS.keys())
def test_refused_items_show_no_progress_bar(k, options, words):
    run = k.run(f"%%wenxin {options} -o never\n用一句话介绍{{item}}")
    ok(run)
    assert all(word in run.stderr for word in words), run.stderr
    assert not run.of("comm_open") and not run.displays, run.text


def test_the_hint_for_a_dict_is_code_that_runs(k):
    run = k.run("%%wenxin --batch mapping -o never\n{item}")
    ok(run)
    assert "list(mapping.items())" in run.stderr and "list(mapping.values())" in run.stderr, run.stderr


# -- a terminal ----------------------------------------------------------------------------------

def test_terminal_ipython_gets_a_text_bar_on_stderr(tmp_path):
    script = tmp_path / "batch.ipy"
    script.write_text(textwrap.dedent("""
        %load_ext wenxin_magic
        import wenxin_magic
        wenxin_magic.get_session().backend.emulator_options.update(ttft=0, chunk_delay=0)
        trips = ["长城", "故宫", "颐和园"]
        get_ipython().run_cell_magic("wenxin", "--batch trips -m ERNIE-Speed-8K -o tbl", "用一句话介绍{item}")
        print("SHAPE", tbl.shape)
    """))
    env = {k: v for k, v in os.environ.items() if not k.startswith("QIANFAN_")}
    out = subprocess.run([sys.executable, "-m", "IPython", "--no-banner", "--colors=NoColor", str(script)],
                         capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert out.returncode == 0, out.stderr
    bars = [line for line in re.split(r"[\r\n]", out.stderr) if line.startswith("[")]
    assert bars and bars[-1].startswith("[" + "#" * 24 + "] 3/3 · "), out.stderr
    assert "HBox" not in out.stdout and "IntProgress" not in out.stdout
    assert re.search(r"^3/3 · .* → tbl\.$", out.stdout, re.M), out.stdout
    assert "SHAPE (3, 13)" in out.stdout and "Traceback" not in out.stdout + out.stderr
