"""What the emulator says about the pictures it was sent, from their bytes: format and pixel size (read from the
header by ``images.image_size``), the dominant colours, and whether it looks like a chart (a light background
with few colours). So a test or a demo can tell that the right picture arrived.

Pillow is imported only here and only when a picture arrives (it comes with matplotlib); without it the answer
gives format and size alone.
"""

from __future__ import annotations

import base64
import binascii
import io

from ...images import image_size
from .request import Context, quoted

# a coarse palette: each pixel is named by the nearest of these
_NAMES = {
    "white": (255, 255, 255), "light grey": (200, 200, 200), "grey": (128, 128, 128), "dark grey": (64, 64, 64),
    "black": (0, 0, 0), "red": (214, 39, 40), "orange": (255, 127, 14), "yellow": (240, 220, 40),
    "green": (44, 160, 44), "cyan": (23, 190, 207), "blue": (31, 119, 180), "purple": (148, 103, 189),
    "pink": (227, 119, 194), "brown": (140, 86, 75),
}
_NAMES_ZH = {"white": "白色", "light grey": "浅灰色", "grey": "灰色", "dark grey": "深灰色", "black": "黑色",
             "red": "红色", "orange": "橙色", "yellow": "黄色", "green": "绿色", "cyan": "青色", "blue": "蓝色",
             "purple": "紫色", "pink": "粉色", "brown": "棕色"}
_SAMPLE_SIDE = 96  # pixels a side the colours are counted on: enough for a chart's lines, cheap for a photo
_LIGHT = 215  # a background this bright (0-255, each channel) reads as light
CHART_MOST_COLOURS = 8  # colours (each at least 0.5% of the picture) a chart has at most


def image_parts(message: dict) -> list[dict]:
    content = message.get("content") if isinstance(message, dict) else None
    if not isinstance(content, list):
        return []
    return [part for part in content if isinstance(part, dict) and part.get("type") == "image_url"]


def _bytes_of(part: dict) -> tuple[bytes | None, str]:
    source = part.get("image_url")
    url = source.get("url") if isinstance(source, dict) else source
    url = url if isinstance(url, str) else ""
    if not url.startswith("data:") or "," not in url:
        return None, url
    try:
        return base64.b64decode(url.partition(",")[2], validate=False), url
    except (binascii.Error, ValueError):
        return None, url


def _nearest(rgb: tuple[int, int, int]) -> str:
    return min(_NAMES, key=lambda name: sum((a - b) ** 2 for a, b in zip(rgb, _NAMES[name], strict=True)))


def colours(data: bytes) -> list[tuple[str, float]] | None:
    """The picture's colours by name with their share of the pixels, most first; None without Pillow."""
    try:
        from PIL import Image
    except ImportError:
        return None
    try:
        with Image.open(io.BytesIO(data)) as opened:
            sample = opened.convert("RGB")
            sample.thumbnail((_SAMPLE_SIDE, _SAMPLE_SIDE), Image.Resampling.NEAREST)
    except Exception:  # Pillow cannot read it: the header's facts still stand
        return None
    counts: dict[str, int] = {}
    pixels = sample.getcolors(maxcolors=_SAMPLE_SIDE * _SAMPLE_SIDE) or []
    for many, rgb in pixels:
        name = _nearest(rgb)
        counts[name] = counts.get(name, 0) + many
    total = sum(counts.values()) or 1
    return sorted(((name, many / total) for name, many in counts.items()), key=lambda item: -item[1])


def looks_like_chart(shares: list[tuple[str, float]]) -> bool:
    """A light background (the most common colour, at least 40% of the picture) and few colours."""
    if not shares:
        return False
    background, share = shares[0]
    light = min(_NAMES[background]) >= _LIGHT - 20
    return light and share >= 0.4 and sum(1 for _, s in shares if s >= 0.005) <= CHART_MOST_COLOURS


def describe(part: dict, zh: bool) -> str:
    """One picture in a sentence or two."""
    data, url = _bytes_of(part)
    if data is None:
        shown = url[:80] + ("…" if len(url) > 80 else "")
        return (f"一张网络图片（{shown}），模拟器不会下载它。" if zh else
                f"an image at {shown}, which the emulator does not download.")
    size = image_size(data)
    if size is None:
        return "一段无法识别的图片数据。" if zh else "image data it cannot read (neither PNG nor JPEG)."
    form, width, height = size
    head = (f"一张 {width}×{height} 像素的 {form.upper()} 图片" if zh else
            f"a {form.upper()} image of {width}×{height} pixels")
    shares = colours(data)
    if shares is None:
        return head + "。" if zh else head + "."
    main = [(name, share) for name, share in shares if share >= 0.005][:4]
    if zh:
        listed = "、".join(f"{_NAMES_ZH[name]}（{share:.0%}）" for name, share in main)
        chart = "看起来像一张图表：浅色背景，颜色很少。" if looks_like_chart(shares) else "看起来不像图表。"
        return f"{head}，主要颜色：{listed}。{chart}"
    listed = ", ".join(f"{name} ({share:.0%})" for name, share in main)
    chart = ("It looks like a chart: a light background with few colours." if looks_like_chart(shares) else
             "It does not look like a chart.")
    return f"{head}; its dominant colours are {listed}. {chart}"


def picture_answer(ctx: Context, parts: list[dict]) -> str:
    """The answer to a question that came with pictures: what each one is, then the question it came with."""
    zh = ctx.zh
    lines = [describe(part, zh) for part in parts]
    if len(lines) == 1:
        text = ("我收到了" if zh else "I received ") + lines[0]
    else:
        text = (f"我收到了 {len(lines)} 张图片：" if zh else f"I received {len(lines)} images:") + "".join(
            f"\n{index}. {line}" for index, line in enumerate(lines, 1))
    question = ctx.question.strip()
    if question:
        quote = quoted(question, zh)
        about = (f"关于你的问题{quote}：" if quote else "关于你的问题：") if zh else \
            (f"About your question {quote}: " if quote else "About your question: ")
        text += "\n\n" + about + ("这是根据图片的格式、尺寸和颜色作出的描述。" if zh else
                                   "this is what the picture's format, size and colours show.")
    return text
