"""What the notebook puts in a prompt: a table summary or a failed cell with its error, in fences and
colours; and the user's own words around them, which say the language to answer in.
"""

from __future__ import annotations

import re

from ...summary_format import ARRAY_HEADER, DTYPES_LINE, FRAME_HEADER, SERIES_HEADER
from .request import Context, is_chinese

ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
CODE_FENCE = re.compile(r"^[ \t]*```[ \t]*([\w+-]*)[^\n]*\n(.*?)^[ \t]*```[ \t]*$", re.M | re.S)


EXCEPTION_LINE = re.compile(r"(?<![A-Za-z0-9_.])((?:[A-Za-z_]\w*\.)*(?:[A-Z]\w*(?:Error|Exception|Warning|Exit|Interrupt)"
                       r"|StopIteration))(?:[ \t]*:[ \t]*(.*?))?[ \t]*$", re.M)


def user_words(q: str) -> str:
    """The prompt without the table or the error in it: the user's own words."""
    text = CODE_FENCE.sub("\n", ANSI_ESCAPE.sub("", q))
    for pattern in (FRAME_HEADER, SERIES_HEADER, ARRAY_HEADER, DTYPES_LINE, EXCEPTION_LINE):
        text = pattern.sub(" ", text)
    text = re.sub(r"^[ \t]*\|.*\|", "", text, flags=re.M)  # table rows: words after the last pipe stay
    text = re.sub(r"^[ \t]*\[.*\]", "", text, flags=re.M)  # an array's rows
    text = re.sub(r"^[ \t]+\S.*$", "", text, flags=re.M)  # traceback frames and the code they quote
    return re.sub(r"Traceback \([^)\n]*\):?", "", text)


def asked_in_chinese(ctx: Context, q: str) -> bool:
    """Whether to answer in Chinese: the question around the table or the cell, not the data in it."""
    zh = is_chinese(user_words(q))
    sys_low = ctx.system.lower()
    if ctx.system and ("english" in sys_low or "英文" in ctx.system or "英语" in ctx.system):
        return False
    if ctx.system and ("中文" in ctx.system or "chinese" in sys_low) and not zh:
        return True
    return zh
