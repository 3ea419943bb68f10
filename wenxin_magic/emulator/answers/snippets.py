"""Code answers for a small set of common tasks: correct, runnable code in one fenced block, asked for in
Chinese or English (冒泡排序 / bubble sort, 斐波那契 / Fibonacci, 反转字符串 / reverse a string, pandas 读取 CSV /
read a CSV with pandas, matplotlib 画图 / plot, 列表推导式 / list comprehension, and a few more).

A code request outside the table is not answered with made-up code: ``code_task`` returns None and the
composer gives the emulator's honest reply instead.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .request import Context

_CODE_WORDS = re.compile(r"\b(code|function|python|javascript|js|sql|script|program|snippet|class|example|pandas|"
                         r"matplotlib|pyplot|numpy)\b|代码|函数|程序|脚本|编程|实现|写一个|写个|示例", re.I)


@dataclass(frozen=True)
class CodeTask:
    """One task the emulator writes code for: how a question names it, the code, and its approach in words."""

    name: str
    name_zh: str
    pattern: re.Pattern
    code: str
    approach_zh: str
    approach_en: str
    language: str = "python"
    needs_code_word: bool = False  # the task's words alone could be a question about something else


BUBBLE_SORT = '''def bubble_sort(values):
    """Return a new list with the values in ascending order, sorted by bubble sort."""
    items = list(values)
    for end in range(len(items) - 1, 0, -1):
        swapped = False
        for i in range(end):
            if items[i] > items[i + 1]:
                items[i], items[i + 1] = items[i + 1], items[i]
                swapped = True
        if not swapped:  # a pass without a swap: the list is already sorted
            break
    return items


print(bubble_sort([64, 34, 25, 12, 22, 11, 90]))  # [11, 12, 22, 25, 34, 64, 90]'''

FIBONACCI = '''def fibonacci(n):
    """The first n Fibonacci numbers: each is the sum of the two before it."""
    numbers = []
    a, b = 0, 1
    for _ in range(n):
        numbers.append(a)
        a, b = b, a + b
    return numbers


print(fibonacci(10))  # [0, 1, 1, 2, 3, 5, 8, 13, 21, 34]'''

REVERSE_STRING = '''def reverse_string(text):
    """Return text backwards; a slice with step -1 walks it from the end."""
    return text[::-1]


print(reverse_string("hello"))  # olleh
print(reverse_string("你好，世界"))  # 界世，好你'''

READ_CSV = '''from pathlib import Path

import pandas as pd

path = Path("data.csv")
if not path.exists():  # a small sample so the example runs as it is; point path at your own file
    path.write_text("city,visitors\\n北京,120\\n上海,95\\n广州,80\\n", encoding="utf-8")

df = pd.read_csv(path)
print(df.head())  # the first rows
print(df.shape)  # (rows, columns)
print(df["visitors"].mean())  # the mean of one column'''

PLOT = '''import math

import matplotlib.pyplot as plt

x = [i / 10 for i in range(63)]  # 0 to 6.2
y = [math.sin(v) for v in x]

fig, ax = plt.subplots(figsize=(6, 4))
ax.plot(x, y, label="sin(x)")
ax.set_title("sin(x)")
ax.set_xlabel("x")
ax.set_ylabel("y")
ax.legend()
plt.show()'''

LIST_COMPREHENSION = '''numbers = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]

squares = [n * n for n in numbers]  # [expression for item in iterable]
even_squares = [n * n for n in numbers if n % 2 == 0]  # ... with a condition

print(squares)  # [1, 4, 9, 16, 25, 36, 49, 64, 81, 100]
print(even_squares)  # [4, 16, 36, 64, 100]'''

SORT = '''values = [3, 1, 2]
print(sorted(values))  # [1, 2, 3]: a new list
print(sorted(values, reverse=True))  # [3, 2, 1]
values.sort()  # sorts the list itself
print(values)  # [1, 2, 3]'''

ADD = '''def add(a, b):
    """Return the sum of a and b."""
    return a + b


print(add(2, 3))  # 5'''

SQL = '''SELECT city, COUNT(*) AS visits
FROM trips
GROUP BY city
ORDER BY visits DESC
LIMIT 10;'''

JAVASCRIPT = '''function greet(name) {
  return `Hello, ${name}!`;
}

console.log(greet('Beijing'));'''

# the first task whose pattern matches answers, so a specific task comes before a general one
TASKS = (
    CodeTask("bubble sort", "冒泡排序", re.compile(r"冒泡|bubble[\s_-]*sort", re.I), BUBBLE_SORT,
             "冒泡排序：每一轮比较相邻的两个数，把较大的换到后面；一轮下来没有交换，说明已经有序，可以提前结束。",
             "Bubble sort: each pass compares neighbours and swaps the larger one towards the end; a pass with no "
             "swap means the list is sorted, so it stops early."),
    CodeTask("fibonacci", "斐波那契数列", re.compile(r"斐波那契|fibonacci", re.I), FIBONACCI,
             "斐波那契数列：从 0 和 1 开始，每个数是前两个数的和，用两个变量向前滚动，不用递归。",
             "Fibonacci numbers: start from 0 and 1, each number is the sum of the two before it; two variables "
             "roll forward, no recursion needed."),
    CodeTask("reverse a string", "反转字符串", re.compile(r"(反转|翻转|倒序|逆序|颠倒).{0,6}(字符串|字串|文本)|(字符串|字串).{0,6}"
                                            r"(反转|翻转|倒序|逆序|颠倒)|\breverse\b.{0,20}\bstring|\bstring\b.{0,20}"
                                            r"\breverse", re.I), REVERSE_STRING,
             "反转字符串：用步长为 -1 的切片 text[::-1]，从末尾往前取每个字符。",
             "Reversing a string: the slice text[::-1] takes every character from the end backwards."),
    CodeTask("read a csv with pandas", "用 pandas 读取 CSV", re.compile(r"(pandas|pd\.|read_csv).{0,30}csv|csv.{0,30}(pandas|read_csv)|"
                                                  r"(读取|读入|读|导入|打开|\bread\b|\bload\b|\bopen\b).{0,20}csv", re.I),
             READ_CSV,
             "用 pandas 读取 CSV：pd.read_csv 把文件读成 DataFrame，再用 head() 看前几行、shape 看大小。",
             "Reading a CSV with pandas: pd.read_csv loads the file into a DataFrame; head() shows the first rows "
             "and shape its size."),
    CodeTask("plot with matplotlib", "用 matplotlib 画图", re.compile(r"matplotlib|pyplot|画图|绘图|作图|画.{0,6}(图|曲线)|折线图|"
                                                r"\bplot\b|\bchart\b|\bgraph\b", re.I), PLOT,
             "用 matplotlib 画图：准备 x 和 y 两组数，plt.subplots 建一张图，ax.plot 画线，再加标题、坐标轴和图例。",
             "Plotting with matplotlib: make the x and y values, create a figure with plt.subplots, draw the line "
             "with ax.plot, then add a title, axis labels and a legend.", needs_code_word=True),
    CodeTask("list comprehension", "列表推导式", re.compile(r"列表推导|列表生成式|list[\s-]*comprehension", re.I),
             LIST_COMPREHENSION,
             "列表推导式：[表达式 for 元素 in 可迭代对象 if 条件]，一行就能从一个列表得到新列表。",
             "A list comprehension: [expression for item in iterable if condition] builds a new list in one line."),
    CodeTask("sort a list", "列表排序", re.compile(r"\bsort|排序", re.I), SORT,
             "排序：sorted() 返回一个新的有序列表，list.sort() 就地排序，reverse=True 从大到小。",
             "Sorting: sorted() returns a new sorted list, list.sort() sorts in place, reverse=True sorts "
             "descending.", needs_code_word=True),
    CodeTask("add two numbers", "两数相加", re.compile(r"\badd(s|ing)?\b|\bsum\b|\baddition\b|相加|求和|加法", re.I), ADD,
             "两数相加：定义一个函数，返回两个参数的和。",
             "Adding two numbers: a function that returns the sum of its two arguments.", needs_code_word=True),
    CodeTask("a SQL query", "SQL 查询", re.compile(r"\bsql\b", re.I), SQL,
             "一条 SQL 查询：按城市分组计数，按次数从多到少排序，取前 10 个。",
             "A SQL query: count rows per city, order by the count descending, keep the first 10.",
             language="sql", needs_code_word=True),
    CodeTask("a JavaScript function", "JavaScript 函数", re.compile(r"javascript|\bjs\b", re.I), JAVASCRIPT,
             "一个 JavaScript 函数：用模板字符串拼出问候语。",
             "A JavaScript function that builds a greeting with a template string.", language="javascript",
             needs_code_word=True),
)


def asks_for_code(question: str) -> bool:
    return bool(_CODE_WORDS.search(question))


def code_task(question: str) -> CodeTask | None:
    """The task a question asks code for, or None (also for a code request outside the table)."""
    wants_code = asks_for_code(question)
    for task in TASKS:
        if task.pattern.search(question) and (wants_code or not task.needs_code_word):
            return task
    return None


_RUN_IT = {"zh": "直接运行即可，注释里写着预期的输出。", "en": "Run it as it is; the comments show the expected output."}
_ADAPT_IT = {"zh": "可以按你的数据改一改表名和字段。", "en": "Adapt the names to your own data."}
# the closing lines of code answers: a lengthened answer keeps them at its end
CODE_CLOSINGS = tuple(_RUN_IT.values()) + tuple(_ADAPT_IT.values())


def code_answer(ctx: Context, task: CodeTask) -> str:
    """The task's approach in a sentence, its code in one fenced block, and how to run it."""
    block = f"```{task.language}\n{task.code}\n```"
    if ctx.style == "terse":
        return block
    approach = task.approach_zh if ctx.zh else task.approach_en
    outro = (_RUN_IT if task.language == "python" else _ADAPT_IT)["zh" if ctx.zh else "en"]
    return f"{approach}\n\n{block}\n\n{outro}"


def code_reasoning(ctx: Context, task: CodeTask) -> str:
    """The thinking before a code answer: which task, which approach, how to check it."""
    if ctx.zh:
        return (f"用户要的是代码，任务是“{task.name_zh}”。思路：{task.approach_zh}"
                "写成一段可以直接运行的代码，放进一个代码块，用注释标出预期的输出，方便对照。")
    return (f"The user wants code for this task: {task.name}. Approach: {task.approach_en} I'll write it as one "
            "runnable block, with the expected output in comments so it can be checked.")
