"""The notebook as context in prompts: how a value becomes prompt text, and the errors cells raised.

``interpolate`` fills ``{name}`` in a ``%%wenxin`` cell; each value goes through a :class:`ContextRenderer`,
which shares one character budget (``DEFAULT_BUDGET``, the ``context_chars`` trait) among the objects of a prompt.
:func:`summarize` turns a DataFrame, Series or ndarray into a compact Markdown summary whose cost does not grow
with the data: only head and tail rows and the first columns are ever formatted.

pandas and numpy are never imported here. A value can only be a DataFrame if pandas is already loaded, so
``sys.modules`` tells which types to check, and loading the extension stays free.
:class:`ErrorLog` keeps what cells raised, for ``{Err}`` / ``{Err[n]}`` and ``%wenxin fix``.
"""

from __future__ import annotations

import re
import sys
import traceback
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from .summary_format import array_header, count, dtypes_line, frame_header, series_header

DEFAULT_BUDGET = 4000

CELL_WIDTH = 40  # a table cell's characters: enough to recognise a value, not enough to flood the prompt
MAX_ROWS = 40  # head + tail rows ever formatted, whatever the budget
MAX_COLUMNS = 40
PLAIN_LIMIT = 200  # short plain values are prompt text, not context objects
MIN_SHARE = 64  # below this, a summary says nothing useful: the object is left out instead

__all__ = [
    "DEFAULT_BUDGET", "CellError", "ContextRenderer", "ErrorLog", "ImageOutputs", "history_reference",
    "history_references", "notebook_namespace", "summarize",
]


# -- cutting text to a budget ---------------------------------------------------------------------------------------

def _marker(hidden: int) -> str:
    return f"… [cut: {hidden:,} more characters]"


def _cut(text: str, budget: int) -> str:
    """``text`` within ``budget`` characters, saying how much was cut."""
    if len(text) <= budget:
        return text
    # the marker for the whole length is at least as long as the one finally used, so the result fits
    keep = budget - len(_marker(len(text)))
    if keep <= 0:
        return text[:max(budget, 0)]
    return text[:keep] + _marker(len(text) - keep)


def _safe_str(value) -> str:
    try:
        text = str(value)
    except Exception as error:  # a broken __str__ must not break the prompt
        try:
            detail = f"{type(error).__name__}: {error}"
        except Exception:
            detail = type(error).__name__
        return f"<{type(value).__name__} object: its str() raised {detail}>"
    return text if isinstance(text, str) else f"<{type(value).__name__} object>"


# -- recognising pandas and numpy without importing them ------------------------------------------------------------

def _loaded_type(module: str, name: str):
    loaded = sys.modules.get(module)
    return getattr(loaded, name, None) if loaded is not None else None


def _is(value, module: str, name: str) -> bool:
    cls = _loaded_type(module, name)
    return isinstance(cls, type) and isinstance(value, cls)


# -- tables ---------------------------------------------------------------------------------------------------------

def _cell(value) -> str:
    if isinstance(value, float):  # numpy floats too: their full repr says more than a prompt needs
        text = f"{value:.6g}"
    else:
        text = _safe_str(value)
    # a newline or a pipe would end the Markdown row or cell early
    text = text.replace("\r", " ").replace("\n", " ").replace("|", "\\|")
    return text if len(text) <= CELL_WIDTH else text[:CELL_WIDTH - 1] + "…"


def _label(column) -> str:
    return " / ".join(map(str, column)) if isinstance(column, tuple) else str(column)


class _Grid:
    """Head and tail rows already formatted; chooses how many rows and columns fit a budget."""

    def __init__(self, header: list[str], head: list[list[str]], tail: list[list[str]], total_rows: int):
        self.header, self.head, self.tail, self.total_rows = header, head, tail, total_rows

    @staticmethod
    def _line_len(cells: list[str], k: int) -> int:
        # "| i | a | b |" and its newline: the index cell plus k columns
        return sum(len(c) + 3 for c in cells[:k + 1]) + 2

    def _size(self, k: int, h: int, t: int) -> int:
        size = self._line_len(self.header, k) + 4 * (k + 1) + 2  # the header and its "|---|" separator
        size += sum(self._line_len(r, k) for r in self.head[:h])
        size += sum(self._line_len(r, k) for r in self.tail[len(self.tail) - t:])
        return size + (40 if h + t < self.total_rows else 0)

    def fit(self, budget: int) -> tuple[int, int, int] | None:
        """(columns, head rows, tail rows) that fit, or None when not even one cell does."""
        columns = len(self.header) - 1
        # columns are chosen so that about ten rows still fit; then rows fill what is left
        first = (min(len(self.head), 10), 0) if not self.tail else (min(len(self.head), 5), min(len(self.tail), 5))
        k = columns
        while k > 1 and self._size(k, *first) > budget:
            k -= 1
        h, t = first
        if self._size(k, h, t) > budget:
            h, t = min(h, 1), 0
            if self._size(k, h, t) > budget:
                return None
        return (k, *self._grow(k, h, t, budget))

    def _grow(self, k: int, h: int, t: int, budget: int) -> tuple[int, int]:
        while True:
            if t < h and t < len(self.tail) and self._size(k, h, t + 1) <= budget:
                t += 1
            elif h < len(self.head) and self._size(k, h + 1, t) <= budget:
                h += 1
            elif t < len(self.tail) and self._size(k, h, t + 1) <= budget:
                t += 1
            else:
                return h, t

    def markdown(self, k: int, h: int, t: int) -> str:
        def line(cells: list[str]) -> str:
            return "| " + " | ".join(cells[:k + 1]) + " |"

        lines = [line(self.header), "|" + "---|" * (k + 1)]
        lines += [line(r) for r in self.head[:h]]
        if h + t < self.total_rows:
            lines.append(f"| … {self.total_rows - h - t:,} rows … |")
        lines += [line(r) for r in self.tail[len(self.tail) - t:]]
        return "\n".join(lines)


def _rows(frame, index) -> list[list[str]]:
    values = frame.to_numpy(dtype=object).tolist()
    return [[_cell(i), *map(_cell, row)] for i, row in zip(index, values, strict=True)]


def _frame_grid(df) -> _Grid:
    n = len(df)
    half = MAX_ROWS // 2
    head_n = n if n <= MAX_ROWS else half
    tail_n = 0 if n <= MAX_ROWS else half
    # only the slices are ever formatted: the cost does not depend on the frame's size
    part = df.iloc[:, :MAX_COLUMNS]
    head = part.iloc[:head_n]
    tail = part.iloc[n - tail_n:] if tail_n else part.iloc[:0]
    header = ["", *(_cell(_label(c)) for c in part.columns)]
    return _Grid(header, _rows(head, head.index), _rows(tail, tail.index), n)


def _dtypes_line(df, budget: int) -> str:
    dtypes = df.dtypes
    kinds = {str(d) for d in dtypes}
    if len(kinds) == 1 and len(dtypes) > 1:
        return dtypes_line([f"all {kinds.pop()}"])
    parts, used = [], len(dtypes_line([]))
    for shown, (column, dtype) in enumerate(zip(df.columns, dtypes, strict=True)):
        part = f"{_cell(_label(column))}: {dtype}"
        rest = len(dtypes) - shown
        if used + len(part) + 2 + len(f"… {rest:,} more columns") > budget and rest > 1:
            parts.append(f"… {rest:,} more columns")
            break
        parts.append(part)
        used += len(part) + 2
    return dtypes_line(parts)


def _table_text(grid: _Grid, total_columns: int, budget: int) -> str:
    note_room = 60 if total_columns > 1 else 0
    chosen = grid.fit(budget - note_room)
    if chosen is None:
        return ""
    k, h, t = chosen
    text = grid.markdown(k, h, t)
    if k < total_columns:
        text += f"\n(first {k:,} of {total_columns:,} columns shown; {total_columns - k:,} left out)"
    return text


def _frame_summary(df, budget: int) -> str:
    n, columns = df.shape
    head = frame_header(n, columns)
    if columns == 0:
        return head
    dtypes = _dtypes_line(df, max(budget // 4, 80))
    left = budget - len(head) - len(dtypes) - 2
    table = _table_text(_frame_grid(df), columns, left) if n else ""
    return "\n".join(part for part in (head, dtypes, table) if part)


def _series_summary(series, budget: int) -> str:
    n = len(series)
    head = series_header(n, series.dtype, None if series.name is None else _label(series.name))
    if n == 0:
        return head
    half = MAX_ROWS // 2
    first = series.iloc[: n if n <= MAX_ROWS else half]
    last = series.iloc[n - half:] if n > MAX_ROWS else series.iloc[:0]
    header = ["", _cell("value" if series.name is None else _label(series.name))]
    grid = _Grid(header, _series_rows(first), _series_rows(last), n)
    table = _table_text(grid, 1, budget - len(head) - 1)
    return f"{head}\n{table}" if table else head


def _series_rows(part) -> list[list[str]]:
    return [[_cell(i), _cell(v)] for i, v in zip(part.index, part.to_numpy(dtype=object).tolist(), strict=True)]


def _array_summary(array, budget: int) -> str:
    np = sys.modules["numpy"]  # loaded: ``array`` is one of its arrays
    head = array_header(array.shape, array.dtype)
    room = budget - len(head) - 1
    preview = ""
    for edge in (5, 3, 2, 1):
        try:
            preview = np.array2string(array, threshold=2 * edge * max(array.ndim, 1), edgeitems=edge,
                                      max_line_width=120)
        except Exception:  # odd dtypes (objects whose str() raises): the header alone still says a lot
            return head
        if len(preview) <= room:
            break
    return f"{head}\n{preview}"


def summarize(value, budget: int) -> str:
    """``value`` as prompt text within ``budget`` characters; never raises.

    A DataFrame becomes a Markdown summary (shape, dtypes, head and tail rows, the first columns), a Series the
    same in one column, an ndarray its shape, dtype and numpy's own summarized printing; anything else its
    ``str()``, cut with "… [cut: N more characters]" when longer than the budget.
    """
    budget = max(int(budget), 0)
    try:
        if _is(value, "pandas", "DataFrame"):
            text = _frame_summary(value, budget)
        elif _is(value, "pandas", "Series"):
            text = _series_summary(value, budget)
        elif _is(value, "numpy", "ndarray"):
            text = _array_summary(value, budget)
        else:
            text = _safe_str(value)
    except Exception:  # a summary that fails on a strange frame falls back to the object's own text
        text = _safe_str(value)
    return _cut(text, budget)


# -- one prompt's renderer ------------------------------------------------------------------------------------------

def _brief(value) -> str:
    """What a left-out object was, in a few words."""
    try:
        if _is(value, "pandas", "DataFrame"):
            rows, columns = value.shape
            return f"DataFrame: {rows:,} × {columns:,}"
        if _is(value, "pandas", "Series"):
            return f"Series: {count(len(value), 'value')}"
        if _is(value, "numpy", "ndarray"):
            return f"ndarray: shape {tuple(value.shape)}"
        if isinstance(value, str):
            return f"str: {count(len(value), 'character')}"
    except Exception:
        pass
    return type(value).__name__


def _is_plain(value) -> bool:
    # numpy scalars (an element of an array, a mean) are numbers to the reader, not context
    if value is None or isinstance(value, (bool, int, float)) or _is(value, "numpy", "generic"):
        return len(_safe_str(value)) < PLAIN_LIMIT
    return isinstance(value, str) and len(value) < PLAIN_LIMIT


class ContextRenderer:
    """The ``render`` hook for one prompt: values through :func:`summarize`, sharing one budget.

    Short plain values (str, int, float, bool, None) go in as ``str()`` and are not context objects; every
    other value is one object and gets what the objects before it left of the budget.
    """

    def __init__(self, budget: int = DEFAULT_BUDGET):
        self.budget = budget
        self.objects = 0
        self.chars = 0
        self.entries: list[tuple[str, int]] = []  # (what it was, characters it put in), in prompt order

    def __call__(self, value) -> str:
        if _is_plain(value):
            return str(value)
        left = self.budget - self.chars
        if left < MIN_SHARE:
            text = f"<{_brief(value)}, left out: the context budget of {self.budget:,} characters is used up>"
        else:
            text = summarize(value, left)
        self.objects += 1
        self.chars += len(text)
        self.entries.append((_brief(value), len(text)))
        return text

    def footer(self) -> str:
        """"context: 2 objects, 3.1 k chars", or "" when no object went in."""
        if not self.objects:
            return ""
        size = f"{self.chars / 1000:.1f} k chars" if self.chars >= 1000 else f"{self.chars} chars"
        return f"context: {count(self.objects, 'object')}, {size}"


# -- errors cells raised --------------------------------------------------------------------------------------------

# IPython's classic cell names, and ipykernel's: a temporary file per cell, /tmp/ipykernel_<pid>/<hash>.py
_CELL_FILE = re.compile(r"^<ipython-input-|ipykernel_\d+[/\\]\d+\.py$")
MAX_ERRORS = 50
_CARETS = re.compile(r"^[ \t]*[~^]+[ \t]*\n", re.MULTILINE)


_CELL_PATH = re.compile(r'File "[^"\n]*(?:<ipython-input-[^"\n]*|ipykernel_\d+[\\/]\d+\.py)"')


def is_cell_file(filename: str) -> bool:
    return bool(_CELL_FILE.search(filename or ""))


@dataclass
class CellError:
    """One cell's error: what it was, where in the user's own code, and the cell's source."""

    execution_count: int
    type: str
    message: str
    frames: str
    source: str

    def __str__(self) -> str:
        text = f"{self.type}: {self.message}" if self.message else self.type
        if self.frames:
            text += "\nTraceback (your code):\n" + self.frames.rstrip("\n")
        return text


def _type_name(error: BaseException) -> str:
    cls = type(error)
    # as Python's own traceback prints it: builtins bare, others with their module
    if cls.__module__ in ("builtins", "__main__"):
        return cls.__qualname__
    return f"{cls.__module__}.{cls.__qualname__}"


def _user_frames(error: BaseException, source: str) -> str:
    frames = [f for f in traceback.extract_tb(error.__traceback__) if is_cell_file(f.filename)]
    if not frames:
        return _syntax_frame(error)
    # the outermost cell frame is the cell that ran; its lines come from its source when linecache lacks them
    lines = source.splitlines()
    frames = [_with_line(f, lines) if f.filename == frames[0].filename else f for f in frames]
    # Python 3.11+ underlines the failing expression: noise in a prompt
    return _CARETS.sub("", "".join(traceback.format_list(frames)))


def _syntax_frame(error: BaseException) -> str:
    # a cell that does not compile has no frame of its own: the error itself says where
    if not isinstance(error, SyntaxError) or not is_cell_file(error.filename or "") or not error.lineno:
        return ""
    text = f'  File "{error.filename}", line {error.lineno}\n'
    return text + (f"    {error.text.strip()}\n" if error.text and error.text.strip() else "")


def _with_line(frame: traceback.FrameSummary, lines: list[str]) -> traceback.FrameSummary:
    if frame.line or not frame.lineno or frame.lineno > len(lines):
        return frame
    return traceback.FrameSummary(frame.filename, frame.lineno, frame.name, lookup_line=False,
                                  line=lines[frame.lineno - 1])


class ErrorLog:
    """The errors cells raised, by execution count: ``{Err}`` is the last, ``{Err[n]}`` cell n's."""

    def __init__(self, limit: int = MAX_ERRORS):
        self.limit = limit
        self._errors: OrderedDict[int, CellError] = OrderedDict()

    def record(self, execution_count: int, error: BaseException, source: str) -> CellError:
        frames = _CELL_PATH.sub('File "<cell>"', _user_frames(error, source))  # a temporary path tells nothing
        entry = CellError(execution_count, _type_name(error), _safe_str(error), frames, source)
        self._errors.pop(execution_count, None)
        self._errors[execution_count] = entry
        while len(self._errors) > self.limit:
            self._errors.popitem(last=False)
        return entry

    def last(self) -> CellError | None:
        return next(reversed(self._errors.values()), None)

    def get(self, n: int) -> CellError | None:
        if isinstance(n, int) and n < 0:  # like In[-1]: counted from the newest
            errors = list(self._errors.values())
            return errors[n] if -n <= len(errors) else None
        return self._errors.get(n)

    def __getitem__(self, n: int) -> CellError:
        entry = self.get(n)
        if entry is None:
            raise KeyError(n)
        return entry

    def __str__(self) -> str:
        entry = self.last()
        return "" if entry is None else str(entry)

    def __bool__(self) -> bool:
        return bool(self._errors)

    def __len__(self) -> int:
        return len(self._errors)

    def __iter__(self) -> Iterator[CellError]:
        return iter(list(self._errors.values()))

    def __repr__(self) -> str:
        return f"<ErrorLog: {count(len(self._errors), 'error')}>"


# -- pictures cells showed ------------------------------------------------------------------------------------------

MAX_IMAGE_OUTPUTS = 20
_SHOWN_IMAGES = ("image/png", "image/jpeg")


class ImageOutputs:
    """The pictures cells showed, by execution count, the newest ``limit`` kept: for ``{Out[n]}`` and ``--image
    last``. A picture is kept as it came: PNG or JPEG bytes from a display, or the object a cell returned."""

    def __init__(self, limit: int = MAX_IMAGE_OUTPUTS):
        self.limit = limit
        self._by_cell: OrderedDict[int, object] = OrderedDict()
        self._running: object = None  # the last picture the running cell showed, filed under it when it ends
        self._hook = None
        self._is_picture = lambda value: False
        self._shell = None

    def shown(self, picture) -> None:
        """The running cell showed ``picture`` (its number is known only when it ends: see ``cell_ended``)."""
        self._running = picture

    def cell_ended(self, execution_count: int, returned=None) -> None:
        """Cell ``execution_count`` ended: the picture it returned, else the last one it showed, is its output."""
        picture = returned if returned is not None else self._running
        self._running = None
        if picture is not None:
            self.record(execution_count, picture)

    def record(self, execution_count: int, picture) -> None:
        self._by_cell.pop(execution_count, None)
        self._by_cell[execution_count] = picture
        while len(self._by_cell) > self.limit:
            self._by_cell.popitem(last=False)

    def last(self):
        """The newest picture shown, or None."""
        if self._running is not None:
            return self._running
        return next(reversed(self._by_cell.values()), None)

    def get(self, n: int):
        return self._by_cell.get(n)

    def __contains__(self, n) -> bool:
        return n in self._by_cell

    def __len__(self) -> int:
        return len(self._by_cell)

    def watch(self, shell, is_picture) -> None:
        """Follow ``shell``'s cells: the pictures they show (ipykernel's display publisher takes hooks; a plain
        shell has none) and the ones they return (``is_picture`` says which values are)."""
        self._is_picture, self._shell = is_picture, shell
        publisher = getattr(shell, "display_pub", None)
        if hasattr(publisher, "register_hook") and self._hook is None:
            self._hook = self.display_hook()
            publisher.register_hook(self._hook)
        shell.events.register("post_run_cell", self.note_picture)

    def unwatch(self, shell) -> None:
        publisher = getattr(shell, "display_pub", None)
        if self._hook is not None and hasattr(publisher, "unregister_hook"):
            publisher.unregister_hook(self._hook)
        self._hook = None
        if self.note_picture in shell.events.callbacks.get("post_run_cell", []):
            shell.events.unregister("post_run_cell", self.note_picture)

    def note_picture(self, result) -> None:
        """After each cell (IPython's post_run_cell): a picture it returned (a Figure, an Image), else the last one
        it showed, is its image output."""
        value = getattr(result, "result", None)
        count = getattr(result, "execution_count", None)
        if count is None:  # a cell run without history (as nbval runs them) is numbered as ErrorLog numbers it
            count = getattr(self._shell, "execution_count", 0)
        self.cell_ended(count, value if value is not None and self._is_picture(value) else None)

    def display_hook(self):
        """A hook for ipykernel's display publisher: each display message that carries a picture is noted as the
        running cell's, and the message goes on unchanged. (The cell's number is not known here: matplotlib shows
        its figures in post_execute, after IPython has counted the next cell.)"""
        import base64

        def note_picture(message):
            data = (message.get("content") or {}).get("data") or {}
            for mime in _SHOWN_IMAGES:
                if isinstance(data.get(mime), str):
                    try:
                        picture = base64.b64decode(data[mime])
                    except ValueError:
                        continue
                    self.shown(picture)
                    break
            return message

        return note_picture


class _Outputs(Mapping):
    """IPython's ``Out`` with the pictures cells showed: ``Out[n]`` is cell n's picture when it showed one."""

    def __init__(self, out: Mapping, images: ImageOutputs):
        self._out, self._images = out, images

    def __getitem__(self, n):
        if n in self._images:
            return self._images.get(n)
        return self._out[n]

    def __contains__(self, n) -> bool:
        return n in self._images or n in self._out

    def __iter__(self):
        yield from self._out
        yield from (n for n in self._images._by_cell if n not in self._out)

    def __len__(self) -> int:
        return len(set(self._out) | set(self._images._by_cell))


# -- the names a prompt may use -------------------------------------------------------------------------------------

class _Namespace(Mapping):
    """The notebook's names, read-only, with ``Err`` beneath them; nothing is copied."""

    def __init__(self, user_ns: Mapping, extra: dict):
        self._user_ns, self._extra = user_ns, extra

    def __getitem__(self, name):
        if name in self._user_ns:
            return self._user_ns[name]
        return self._extra[name]

    def __contains__(self, name) -> bool:
        return name in self._user_ns or name in self._extra

    def __iter__(self):
        yield from self._user_ns
        yield from (name for name in self._extra if name not in self._user_ns)

    def __len__(self) -> int:
        return len(self._user_ns) + sum(name not in self._user_ns for name in self._extra)


def notebook_namespace(user_ns: Mapping, errors: ErrorLog, images: ImageOutputs | None = None) -> Mapping:
    """The names a prompt may use: the notebook's own (``In`` and ``Out`` as IPython keeps them, ``Out[n]`` being
    the picture cell n showed when there is one), and ``Err`` once a cell has raised, unless the notebook defines
    its own (before that, ``{Err}`` names nothing)."""
    if images and isinstance(user_ns.get("Out"), Mapping):
        user_ns = _Namespace({"Out": _Outputs(user_ns["Out"], images)}, user_ns)
    return _Namespace(user_ns, {"Err": errors} if errors else {})


_HISTORY = re.compile(r"(?<!\{)\{(?:(?:In|Out|Err)\[\s*-?\d+\s*\]|Err)\}(?!\})")


def history_references(text: str) -> list[str]:
    """Every ``{In[n]}``, ``{Out[n]}``, ``{Err[n]}`` and ``{Err}`` in ``text``, in order (``{{…}}`` escapes not)."""
    return _HISTORY.findall(text)


def missing_history(text: str, user_ns: Mapping, errors: ErrorLog, images: ImageOutputs | None = None) -> list[str]:
    """The history references in ``text`` that name nothing: no such cell input, output, picture or error."""
    user_ns = notebook_namespace(user_ns, ErrorLog(), images)
    missing = []
    for reference in history_references(text):
        name, _, rest = reference.strip("{}").partition("[")
        if name in user_ns and name != "Err" or (name == "Err" and "Err" in user_ns):
            table = user_ns[name]
        else:
            table = errors if name == "Err" else None
        if not rest:  # {Err}: the last error
            found = bool(table)
        else:
            try:
                table[int(rest.rstrip("]").strip())]
                found = True
            except (LookupError, TypeError, ValueError):
                found = False
        if not found:
            missing.append(reference)
    return missing


def history_reference(text: str) -> str | None:
    """The first history reference in ``text``, or None."""
    match = _HISTORY.search(text)
    return match.group(0) if match else None
