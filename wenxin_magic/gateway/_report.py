"""The ledger for the teacher: ``report(config)`` as a DataFrame, and the CLI's csv or table."""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
import re

from ..sanitize import safe_terminal
from ._config import GatewayConfig, load_config
from ._state import LEDGER_FIELDS

COLUMNS = ("student", "model", "day", *LEDGER_FIELDS)


def since_day(since: str | None) -> str | None:
    """``7d`` (the last seven days, today included) or ``YYYY-MM-DD`` as the first day; None: everything."""
    if since is None:
        return None
    match = re.fullmatch(r"(\d+)d", since.strip())
    if match:
        first = dt.datetime.now(dt.timezone.utc).date() - dt.timedelta(days=max(0, int(match.group(1)) - 1))
        return first.isoformat()
    try:
        return dt.date.fromisoformat(since.strip()).isoformat()
    except ValueError:
        raise ValueError(f"--since takes a number of days like 7d or a date like 2026-09-01, not {since!r}") from None


def ledger_rows(config: GatewayConfig | str, since: str | None = None) -> list[dict]:
    from ._runner import make_state

    config = load_config(config) if not isinstance(config, GatewayConfig) else config

    async def read():
        state = make_state(config)
        try:
            return await state.ledger(since_day(since))
        finally:
            await state.close()

    rows = asyncio.run(read())
    return [{name: row.get(name, 0) for name in COLUMNS} for row in rows]


def report(config, since: str | None = None):
    """The ledger as a pandas DataFrame: one row per student, model and day (requests, tokens, ¥, errors).

    ``config``: a path to class.toml or a loaded GatewayConfig; ``since``: ``"7d"`` or a first day."""
    import pandas as pd

    return pd.DataFrame(ledger_rows(config, since), columns=list(COLUMNS))


# a spreadsheet runs a cell that starts with one of these as a formula
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def format_rows(rows: list[dict], fmt: str) -> str:
    """The ledger as CSV or a table for the terminal. A model name is what a student's request said, so no cell is
    left able to act: the table drops control characters, and a CSV cell that would start a formula starts with '."""
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=list(COLUMNS), lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({**row, "student": _inert_cell(row["student"]), "model": _inert_cell(row["model"]),
                             "yuan": f"{row['yuan']:.6f}"})
        return out.getvalue()
    cells = [list(COLUMNS)] + [[safe_terminal(row[c]) if c != "yuan" else f"{row[c]:.4f}" for c in COLUMNS]
                               for row in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(COLUMNS))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip() for line in cells]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines) + "\n"


def _inert_cell(value) -> str:
    text = str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text
