"""The notebook as context in a real kernel: {DataFrame} summaries within the budget, {In[n]} {Out[n]} {Err},
and %wenxin fix offering the corrected cell next."""

from __future__ import annotations

import ast
import re

import pytest

pytestmark = pytest.mark.kernel

SETUP = '''
%load_ext wenxin_magic
import wenxin_magic
import numpy as np
import pandas as pd
session = wenxin_magic.get_session()
session.backend.emulator_options.update(ttft=0.0, chunk_delay=0.0)
%config WenxinMagics.min_update_interval = 0.01
'''

FOOTER = re.compile(r"context: (\d+) objects?, ([\d.]+)( k)? chars")
INTERNAL = ("site-packages", "ipykernel/", "IPython/", "interactiveshell", "wenxin_magic")


@pytest.fixture(scope="module")
def k(module_kernel_factory):
    kernel = module_kernel_factory(setup=SETUP)
    # before any cell of this module can have raised: what %wenxin fix says with nothing to fix
    kernel.before_any_error = (requests(kernel), kernel.run("%wenxin fix"), requests(kernel))
    kernel.err_before_any_error = kernel.run("%%wenxin -c no-error-yet\nWhat went wrong: {Err}?")
    return kernel


def run(k, code: str, **kwargs):
    """Run a cell that must not end in a raw traceback."""
    r = k.run(code, **kwargs)
    assert r.error is None, "\n".join(r.error["traceback"])
    assert "Traceback (most recent call last)" not in r.text
    return r


def fail(k, code: str, ename: str) -> int:
    """Run a cell that raises ``ename``; its execution count."""
    r = k.run(code)
    assert r.error is not None and r.error["ename"] == ename, r.text
    return r.reply["content"]["execution_count"]


def count(r) -> int:
    return r.reply["content"]["execution_count"]


def requests(k) -> int:
    return k.value("len([r for r in session.backend.start_emulator().requests if r['json'] is not None])")


def sent(k, chat: str) -> str:
    """What the last turn of ``chat`` sent as its prompt."""
    history = k.value(f"session.history({chat!r})")
    assert history and history[-2]["role"] == "user", history
    return history[-2]["content"]


def footer(r) -> tuple[int, int] | None:
    """(objects, characters) the answer's footer says went into the prompt, or None without one."""
    final = r.final()
    subs = re.findall(r"<sub[^>]*>(.*?)</sub>", final, re.S)
    assert subs, final
    match = FOOTER.search(subs[-1])
    if match is None:
        return None
    chars = float(match.group(2)) * (1000 if match.group(3) else 1)
    return int(match.group(1)), round(chars)


def next_inputs(r) -> list[dict]:
    return [p for p in r.reply["content"].get("payload", []) if p.get("source") == "set_next_input"]


# -- DataFrames -------------------------------------------------------------------------------------------------------

def test_a_dataframe_goes_in_as_its_summary(k):
    run(k, "sales = pd.DataFrame({'price': np.arange(1000) * 1.5, 'city': ['Beijing'] * 1000, "
           "'quantity': np.arange(1000)})")
    r = run(k, "%%wenxin -c frame\nHow many rows does {sales} have?")
    answer = r.final()
    assert "1,000 rows" in answer
    assert any(column in answer for column in ("price", "city", "quantity"))
    assert footer(r)[0] == 1 and "context: 1 object," in answer
    prompt = sent(k, "frame")
    assert prompt.startswith("How many rows does DataFrame: 1,000 rows × 3 columns\n")
    assert "dtypes:" in prompt and "| price |" in prompt.replace("|  |", "|")
    assert "rows … |" in prompt  # the middle rows left out
    assert "| 0 |" in prompt and "| 999 |" in prompt  # head and tail
    assert "| 500 |" not in prompt and len(prompt) < 4000
    assert prompt.endswith(" have?")
    # what %wenxin history shows is what was sent
    shown = run(k, "%wenxin history frame")
    assert "DataFrame: 1,000 rows × 3 columns" in shown.text


@pytest.mark.parametrize("budget", [4000, 1500])
def test_huge_frames_stay_within_the_budget(k, budget):
    run(k, f"%config WenxinMagics.context_chars = {budget}")
    try:
        run(k, "long_frame = pd.DataFrame({'a': np.arange(10**6), 'b': np.arange(10**6) * 0.5})\n"
               "wide_frame = pd.DataFrame(np.arange(10 * 1000).reshape(10, 1000), "
               "columns=[f'col{i}' for i in range(1000)])")
        chat = f"huge{budget}"
        sizes = {}
        for name, shape in (("long_frame", "1,000,000 rows × 2 columns"), ("wide_frame", "10 rows × 1,000 columns")):
            r = run(k, f"%%wenxin -c {chat}\nDescribe {{{name}}}")
            summary = sent(k, chat).removeprefix("Describe ")
            assert summary.startswith(f"DataFrame: {shape}")
            assert len(summary) <= budget
            objects, chars = footer(r)
            assert objects == 1 and chars <= budget
            assert abs(chars - len(summary)) <= 50  # the footer counts what went in (rounded to 0.1 k)
            sizes[name] = len(summary)
        assert "columns shown" in summary  # the wide frame's columns were cut, and said so
        # two huge objects in one prompt share one budget
        r = run(k, f"%%wenxin -c {chat}\nCompare {{long_frame}} with {{wide_frame}}")
        objects, chars = footer(r)
        assert objects == 2 and chars <= budget
        prompt = sent(k, chat)
        assert len(prompt) <= budget + len("Compare  with ")
        if budget == 1500:
            assert max(sizes.values()) <= 1500 < 4000
    finally:
        run(k, "%config WenxinMagics.context_chars = 4000\ndel long_frame, wide_frame")


# -- {In[n]}, {Out[n]} ------------------------------------------------------------------------------------------------

def test_in_and_out_of_real_cells(k):
    r = run(k, "cities = ['Beijing', 'Shanghai', 'Shenzhen']\nsorted(cities, key=len)")
    n = count(r)
    assert "Shenzhen" in r.final("text/plain")
    r = run(k, f"%%wenxin -c cells\nCell {{In[{n}]}} gave {{Out[{n}]}}.")
    assert "names no cell" not in r.stderr
    prompt = sent(k, "cells")
    assert prompt == ("Cell cities = ['Beijing', 'Shanghai', 'Shenzhen']\nsorted(cities, key=len) gave "
                      "['Beijing', 'Shanghai', 'Shenzhen'].")
    # a cell that does not exist: a notice on stderr, the reference left as written
    r = run(k, "%%wenxin -c cells\nWhat about {Out[99]} and {In[9999]}?")
    assert "wenxin: {Out[99]} names no cell's input, output or error; it was left as written." in r.stderr
    assert "{In[9999]} names no cell" in r.stderr
    assert sent(k, "cells") == "What about {Out[99]} and {In[9999]}?"


# -- {Err}, {Err[n]} --------------------------------------------------------------------------------------------------

def test_err_holds_the_users_frames_only(k):
    first = fail(k, "def mean(values):\n    return sum(values) / len(values)\nmean([])", "ZeroDivisionError")
    second = fail(k, "prices = {'tea': 3}\nprices['coffee']", "KeyError")
    run(k, "%%wenxin -c err\nWhy? {Err}")
    prompt = sent(k, "err")
    assert prompt.startswith("Why? KeyError: 'coffee'\nTraceback (your code):\n")
    assert "line 2, in <module>" in prompt and "prices['coffee']" in prompt
    assert not any(part in prompt for part in INTERNAL), prompt
    run(k, f"%%wenxin -c err\nAnd earlier: {{Err[{first}]}}")
    prompt = sent(k, "err")
    assert prompt.startswith("And earlier: ZeroDivisionError: division by zero\nTraceback (your code):\n")
    assert "line 3, in <module>" in prompt and "line 2, in mean" in prompt
    assert "return sum(values) / len(values)" in prompt
    assert "KeyError" not in prompt
    assert not any(part in prompt for part in INTERNAL), prompt
    assert "^^^" not in prompt
    # a cell that raised nothing has no {Err[n]}
    r = run(k, f"%%wenxin -c err\nNothing here: {{Err[{second + 1}]}}")
    assert f"{{Err[{second + 1}]}} names no cell" in r.stderr
    assert sent(k, "err") == f"Nothing here: {{Err[{second + 1}]}}"


# -- %wenxin fix ------------------------------------------------------------------------------------------------------

def test_fix_with_nothing_to_fix_sends_nothing(k):
    before, r, after = k.before_any_error
    assert r.error is None
    assert "%wenxin fix: nothing to fix: no cell has raised an error yet." in r.stdout
    assert after == before and next_inputs(r) == []
    # a cell that ran fine has nothing to fix either
    ok = count(run(k, "1 + 1"))
    before = requests(k)
    r = run(k, f"%wenxin fix {ok}")
    assert f"%wenxin fix: nothing to fix: cell {ok} raised no error." in r.stdout
    assert requests(k) == before and next_inputs(r) == []


def test_fix_explains_and_offers_the_corrected_cell(k):
    zero = fail(k, "def mean(values):\n    return sum(values) / len(values)\nmean([])", "ZeroDivisionError")
    fail(k, "undefined_name + 1", "NameError")
    before = requests(k)
    r = run(k, "%wenxin fix")  # the last error: the NameError
    assert requests(k) == before + 1
    assert "NameError" in r.final() and "ZeroDivisionError" not in r.final()
    [payload] = next_inputs(r)
    assert payload["replace"] is False
    ast.parse(payload["text"])

    # an earlier cell, in a conversation of its own
    r = run(k, f"%wenxin fix {zero} -c fixes")
    assert requests(k) == before + 2
    assert "ZeroDivisionError" in r.final()
    [payload] = next_inputs(r)
    assert payload == {"source": "set_next_input", "text": payload["text"], "replace": False}
    code = payload["text"]
    ast.parse(code)
    assert "if not values:" in code and "return 0" in code and "```" not in code
    history = k.value("session.history('fixes')")
    assert len(history) == 2
    assert "return sum(values) / len(values)" in history[0]["content"]
    assert "ZeroDivisionError: division by zero" in history[0]["content"]
    assert "line 2, in mean" in history[0]["content"]
    assert "if not values:" in history[1]["content"]
    # and the corrected cell really runs
    assert run(k, code).error is None


# -- odd objects, the budget, braces ----------------------------------------------------------------------------------

def test_objects_whose_str_raises_and_huge_strings(k):
    run(k, "class Broken:\n    def __str__(self):\n        raise RuntimeError('no text for you')\n"
           "broken = Broken()\nhuge_text = 'word ' * 100000")
    r = run(k, "%%wenxin -c odd\nLook at {broken} and {huge_text}")
    assert "Traceback" not in r.text
    prompt = sent(k, "odd")
    assert "<Broken object: its str() raised RuntimeError: no text for you>" in prompt
    assert re.search(r"… \[cut: [\d,]+ more characters\]$", prompt), prompt[-200:]
    assert len(prompt) <= 4000 + len("Look at  and ")
    objects, chars = footer(r)
    assert objects == 2 and chars <= 4000


def test_braces(k):
    run(k, "x = 'SHOULD NOT APPEAR'")
    run(k, "%%wenxin -c braces\nKeep {{x}} and {nothere} and {x}")
    assert sent(k, "braces") == "Keep {x} and {nothere} and SHOULD NOT APPEAR"


def test_the_input_limit_is_still_checked(k):
    run(k, "%config WenxinMagics.context_chars = 1000000\nhuge_prompt_text = 'word ' * 100000")
    try:
        before = requests(k)
        r = run(k, "%%wenxin -m BLOOMZ-7B -c limit\nSummarize {huge_prompt_text}")
        assert "Traceback" not in r.text
        assert re.search(r"The input is [\d,]+ characters; BLOOMZ-7B accepts at most [\d,]+", r.final()), r.text
        assert requests(k) == before  # refused before anything was sent
    finally:
        run(k, "%config WenxinMagics.context_chars = 4000\ndel huge_prompt_text")


def test_err_before_any_error_is_left_as_written(k):
    r = k.err_before_any_error
    assert r.error is None
    assert sent(k, "no-error-yet") == "What went wrong: {Err}?"
    assert "wenxin: {Err} names no cell's input, output or error; it was left as written." in r.stderr


def test_a_syntax_error_can_be_fixed(k):
    n = fail(k, "def area(w, h):\n    return w * h)\narea(2, 3)", "SyntaxError")
    before = requests(k)
    r = run(k, f"%wenxin fix {n}")
    assert "nothing to fix" not in r.stdout
    assert requests(k) == before + 1
    assert "SyntaxError" in r.final()
    [payload] = next_inputs(r)
    assert "def area(w, h):" in payload["text"]  # the emulator offers the cell back; it does not repair syntax
    run(k, f"%%wenxin -c syntax\nWhy? {{Err[{n}]}}")
    prompt = sent(k, "syntax")
    assert prompt.startswith("Why? SyntaxError: ") and "line 2" in prompt


def test_an_escaped_reference_next_to_a_real_one_gives_no_notice(k):
    n = count(run(k, "21 * 2"))
    r = run(k, f"%%wenxin -c escaped\nWrite {{{{Out[{n}]}}}} for {{Out[{n}]}}")
    assert sent(k, "escaped") == f"Write {{Out[{n}]}} for 42"
    assert "names no cell" not in r.stderr
