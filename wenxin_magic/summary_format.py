"""The first lines of a table summary in a prompt: one definition for the writer and for the reader.

``context.summarize`` heads a DataFrame, Series or ndarray summary with :func:`frame_header`,
:func:`series_header` or :func:`array_header` (and a DataFrame's column types with :func:`dtypes_line`);
the emulator finds them again in a prompt with the matching patterns, which also accept what a person types
("DataFrame 'sales': 12 rows x 3 cols"). It imports nothing of the package, so every layer may use it.
"""

from __future__ import annotations

import re

__all__ = ["ARRAY_HEADER", "DTYPES_LINE", "DTYPES_PREFIX", "FRAME_HEADER", "SERIES_HEADER", "array_header", "count",
           "dtypes_line", "frame_header", "series_header"]

DTYPES_PREFIX = "dtypes: "


def count(n: int, noun: str) -> str:
    """"1 row", "1,000 rows"."""
    return f"{n:,} {noun}" if n == 1 else f"{n:,} {noun}s"


def frame_header(rows: int, columns: int) -> str:
    """"DataFrame: 1,000 rows × 4 columns"."""
    return f"DataFrame: {count(rows, 'row')} × {count(columns, 'column')}"


def series_header(values: int, dtype, name: str | None = None) -> str:
    """"Series 'visitors': 1,000 values, dtype float64"; no name, "Series: …"."""
    label = "" if name is None else f" {name!r}"
    return f"Series{label}: {count(values, 'value')}, dtype {dtype}"


def array_header(shape: tuple, dtype) -> str:
    """"ndarray shape (1000, 3), dtype float64"."""
    return f"ndarray shape {tuple(shape)}, dtype {dtype}"


def dtypes_line(parts: list[str]) -> str:
    """"dtypes: city: object, year: int64", from ``["city: object", "year: int64"]``."""
    return DTYPES_PREFIX + ", ".join(parts)


# The readers: each finds its header anywhere in a prompt (a summary may be interpolated mid-sentence).
# Groups: FRAME_HEADER (name, rows, columns), SERIES_HEADER (name, values, dtype), ARRAY_HEADER (name, shape, dtype);
# counts as written ("1,000"), the name "" or None when there is none.
_NAME = r"(?:\s*['\"`“]([^'\"`”\n]{1,60})['\"`”])?"
FRAME_HEADER = re.compile(r"(?<![A-Za-z0-9_])DataFrame" + _NAME
                          + r"\s*[:：]\s*(\d[\d,_]*)\s*rows?\s*[×xX*]\s*(\d[\d,_]*)\s*col(?:umn)?s?")
SERIES_HEADER = re.compile(r"(?<![A-Za-z0-9_])Series" + _NAME
                           + r"\s*[:：]\s*(\d[\d,_]*)\s*values?\s*[,，]?\s*dtype\s*[:=]?\s*([\w\[\]]+)")
ARRAY_HEADER = re.compile(r"(?<![A-Za-z0-9_])(?:np\.)?ndarray" + _NAME
                          + r"\s*[:：]?\s*shape\s*[:=]?\s*\(([\d,\s]*)\)\s*[,，]?\s*dtype\s*[:=]?\s*(\w+)")
DTYPES_LINE = re.compile(r"^\s*dtypes?\s*[:：]\s*(.+)$", re.I | re.M)
