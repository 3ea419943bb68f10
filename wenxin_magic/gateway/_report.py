"""The ledger for the teacher: ``report(config)`` as a DataFrame, and the CLI's csv or table."""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
import re

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


def format_rows(rows: list[dict], fmt: str) -> str:
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=list(COLUMNS), lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({**row, "yuan": f"{row['yuan']:.6f}"})
        return out.getvalue()
    cells = [list(COLUMNS)] + [[str(row[c]) if c != "yuan" else f"{row[c]:.4f}" for c in COLUMNS] for row in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(COLUMNS))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip() for line in cells]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines) + "\n"
