"""Answers to a prompt holding a cell's error: the exception explained and the cell corrected, with the
smallest change (an AST repair), in one ``python`` block.
"""

from __future__ import annotations

import ast
import builtins
import difflib
import re
from dataclasses import dataclass

from .notebook import ANSI_ESCAPE, CODE_FENCE, EXCEPTION_LINE, asked_in_chinese
from .request import Context

_FILE_FRAME = re.compile(r"^[ \t]*File \"([^\"]*)\", line (\d+)(?:, in (\S+))?[ \t]*\n(?:[ \t]*\n)?([^\n]*)", re.M)
_ARROW_FRAME = re.compile(r"^-+>[ \t]*(\d+)[ \t]?(.*)$", re.M)
_MODULE_PIP = {"sklearn": "scikit-learn", "cv2": "opencv-python", "PIL": "pillow", "yaml": "pyyaml",
               "bs4": "beautifulsoup4", "docx": "python-docx", "dateutil": "python-dateutil"}
_MODULE_ALIASES = {"pd": "import pandas as pd", "np": "import numpy as np", "plt": "import matplotlib.pyplot as plt",
                   "sns": "import seaborn as sns", "tf": "import tensorflow as tf"}
_STDLIB = ("os", "sys", "re", "json", "math", "random", "time", "datetime", "collections", "itertools", "functools",
           "pathlib", "statistics", "csv", "string")


@dataclass
class _Failure:
    exc: str  # "ZeroDivisionError" (a dotted name keeps only its last part)
    message: str
    source: str  # the cell, "" when the prompt has none
    line: int | None  # the failing line of the cell, 1-based


def failure_of(text: str) -> _Failure | None:
    """The error the prompt holds: an exception line (outside code fences) with a message or a traceback."""
    text = ANSI_ESCAPE.sub("", text or "")
    fences = list(CODE_FENCE.finditer(text))
    outside = CODE_FENCE.sub("\n", text)
    hits = [m for m in EXCEPTION_LINE.finditer(outside)]
    # an exception's own line is never indented (an indented one is code quoted in a traceback)
    hits = [m for m in hits if not outside[outside.rfind("\n", 0, m.start()) + 1:m.start()].startswith((" ", "\t"))]
    if not hits:
        return None
    has_trace = "Traceback" in outside or bool(_FILE_FRAME.search(outside))
    m = hits[-1]
    message = (m.group(2) or "").strip()
    if not message and not has_trace:
        return None
    source = ""
    for f in fences:
        if f.group(1).lower() in ("", "python", "py", "python3", "ipython", "ipython3"):
            source = f.group(2).rstrip("\n")
            break
    exc = m.group(1).rsplit(".", 1)[-1]
    if not source:  # no cell in the prompt: the traceback's failing line, when it stands on its own
        frames = [f.group(4).strip() for f in _FILE_FRAME.finditer(outside)]
        if frames and frames[-1] and _valid(frames[-1]):
            return _Failure(exc, message, frames[-1], 1)
    return _Failure(exc, message, source, _failing_line(outside, source))


def _failing_line(trace: str, source: str) -> int | None:
    """The line of the cell the traceback's last user frame points at."""
    frames = [(f.group(1), int(f.group(2)), f.group(4).strip()) for f in _FILE_FRAME.finditer(trace)]
    user = [f for f in frames if not re.search(r"site-packages|dist-packages|[/\\]lib[/\\]python\d|<frozen", f[0])]
    lines = source.splitlines()
    for _, number, code in reversed(user or frames):
        if code and lines:
            if 0 < number <= len(lines) and lines[number - 1].strip() == code:
                return number
            same = [i for i, line in enumerate(lines, 1) if line.strip() == code]
            if same:
                return same[0]
        if not lines and code:
            return number
    arrows = _ARROW_FRAME.findall(trace)
    if arrows and lines:
        number, code = int(arrows[-1][0]), arrows[-1][1].strip()
        if 0 < number <= len(lines):
            return number
        same = [i for i, line in enumerate(lines, 1) if line.strip() == code]
        if same:
            return same[0]
    return None


def _masked(source: str) -> str:
    """The cell with IPython magics and shell lines blanked, so ``ast`` reads it with its line numbers kept."""
    return "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in source.split("\n"))


def _valid(source: str) -> bool:
    try:
        compile(_masked(source), "<cell>", "exec")
    except (SyntaxError, ValueError):
        return False
    return True


class _Cell:
    """A cell's lines and syntax tree, and edits on them by ``ast`` positions."""

    def __init__(self, source: str):
        self.lines = source.split("\n")
        self.tree = ast.parse(_masked(source))

    def col(self, lineno: int, byte_col: int) -> int:
        return len(self.lines[lineno - 1].encode("utf-8")[:byte_col].decode("utf-8", "replace"))

    def segment(self, node) -> str:
        return ast.get_source_segment(_masked("\n".join(self.lines)), node) or ""

    def replace(self, node, text: str) -> str:
        """The cell with ``node`` (an expression) replaced by ``text``."""
        start, end = self.col(node.lineno, node.col_offset), self.col(node.end_lineno, node.end_col_offset)
        lines = list(self.lines)
        first, last = lines[node.lineno - 1], lines[node.end_lineno - 1]
        lines[node.lineno - 1:node.end_lineno] = [first[:start] + text + last[end:]]
        return "\n".join(lines)

    def statement(self, line: int | None):
        """The innermost statement holding ``line``; else the cell's last statement."""
        best = None
        for node in ast.walk(self.tree):
            if isinstance(node, ast.stmt) and line is not None and node.lineno <= line <= node.end_lineno:
                if best is None or node.lineno >= best.lineno and node.end_lineno <= best.end_lineno:
                    best = node
        if best is None and self.tree.body:
            best = self.tree.body[-1]
        if isinstance(best, (ast.If, ast.For, ast.While, ast.With, ast.Try)) and line is not None and line > best.lineno:
            return best  # a compound statement's body line that no inner statement claims: keep the whole
        return best

    def indent(self, stmt) -> str:
        line = self.lines[stmt.lineno - 1]
        return line[:len(line) - len(line.lstrip())]

    def insert_before(self, stmt, new_lines: list[str]) -> str:
        pad = self.indent(stmt)
        lines = list(self.lines)
        lines[stmt.lineno - 1:stmt.lineno - 1] = [pad + t for t in new_lines]
        return "\n".join(lines)

    def wrap(self, stmt, head: str, tail: list[str] | None = None) -> str:
        """``stmt`` indented under ``head`` (``if ...:``, ``try:``), with ``tail`` lines after at head level."""
        pad = self.indent(stmt)
        lines = list(self.lines)
        body = ["    " + t if t.strip() else t for t in lines[stmt.lineno - 1:stmt.end_lineno]]
        lines[stmt.lineno - 1:stmt.end_lineno] = [pad + head] + body + [pad + t for t in tail or []]
        return "\n".join(lines)


def _nodes(stmt, kind, line: int | None = None) -> list:
    """Nodes of ``kind`` in ``stmt`` (not in nested statements' bodies), on ``line`` first, in source order."""
    found = [n for n in ast.walk(stmt) if isinstance(n, kind)]
    if isinstance(stmt, (ast.If, ast.For, ast.While, ast.With, ast.FunctionDef)):
        body = {id(n) for s in getattr(stmt, "body", []) + getattr(stmt, "orelse", []) for n in ast.walk(s)}
        found = [n for n in found if id(n) not in body]
    found.sort(key=lambda n: (n.lineno, n.col_offset))
    on_line = [n for n in found if line is not None and n.lineno <= line <= n.end_lineno]
    return on_line or found


def _fix_cell(failure: _Failure) -> str:
    """The cell with the smallest change that avoids the error; valid Python, else the cell as it was."""
    source = failure.source
    if not source.strip():
        return ""
    try:
        cell = _Cell(source)
    except (SyntaxError, ValueError):
        return source
    if failure.exc in ("ImportError", "ModuleNotFoundError"):
        return source
    fixers = {"ZeroDivisionError": _fix_zero_division, "NameError": _fix_name, "KeyError": _fix_key,
              "IndexError": _fix_index, "TypeError": _fix_type, "AttributeError": _fix_attribute}
    fixer = fixers.get(failure.exc)
    if failure.line is None:  # no traceback: the first place in the cell that can raise this error
        failure = _Failure(failure.exc, failure.message, source, _locate(cell, failure))
    fixed = None
    if fixer is not None:
        try:
            fixed = fixer(cell, failure)
        except (ValueError, IndexError, AttributeError, TypeError, SyntaxError):
            fixed = None
    if fixed is None or fixed == source or not _valid(fixed):
        fixed = _fix_try(cell, failure)
    return fixed if fixed and _valid(fixed) else source


def _locate(cell: _Cell, failure: _Failure) -> int | None:
    """The line of the first expression that can raise ``failure`` (for a cell that came without a traceback)."""
    attr = re.search(r"has no attribute '(\w+)'", failure.message)
    wanted = {
        "ZeroDivisionError": lambda n: isinstance(n, ast.BinOp) and isinstance(n.op, (ast.Div, ast.FloorDiv, ast.Mod)),
        "KeyError": lambda n: isinstance(n, ast.Subscript) and isinstance(n.slice, ast.Constant)
        and repr(n.slice.value) == failure.message,
        "IndexError": lambda n: isinstance(n, ast.Subscript) and not isinstance(n.slice, ast.Slice),
        "TypeError": lambda n: isinstance(n, (ast.BinOp, ast.AugAssign)),
        "AttributeError": lambda n: isinstance(n, ast.Attribute) and attr is not None and n.attr == attr.group(1),
    }.get(failure.exc)
    if wanted is None:
        return None
    hits = sorted((n.lineno, n.col_offset) for n in ast.walk(cell.tree) if wanted(n))
    return hits[0][0] if hits else None


def _fix_try(cell: _Cell, failure: _Failure) -> str | None:
    stmt = cell.statement(failure.line)
    if stmt is None:
        return None
    name = failure.exc if isinstance(getattr(builtins, failure.exc, None), type) else "Exception"
    return cell.wrap(stmt, f"try:  # the line that raised {failure.exc}",
                     [f"except {name} as err:  # handle it instead of stopping the cell",
                      f"    print(f\"{failure.exc}: {{err}}\")"])


def _fix_zero_division(cell: _Cell, failure: _Failure) -> str | None:
    stmt = cell.statement(failure.line)
    ops = [n for n in _nodes(stmt, ast.BinOp, failure.line) if isinstance(n.op, (ast.Div, ast.FloorDiv, ast.Mod))]
    if not ops:
        return None
    op = ops[0]
    right = op.right
    if isinstance(stmt, ast.Return):
        guarded = right.args[0] if (isinstance(right, ast.Call) and isinstance(right.func, ast.Name)
                                    and right.func.id == "len" and len(right.args) == 1) else right
        return cell.insert_before(stmt, [f"if not {cell.segment(guarded)}:", "    return 0"])
    text = cell.segment(right)
    return cell.replace(right, f"({text} or 1)")


def _fix_name(cell: _Cell, failure: _Failure) -> str | None:
    m = re.search(r"name '(\w+)' is not defined", failure.message)
    if not m:
        return None
    missing = m.group(1)
    defined: list[str] = []
    for node in ast.walk(cell.tree):
        names = []
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            names = [node.id]
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names = [node.name]
        elif isinstance(node, ast.arg):
            names = [node.arg]
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [(a.asname or a.name).split(".")[0] for a in node.names]
        defined += [n for n in names if n != missing and n not in defined]
    close = difflib.get_close_matches(missing, defined, n=1, cutoff=0.6) or \
        difflib.get_close_matches(missing, [n for n in dir(builtins) if not n.startswith("_")], n=1, cutoff=0.8)
    if close:
        return _rename(cell, missing, close[0])
    if missing in _MODULE_ALIASES or missing in _STDLIB:
        first = _MODULE_ALIASES.get(missing, f"import {missing}")
        return "\n".join([first] + cell.lines)
    uses = [n for n in ast.walk(cell.tree) if isinstance(n, ast.Name) and n.id == missing]
    stmt = cell.statement(min(n.lineno for n in uses) if uses else failure.line)
    while stmt is not None and stmt not in cell.tree.body:  # define it at the top level, before its first use
        stmt = next((s for s in cell.tree.body if s.lineno <= stmt.lineno <= s.end_lineno), None)
    if stmt is None:
        return None
    return cell.insert_before(stmt, [f"{missing} = None  # define {missing} (give it its real value) before using it"])


def _rename(cell: _Cell, old: str, new: str) -> str:
    """``old`` replaced by ``new`` wherever it is a name in the code, f-strings too (never in strings' text)."""
    lines = list(cell.lines)
    spots = sorted({(n.lineno, cell.col(n.lineno, n.col_offset)) for n in ast.walk(cell.tree)
                    if isinstance(n, ast.Name) and n.id == old})
    for row, col in reversed(spots):
        line = lines[row - 1]
        if line[col:col + len(old)] == old:  # a position an old Python got wrong is left alone
            lines[row - 1] = line[:col] + new + line[col + len(old):]
    return "\n".join(lines)


def _fix_key(cell: _Cell, failure: _Failure) -> str | None:
    stmt = cell.statement(failure.line)
    try:
        key = ast.literal_eval(failure.message) if failure.message else None
    except (ValueError, SyntaxError):
        key = failure.message
    subs = _nodes(stmt, ast.Subscript, failure.line)
    if isinstance(stmt, ast.AugAssign) and isinstance(stmt.target, ast.Subscript):
        target = stmt.target
        base, index = cell.segment(target.value), cell.segment(target.slice)
        op = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*"}.get(type(stmt.op))
        if op:
            line = f"{base}[{index}] = {base}.get({index}, 0) {op} {cell.segment(stmt.value)}"
            lines = list(cell.lines)
            lines[stmt.lineno - 1:stmt.end_lineno] = [cell.indent(stmt) + line]
            return "\n".join(lines)
    loads = [s for s in subs if isinstance(s.ctx, ast.Load) and not isinstance(s.slice, ast.Slice)]
    exact = [s for s in loads if isinstance(s.slice, ast.Constant) and s.slice.value == key]
    chosen = (exact or loads or [None])[0]
    if chosen is None:
        return None
    return cell.replace(chosen, f"{cell.segment(chosen.value)}.get({cell.segment(chosen.slice)})")


def _fix_index(cell: _Cell, failure: _Failure) -> str | None:
    stmt = cell.statement(failure.line)
    subs = [s for s in _nodes(stmt, ast.Subscript, failure.line) if not isinstance(s.slice, ast.Slice)]
    if not subs:
        return None
    sub = subs[0]
    base, index = cell.segment(sub.value), cell.segment(sub.slice)
    n = _int_constant(sub.slice)
    if n is not None:
        check = f"len({base}) > {n}" if n >= 0 else f"len({base}) >= {-n}"
    else:
        check = f"-len({base}) <= {index} < len({base})"
    if isinstance(sub.ctx, ast.Load):
        guarded = f"{cell.segment(sub)} if {check} else None"
        return cell.replace(sub, guarded if _stands_alone(stmt, sub) else f"({guarded})")
    return cell.wrap(stmt, f"if {check}:")


def _int_constant(node) -> int | None:
    if isinstance(node, ast.Constant) and type(node.value) is int:
        return node.value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        inner = _int_constant(node.operand)
        return -inner if inner is not None else None
    return None


def _stands_alone(stmt, node) -> bool:
    """Whether ``node`` is a whole assigned or returned value or a call's argument: no parentheses needed."""
    if isinstance(stmt, (ast.Assign, ast.Return, ast.AnnAssign)) and stmt.value is node:
        return True
    return any(isinstance(n, ast.Call) and any(a is node for a in n.args) and len(n.args) == 1
               for n in ast.walk(stmt))


def _fix_type(cell: _Cell, failure: _Failure) -> str | None:
    stmt = cell.statement(failure.line)
    msg = failure.message
    m = re.search(r"unsupported operand type\(s\) for ([^:]+): '(\w+)' and '(\w+)'", msg)
    concat = re.search(r"can only concatenate str \(not \"(\w+)\"\) to str", msg)
    if m:
        left_t, right_t = m.group(2), m.group(3)
        if right_t == "str" and left_t in ("int", "float"):
            side, conv = "right", left_t
        elif left_t == "str" and right_t in ("int", "float"):
            side, conv = "left", right_t
        else:
            return None
        if isinstance(stmt, ast.AugAssign):
            return cell.replace(stmt.value, f"{conv}({cell.segment(stmt.value)})")
        ops = [n for n in _nodes(stmt, ast.BinOp, failure.line)]
        ops = [n for n in ops if not (isinstance(getattr(n, side), ast.Constant))]
        if ops:
            node = getattr(ops[0], side)
            return cell.replace(node, f"{conv}({cell.segment(node)})")
        calls = [c for c in _nodes(stmt, ast.Call, failure.line) if isinstance(c.func, ast.Name)
                 and c.func.id == "sum" and len(c.args) == 1]
        if calls:
            arg = cell.segment(calls[0].args[0])
            return cell.replace(calls[0], f"sum({conv}(v) for v in {arg})")
        return None
    if concat:
        ops = [n for n in _nodes(stmt, ast.BinOp, failure.line) if isinstance(n.op, ast.Add)]
        for op in ops:
            for side in (op.right, op.left):
                if not (isinstance(side, (ast.Constant, ast.JoinedStr)) and isinstance(getattr(side, "value", ""), str)):
                    return cell.replace(side, f"str({cell.segment(side)})")
    return None


def _fix_attribute(cell: _Cell, failure: _Failure) -> str | None:
    m = re.search(r"'NoneType' object has no attribute '(\w+)'", failure.message)
    if not m:
        return None
    stmt = cell.statement(failure.line)
    attrs = [a for a in _nodes(stmt, ast.Attribute, failure.line) if a.attr == m.group(1)]
    if not attrs:
        return None
    value = cell.segment(attrs[0].value)
    if not isinstance(attrs[0].value, (ast.Name, ast.Attribute)):
        return None
    if isinstance(stmt, ast.Return):
        return cell.insert_before(stmt, [f"if {value} is None:", "    return None"])
    if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1:
        expr = stmt.value
        return cell.replace(expr, f"{cell.segment(expr)} if {value} is not None else None")
    return cell.wrap(stmt, f"if {value} is not None:")


_EXPLAIN = {
    "ZeroDivisionError": ("除数为 0：这里的除法（或取余）在分母为 0 时无法计算，例如对空列表求平均时 `len(...)` 是 0。",
                          "the division (or modulo) ran with a denominator of 0, e.g. the length of an empty list."),
    "NameError": ("代码用到了一个还没有定义的名字，通常是拼写错误，或定义它的单元格还没有运行。",
                  "the code uses a name that is not defined - usually a typo, or the cell that defines it has not run."),
    "KeyError": ("字典（或 DataFrame）里没有这个键，直接用 `[...]` 取值就会报错。",
                 "the dict (or DataFrame) has no such key, and indexing with `[...]` raises."),
    "IndexError": ("下标超出了序列的范围：序列比代码假设的短（也可能是空的）。",
                   "the index is past the end of the sequence: it is shorter than the code assumes (or empty)."),
    "TypeError": ("参与运算的值类型不匹配，例如把数字和字符串相加；需要先把类型转换一致。",
                  "the operation got values of types that do not mix, such as a number and a string; convert one first."),
    "AttributeError": ("对象没有这个属性；如果对象是 None，说明前面某一步（例如匹配或查找）没有得到结果。",
                       "the object has no such attribute; on None it means an earlier step (a match or lookup) found "
                       "nothing."),
    "ImportError": ("当前环境里没有安装这个包（或名字写错了）。", "the package is not installed in this environment (or "
                                                         "its name is misspelt)."),
}
_EXPLAIN["ModuleNotFoundError"] = _EXPLAIN["ImportError"]


def error_answer(ctx: Context, q: str, failure: _Failure) -> str:
    zh = asked_in_chinese(ctx, q)
    exc, msg = failure.exc, failure.message
    said = f"`{exc}: {msg}`" if msg else f"`{exc}`"
    zh_why, en_why = _EXPLAIN.get(exc, ("这一行在运行时抛出了异常，需要处理这种情况。",
                                        "that line raised an exception at run time, and the cell does not handle it."))
    if zh:
        text = f"这个单元格抛出了 {exc}（{said}）。原因：{zh_why}"
    else:
        text = f"The cell raised {exc} ({said}). The cause: {en_why}"
    if exc in ("ImportError", "ModuleNotFoundError"):
        mod = re.search(r"No module named '([\w.]+)'", msg) or re.search(r"cannot import name '(\w+)'", msg)
        package = _MODULE_PIP.get(mod.group(1).split(".")[0], mod.group(1).split(".")[0]) if mod else "the-package"
        text += (f"\n\n先安装：`%pip install {package}`，然后重新运行单元格，代码本身不用改：" if zh else
                 f"\n\nInstall it with `%pip install {package}`, then run the cell again; the code can stay as it is:")
    fixed = _fix_cell(failure) if failure.source else _example_fix(exc)
    if exc in ("ImportError", "ModuleNotFoundError"):
        pass
    elif failure.source and fixed == failure.source:  # nothing safe to change (a magic, a syntax error)
        text += ("\n\n需要修改的是下面这个单元格里出错的那一行：" if zh else
                 "\n\nThe line to change is the one that failed in this cell:")
    else:
        what = _change_note(exc, zh)
        text += ("\n\n修改后的单元格" + (f"（{what}）" if what else "") + "：" if zh else
                 "\n\nThe corrected cell" + (f" ({what})" if what else "") + ":")
    return f"{text}\n\n```python\n{fixed}\n```"


def _change_note(exc: str, zh: bool) -> str:
    notes = {"ZeroDivisionError": ("先检查分母是否为 0", "the division is guarded against 0"),
             "NameError": ("改正名字的拼写或先定义它", "the name is corrected or defined first"),
             "KeyError": ("用 .get() 取值，缺少的键得到 None", "`.get()` returns None for a missing key"),
             "IndexError": ("先检查下标是否在范围内", "the index is checked first"),
             "TypeError": ("先转换类型", "the value is converted first"),
             "AttributeError": ("先检查是否为 None", "a None check comes first")}
    pair = notes.get(exc, ("用 try/except 处理这一行的异常", "the failing line is wrapped in try/except"))
    return pair[0] if zh else pair[1]


def _example_fix(exc: str) -> str:
    examples = {
        "ZeroDivisionError": "def mean(values):\n    if not values:\n        return 0\n    return sum(values) / len(values)",
        "KeyError": "value = data.get(key)  # None when the key is missing",
        "IndexError": "item = items[i] if -len(items) <= i < len(items) else None",
        "TypeError": "total = int(a) + int(b)",
        "AttributeError": "if obj is not None:\n    obj.method()",
        "NameError": "name = None  # define the name before using it\nprint(name)",
    }
    return examples.get(exc, "try:\n    run()  # the line that failed\nexcept Exception as err:\n    print(err)")
