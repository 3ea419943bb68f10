"""Batch runs: one prompt template over many items and models, paced to the service's quota.

``Batch`` fills the template (``_templates``) for every item × model, runs the rows through a ``Pacer``
(``_pacer``) and keeps each answer in a ``BatchRow``; ``frame()`` turns them into a pandas DataFrame. pandas
is optional: it is imported only by the functions that need it. No display code lives here.
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Callable

from ._pacer import DEFAULT_CONCURRENCY, Pacer, reply_tokens
from ._templates import TemplateError, describe, fill_template, pandas_kind

__all__ = ["batch_items", "BatchRow", "COLUMNS", "Progress", "Batch", "MAX_ITEMS"]

log = logging.getLogger(__name__)

MAX_ITEMS = 100_000  # an endless iterable must end in an error, not in a kernel that reads it forever
COLUMNS: tuple[str, ...] = ("i", "item", "model", "prompt", "answer", "reasoning", "finish_reason", "prompt_tokens",
                            "completion_tokens", "latency_s", "retries", "error", "status")
_ACCEPTED = "a list, tuple, range, set, generator, pandas Series or pandas DataFrame"
# a schema field's JSON type -> the pandas dtype of its column (nullable: a failed row has no value)
_DTYPES = {"integer": "Int64", "number": "Float64", "boolean": "boolean", "string": "string"}


# -- items ---------------------------------------------------------------------------------------

def batch_items(value, name: str = "items") -> list:
    """The items of a batch, as a list: the elements of a list, tuple, range, set (in its iteration order)
    or generator, a pandas Series' values, or a pandas DataFrame's rows (each a Series, so ``{item.col}``
    and ``{item[col]}`` work). A str, bytes, dict or non-iterable is refused with a TypeError, and more than
    MAX_ITEMS items with a ValueError."""
    kind = pandas_kind(value)
    if kind is not None and len(value) > MAX_ITEMS:
        raise ValueError(_too_many(name))
    if kind == "DataFrame":
        return [row for _, row in value.iterrows()]
    if kind == "Series":
        return value.tolist()
    if isinstance(value, (str, bytes, bytearray)):
        raise TypeError(f"{name} is a {type(value).__name__}, which is one prompt, not a list of inputs: "
                        f"pass [{name}] for one item, or {name}.splitlines() for one per line. Accepted: {_ACCEPTED}.")
    if isinstance(value, Mapping):
        raise TypeError(f"{name} is a {type(value).__name__}: pass list({name}.items()) for (key, value) pairs "
                        f"or list({name}.values()) for the values. Accepted: {_ACCEPTED}.")
    try:
        iterator = iter(value)
    except TypeError:
        raise TypeError(f"{name} is {describe(value)}, which holds no items. Accepted: {_ACCEPTED}.") from None
    items = list(itertools.islice(iterator, MAX_ITEMS + 1))
    if len(items) > MAX_ITEMS:
        raise ValueError(_too_many(name))
    return items


def _too_many(name: str) -> str:
    return (f"{name} has more than {MAX_ITEMS:,} items, the most a batch takes (an endless iterator such as "
            f"itertools.count() never ends): pass a slice of it, e.g. list(itertools.islice({name}, 1000)) "
            f"({name}[:1000] for a list), and run the rest as another batch.")



def _import_pandas():
    try:
        import pandas
    except ImportError:
        raise ImportError("A batch's table needs pandas: pip install pandas") from None
    return pandas


# -- rows ----------------------------------------------------------------------------------------

@dataclass
class BatchRow:
    """One item × one model: its prompt, and the reply once it ran."""

    index: int
    item: Any
    model: str
    prompt: str | None  # None when the template could not be filled
    reply: Any = None  # a session Reply (read: text, reasoning, finish_reason, usage, latency, retries, error, ok)
    error: str | None = None
    status: str = "not run"  # "done", "failed" or "not run"

    def record(self) -> dict:
        """The table row, keyed by COLUMNS."""
        reply = self.reply
        usage = getattr(reply, "usage", None)
        return {
            "i": self.index,
            "item": _plain(self.item),
            "model": self.model,
            "prompt": self.prompt,
            "answer": getattr(reply, "text", None),
            "reasoning": getattr(reply, "reasoning", None) or None,
            "finish_reason": getattr(reply, "finish_reason", None),
            "prompt_tokens": getattr(usage, "prompt_tokens", None),
            "completion_tokens": getattr(usage, "completion_tokens", None),
            "latency_s": getattr(reply, "latency", None),
            "retries": getattr(reply, "retries", None),
            "error": self.error,
            "status": self.status,
        }


def _plain(item):
    # a DataFrame row shown as a dict reads better in a table cell than a Series would
    return item.to_dict() if pandas_kind(item) == "Series" else item



# -- the batch -----------------------------------------------------------------------------------

@dataclass
class Progress:
    """How far a batch is: counts of rows, tokens used, seconds elapsed and the seconds still expected."""

    total: int
    done: int
    failed: int
    not_run: int
    tokens: int
    elapsed: float
    eta: float | None
    running: bool = False

    def summary(self) -> str:
        """E.g. "37/120 · 2 failed · 5,120 tokens · 12.3 s · ETA 27 s" (37 rows finished, done or failed)."""
        parts = [f"{self.done + self.failed}/{self.total}"]
        if self.failed:
            parts.append(f"{self.failed:,} failed")
        if self.not_run and not self.running:
            parts.append(f"{self.not_run:,} not run")
        parts += [f"{self.tokens:,} tokens", f"{self.elapsed:.1f} s"]
        if self.running and self.eta is not None:
            parts.append(f"ETA {self.eta:.0f} s")
        return " · ".join(parts)


class Batch:
    """One run of a template over items × models; see ``run``, ``progress``, ``frame``."""

    def __init__(self, template: str, items, models: list[str], *, concurrency: int | None = None,
                 previous: "Batch | list[BatchRow] | None" = None, schema=None):
        self.schema = schema  # an AnswerSchema: each answer's fields become typed columns
        if not isinstance(template, str):
            raise TypeError(f"The template is a {type(template).__name__}; it must be a str.")
        self.template = template
        self.items = batch_items(items)
        self.models = _models(models)
        self.concurrency = DEFAULT_CONCURRENCY if concurrency is None else concurrency
        self.rows = [self._row(index, item, model) for index, item in enumerate(self.items) for model in self.models]
        self.pacer: Pacer | None = None
        self.resumed = 0
        self._clock: Callable[[], float] = time.monotonic
        self._started: float | None = None
        self._ended: float | None = None
        self._finished_in_run = 0
        if previous is not None:
            self._take_over(previous)

    def __repr__(self) -> str:
        return f"<Batch {len(self.items)} items × {len(self.models)} models: {self.summary()}>"

    def _row(self, index: int, item, model: str) -> BatchRow:
        try:
            return BatchRow(index, item, model, fill_template(self.template, item, index))
        except TemplateError as err:
            return BatchRow(index, item, model, None, error=str(err), status="failed")

    # -- resuming --
    def _take_over(self, previous) -> None:
        """Take the rows ``previous`` finished as "done"; the others run again."""
        if isinstance(previous, Batch):
            self._check_same(previous)
            old_rows = previous.rows
        else:
            old_rows = list(previous)
        here = {(row.index, row.model): row for row in self.rows}
        for old in old_rows:
            if old.status != "done":
                continue
            row = here.get((old.index, old.model))
            if row is None:
                raise ValueError(f"The previous run has item {old.index} × {old.model}, which this batch has not: "
                                 "resume the same items and models.")
            if row.prompt != old.prompt:
                raise ValueError(f"Item {old.index}'s prompt for {old.model} differs from the previous run's "
                                 f"({old.prompt!r} then, {row.prompt!r} now): the items or the template changed.")
            row.reply, row.error, row.status = old.reply, None, "done"
            self.resumed += 1

    def _check_same(self, previous: "Batch") -> None:
        if previous.template != self.template:
            raise ValueError(f"The template differs from the previous run's: {previous.template!r} then, "
                             f"{self.template!r} now.")
        if previous.models != self.models:
            raise ValueError(f"The models differ from the previous run's: {', '.join(previous.models)} then, "
                             f"{', '.join(self.models)} now.")
        if len(previous.items) != len(self.items):
            raise ValueError(f"The items differ from the previous run's: {len(previous.items)} then, "
                             f"{len(self.items)} now.")

    # -- progress --
    @property
    def progress(self) -> Progress:
        counts = collections.Counter(row.status for row in self.rows)
        elapsed = self._elapsed()
        not_run = counts["not run"]
        return Progress(total=len(self.rows), done=counts["done"], failed=counts["failed"], not_run=not_run,
                        tokens=sum(reply_tokens(row.reply) for row in self.rows if row.reply is not None),
                        elapsed=elapsed, eta=self._eta(elapsed, not_run),
                        running=self._started is not None and self._ended is None)

    def summary(self) -> str:
        """E.g. "37/120 · 2 failed · 5,120 tokens · 12.3 s · ETA 27 s"."""
        return self.progress.summary()

    def _elapsed(self) -> float:
        if self._started is None:
            return 0.0
        return (self._ended if self._ended is not None else self._clock()) - self._started

    def _eta(self, elapsed: float, not_run: int) -> float | None:
        if not not_run:
            return 0.0
        if not self._finished_in_run or elapsed <= 0:
            return None
        return not_run * elapsed / self._finished_in_run

    # -- running --
    async def run(self, ask: Callable[[str, str], Any], *, on_progress: Callable[[Progress], None] | None = None,
                  min_interval: float = 0.25, pacer: Pacer | None = None) -> "Batch":
        """Run the rows not run yet: ``await ask(prompt, model)`` for each, paced by ``pacer`` (a new
        ``Pacer(concurrency)`` unless given; keyed by model). ``on_progress(progress)`` hears how far it
        is, at most every ``min_interval`` seconds and once at the end. Cancelling cancels the asks in
        flight: their rows stay "not run", finished rows keep their results, and CancelledError propagates."""
        self.pacer = pacer = pacer if pacer is not None else Pacer(self.concurrency)
        self._clock, self._started, self._ended, self._finished_in_run = pacer.clock, pacer.clock(), None, 0
        report = _Throttled(on_progress, min_interval, pacer.clock, lambda: self.progress)
        report()
        tasks = [asyncio.ensure_future(self._run_row(row, ask, pacer, report))
                 for row in self.rows if row.status == "not run" and row.prompt is not None]
        try:
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)  # let each cancelled ask wind down
            self._ended = pacer.clock()
            report(final=True)
        return self

    async def _run_row(self, row: BatchRow, ask, pacer: Pacer, report: "_Throttled") -> None:
        slot = await pacer.acquire(row.model)
        try:
            reply = await ask(row.prompt, row.model)
        except asyncio.CancelledError:
            slot.release()
            raise
        except Exception as exc:  # a bug in ``ask`` fails its row, not the batch
            slot.release()
            self._settle(row, None, f"{type(exc).__name__}: {exc}")
        else:
            if _interrupted(reply):  # an ask that turns cancelling into an interrupted reply: the row never ran
                slot.release()
                return
            slot.release(reply)
            self._settle(row, reply, _failure(reply))
        report()

    def _settle(self, row: BatchRow, reply, failure: str | None) -> None:
        row.reply, row.error = reply, failure
        row.status = "failed" if failure else "done"
        self._finished_in_run += 1

    # -- results --
    def records(self) -> list[dict]:
        """Every row's ``record()``, in row order; with a schema, each field of the row's data too."""
        records = [row.record() for row in self.rows]
        if self.schema is not None:
            for record, row in zip(records, self.rows, strict=True):
                data = _plain_data(getattr(row.reply, "data", None))
                for name, column in self.field_columns():
                    record[column] = data.get(name) if isinstance(data, dict) else None
        return records

    def field_columns(self) -> list[tuple[str, str]]:
        """(field, column) for each field of the schema: the field's name, unless a batch column has it."""
        if self.schema is None:
            return []
        return [(name, name if name not in COLUMNS else f"data.{name}") for name, _ in self.schema.fields()]

    def columns(self) -> list[str]:
        """The table's columns: COLUMNS, with the schema's fields after ``answer``."""
        columns = list(COLUMNS)
        at = columns.index("answer") + 1
        return columns[:at] + [column for _, column in self.field_columns()] + columns[at:]

    def replies(self) -> list:
        """The replies of the rows that ran, in row order."""
        return [row.reply for row in self.rows if row.reply is not None]

    def frame(self):
        """A pandas DataFrame of ``records()`` with ``columns()`` (ImportError if pandas is not installed); with a
        schema, each field's column has its type (nullable: a row that failed has none)."""
        pandas = _import_pandas()
        table = pandas.DataFrame(self.records(), columns=self.columns())
        if self.schema is not None:  # one column per field, of the field's type
            types = dict(self.schema.fields())
            table = table.astype({column: _DTYPES.get(types[name], "object") for name, column in self.field_columns()})
        return table


def _plain_data(value):
    if value is None:
        return None
    from ._answer_schema import plain_data

    return plain_data(value)


def _models(models) -> list[str]:
    if isinstance(models, str) or not isinstance(models, (list, tuple)):
        raise TypeError(f"models must be a list of model names, got {describe(models)}.")
    if not models:
        raise ValueError("models is empty: name at least one model.")
    bad = [m for m in models if not isinstance(m, str) or not m.strip()]
    if bad:
        raise ValueError(f"Each model must be a name, got {bad[0]!r}.")
    repeated = sorted({m for m in models if models.count(m) > 1})
    if repeated:
        raise ValueError(f"A model is named twice: {', '.join(repeated)}.")
    return list(models)


def _interrupted(reply) -> bool:
    return getattr(reply, "interrupted", False) is True and getattr(reply, "error", None) is None


def _failure(reply) -> str | None:
    """Why a reply does not count as done, or None when it does."""
    error = getattr(reply, "error", None)
    if error is not None:
        return str(error)
    if getattr(reply, "hidden", False):  # flag 3 or 4: the service withheld the answer
        return f"{reply.flag_reason}."
    return None if getattr(reply, "ok", True) else "not answered"


class _Throttled:
    """Calls ``callback(progress())`` at most every ``interval`` seconds, and always when final."""

    def __init__(self, callback, interval: float, clock, progress):
        self._callback, self._interval, self._clock, self._progress = callback, interval, clock, progress
        self._last: float | None = None

    def __call__(self, final: bool = False) -> None:
        if self._callback is None:
            return
        now = self._clock()
        if not final and self._last is not None and now - self._last < self._interval:
            return
        self._last = now
        try:
            self._callback(self._progress())
        except Exception:  # a display's bug must not stop the batch
            log.exception("batch progress callback failed")
