"""The notebook as context: building a DataFrame's prompt summary, beside pandas' own truncated repr.

    python benchmarks/context.py

A benchmark, not a test: it prints figures and the goal and never fails on time. The goal is a summary built
in under 100 ms at the default budget, whatever the frame's size, since it runs before every prompt that
names the frame. The peer is ``str(df)``: pandas' own repr, which also shows only head and tail.
"""

from __future__ import annotations

from common import median_ms, row

REPEAT = 7


def _median_ms(build) -> tuple[float, str]:
    """The median time to build a text, and the text."""
    built = [""]
    return median_ms(lambda: built.__setitem__(0, build()), REPEAT), built[0]


def _frames():
    import numpy as np
    import pandas as pd

    n = 10**6
    tall = pd.DataFrame({
        "id": np.arange(n),
        "price": np.random.default_rng(0).random(n),
        "name": pd.Series([f"item {i % 1000}" for i in range(n)], dtype=object),
        "when": pd.date_range("2024-01-01", periods=n, freq="s"),
        "ok": np.arange(n) % 3 == 0,
    })
    wide = pd.DataFrame(np.random.default_rng(1).random((10, 1000)), columns=[f"col{i}" for i in range(1000)])
    return {"10**6 rows × 5 columns": tall, "10 rows × 1,000 columns": wide}


def main() -> None:
    from wenxin_magic.context import DEFAULT_BUDGET, summarize

    print(f"context summaries at the default budget ({DEFAULT_BUDGET:,} characters), median of {REPEAT}")
    for label, df in _frames().items():
        ours, text = _median_ms(lambda df=df: summarize(df, DEFAULT_BUDGET))
        peer, peer_text = _median_ms(lambda df=df: str(df))
        row(f"summary, {label}", ours, peer, "ms", goal="goal < 100 ms", peer_name="str(df)")
        print(f"  {'':<46} {len(text):>13,} ch   str(df) {len(peer_text):>11,} ch   "
              f"within budget: {len(text) <= DEFAULT_BUDGET}")


if __name__ == "__main__":
    main()
