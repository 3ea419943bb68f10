"""What sending a plot to a vision model costs: a 1920×1080 figure as an image part, beside ``fig.savefig`` alone.

    python benchmarks/images.py

A benchmark, not a test: it prints figures and never fails on time.
"""

from __future__ import annotations

import io

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


if __name__ == "__main__":
    bench_images()
