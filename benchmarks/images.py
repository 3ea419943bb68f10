"""What sending a plot to a vision model costs: a 1920×1080 figure as an image part, beside ``fig.savefig`` alone;
and how much the conversation log grows per picture (a new figure each turn, the same figure again, and with
``WenxinMagics.log_images`` off).

    python benchmarks/images.py

A benchmark, not a test: it prints figures and never fails on time.
"""

from __future__ import annotations

import io
import tempfile
from pathlib import Path

from common import median_ms, row


def _figure():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(19.2, 10.8), dpi=100)
    for k in range(1, 6):
        ax.plot(range(200), [((i * k) % 37) / 37 + k for i in range(200)], label=f"series {k}")
    ax.legend()
    ax.set_title("a 1920×1080 chart")
    return fig


def bench_images() -> None:
    from wenxin_magic.images import picture_of

    fig = _figure()

    def savefig_alone():
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=fig.dpi)
        return buffer.getvalue()

    def as_part():
        return picture_of(fig).part()

    savefig_alone(), as_part()  # fonts and caches
    print("a 1920×1080 matplotlib figure as an image part (median of 9)")
    ours, peer = median_ms(as_part, 9), median_ms(savefig_alone, 9)
    row("picture_of(fig).part(): PNG, size, data URL", ours, peer, "ms", "", "fig.savefig alone")
    picture = picture_of(fig)
    url = picture.part()["image_url"]["url"]
    print(f"  {picture.width}×{picture.height} PNG: {len(picture.data):,} bytes; as a data URL {len(url):,} bytes "
          f"(base64: {len(url) / len(picture.data):.2f}× the PNG)")


TURNS = 10


def _log_growth(pictures: list[bytes], keep: bool) -> int:
    """Bytes the log file grows by for one turn per picture (the WAL checkpointed into the file first)."""
    from wenxin_magic.images import picture_of
    from wenxin_magic.session._log import ConversationLog
    from wenxin_magic.session._pictures import for_log

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "log.db"
        with ConversationLog(path) as log:
            log.write({"question": "warm-up", "answer": "x"})
            conn = log._connection()
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            before = path.stat().st_size
            for data in pictures:
                request = {"role": "user", "content": [{"type": "text", "text": "What does this plot show?"},
                                                       picture_of(data).part()]}
                logged, images = for_log(request, keep)
                log.write({"question": "What does this plot show?", "answer": "A chart. " * 40,
                           "turn": {"request": logged}}, images)
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            return path.stat().st_size - before


def bench_log_size() -> None:
    import matplotlib.pyplot as plt

    fig = _figure()
    ax = fig.axes[0]
    distinct = []
    for k in range(TURNS):
        line, = ax.plot(range(200), [((i * (k + 7)) % 41) / 41 for i in range(200)])
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=fig.dpi)
        distinct.append(buffer.getvalue())
        line.remove()
    plt.close(fig)
    png = sum(len(data) for data in distinct) / TURNS
    print(f"the conversation log's growth per turn with a 1920×1080 figure ({TURNS} turns; the PNG averages "
          f"{png / 1024:,.0f} KB)")
    for label, pictures, keep in (("a new figure each turn", distinct, True),
                                  ("the same figure, stored once", [distinct[0]] * TURNS, True),
                                  ("log_images = False", distinct, False)):
        grown = _log_growth(pictures, keep) / TURNS
        print(f"  {label:<28} {grown / 1024:>8,.1f} KB a turn ({grown / png:.2f}× the PNG)")


if __name__ == "__main__":
    bench_images()
    bench_log_size()
