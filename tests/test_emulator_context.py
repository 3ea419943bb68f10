"""The emulator's answers to prompts that carry notebook context, over loopback HTTP with httpx.

A table summary (DataFrame, Series, ndarray) gets an answer that names its row count and a column; a cell's
error (``%wenxin fix``, or ``{Err}`` in a question) gets its exception named and the cell corrected in one
``python`` block that compiles and keeps the cell's other lines. Prompts without either are not read as context.
"""

from __future__ import annotations

import builtins
import hashlib
import json
import re
import zlib

import numpy as np
import pandas as pd
import pytest

from wenxin_magic.context import DEFAULT_BUDGET, ErrorLog, summarize
from wenxin_magic.magics import FIX_PROMPT

V1_CHAT = "/rpc/2.0/ai_custom/v1/wenxinworkshop/chat/completions"
V2 = "/v2/chat/completions"
V2_MODEL = "deepseek-v3"

# the prompts hold what the notebook really puts there: context.summarize's text, %wenxin fix's prompt
FRAME = pd.DataFrame({
    "city": pd.Series(["北京", "上海", "广州", "成都"] * 250, dtype=object),
    "year": np.arange(1000) % 5 + 2019,
    "visitors": np.linspace(1.2e7, 7.7e6, 1000),
    "rating": np.linspace(4.5, 4.6, 1000),
})
TABLE = summarize(FRAME, DEFAULT_BUDGET)
SERIES = summarize(FRAME["visitors"], DEFAULT_BUDGET)
ARRAY = summarize(np.linspace(0.1, 0.9, 3000).reshape(1000, 3), DEFAULT_BUDGET)

ABSENT_MODULES = ("sklearn",)  # not installed in the cell's world, whatever this machine has


def _import(name, *args, **kwargs):
    if name.partition(".")[0] in ABSENT_MODULES:
        raise ModuleNotFoundError(f"No module named '{name}'", name=name)
    return builtins.__import__(name, *args, **kwargs)


def cell_error(source: str):
    """The error log's entry for ``source`` run as a notebook cell (it must raise)."""
    filename = f"/tmp/ipykernel_4242/{zlib.crc32(source.encode())}.py"  # where ipykernel puts a cell's code
    try:
        exec(compile(source, filename, "exec"), {"__builtins__": {**vars(builtins), "__import__": _import}})
    except Exception as error:
        return ErrorLog().record(1, error, source)
    raise AssertionError(f"the cell did not fail: {source!r}")


def _v2_key(purpose: str) -> str:
    digest = hashlib.sha256(purpose.encode()).hexdigest()
    return f"bce-v3/ALTAK-FAKE{digest[:10]}/{digest[10:50]}"


KEY = _v2_key("emulator-context")



@pytest.fixture
def v1(emu, client, token):
    """``ask(prompt, **body)``: the v1 answer's text."""
    def ask(prompt: str, **body) -> str:
        r = client.post(V1_CHAT, params={"access_token": token},
                        json={"messages": [{"role": "user", "content": prompt}], **body})
        assert r.status_code == 200 and "error_code" not in r.json(), r.text
        return r.json()["result"]

    return ask


@pytest.fixture
def v2(emu, client):
    """``ask(prompt, **body)``: the v2 answer's text."""
    def ask(prompt: str, **body) -> str:
        r = client.post(V2, json={"model": V2_MODEL, "messages": [{"role": "user", "content": prompt}], **body},
                        headers={"Authorization": f"Bearer {KEY}"})
        assert r.status_code == 200, r.text
        return r.json()["choices"][0]["message"]["content"]

    return ask


@pytest.fixture(params=["v1", "v2"])
def ask(request):
    return request.getfixturevalue(request.param)


def streamed_v1(client, token, prompt: str) -> str:
    r = client.post(V1_CHAT, params={"access_token": token},
                    json={"messages": [{"role": "user", "content": prompt}], "stream": True})
    assert r.status_code == 200, r.text
    events = [json.loads(line[5:]) for line in r.text.splitlines() if line.startswith("data:")]
    assert events and events[-1]["is_end"] is True
    return "".join(e["result"] for e in events)


def streamed_v2(client, prompt: str) -> tuple[str, int]:
    r = client.post(V2, json={"model": V2_MODEL, "messages": [{"role": "user", "content": prompt}], "stream": True},
                    headers={"Authorization": f"Bearer {KEY}"})
    assert r.status_code == 200, r.text
    lines = [line[5:].strip() for line in r.text.splitlines() if line.startswith("data:")]
    assert lines[-1] == "[DONE]"
    chunks = [json.loads(line) for line in lines[:-1]]
    pieces = [c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"]]
    return "".join(pieces), sum(1 for p in pieces if p)


def code_blocks(text: str) -> list[str]:
    """The bodies of the ```python blocks of an answer."""
    return re.findall(r"^```python\n(.*?)\n```$", text, re.M | re.S)


def fence_count(text: str) -> int:
    return len(re.findall(r"^```", text, re.M))


def the_fix(text: str) -> str:
    """The one corrected cell of an answer: exactly one python block, which compiles."""
    blocks = code_blocks(text)
    assert len(blocks) == 1 and fence_count(text) == 2, text
    compile(blocks[0], "<fixed cell>", "exec")
    return blocks[0]


def kept_lines(source: str, fixed: str, changed: set[int]) -> None:
    """Every line of the cell but the ``changed`` ones (1-based) appears in the fix unchanged, in order."""
    fixed_lines = fixed.split("\n")
    at = 0
    for number, line in enumerate(source.split("\n"), 1):
        if number in changed:
            continue
        assert line in fixed_lines[at:], (line, fixed)
        at = fixed_lines.index(line, at) + 1


def fix_prompt(source: str, error: str, line: int | None = None, name: str = "<module>") -> str:
    """What ``%wenxin fix`` sends after ``source`` failed in a cell with ``error``, last at ``line`` in ``name``."""
    entry = cell_error(source)
    assert str(entry).startswith(error + "\n" if entry.frames else error), str(entry)
    if line is not None:
        assert entry.frames.rstrip("\n").split("\n")[-2].endswith(f", line {line}, in {name}"), entry.frames
    return FIX_PROMPT.format(source=entry.source.strip(), error=str(entry).strip())


# -- tables -----------------------------------------------------------------------------------------------

def test_a_dataframe_question_in_english_names_rows_and_a_column(ask):
    text = ask("How should I analyse this data?\n\n" + TABLE)
    assert "1,000 rows" in text
    assert "visitors" in text and "city" in text
    assert not re.search(r"[\u4e00-\u9fff]", text.replace("北京", ""))  # English, though the rows hold 北京
    code = code_blocks(text)
    assert len(code) == 1
    assert 'df.groupby("city")["visitors"].mean()' in code[0]
    compile(code[0], "<suggestion>", "exec")


def test_a_dataframe_question_in_chinese_is_answered_in_chinese(ask):
    text = ask("这份数据该怎么分析？\n\n" + TABLE)
    assert "1,000 行" in text
    assert "visitors" in text
    assert "rows" not in text
    assert 'df.groupby("city")["visitors"].mean()' in code_blocks(text)[0]


def test_what_the_data_is_describes_its_columns(ask):
    text = ask("What is this data?\n\n" + TABLE)
    assert "1,000 rows" in text
    for column, dtype in (("city", "object"), ("year", "int64"), ("visitors", "float64"), ("rating", "float64")):
        assert f"`{column}` ({dtype})" in text
    assert "```" not in text
    zh = ask("这是什么数据？\n\n" + TABLE)
    assert "1,000 行" in zh and "`visitors`（float64）：数值列" in zh


def test_a_dataframe_whose_columns_share_a_dtype_and_an_unnamed_variant(ask):
    table = summarize(pd.DataFrame({"height": np.linspace(1.7, 1.8, 50), "weight": np.linspace(60, 72, 50)}),
                      DEFAULT_BUDGET)
    text = ask("Analyse it please:\n" + table)
    assert "50 rows" in text and "height" in text
    assert 'df["height"].describe()' in text


def test_a_series_names_its_count_and_name(ask):
    en = ask("Summarise these values:\n" + SERIES)
    assert "1,000 values" in en and "1,000 rows" in en and "visitors" in en
    assert "visitors.describe()" in code_blocks(en)[0]
    zh = ask("分析一下这些值：\n" + SERIES)
    assert "1,000 个值" in zh and "1,000 行" in zh and "visitors" in zh


def test_an_ndarray_names_its_shape_and_a_column(ask):
    en = ask("How can I analyse this array?\n" + ARRAY)
    assert "1000 rows" in en and "3 columns" in en and "Column 0" in en
    compile(code_blocks(en)[0], "<suggestion>", "exec")
    zh = ask("这个数组是什么？\n" + ARRAY)
    assert "1000 行" in zh and "第 0 列" in zh and "```" not in zh


def test_a_named_frame_in_the_middle_of_a_line(ask):
    text = ask("Here is my data: DataFrame 'sales': 12 rows × 3 columns\ndtypes: region: object, month: int64, "
               "revenue: float64\nWhat trends can I find?")
    assert "12 rows × 3 columns" in text
    code = code_blocks(text)[0]
    assert 'sales.groupby("region")["revenue"].mean()' in code and 'sales.groupby("month")["revenue"].sum()' in code


def test_a_table_interpolated_into_a_chinese_sentence_is_answered_in_chinese(ask):
    text = ask("这份数据" + TABLE + "里有什么？")
    assert text.startswith("这份 DataFrame 共 1,000 行 × 4 列")
    assert "`visitors`（float64）：数值列" in text and "类别列如 `city`" in text
    size = ask("这张表" + TABLE + "有多大？")
    assert "1,000 行" in size and "```" not in size


def test_a_series_to_sort_is_sorted(ask):
    series = summarize(pd.Series([847.0, 848.5], index=["北京", "上海"], name="visitors"), DEFAULT_BUDGET)
    text = ask("按平均游客数给这些城市排个序：" + series + "（这是 Out[6]）")
    assert "2 行" in text and "visitors.sort_values(ascending=False)" in code_blocks(text)[0]
    assert "从高到低：\n\n1. 上海：848.5\n2. 北京：847\n" in text


# -- errors -----------------------------------------------------------------------------------------------

MEAN = "def mean(values):\n    return sum(values) / len(values)\n\nmean([])"


def test_the_fix_prompt_for_a_zero_division_guards_it(ask):
    text = ask(fix_prompt(MEAN, "ZeroDivisionError: division by zero", 2, "mean"))
    assert "ZeroDivisionError" in text.split("```")[0]
    fixed = the_fix(text)
    assert "    if not values:\n        return 0\n    return sum(values) / len(values)" in fixed
    kept_lines(MEAN, fixed, set())
    namespace: dict = {}
    exec(compile(fixed, "<fixed cell>", "exec"), namespace)  # the fix really runs now
    assert namespace["mean"]([]) == 0 and namespace["mean"]([2, 4]) == 3


def test_a_zero_division_outside_a_return_gets_a_denominator_that_is_never_zero(ask):
    source = "counts = [0, 2]\nfor c in counts:\n    share = 10 / c\n    print(share)"
    fixed = the_fix(ask(fix_prompt(source, "ZeroDivisionError: division by zero", 3)))
    assert "    share = 10 / (c or 1)" in fixed.split("\n")
    kept_lines(source, fixed, {3})


def test_a_name_error_typo_picks_the_close_name(ask):
    source = "total = 0\nfor price in [3, 4]:\n    total += price\nprint(f'sum: {totl}', totl)"
    text = ask(fix_prompt(source, "NameError: name 'totl' is not defined", 4))
    assert "NameError" in text.split("```")[0]
    fixed = the_fix(text)
    assert fixed.split("\n")[-1] == "print(f'sum: {total}', total)"
    kept_lines(source, fixed, {4})


def test_a_name_error_without_a_close_name_defines_it(ask):
    source = "rate = 3\nprint(rate * discount)"
    fixed = the_fix(ask(fix_prompt(source, "NameError: name 'discount' is not defined", 2)))
    assert re.search(r"^discount = ", fixed, re.M)
    kept_lines(source, fixed, set())
    missing_module = the_fix(ask(fix_prompt("df = pd.DataFrame()", "NameError: name 'pd' is not defined", 1)))
    assert missing_module == "import pandas as pd\ndf = pd.DataFrame()"


def test_a_key_error_uses_get(ask):
    source = "prices = {'apple': 3}\nfor fruit in ['apple']:\n    print(fruit, prices['pear'])"
    text = ask(fix_prompt(source, "KeyError: 'pear'", 3))
    assert "KeyError" in text.split("```")[0]
    fixed = the_fix(text)
    assert "    print(fruit, prices.get('pear'))" in fixed.split("\n")
    kept_lines(source, fixed, {3})
    counting = "counts = {}\nfor w in 'a b a'.split():\n    counts[w] += 1\nprint(counts)"
    fixed = the_fix(ask(fix_prompt(counting, "KeyError: 'a'", 3)))
    assert "    counts[w] = counts.get(w, 0) + 1" in fixed.split("\n")
    kept_lines(counting, fixed, {3})


def test_an_index_error_guards_the_index(ask):
    source = "items = [1, 2, 3]\nfourth = items[3]\nprint(fourth)"
    text = ask(fix_prompt(source, "IndexError: list index out of range", 2))
    assert "IndexError" in text.split("```")[0]
    fixed = the_fix(text)
    assert "fourth = items[3] if len(items) > 3 else None" in fixed.split("\n")
    kept_lines(source, fixed, {2})
    namespace: dict = {}
    exec(compile(fixed, "<fixed cell>", "exec"), namespace)
    assert namespace["fourth"] is None


def test_a_type_error_converts_the_value(ask):
    source = "total = 0\nfor v in ['1', '2']:\n    total = total + v\nprint(total)"
    text = ask(fix_prompt(source, "TypeError: unsupported operand type(s) for +: 'int' and 'str'", 3))
    assert "TypeError" in text.split("```")[0]
    fixed = the_fix(text)
    assert "    total = total + int(v)" in fixed.split("\n")
    kept_lines(source, fixed, {3})
    joined = "age = 3\nprint('Age: ' + age)"
    fixed = the_fix(ask(fix_prompt(joined, 'TypeError: can only concatenate str (not "int") to str', 2)))
    assert fixed == "age = 3\nprint('Age: ' + str(age))"


def test_an_attribute_error_on_none_checks_for_none(ask):
    source = "import re\n\nm = re.match(r'\\d+', 'abc')\nprint(m.group(0))\nprint('done')"
    text = ask(fix_prompt(source, "AttributeError: 'NoneType' object has no attribute 'group'", 4))
    assert "AttributeError" in text.split("```")[0]
    fixed = the_fix(text)
    assert "if m is not None:\n    print(m.group(0))" in fixed
    kept_lines(source, fixed, {4})


def test_a_missing_module_is_installed_and_the_code_kept(ask):
    source = "import sklearn\nprint(sklearn.__version__)"
    text = ask(fix_prompt(source, "ModuleNotFoundError: No module named 'sklearn'", 1))
    assert "ModuleNotFoundError" in text and "pip install scikit-learn" in text
    assert the_fix(text) == source


def test_another_error_wraps_the_failing_line_in_try_except(ask):
    source = "def parse(text):\n    value = int(text)\n    return value\n\nparse('abc')"
    text = ask(fix_prompt(source, "ValueError: invalid literal for int() with base 10: 'abc'", 2, "parse"))
    assert "ValueError" in text.split("```")[0]
    fixed = the_fix(text)
    assert re.search(r"^    try:.*\n        value = int\(text\)\n    except ValueError as err:  # ", fixed, re.M)
    kept_lines(source, fixed, {2})


def test_an_error_in_a_users_own_question_is_explained_in_their_language(ask):
    # {Err} in a question: the error log's text, without the cell
    question = "我的代码报错了，为什么？\n\n" + str(cell_error("prices = {'苹果': 3}\nprint(prices['梨'])"))
    text = ask(question)
    assert "KeyError" in text and "原因" in text
    assert the_fix(text) == "print(prices.get('梨'))"
    english = ask("Why does this fail?\n\n```python\n" + MEAN + "\n```\n\nZeroDivisionError: division by zero")
    assert english.startswith("The cell raised ZeroDivisionError")
    assert "if not values:" in the_fix(english)


def test_an_error_interpolated_after_a_question_is_found(ask):
    err = str(cell_error(MEAN))
    text = ask("为什么会报这个错？" + err)
    assert text.startswith("这个单元格抛出了 ZeroDivisionError")
    assert "if not values:" in the_fix(text)
    english = ask("Why does this fail? " + err)
    assert english.startswith("The cell raised ZeroDivisionError")


def test_streams_keep_the_code_block_whole(client, token, emu, v1, v2):
    prompt = fix_prompt(MEAN, "ZeroDivisionError: division by zero", 2, "mean")
    whole_v1, whole_v2 = v1(prompt), v2(prompt)
    assert streamed_v1(client, token, prompt) == whole_v1
    text, pieces = streamed_v2(client, prompt)
    assert text == whole_v2 and pieces > 1
    the_fix(text)
    table_text, _ = streamed_v2(client, "How should I analyse this data?\n\n" + TABLE)
    assert table_text == v2("How should I analyse this data?\n\n" + TABLE)


def test_long_words_and_penalties_leave_the_answer_alone(ask):
    source = "def longest(words):\n    return sum(len(w) for w in words) / len(words)\n\nlongest([])"
    text = ask(fix_prompt(source, "ZeroDivisionError: division by zero", 2, "longest"), penalty_score=2.0)
    assert text.rstrip().endswith("```")  # no filler after the block, though "long" is in the cell
    the_fix(text)


def test_the_same_request_gives_the_same_answer(ask):
    for prompt in ("How should I analyse this data?\n\n" + TABLE,
                   fix_prompt(MEAN, "ZeroDivisionError: division by zero", 2, "mean")):
        assert ask(prompt) == ask(prompt)


# -- prompts without a table or an error: answered as any other prompt, not as notebook context ---------------

OTHER = [  # (prompt, what the answer has: "topic", "code" or "honest", the emulator's reply to what it can't answer)
    ("介绍下故宫", "topic"),
    ("Write a python function to add two numbers", "code"),
    ("What is this?\n| a | b |\n|---|---|\n| 1 | 2 |", "honest"),
    ("What does a ValueError mean in Python?", "honest"),
    ("How do I create a DataFrame of 3 rows by 2 columns in pandas?", "honest"),
    ("Error: the kettle broke. What now?", "honest"),
]


@pytest.mark.parametrize(("prompt", "kind"), OTHER, ids=["topic", "code", "table-only", "error-word", "dataframe-words",
                                                         "error-words"])
def test_other_prompts_are_not_read_as_notebook_context(v1, v2, prompt, kind):
    for text in (v1(prompt), v2(prompt)):
        if kind == "topic":
            assert "太和殿" in text and fence_count(text) == 0
        elif kind == "code":
            assert "def add(a, b):" in text and fence_count(text) == 2
        else:  # neither a table's summary nor an exception explained with a corrected cell
            assert fence_count(text) == 0 and "offline emulator" in text, text
