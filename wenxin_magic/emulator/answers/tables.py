"""Answers to a prompt holding a table summary (DataFrame, Series, ndarray): its size, its columns and a
suggestion in code, so offline demos make sense.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ...summary_format import ARRAY_HEADER, DTYPES_LINE, FRAME_HEADER, SERIES_HEADER
from .notebook import ANSI_ESCAPE, asked_in_chinese, user_words
from .request import Context

_NUMERIC_DTYPE = re.compile(r"^(?:u?int|Int|UInt|float|Float|complex|number|decimal)", re.I)
_TIME_WORDS = ("year", "month", "date", "day", "time", "week", "年", "月", "日期", "时间")
_ID_WORDS = ("id", "index", "idx", "code", "no", "编号", "序号")


@dataclass
class _Table:
    kind: str  # "DataFrame", "Series" or "ndarray"
    rows: str  # as the prompt gives it: "1,000"
    ncols: str = ""
    columns: list = field(default_factory=list)  # [(name, dtype or "")]
    name: str = ""
    shape: str = ""
    dtype: str = ""
    values: list = field(default_factory=list)  # a Series' (label, number) pairs, when the prompt shows them all


def table_of(text: str) -> _Table | None:
    """The table summary the prompt holds, if any (the first DataFrame, else Series, else ndarray)."""
    text = ANSI_ESCAPE.sub("", text or "")
    m = FRAME_HEADER.search(text)
    if m:
        rest = text[m.end():]
        table = _Table("DataFrame", m.group(2).strip(), m.group(3).strip(), name=(m.group(1) or "").strip())
        d = DTYPES_LINE.search(rest[:4000])
        if d:
            for part in re.finditer(r"\s*([^,:：]+?)\s*[:：]\s*([A-Za-z][\w]*(?:\[[^\]]*\])?)\s*(?:,|$)", d.group(1)):
                table.columns.append((part.group(1).strip().strip("'\"`"), part.group(2)))
        if not table.columns:
            table.columns = _markdown_columns(rest[:4000])
            same = re.match(r"all\s+(\w+)", d.group(1).strip()) if d else None
            if same:  # "dtypes: all float64"
                table.columns = [(name, same.group(1)) for name, _ in table.columns]
        return table
    m = SERIES_HEADER.search(text)
    if m:
        name = (m.group(1) or "").strip()
        dtype = m.group(3)
        return _Table("Series", m.group(2).strip(), columns=[(name, dtype)] if name else [], name=name, dtype=dtype,
                      values=_series_values(text[m.end():m.end() + 4000]))
    m = ARRAY_HEADER.search(text)
    if m:
        dims = [d.strip() for d in m.group(2).split(",") if d.strip()]
        if dims:
            return _Table("ndarray", dims[0], dims[1] if len(dims) > 1 else "", shape=", ".join(dims),
                          dtype=m.group(3), name=(m.group(1) or "").strip())
    return None


def _series_values(text: str) -> list:
    """(label, number) of every row of the Markdown table after a Series' header; [] when rows are left out."""
    lines = text.lstrip("\n").splitlines()
    if len(lines) < 3 or not re.fullmatch(r"\|?[\s|:-]+\|?", lines[1].strip()):
        return []
    pairs = []
    for line in lines[2:]:
        row = line.strip()
        # the words after a row's last pipe are the question's, not the row's
        cells = [c.strip() for c in row[1:row.rindex("|")].split("|")] if row.startswith("|") and row.count("|") > 1 else []
        if len(cells) != 2:
            break
        try:
            pairs.append((cells[0], float(cells[1])))
        except ValueError:
            return []
    return pairs


def _markdown_columns(text: str) -> list:
    """Columns from a markdown table's header (the index column left out), dtypes guessed from its first row."""
    lines = [line.strip() for line in text.splitlines()]
    for i in range(len(lines) - 1):
        if lines[i].startswith("|") and re.fullmatch(r"\|?\s*:?-{2,}:?\s*(\|\s*:?-{2,}:?\s*)*\|?", lines[i + 1]):
            header = [c.strip() for c in lines[i].strip("|").split("|")]
            first = [c.strip() for c in lines[i + 2].strip("|").split("|")] if i + 2 < len(lines) else []
            cols = []
            for j, name in enumerate(header):
                if not name:
                    continue
                value = first[j] if j < len(first) else ""
                cols.append((name, "float64" if re.fullmatch(r"-?[\d.]+(?:e[+-]?\d+)?", value) else "object"))
            return cols
    return []


def _is_numeric(dtype: str) -> bool:
    return bool(_NUMERIC_DTYPE.match(dtype or ""))


def _numeric_column(columns: list) -> str | None:
    """The column a suggestion is about: a float one first, then an int one that is not an id or a year."""
    floats = [n for n, d in columns if _is_numeric(d) and d.lower().startswith(("float", "decimal"))]
    ints = [n for n, d in columns if _is_numeric(d) and n not in floats]
    plain = [n for n in ints if not any(w == n.lower() or n.lower().endswith("_" + w) for w in _ID_WORDS + _TIME_WORDS)]
    for group in (floats, plain, ints):
        if group:
            return group[0]
    return None


def _group_column(columns: list) -> str | None:
    for n, d in columns:
        if not _is_numeric(d) and not d.lower().startswith(("datetime", "timedelta", "period")):
            return n
    return None


def _time_column(columns: list) -> str | None:
    for n, d in columns:
        if d.lower().startswith("datetime") or any(w in n.lower() for w in _TIME_WORDS):
            return n
    return None


def _py(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'



_ASKS_ANALYSIS = re.compile(r"analy[sz]|how (?:should|can|do|would) i|explore|insight|trend|compare|statistic|"
                            r"summari[sz]|plot|chart|visuali|分析|统计|怎么|如何|趋势|比较|洞察|可视化|画|图|建议", re.I)
_ASKS_WHAT = re.compile(r"what(?:'s| is| are| kind| does)|describe|explain|meaning|how (?:big|large|many)|\bsize\b|\bshape\b|"
                        r"什么|介绍|描述|解释|含义|是啥|哪些|多大|多少|规模|大小", re.I)


def table_answer(ctx: Context, q: str, table: _Table) -> str:
    zh = asked_in_chinese(ctx, q)
    around = user_words(q)
    analysis = bool(_ASKS_ANALYSIS.search(around)) or not _ASKS_WHAT.search(around)
    if table.kind == "ndarray":
        return _array_answer(ctx, table, zh, analysis)
    if table.kind == "Series":
        return _series_answer(ctx, q, table, zh, analysis)
    cols = table.columns
    num, group, when = _numeric_column(cols), _group_column(cols), _time_column(cols)
    var = table.name if table.name.isidentifier() else "df"
    names = [n for n, _ in cols]
    shown = ("、" if zh else ", ").join(f"`{n}`" for n in names[:8]) + ("等" if zh and len(names) > 8 else
                                                                         ", …" if len(names) > 8 else "")
    if zh:
        head = f"这份 DataFrame 共 {table.rows} 行 × {table.ncols} 列" + (f"，列为 {shown}。" if names else "。")
    else:
        head = (f"This DataFrame has {_plural(table.rows, 'row')} × {_plural(table.ncols, 'column')}"
                + (f": {shown}." if names else "."))
    if not analysis or not num:
        return head + "\n\n" + _describe_columns(cols, zh) if cols else head
    lines = []
    if zh:
        lines.append(f"# {num} 的整体分布")
    else:
        lines.append(f"# the overall distribution of {num}")
    lines.append(f"print({var}[{_py(num)}].describe())")
    if group:
        lines += ["", f"# 按 {group} 比较 {num} 的均值" if zh else f"# mean {num} per {group}",
                  f"print({var}.groupby({_py(group)})[{_py(num)}].mean().sort_values(ascending=False))"]
    if when and when != num and when != group:
        lines += ["", f"# {num} 随 {when} 的变化" if zh else f"# how {num} changes over {when}",
                  f"print({var}.groupby({_py(when)})[{_py(num)}].sum())"]
    if not group and not when:
        lines += ["", "# 数值列之间的相关性" if zh else "# correlations between the numeric columns",
                  f"print({var}.corr(numeric_only=True))"]
    code = "\n".join(lines)
    if zh:
        intro = ctx.pick([f"可以先看 `{num}` 的分布，再按 `{group or when}` 分组比较：" if group or when else
                          f"可以先看 `{num}` 的分布，再看各数值列之间的关系：", f"建议围绕数值列 `{num}` 做分析，例如："], "table")
        outro = f"把 `{var}` 换成你的变量名即可运行；{table.rows} 行的数据，这些汇总很快就能算完。"
    else:
        intro = ctx.pick([f"A good start is the distribution of `{num}`, then a comparison by `{group or when}`:"
                          if group or when else f"A good start is the distribution of `{num}`, then the correlations:",
                          f"I'd build the analysis around the numeric column `{num}`, for example:"], "table")
        outro = f"Replace `{var}` with your variable's name; with {table.rows} rows these aggregations run instantly."
    return f"{head}\n\n{intro}\n\n```python\n{code}\n```\n\n{outro}"


def _plural(count: str, word: str) -> str:
    return f"{count} {word}" + ("" if count == "1" else "s")


def _describe_columns(cols: list, zh: bool) -> str:
    out = []
    for name, dtype in cols[:12]:
        if zh:
            kind = "数值列" if _is_numeric(dtype) else "时间列" if dtype.startswith("datetime") else "类别/文本列"
            out.append(f"- `{name}`（{dtype or '未知类型'}）：{kind}")
        else:
            kind = "numeric" if _is_numeric(dtype) else "a date/time column" if dtype.startswith("datetime") \
                else "categorical / text"
            out.append(f"- `{name}` ({dtype or 'unknown dtype'}): {kind}")
    num, group = _numeric_column(cols), _group_column(cols)
    if num:
        out.append("")
        if zh:
            out.append(f"数值列如 `{num}` 适合做统计汇总" + (f"，类别列如 `{group}` 适合用来分组。" if group else "。"))
        else:
            out.append(f"Numeric columns such as `{num}` suit summary statistics"
                       + (f"; categorical ones such as `{group}` are good for grouping." if group else "."))
    return "\n".join(out)


def _series_answer(ctx: Context, q: str, table: _Table, zh: bool, analysis: bool) -> str:
    name = table.name or "values"
    var = table.name if table.name.isidentifier() else "s"
    numeric = _is_numeric(table.dtype)
    if zh:
        head = "这是一个 Series" + (f" `{table.name}`" if table.name else "") + f"，共 {table.rows} 个值（{table.rows} 行），" \
               f"类型为 {table.dtype or '未知'}。"
    else:
        head = "This is a Series" + (f" `{table.name}`" if table.name else "") + f" with {table.rows} values " \
               f"({table.rows} rows), dtype {table.dtype or 'unknown'}."
    if not analysis:
        return head + ("\n\n" + ("它是数值数据，可以看均值、分位数和极值。" if zh and numeric else
                                  "它是类别或文本数据，可以统计各取值出现的次数。" if zh else
                                  "It is numeric: look at its mean, quantiles and extremes." if numeric else
                                  "It holds categories or text: count how often each value appears."))
    if numeric and re.search(r"sort|rank|order|排序|排个序|排名", user_words(q), re.I):
        code = f"print({var}.sort_values(ascending=False))"
        if table.values and len(table.values) <= 20:
            ranked = sorted(table.values, key=lambda pair: -pair[1])
            shown = "\n".join(f"{i}. {label}{'：' if zh else ': '}{value:g}" for i, (label, value) in enumerate(ranked, 1))
            head += ("\n\n从高到低：\n\n" if zh else "\n\nFrom highest to lowest:\n\n") + shown
    elif numeric:
        code = (f"print({var}.describe())\nprint({var}.nlargest(5))  # "
                + (f"{name} 最大的 5 个值" if zh else f"the 5 largest {name}"))
    else:
        code = f"print({var}.value_counts().head(10))"
    intro = (f"可以这样分析 `{name}`：" if zh else f"You could analyse `{name}` like this:")
    return f"{head}\n\n{intro}\n\n```python\n{code}\n```"


def _array_answer(ctx: Context, table: _Table, zh: bool, analysis: bool) -> str:
    cols = table.ncols
    var = table.name if table.name.isidentifier() else "arr"
    if zh:
        head = (f"这是一个 ndarray，形状为 ({table.shape})，即 {table.rows} 行" + (f" × {cols} 列" if cols else "")
                + (f"，类型为 {table.dtype}" if table.dtype else "") + f"。第 0 列可以用 `{var}[:, 0]` 取出。")
    else:
        head = (f"This is an ndarray of shape ({table.shape}): {table.rows} rows" + (f" × {cols} columns" if cols else "")
                + (f", dtype {table.dtype}" if table.dtype else "") + f". Column 0 is `{var}[:, 0]`.")
    if not analysis:
        return head
    if cols:
        code = ("import numpy as np\n\n" + ("# 每一列（column 0, 1, …）的均值和标准差\n" if zh else
                                            "# mean and standard deviation of each column (column 0, 1, …)\n")
                + f"print({var}.mean(axis=0))\nprint({var}.std(axis=0))\nprint(np.corrcoef({var}, rowvar=False))")
    else:
        code = f"import numpy as np\n\nprint({var}.mean(), {var}.std())\nprint(np.percentile({var}, [25, 50, 75]))"
    intro = f"把 `{var}` 换成你的数组变量名：" if zh else f"Replace `{var}` with your array's name:"
    return f"{head}\n\n{intro}\n\n```python\n{code}\n```"
