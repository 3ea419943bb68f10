"""The emulator's reply to what it cannot answer: one short paragraph, in the question's language, that says
this is the offline emulator, what it does answer, and how to get real answers. Never filler that pretends.
"""

from __future__ import annotations

from .request import Context, quoted

CAN_DO_ZH = ("它能算算术，能写几段常见的 Python 代码（冒泡排序、斐波那契数列、反转字符串、用 pandas 读取 CSV、"
             "用 matplotlib 画图、列表推导式），也能回答示例笔记本里的问题。")
CAN_DO_EN = ("It does arithmetic, a few common Python tasks (bubble sort, Fibonacci, reversing a string, reading a CSV "
             "with pandas, a matplotlib plot, a list comprehension) and the example notebooks' questions.")
REAL_ZH = "设置 QIANFAN_API_KEY，或用 `%wenxin lesson load PATH` 载入一节课，就能得到真正的回答。"
REAL_EN = "Set QIANFAN_API_KEY, or load a lesson with `%wenxin lesson load PATH`, for real answers."


def unanswered(ctx: Context, question: str) -> str:
    """The honest reply to ``question``, quoted whole when it is short enough to quote, in the model's voice:
    the light models say less, the open ones apologise first."""
    quote = quoted(question, ctx.zh)
    style = ctx.style
    if ctx.zh:
        what = f"答不了{quote}" if quote else "答不了这个问题"
        if style == "terse":
            return f"离线模拟器{what}。{REAL_ZH}"
        if style == "ernie_light":
            return f"离线模拟器{what}：它只会算算术、写几段常见的 Python 代码、回答示例笔记本里的问题。{REAL_ZH}"
        opening = "抱歉，我是离线模拟器，不是真正的模型，" if style == "open" else "这里回答你的是离线模拟器，不是真正的大模型，所以"
        return f"{opening}{what}。{CAN_DO_ZH}{REAL_ZH}"
    what = f"can't answer {quote}" if quote else "can't answer this question"
    if style == "terse":
        return f"The offline emulator {what}. {REAL_EN}"
    if style == "ernie_light":
        return (f"The offline emulator {what}: it only does arithmetic, a few common Python snippets and the example "
                f"notebooks' questions. {REAL_EN}")
    opening = "Sorry, I'm the offline emulator, not a real model, so I" if style == "open" else \
        "This is the offline emulator, not a real model, so it"
    return f"{opening} {what}. {CAN_DO_EN} {REAL_EN}"


def unanswered_reasoning(ctx: Context, question: str) -> str:
    """The thinking before that reply: what was asked, and that the emulator cannot know it."""
    quote = quoted(question, ctx.zh)
    if ctx.zh:
        asked = f"问题是{quote}。" if quote else ""
        return (f"{asked}这个问题不是算术，不是我会写的常见代码，也不是示例笔记本里的话题。我只是离线模拟器，没有真正的知识，"
                "不能编造答案：应该如实说明，告诉用户我能回答什么，以及怎样得到真正的回答。")
    asked = f"The question is {quote}. " if quote else ""
    return (f"{asked}It isn't arithmetic, one of the common code tasks I write, or a topic of the example notebooks. "
            "I'm only the offline emulator with no real knowledge, so I must not make an answer up: I'll say so, "
            "say what I can answer, and how to get real answers.")
