"""Fast unit tests of the notebook as context: summaries of values, the shared budget, the error log (no kernel)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest

from wenxin_magic.context import (DEFAULT_BUDGET, CellError, ContextRenderer, ErrorLog, history_reference,
                                  history_references, notebook_namespace, summarize)
from wenxin_magic.summary_format import ARRAY_HEADER, DTYPES_LINE, FRAME_HEADER, SERIES_HEADER


@pytest.fixture(scope="module")
def tall():
    n = 10**6
    return pd.DataFrame({
        "id": np.arange(n),
        "price": np.linspace(0, 1, n),
        "name": pd.Series(["item"] * n, dtype=object),
        "when": pd.date_range("2024-01-01", periods=n, freq="s"),
        "ok": np.arange(n) % 2 == 0,
    })


@pytest.fixture(scope="module")
def wide():
    return pd.DataFrame(np.arange(10 * 1000).reshape(10, 1000), columns=[f"col{i}" for i in range(1000)])


def _cut_count(text: str) -> int:
    return int(re.search(r"… \[cut: ([\d,]+) more characters\]$", text).group(1).replace(",", ""))


# -- DataFrames -----------------------------------------------------------------------------------------------------
def test_a_small_frame_shows_every_row_as_an_exact_table():
    df = pd.DataFrame({"x": [1, 2, 3], "y": ["a", "b", "c"]})
    assert summarize(df, DEFAULT_BUDGET) == textwrap.dedent("""\
        DataFrame: 3 rows × 2 columns
        dtypes: x: int64, y: {y}
        |  | x | y |
        |---|---|---|
        | 0 | 1 | a |
        | 1 | 2 | b |
        | 2 | 3 | c |""").format(y=df.dtypes["y"])


@pytest.mark.parametrize("budget", [500, 4000, 20000])
def test_a_million_row_frame_stays_within_the_budget(tall, budget):
    text = summarize(tall, budget)
    assert len(text) <= budget
    assert text.startswith("DataFrame: 1,000,000 rows × 5 columns\n")
    assert "| 0 | 0 |" in text  # head
    assert "| 999999 | 999999 |" in text  # tail
    assert re.search(r"\| … [\d,]+ rows … \|", text)


def test_a_million_row_frame_at_the_default_budget_shows_types_and_many_rows(tall):
    text = summarize(tall, DEFAULT_BUDGET)
    assert "dtypes: id: int64, price: float64, name: object, when: datetime64" in text
    rows = [line for line in text.splitlines() if re.match(r"\| \d+ \|", line)]
    assert len(rows) >= 10
    hidden = int(re.search(r"… ([\d,]+) rows …", text).group(1).replace(",", ""))
    assert hidden + len(rows) == 10**6


def test_a_thousand_column_frame_says_how_many_columns_are_left_out(wide):
    text = summarize(wide, DEFAULT_BUDGET)
    assert len(text) <= DEFAULT_BUDGET
    assert text.startswith("DataFrame: 10 rows × 1,000 columns\n")
    shown, left_out = map(int, re.search(r"first (\d+) of 1,000 columns shown; (\d+) left out", text).groups())
    assert shown + left_out == 1000 and shown >= 5
    assert "| col0 | col1 |" in text  # the first columns are the ones kept
    assert "| 9 |" in text  # all ten rows fit


def test_many_mixed_dtypes_are_listed_then_counted():
    df = pd.DataFrame({f"c{i}": ([1] if i % 2 else ["s"]) for i in range(1000)})
    text = summarize(df, DEFAULT_BUDGET)
    assert len(text) <= DEFAULT_BUDGET
    dtypes = text.splitlines()[1]
    assert dtypes.startswith("dtypes: c0: ") and re.search(r"… [\d,]+ more columns$", dtypes)
    assert len(dtypes) <= DEFAULT_BUDGET // 4 + 20


def test_mixed_dtypes_nan_and_long_strings():
    df = pd.DataFrame({
        "n": [1, 2],
        "f": [1.5, float("nan")],
        "s": ["short", "x" * 500],
        "pipe": ["a|b", "line\nbreak"],
        "when": pd.to_datetime(["2024-01-01", None]),
        "cat": pd.Categorical(["u", "v"]),
    })
    text = summarize(df, DEFAULT_BUDGET)
    assert "nan" in text and "NaT" in text
    assert "x" * 500 not in text and "xxx…" in text  # long cells shortened
    assert "a\\|b" in text and "line break" in text  # a cell cannot end its row
    assert len(text.splitlines()) == 2 + 2 + 2  # header, dtypes, table head, two rows


def test_multiindex_columns_and_index_do_not_crash():
    columns = pd.MultiIndex.from_product([["a", "b"], ["x", "y"]])
    index = pd.MultiIndex.from_tuples([("k", 1), ("k", 2)])
    df = pd.DataFrame(np.ones((2, 4)), columns=columns, index=index)
    text = summarize(df, DEFAULT_BUDGET)
    assert "a / x" in text and "2 rows × 4 columns" in text


def test_an_empty_frame():
    assert summarize(pd.DataFrame(), 100) == "DataFrame: 0 rows × 0 columns"
    assert summarize(pd.DataFrame({"a": []}), 100).startswith("DataFrame: 0 rows × 1 column\ndtypes: a:")


def test_tiny_budgets_are_still_kept():
    df = pd.DataFrame({"x": range(100)})
    for budget in (0, 5, 40, 80):
        assert len(summarize(df, budget)) <= budget


# -- Series and arrays ----------------------------------------------------------------------------------------------
def test_a_series_shows_name_length_dtype_head_and_tail():
    s = pd.Series(np.arange(10**6) * 2, name="double")
    text = summarize(s, 1000)
    assert len(text) <= 1000
    assert text.startswith("Series 'double': 1,000,000 values, dtype int64\n")
    assert "| 0 | 0 |" in text and "| 999999 | 1999998 |" in text
    assert summarize(pd.Series([1.5]), 100) == "Series: 1 value, dtype float64\n|  | value |\n|---|---|\n| 0 | 1.5 |"


def test_arrays_one_two_and_large():
    assert summarize(np.arange(3), 100) == "ndarray shape (3,), dtype int64\n[0 1 2]"
    text = summarize(np.zeros((1000, 3)), DEFAULT_BUDGET)
    assert text.startswith("ndarray shape (1000, 3), dtype float64\n[[0. 0. 0.]") and "..." in text
    big = summarize(np.arange(10**7).reshape(1000, 10000), 300)
    assert len(big) <= 300 and big.startswith("ndarray shape (1000, 10000), dtype int64\n")
    assert "9999999" in big  # the last corner, from numpy's own summarized printing


def test_the_headers_read_back_as_summarize_writes_them():
    # the emulator reads a summary with these patterns: what context writes, they must find
    frame = FRAME_HEADER.search("Here: " + summarize(pd.DataFrame({"a": range(1234), "b": 0.5}), DEFAULT_BUDGET))
    assert frame.group(1, 2, 3) == (None, "1,234", "2")
    assert FRAME_HEADER.search(summarize(pd.DataFrame({"a": [1]}), DEFAULT_BUDGET)).group(2, 3) == ("1", "1")
    dtypes = DTYPES_LINE.search(summarize(pd.DataFrame({"a": [1], "b": ["x"]}), DEFAULT_BUDGET))
    assert dtypes.group(1).startswith("a: int64, b: ")
    assert DTYPES_LINE.search(summarize(pd.DataFrame({"a": [1.0], "b": [2.0]}), DEFAULT_BUDGET)).group(1) == "all float64"
    series = SERIES_HEADER.search(summarize(pd.Series(range(5), name="n"), DEFAULT_BUDGET))
    assert series.group(1, 2, 3) == ("n", "5", "int64")
    assert SERIES_HEADER.search(summarize(pd.Series([1.5] * 1000), DEFAULT_BUDGET)).group(1, 2, 3) == (None, "1,000",
                                                                                                     "float64")
    array = ARRAY_HEADER.search(summarize(np.zeros((4, 2)), DEFAULT_BUDGET))
    assert array.group(1, 2, 3) == (None, "4, 2", "float64")
    assert ARRAY_HEADER.search(summarize(np.arange(3), DEFAULT_BUDGET)).group(2, 3) == ("3,", "int64")


# -- other objects --------------------------------------------------------------------------------------------------
def test_strings_pass_through_unchanged():
    text = "  'quoted' 中文\nline two  "
    assert summarize(text, 100) == text  # str(), not repr()
    assert summarize(42, 10) == "42"


def test_a_huge_string_is_cut_with_the_right_count():
    text = "a" * 10_000
    cut = summarize(text, 1000)
    assert len(cut) <= 1000
    kept = cut.index("…")
    assert cut[:kept] == "a" * kept
    assert kept + _cut_count(cut) == 10_000


class _Broken:
    def __str__(self):
        raise ValueError("no text for you")


class _Huge:
    def __str__(self):
        return "z" * 50_000


def test_an_object_whose_str_raises():
    assert summarize(_Broken(), 1000) == "<_Broken object: its str() raised ValueError: no text for you>"
    assert len(summarize(_Broken(), 10)) <= 10


def test_an_object_whose_str_is_huge():
    text = summarize(_Huge(), 200)
    assert len(text) <= 200 and text.startswith("zzz") and _cut_count(text) + text.index("…") == 50_000


# -- one prompt's renderer ------------------------------------------------------------------------------------------
def test_short_plain_values_go_in_as_str_and_are_not_counted():
    render = ContextRenderer()
    assert [render(v) for v in ("hi", 3, 2.5, True, None)] == ["hi", "3", "2.5", "True", "None"]
    assert render(np.float64(0.25)) == "0.25" and render(np.int64(7)) == "7"
    assert render.objects == 0 and render.chars == 0 and render.footer() == ""


def test_two_frames_share_one_budget(tall):
    full = summarize(tall, 10**6)  # as much as a summary ever shows
    render = ContextRenderer(budget=len(full) + 1000)
    assert render(tall) == full
    second = render(tall)
    assert second.startswith("DataFrame: 1,000,000 rows × 5 columns\n") and len(second) <= 1000
    assert "| 999999 |" in second  # a smaller summary, not a cut one
    assert render.objects == 2 and render.chars == len(full) + len(second) <= render.budget


def test_a_spent_budget_leaves_objects_out():
    render = ContextRenderer(budget=100)
    render("x" * 500)
    assert render(pd.DataFrame({"a": range(10**6)})) == (
        "<DataFrame: 1,000,000 × 1, left out: the context budget of 100 characters is used up>")
    assert render("short") == "short"  # plain values still go in


def test_footer_wording():
    render = ContextRenderer()
    render("y" * 812)
    assert render.footer() == "context: 1 object, 812 chars"
    render(list(range(1000)))
    assert render.objects == 2
    assert re.fullmatch(r"context: 2 objects, \d\.\d k chars", render.footer())
    assert render.footer() == f"context: 2 objects, {render.chars / 1000:.1f} k chars"


# -- errors ---------------------------------------------------------------------------------------------------------
CELL = """\
import json

def parse(text):
    return json.loads(text)

parse("{not json")
"""


def _raise_in_cell(source: str, filename: str = "/tmp/ipykernel_1/2.py") -> BaseException:
    try:
        exec(compile(source, filename, "exec"), {})
    except Exception as error:
        return error
    raise AssertionError("the cell did not raise")


def test_user_frames_are_kept_and_library_frames_left_out():
    log = ErrorLog()
    entry = log.record(7, _raise_in_cell(CELL), CELL)
    assert isinstance(entry, CellError)
    assert entry.execution_count == 7 and entry.type == "json.decoder.JSONDecodeError"
    assert entry.message.startswith("Expecting property name")
    assert entry.frames.count('File "<cell>"') == 2
    assert "line 6, in <module>\n    parse(\"{not json\")" in entry.frames
    assert "line 4, in parse\n    return json.loads(text)" in entry.frames
    assert "json/decoder.py" not in entry.frames and "test_context.py" not in entry.frames
    assert entry.source == CELL
    assert str(entry).startswith("json.decoder.JSONDecodeError: Expecting property name")
    assert "\nTraceback (your code):\n  File \"<cell>\", line 6" in str(entry)


def test_a_builtin_error_reads_like_python_prints_it():
    source = "def f(a, b):\n    return a / b\n\nf(1, 0)\n"
    entry = ErrorLog().record(3, _raise_in_cell(source, "<ipython-input-3-abc>"), source)
    assert str(entry) == ("ZeroDivisionError: division by zero\nTraceback (your code):\n"
                          '  File "<cell>", line 4, in <module>\n    f(1, 0)\n'
                          '  File "<cell>", line 2, in f\n    return a / b')


def test_an_error_never_raised_has_no_frames():
    entry = ErrorLog().record(1, KeyError("k"), "d['k']")
    assert entry.frames == "" and str(entry) == "KeyError: 'k'"


def test_a_cell_that_does_not_compile_says_where():
    try:
        compile("x = 1\ny = (\n", "/tmp/ipykernel_9/77.py", "exec")
    except SyntaxError as error:
        entry = ErrorLog().record(2, error, "x = 1\ny = (\n")
    assert entry.type == "SyntaxError"
    assert entry.frames == '  File "<cell>", line 2\n    y = (\n'


def test_last_get_getitem_str_and_bool():
    log = ErrorLog()
    assert not log and log.last() is None and log.get(1) is None and str(log) == ""
    with pytest.raises(KeyError):
        log[1]
    log.record(2, ValueError("two"), "")
    log.record(5, TypeError("five"), "")
    assert log and len(log) == 2
    assert log.last().message == "five" and str(log) == "TypeError: five"
    assert log.get(2).type == "ValueError" and log[2] is log.get(2)
    assert log.get(-1) is log[5] and log.get(-2) is log[2] and log.get(-3) is None
    assert log.get(3) is None


def test_the_log_keeps_the_last_fifty():
    log = ErrorLog()
    for n in range(1, 61):
        log.record(n, RuntimeError(str(n)), "")
    assert len(log) == 50
    assert log.get(10) is None and log[11].message == "11" and log.last().execution_count == 60


# -- the namespace --------------------------------------------------------------------------------------------------
def test_the_namespace_adds_err_and_passes_in_and_out_through():
    log = ErrorLog()
    user_ns = {"In": ["", "1 + 1"], "Out": {1: 2}, "df": "frame"}
    assert "Err" not in notebook_namespace(user_ns, log)  # before any cell raised, {Err} names nothing
    try:
        int("not a number")
    except ValueError as err:
        log.record(1, err, 'int("not a number")')
    ns = notebook_namespace(user_ns, log)
    assert ns["Err"] is log and "Err" in ns
    assert ns["In"] is user_ns["In"] and ns["Out"] is user_ns["Out"] and ns["df"] == "frame"
    assert set(ns) == {"In", "Out", "df", "Err"} and len(ns) == 4
    assert "missing" not in ns
    user_ns["later"] = 1  # a view, not a copy
    assert ns["later"] == 1


def test_a_user_defined_err_wins():
    ns = notebook_namespace({"Err": "mine"}, ErrorLog())
    assert ns["Err"] == "mine" and len(ns) == 1


def test_the_namespace_works_with_interpolate():
    from wenxin_magic.parsers import interpolate

    log = ErrorLog()
    log.record(4, ValueError("bad"), "")
    ns = notebook_namespace({"In": ["", "x = 1"], "Out": {}}, log)
    assert interpolate("{In[1]} / {Err} / {Err[4]} / {Out[9]} / {Err[8]}", ns) == (
        "x = 1 / ValueError: bad / ValueError: bad / {Out[9]} / {Err[8]}")


# -- history references ---------------------------------------------------------------------------------------------
def test_history_references():
    text = "fix {Err} from {In[3]} given {Out[12]} and {Err[5]}; not {df}, {Out}, {In[x]}, {{In[4]}} or {Err.type}"
    assert history_references(text) == ["{Err}", "{In[3]}", "{Out[12]}", "{Err[5]}"]
    assert history_reference(text) == "{Err}"
    assert history_reference("{In[-1]} and {Out[ 2 ]}") == "{In[-1]}"
    assert history_reference("nothing here") is None and history_references("") == []


# -- loading stays free ---------------------------------------------------------------------------------------------
def test_importing_the_module_imports_neither_pandas_nor_numpy():
    code = ("import sys, wenxin_magic.context as c; c.summarize([1], 10); c.ContextRenderer()({'a': 1}); "
            "print(sorted(m for m in ('pandas', 'numpy', 'IPython') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert json.loads(out.replace("'", '"')) == []
