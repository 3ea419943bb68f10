"""Code answers: a fenced block, so ``-f code`` and classroom demos have something to run.
"""

from __future__ import annotations

import re

from .request import Context, topic_of

_CODE_WORDS = re.compile(r"\b(code|function|python|javascript|js|sql|script|program|snippet|class)\b|代码|函数|程序|脚本|编程|实现",
                         re.I)
_CODE_SNIPPETS = [
    (re.compile(r"\badd|\bsum|相加|求和|加法", re.I), "python",
     'def add(a, b):\n    """Return the sum of a and b."""\n    return a + b\n\n\nprint(add(2, 3))  # 5'),
    (re.compile(r"fibonacci|斐波那契", re.I), "python",
     'def fibonacci(n):\n    """The first n Fibonacci numbers."""\n    numbers = [0, 1]\n'
     '    while len(numbers) < n:\n        numbers.append(numbers[-1] + numbers[-2])\n    return numbers[:n]\n\n\n'
     'print(fibonacci(10))'),
    (re.compile(r"\bsort|排序", re.I), "python",
     'def sort_numbers(values):\n    """Return the values in ascending order."""\n    return sorted(values)\n\n\n'
     'print(sort_numbers([3, 1, 2]))  # [1, 2, 3]'),
    (re.compile(r"\bsql\b|查询|表", re.I), "sql",
     "SELECT city, COUNT(*) AS visits\nFROM trips\nGROUP BY city\nORDER BY visits DESC\nLIMIT 10;"),
    (re.compile(r"javascript|\bjs\b", re.I), "javascript",
     "function greet(name) {\n  return `Hello, ${name}!`;\n}\n\nconsole.log(greet('Beijing'));"),
]


def asks_for_code(question: str) -> bool:
    return bool(_CODE_WORDS.search(question))


def _snippet(q: str) -> tuple[str, str]:
    """(language, code): the canned snippet the question asks for, else a function named after its topic."""
    for pattern, language, code in _CODE_SNIPPETS:
        if pattern.search(q):
            return language, code
    name = re.sub(r"\W+", "_", topic_of(q).lower()).strip("_")[:30] or "solve"
    if not name.isidentifier() or not name.isascii():
        name = "solve"
    return "python", (f'def {name}(data):\n    """{topic_of(q)}"""\n    result = []\n'
                      "    for item in data:\n        result.append(item)\n    return result")


def code_answer(ctx: "Context", q: str) -> str:
    language, code = _snippet(q)
    if ctx.zh:
        intro = ctx.pick(["下面是一个简单的实现：", "可以这样写：", "参考代码如下："], "code")
        outro = "运行后即可看到结果，可以按需要修改。"
    else:
        intro = ctx.pick(["Here is a simple implementation:", "You can write it like this:", "Here's the code:"], "code")
        outro = "Run it to see the result, and adapt it as you need."
    if ctx.style == "terse":
        return f"```{language}\n{code}\n```"
    return f"{intro}\n\n```{language}\n{code}\n```\n\n{outro}"
