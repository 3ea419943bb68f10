"""What a reasoning model thinks before it answers, for the answers that are not worked out elsewhere: tool
calls and their results, pictures, notebook context, the built-in topics, greetings and names. Arithmetic, code
and the honest reply carry their own (``arithmetic``, ``snippets``, ``unanswered``).
"""

from __future__ import annotations

from .request import Context, quoted


def _asked(ctx: Context, question: str) -> str:
    quote = quoted(question, ctx.zh)
    if ctx.zh:
        return f"用户问的是{quote}。" if quote else "用户提了一个比较长的问题。"
    return f"The user asks {quote}. " if quote else "The user asks a long question. "


def tool_reasoning(ctx: Context, question: str, calls: list) -> str:
    """Calls to make: the question needs data only the functions have."""
    if ctx.zh:
        names = "、".join(c["function"]["name"] for c in calls)
        return _asked(ctx, question) + f"这需要实时的数据，我手里没有，应该先调用{names}，再根据返回的结果回答。"
    names = ", ".join(c["function"]["name"] for c in calls)
    return _asked(ctx, question) + f"This needs live data I don't have, so I should call {names} and answer from the results."


def results_reasoning(ctx: Context, question: str) -> str:
    """Results came back: answer from them, and say plainly when a call failed."""
    if ctx.zh:
        return _asked(ctx, question) + "工具已经返回了结果，逐条读一遍，用结果里的数据回答；哪个调用失败了就如实说明。"
    return _asked(ctx, question) + "The tools have returned; read each result, answer from its data, and say so plainly if a call failed."


def picture_reasoning(ctx: Context, question: str) -> str:
    if ctx.zh:
        return _asked(ctx, question) + "问题带着图片。我是离线模拟器，看不懂图片的内容，只能读出它的格式、大小和颜色，应该如实说明。"
    return (_asked(ctx, question) + "The question comes with a picture. As the offline emulator I can't tell what it "
            "shows, only its format, size and colours, and I should say so.")


def context_reasoning(zh: bool, kind: str) -> str:
    """A prompt with notebook context: a table's summary, or a failed cell and its error; ``zh`` is the language of
    the user's words around it, not of the data."""
    if kind == "error":
        return ("提示里有一个报错的单元格。先找出异常的类型和出错的那一行，解释原因，再用最小的改动把单元格改对，放进一个代码块。"
                if zh else "The prompt holds a failed cell. Find the exception and the line that raised it, explain "
                "why, then correct the cell with the smallest change, in one code block.")
    return ("提示里有一张表的摘要。读出它的行数和列，看哪些是数值列、哪些是类别列，再给出分析的建议和代码。" if zh else
            "The prompt holds a table's summary. Read its row count and columns, tell the numeric ones from the "
            "categories, then suggest an analysis and the code for it.")


def topic_reasoning(ctx: Context, question: str, title: str, sentences: int | None = None) -> str:
    """One of the built-in topics: what to cover and in which order; ``sentences`` when the question asks for so
    many sentences and gets them."""
    if sentences and ctx.zh:
        count = {1: "一", 2: "两", 3: "三"}.get(sentences, str(sentences))
        return _asked(ctx, question) + f"这是关于{title}的问题，要求用{count}句话回答，所以只说最要紧的，不列要点。"
    if sentences:
        return (_asked(ctx, question) + f"This is about {title}, in {sentences} sentence(s), so only the essentials, "
                "no list.")
    if ctx.zh:
        return (_asked(ctx, question) + f"这是关于{title}的问题。先用一句话概括{title}，再按重要程度列出几个要点，"
                "每点一句，最后问问用户还想了解什么。")
    return (_asked(ctx, question) + f"This is about {title}. Open with one sentence on {title}, list the main points "
            "in order of importance, one line each, and end by offering more.")


def chat_reasoning(ctx: Context, question: str, kind: str) -> str:
    """Greetings, the user's name or the assistant's, copying text out, a city's one-sentence facts."""
    if kind == "greeting":
        return ("用户在打招呼，简单问好，说说能帮什么忙。" if ctx.zh else
                "The user says hello; greet them back briefly and say what I can help with.")
    if kind == "my_name":
        return ("用户问自己的名字，看看之前的对话里有没有说过。" if ctx.zh else
                "The user asks their own name; look back through the conversation for it.")
    if kind == "copy":
        return ("用户要我把一段文字原样抄写一遍，照抄即可，不增不减。" if ctx.zh else
                "The user asks me to copy some text out; copy it exactly, adding nothing.")
    if kind == "place":
        return (_asked(ctx, question) + "这是关于一座城市的简单问题，按要求用一句话回答，只说确定的事实。" if ctx.zh else
                _asked(ctx, question) + "A simple question about a city: answer in one sentence, with facts only.")
    if kind == "follow_up":
        return ("用户想接着上一个话题多听一些，回到上一个问题，把它展开。" if ctx.zh else
                "The user wants more on the previous topic; go back to that question and expand on it.")
    return ("用户问我是谁。如实说明：这是离线的千帆模拟器在回答。" if ctx.zh else
            "The user asks who I am. Be honest: the offline Qianfan emulator is answering.")
