"""Answers to arithmetic and to comparisons of two numbers, worked out by ``calculator``: the result in each
voice, an honest word when there is none (a division by zero, a value too large to write out), and the steps a
reasoning model thinks through first.
"""

from __future__ import annotations

from fractions import Fraction

from .calculator import MAX_DIGITS, Calculation, Comparison, aligned, equals, magnitude, show
from .request import Context


# ------------------------------------------------------------------------------------------ calculations

def calculation_answer(ctx: Context, calculation: Calculation) -> str:
    """The result of ``calculation`` in the model's voice, or why it has none."""
    zh = ctx.zh
    if calculation.value is None:
        return _no_value(calculation, zh)
    line = f"{calculation.shown} {equals(calculation.value)}"
    value = show(calculation.value)
    steps = calculation.steps
    if ctx.style == "terse":
        return value
    if ctx.style == "ernie_light":
        return f"计算结果：{line}。" if zh else f"Result: {line}."
    if ctx.style == "open":
        said = f"答案是 {value}。" if zh else f"The answer is {value}."
        if len(steps) > 1:
            said += ("\n\n" + "，".join(steps) + "。") if zh else ("\n\n" + "; ".join(steps) + ".")
        return said
    text = f"**答案：{value}**\n\n{line}" if zh else f"**Answer: {value}**\n\n{line}"
    if len(steps) > 1:
        head = "计算过程：" if zh else "Step by step:"
        text += f"\n\n{head}\n" + "\n".join(f"{n}. {step}" for n, step in enumerate(steps, 1))
    return text


def _no_value(calculation: Calculation, zh: bool) -> str:
    shown = calculation.shown
    if calculation.undefined == "zero_division":
        return (f"{shown} 没有结果：这里要除以 0，而除以 0 是没有定义的。" if zh else
                f"{shown} has no value: it divides by zero, and division by zero is undefined.")
    if calculation.undefined == "not_real":
        return (f"{shown} 在实数范围内没有结果：负数的非整数次幂不是实数。" if zh else
                f"{shown} has no real value: a negative number raised to a fractional power is not a real number.")
    if calculation.log10 is not None and calculation.log10 < 0:  # a tiny value: its exact decimal is too long
        mantissa, exponent = magnitude(calculation.log10)
        return (f"{shown} 的结果非常小，精确写出来会超过 {MAX_DIGITS} 位；它大约是 {mantissa} × 10^{exponent}。" if zh
                else f"{shown} is too small to write out exactly (more than {MAX_DIGITS} digits); it is about "
                     f"{mantissa} × 10^{exponent}.")
    if calculation.log10 is not None:
        mantissa, exponent = magnitude(calculation.log10)
        return (f"{shown} 的结果太大（超过 {MAX_DIGITS} 位），这里不把它写出来；它大约是 {mantissa} × 10^{exponent}。"
                if zh else f"{shown} is too large to write out (more than {MAX_DIGITS} digits); it is about "
                           f"{mantissa} × 10^{exponent}.")
    return (f"{shown} 的结果太大（超过 {MAX_DIGITS} 位），这里不把它算出来。" if zh else
            f"{shown} is too large to work out here (more than {MAX_DIGITS} digits).")


def calculation_reasoning(ctx: Context, calculation: Calculation) -> str:
    """The thinking before the answer: the expression, each step in order, the result."""
    zh, shown, steps = ctx.zh, calculation.shown, calculation.steps
    if zh:
        text = f"要算的是 {shown}。按运算顺序来：先算括号，再算乘方，然后乘除，最后加减。"
        if steps:
            text += "一步一步：" + "；".join(steps) + "。"
    else:
        text = (f"I need to work out {shown}, following the order of operations: parentheses, powers, then "
                "multiplication and division, then addition and subtraction. ")
        if steps:
            text += "Step by step: " + "; ".join(steps) + ". "
    if calculation.value is not None:
        return text + (f"所以结果是 {show(calculation.value)}。" if zh else f"So the result is {show(calculation.value)}.")
    if calculation.undefined == "zero_division":
        return text + ("这里要除以 0，没有定义，应该如实说没有结果，而不是编一个数。" if zh else
                       "This divides by zero, which is undefined, so the honest answer is that there is no value.")
    if calculation.undefined == "not_real":
        return text + ("负数的非整数次幂不是实数，应该说明没有实数结果。" if zh else
                       "A negative number to a fractional power is not real, so there is no real value.")
    return text + (f"结果会超过 {MAX_DIGITS} 位，不去硬算，说明它太大，能估出数量级就给出数量级。" if zh else
                   f"The result would pass {MAX_DIGITS} digits, so I won't grind it out; I'll say it is too large "
                   "and give its order of magnitude if I can.")


# ------------------------------------------------------------------------------------------ comparisons

def _winner(comparison: Comparison) -> str:
    """The number the question asks for: the larger, or the smaller when it asks which is smaller."""
    first_larger = comparison.order > 0
    return comparison.first if first_larger != comparison.asks_smaller else comparison.second


def _why(comparison: Comparison, zh: bool) -> str:
    """Why one decimal is larger: the two written with as many places, then their whole and decimal parts."""
    first, second = comparison.first, comparison.second
    big, small = (first, second) if comparison.order > 0 else (second, first)
    relation = f"{big} > {small}"
    if first.startswith("-") or second.startswith("-"):
        return f"所以 {relation}。" if zh else f"so {relation}."
    a, b = aligned(first, second)
    whole_a, whole_b = int(Fraction(first)), int(Fraction(second))
    if "." not in a:
        return f"所以 {relation}。" if zh else f"so {relation}."
    if whole_a != whole_b:
        return (f"把两个数写成同样的小数位数：{a} 和 {b}；整数部分 {max(whole_a, whole_b)} 大于 {min(whole_a, whole_b)}，"
                f"所以 {relation}。" if zh else
                f"Written with the same number of decimal places they are {a} and {b}; the whole part "
                f"{max(whole_a, whole_b)} is larger than {min(whole_a, whole_b)}, so {relation}.")
    part_big, part_small = (a, b) if comparison.order > 0 else (b, a)
    part_big, part_small = "0." + part_big.partition(".")[2], "0." + part_small.partition(".")[2]
    return (f"把两个数写成同样的小数位数：{a} 和 {b}；整数部分都是 {whole_a}，小数部分 {part_big} 大于 {part_small}，"
            f"所以 {relation}。" if zh else
            f"Written with the same number of decimal places they are {a} and {b}; the whole parts are both "
            f"{whole_a}, and the decimal part {part_big} is larger than {part_small}, so {relation}.")


def comparison_answer(ctx: Context, comparison: Comparison) -> str:
    zh = ctx.zh
    first, second = comparison.first, comparison.second
    if comparison.order == 0:
        return f"{first} 和 {second} 一样大。" if zh else f"{first} and {second} are equal."
    winner = _winner(comparison)
    if zh:
        head = f"{winner} 更小。" if comparison.asks_smaller else f"{winner} 更大。"
    else:
        head = f"{winner} is smaller." if comparison.asks_smaller else f"{winner} is larger."
    if ctx.style == "terse":
        return head
    why = _why(comparison, zh)
    if ctx.style == "ernie":
        return f"**{head}**\n\n{why}"
    return f"{head}{'' if zh else ' '}{why}"


def comparison_reasoning(ctx: Context, comparison: Comparison) -> str:
    first, second = comparison.first, comparison.second
    if ctx.zh:
        text = (f"要比较 {first} 和 {second}。比较小数不能看小数点后有几位，要先对齐小数位，再从整数部分往后逐位比较。")
        if comparison.order == 0:
            return text + "两个数相等。"
        return text + _why(comparison, True) + f"问题问的是哪个更{'小' if comparison.asks_smaller else '大'}，答案是 {_winner(comparison)}。"
    text = (f"I need to compare {first} and {second}. Decimals are not compared by how many digits follow the point: "
            "line up the decimal places, then compare from the whole part down. ")
    if comparison.order == 0:
        return text + "The two are equal."
    return (text + _why(comparison, False) + f" The question asks which is "
            f"{'smaller' if comparison.asks_smaller else 'larger'}: {_winner(comparison)}.")
