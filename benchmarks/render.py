"""What sanitising an answer costs: ``safe_html`` beside Markdown rendering alone and beside bleach.

    python benchmarks/render.py

A benchmark, not a test: it prints figures and never fails on time. A streamed answer is re-rendered at
most 20 times a second, so the cost per render of a long answer is the figure that matters.
"""

from __future__ import annotations

from common import median_ms

PARAGRAPH = ("北京是中华人民共和国的首都，**历史**悠久。它有 `故宫`、[长城](https://example.com/wall) 和 $x^2$ 这样的"
             "名字。<b>raw html</b> & more.\n\n| 项目 | 数值 |\n|---|---|\n| 人口 | 2100 万 |\n\n"
             "```python\nprint('hello')\n```\n\n- 一\n- 二\n\n")


def _median_ms(function, text: str, repeats: int = 15) -> float:
    function(text)  # imports and caches
    return median_ms(lambda: function(text), repeats)


def bench_render() -> None:
    from markdown_it import MarkdownIt

    from wenxin_magic.sanitize import clean, safe_html

    plain = MarkdownIt("commonmark").enable(["table", "strikethrough"])
    peers = {"markdown-it alone (no sanitising)": plain.render}
    try:
        import bleach

        peers["markdown-it + bleach.clean"] = lambda text: bleach.clean(plain.render(text), strip=True)
    except ImportError:
        pass
    print("rendering an answer to safe HTML (median of 15)")
    for size in (2_000, 20_000):
        text = (PARAGRAPH * (size // len(PARAGRAPH) + 1))[:size]
        ours = _median_ms(lambda t: clean(safe_html(t)), text)
        for name, peer in peers.items():
            theirs = _median_ms(peer, text)
            print(f"  {size:>6,} characters: safe_html + clean {ours:7.2f} ms   {name} {theirs:7.2f} ms   "
                  f"ratio {ours / theirs:4.2f}x")


if __name__ == "__main__":
    bench_render()
