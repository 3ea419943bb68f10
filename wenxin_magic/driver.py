"""What the cell magics' three drivers share: the single answer, the compare grid and the batch.

Each asks the session for something that streams into a live view (an answer, a grid of answers, a progress
bar). Each must survive Ctrl-C by keeping what was done so far, give every error the magics' hint (what a
notebook user can do about it: the api layer knows nothing of magics) and finish its view whatever happened,
so that nothing is left drawn as still running. ``drive`` is that dance, written once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TypeVar

from .api import QianfanError

T = TypeVar("T")

# What to do about an error, in the magics' own words: keyed by the service's code, else by the error's field.
_HINTS: dict[object, str] = {
    "model": "`%wenxin models` lists the models; for a service you deployed yourself, use --endpoint NAME.",
    "endpoint": "In a cell, name it with --endpoint NAME.",
    "credentials": "%wenxin login asks for the keys without echoing them; %wenxin online then uses them.",
    "functions": "Tools need a model that takes function calls: the `takes` column of `%wenxin models` says "
                 "`functions` (v1) or `tools` (v2).",
    "tools": "Tools need a model that takes function calls: the `takes` column of `%wenxin models` says "
             "`functions` (v1) or `tools` (v2).",
    3: "`%wenxin models` lists the models.",
    "invalid_model": "`%wenxin models --remote` lists what this key can call; `%wenxin models` what the catalog "
                     "knows.",
    "resume": "%wenxin reset NAME forgets the kernel's turns of NAME.",
}


def add_hint(err: QianfanError | None) -> QianfanError | None:
    """Append what a notebook user can do about ``err`` (the api layer knows nothing of magics)."""
    if err is None:
        return err
    extra = _HINTS.get(err.code) or _HINTS.get(getattr(err, "field", None))
    if extra and extra not in (err.hint or ""):
        err.hint = f"{err.hint} {extra}" if err.hint and err.hint != err.message else extra
    return err


def drive(ask: Callable[[], T], *, interrupted: Callable[[], T | None], finish: Callable[[T | None], None],
          errors: Callable[[T | None], Iterable[QianfanError | None]] = lambda result: ()) -> T | None:
    """``ask()`` the session; on Ctrl-C, what ``interrupted()`` recovers of it instead. Then, whatever happened
    (an exception too), every error that ``errors(result)`` lists gets its hint and ``finish(result)`` closes the
    views."""
    result = None
    try:
        result = ask()
    except KeyboardInterrupt:
        result = interrupted()
    finally:
        for error in errors(result):
            add_hint(error)
        finish(result)
    return result


class OnScreen:
    """The live view a driver streams into; showing the next one (a round after tool calls) finishes it."""

    def __init__(self):
        self.view = None

    def show(self, view) -> None:
        if self.view is not None:
            self.view.finish()
        self.view = view
        view.start()

    def changed(self) -> None:
        if self.view is not None:
            self.view.changed()

    def finish(self) -> None:
        if self.view is not None:
            self.view.finish()
