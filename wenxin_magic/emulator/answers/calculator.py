"""Arithmetic found in a question and computed exactly: a small parser over numbers, ``+ - * / ** ^ %`` and
parentheses (the question's text is never evaluated as Python), and the comparison of two numbers as decimals.

Numbers are fractions, so ``3.5 - 1.2`` is 2.3 and ``9.9 > 9.11``; only a fractional power (``2 ** 0.5``) is
a float. Sizes are bounded before anything is computed: a power whose result would pass ``MAX_DIGITS`` digits
is reported as too large (with its order of magnitude when that is known) instead of being worked out, so
``9**9**9`` answers at once.
"""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass, field
from fractions import Fraction

MAX_DIGITS = 1000
_MAX_BITS = int(MAX_DIGITS * math.log2(10)) + 1
_MAX_EXPRESSION = 200  # characters of one expression
_MAX_DEPTH = 40  # nested parentheses and signs

Value = Fraction | float


class NotArithmetic(ValueError):
    """The text is not an expression this parser reads."""


class Undefined(ArithmeticError):
    """The expression has no value: a division by zero, or a negative number's fractional power."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason  # "zero_division" or "not_real"


class TooLarge(ArithmeticError):
    """The value would have more than ``MAX_DIGITS`` digits; ``log10`` is its order of magnitude when known."""

    def __init__(self, log10: float | None = None):
        super().__init__("too large")
        self.log10 = log10


@dataclass
class Calculation:
    """An expression from a question, as shown (``80 × 15%``), with its value or what stops it having one."""

    shown: str
    value: Value | None = None
    steps: list[str] = field(default_factory=list)  # "3 + 4 = 7", in the order they were worked out
    undefined: str | None = None  # Undefined.reason
    too_large: bool = False
    log10: float | None = None  # a too large value's order of magnitude, when known


@dataclass
class Comparison:
    """Two numbers from a question, compared as decimals."""

    first: str
    second: str
    order: int  # -1: first < second, 0: equal, 1: first > second
    asks_smaller: bool  # the question asks which is smaller


# ---------------------------------------------------------------------------------------------- showing

def show(value: Value) -> str:
    """A value as a person writes it: 12, 2.3, 10/3 ≈ 3.333333333, or 1.414213562 for a float."""
    if isinstance(value, float):
        return f"{value:.10g}"
    if value.denominator == 1:
        return str(value.numerator)
    exact = _terminating(value)
    if exact is not None:
        return exact
    return f"{value.numerator}/{value.denominator} ≈ {float(value):.10g}"


def equals(value: Value) -> str:
    """What follows an expression: "= 12", "= 10/3 ≈ 3.333333333", or "≈ 1.414213562" for a float."""
    return f"{'≈' if isinstance(value, float) else '='} {show(value)}"


def magnitude(log10: float) -> tuple[float, int]:
    """A too large value's order of magnitude as (mantissa, exponent): about 4.28 × 10^369693099."""
    exponent = math.floor(log10)
    return round(10 ** (log10 - exponent), 2), exponent


def operand(value: Value) -> str:
    """A value as one side of an operation: 7, 2.3, (10/3), (−3), 1.414213562."""
    if isinstance(value, float):
        text = f"{value:.10g}"
    elif value.denominator == 1:
        text = str(value.numerator)
    else:
        text = _terminating(value) or f"({value.numerator}/{value.denominator})"
    return f"({text})" if text.startswith("-") else text


def _terminating(value: Fraction) -> str | None:
    """The exact decimal of a fraction whose denominator has no prime factor but 2 and 5, else None."""
    den, twos, fives = value.denominator, 0, 0
    while den % 2 == 0:
        den, twos = den // 2, twos + 1
    while den % 5 == 0:
        den, fives = den // 5, fives + 1
    if den != 1:
        return None
    places = max(twos, fives)
    scaled = abs(value.numerator) * 10 ** places // value.denominator
    whole, part = divmod(scaled, 10 ** places)
    sign = "-" if value < 0 else ""
    return f"{sign}{whole}.{str(part).rjust(places, '0').rstrip('0')}"


# --------------------------------------------------------------------------------------------- tokens

_TOKEN = re.compile(r"\s*(?:(\d+(?:\.\d+)?|\.\d+)|(\*\*|[-+*/^%()]))")
_SYMBOL = {"+": "+", "-": "-", "*": "×", "/": "÷", "**": "^", "^": "^", "%": "%"}


def _tokens(text: str) -> list[str]:
    tokens, pos, text = [], 0, text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m:
            raise NotArithmetic(text)
        tokens.append(m.group(1) or m.group(2))
        pos = m.end()
    return tokens


def _is_number(token: str | None) -> bool:
    return token is not None and (token[0].isdigit() or token[0] == ".")


# --------------------------------------------------------------------------------------------- parser
# expression := term (("+" | "-") term)*
# term       := signed (("*" | "/" | "%" before an operand) signed)*
# signed     := ("-" | "+") signed | power
# power      := percent (("**" | "^") signed)?          right-associative: 2 ** 3 ** 2 is 2 ** 9
# percent    := atom ("%" not before an operand)*        15% is 0.15; 10 % 3 is the remainder, 1
# atom       := number | "(" expression ")"

class _Parser:
    def __init__(self, tokens: list[str]):
        self.tokens = tokens
        self.pos = 0
        self.depth = 0

    def peek(self, ahead: int = 0) -> str | None:
        index = self.pos + ahead
        return self.tokens[index] if index < len(self.tokens) else None

    def take(self) -> str:
        token = self.peek()
        if token is None:
            raise NotArithmetic("the expression ends early")
        self.pos += 1
        return token

    def parse(self):
        node = self.expression()
        if self.peek() is not None:
            raise NotArithmetic(f"unexpected {self.peek()!r}")
        return node

    def expression(self):
        node = self.term()
        while self.peek() in ("+", "-"):
            node = (self.take(), node, self.term())
        return node

    def term(self):
        node = self.signed()
        while self.peek() in ("*", "/") or self.peek() == "%" and self._operand_follows(1):
            op = self.take()
            node = (op, node, self.signed())
        return node

    def signed(self):
        if self.peek() in ("-", "+"):
            self._deeper()
            op = self.take()
            node = self.signed()
            self.depth -= 1
            return ("neg", node) if op == "-" else node
        return self.power()

    def power(self):
        node = self.percent()
        if self.peek() in ("**", "^"):
            self.take()
            node = ("**", node, self.signed())
        return node

    def percent(self):
        node = self.atom()
        while self.peek() == "%" and not self._operand_follows(1):
            self.take()
            node = ("pct", node)
        return node

    def atom(self):
        token = self.take()
        if _is_number(token):
            if len(token) > 100:
                raise NotArithmetic("a number too long to read")
            return ("num", token)
        if token == "(":
            self._deeper()
            node = self.expression()
            if self.take() != ")":
                raise NotArithmetic("unbalanced parentheses")
            self.depth -= 1
            return ("group", node)
        raise NotArithmetic(f"unexpected {token!r}")

    def _operand_follows(self, ahead: int) -> bool:
        token = self.peek(ahead)
        return _is_number(token) or token in ("(", "-", "+")

    def _deeper(self):
        self.depth += 1
        if self.depth > _MAX_DEPTH:
            raise NotArithmetic("nested too deeply")


# ----------------------------------------------------------------------------------------- evaluation

def _checked(value: Value) -> Value:
    if isinstance(value, float):
        if math.isinf(value) or math.isnan(value):
            raise TooLarge()
        return value
    if max(abs(value.numerator).bit_length(), value.denominator.bit_length()) > _MAX_BITS:
        raise TooLarge(_log10(value) if value else None)
    return value


def _log10(value: Value) -> float:
    if isinstance(value, float):
        return math.log10(abs(value))
    return math.log10(abs(value.numerator)) - math.log10(value.denominator)


def _power(base: Value, exponent: Value) -> Value:
    integral = isinstance(exponent, Fraction) and exponent.denominator == 1
    if base == 0 and exponent < 0:
        raise Undefined("zero_division")
    if base == 0 or base == 1 or exponent == 0:
        return Fraction(0) if base == 0 else Fraction(1)
    if base == -1 and integral:
        return Fraction(-1 if exponent.numerator % 2 else 1)
    if not integral:
        if base < 0:
            raise Undefined("not_real")
        magnitude = float(exponent) * _log10(base)
        if magnitude > 300:
            raise TooLarge(magnitude)
        return _checked(float(base) ** float(exponent))
    n = exponent.numerator
    if isinstance(base, float):
        magnitude = n * _log10(base)
        if magnitude > 300:
            raise TooLarge(magnitude)
        return _checked(base ** n)
    # the size of the result is known before it is computed: refuse what would pass the limit
    bits = max(abs(base.numerator).bit_length(), base.denominator.bit_length())
    if (bits - 1) * abs(n) > _MAX_BITS:
        raise TooLarge(n * _log10(base))
    return _checked(base ** n)


class _Evaluator:
    def __init__(self):
        self.steps: list[str] = []

    def value(self, node) -> Value:
        kind = node[0]
        if kind == "num":
            return Fraction(node[1])
        if kind == "group":
            return self.value(node[1])
        if kind == "neg":
            inner = self.value(node[1])
            if node[1][0] != "num":
                self.steps.append(f"-({operand(inner)}) {equals(-inner)}")
            return -inner
        if kind == "pct":
            inner = self.value(node[1])
            result = _checked(inner / 100)
            self.steps.append(f"{operand(inner)}% = {operand(inner)} ÷ 100 {equals(result)}")
            return result
        op, left_node, right_node = node
        try:
            left, right = self.value(left_node), self.value(right_node)
        except TooLarge as inner:  # the order of magnitude of a part is not the whole's
            raise TooLarge() from inner
        result = self._apply(op, left, right)
        self.steps.append(f"{operand(left)} {_SYMBOL[op]} {operand(right)} {equals(result)}")
        return result

    @staticmethod
    def _apply(op: str, left: Value, right: Value) -> Value:
        if isinstance(left, float) or isinstance(right, float):
            left, right = float(left), float(right)
        if op in ("/", "%") and right == 0:
            raise Undefined("zero_division")
        try:
            if op == "+":
                return _checked(left + right)
            if op == "-":
                return _checked(left - right)
            if op == "*":
                return _checked(left * right)
            if op == "/":
                return _checked(left / right)
            if op == "%":
                return _checked(left % right)
            return _power(left, right)
        except OverflowError as error:
            raise TooLarge() from error


def _shown(tokens: list[str]) -> str:
    """The expression as a person writes it: spaces around binary operators, × ÷ ^ for * / **."""
    out, previous = [], None
    for index, token in enumerate(tokens):
        unary = token in ("-", "+") and previous in (None, "(", "+", "-", "*", "/", "**", "^")
        following = tokens[index + 1] if index + 1 < len(tokens) else None
        modulo = token == "%" and (_is_number(following) or following in ("(", "-", "+"))
        if token == "%" and not modulo:
            out.append("%")
        elif token in ("(", ")") or unary:
            out.append(token)
        elif _is_number(token):
            out.append(token)
        else:
            out.append(f" {_SYMBOL[token]} ")
        previous = token
    return re.sub(r"\s+", " ", "".join(out)).strip()


def calculate(expression: str) -> Calculation:
    """The value of ``expression``; NotArithmetic if it is not one this parser reads."""
    if len(expression) > _MAX_EXPRESSION:
        raise NotArithmetic("too long")
    tokens = _tokens(expression)
    tree = _Parser(tokens).parse()
    calculation = Calculation(shown=_shown(tokens))
    evaluator = _Evaluator()
    try:
        calculation.value = evaluator.value(tree)
    except Undefined as error:
        calculation.undefined = error.reason
    except TooLarge as error:
        calculation.too_large, calculation.log10 = True, error.log10
    calculation.steps = evaluator.steps
    return calculation


# ----------------------------------------------------------------------------------- from a question

_WORD_OPERATORS = [
    (r"加上|加", "+"), (r"减去|减", "-"), (r"乘以|乘", "*"), (r"除以", "/"),
    (r"\bplus\b", "+"), (r"\bminus\b", "-"), (r"\btimes\b|\bmultiplied by\b", "*"), (r"\bdivided by\b", "/"),
    (r"\bto the power of\b", "**"),
]
_NUMBER = r"\d+(?:\.\d+)?"
_CUES = re.compile(r"等于|是多少|多少|得几|是几|几\s*[?？]?$|计算|算一下|算算|算出|求值|结果|"
                   r"\bwhat(?:'s| is| are)\b|\bcalculate\b|\bcompute\b|\bevaluate\b|\bhow much\b|\bequals?\b|"
                   r"\bsolve\b|=", re.I)
_RUN = re.compile(r"[\d.\s+\-*/^%()]+")
_DATE = re.compile(r"\d{4}[-/]\d{1,2}[-/]\d{1,2}")


def normalized(question: str) -> str:
    """The question with full-width forms, × ÷ and operators in words made plain: ``80 的 15%`` is ``80 * 15%``."""
    text = unicodedata.normalize("NFKC", question or "")
    text = text.replace("×", "*").replace("÷", "/").replace("−", "-").replace("·", "*")
    text = re.sub(r"(?<=\d)\s*[xX]\s*(?=\d)", "*", text)
    text = re.sub(rf"({_NUMBER})\s*的\s*({_NUMBER})\s*%", r"\1 * \2%", text)
    text = re.sub(rf"({_NUMBER})\s*%\s*of\s+({_NUMBER})", r"\1% * \2", text, flags=re.I)
    for words, symbol in _WORD_OPERATORS:
        text = re.sub(rf"(?<=[\d)])\s*(?:{words})\s*(?=[\d(])", f" {symbol} ", text, flags=re.I)
    return text


def _has_operation(expression: str) -> bool:
    """A binary operator between two operands, or a percentage: not a lone number or a sign."""
    tokens = _tokens(expression)
    for index, token in enumerate(tokens):
        if token == "%":
            return True
        if index and token in ("+", "-", "*", "/", "**", "^") and (_is_number(tokens[index - 1]) or tokens[index - 1]
                                                                   in (")", "%")):
            return True
    return False


def calculation_in(question: str) -> Calculation | None:
    """The arithmetic a question asks for (``1+1等于几？``, ``What is 12 * 7?``, ``2^10``), else None.

    The expression must stand apart from words (``ERNIE-4.0-8K`` and dates are names, not sums) and either be
    the whole question or come with a word that asks for a value (等于, 多少, what is, calculate, =)."""
    text = normalized(question)
    if len(text) > 400 or _DATE.search(text) or "\n" in text.strip():
        return None
    for m in _RUN.finditer(text):
        raw = m.group(0)
        run = raw.strip().rstrip(".")  # a sentence's full stop is not a decimal point
        if not any(c.isdigit() for c in run):
            continue
        start = m.start() + len(raw) - len(raw.lstrip())
        end = start + len(run)
        before, after = text[start - 1:start], text[end:end + 1]
        if re.match(r"[A-Za-z_]", before) or re.match(r"[A-Za-z_]", after):
            continue
        try:
            if not _has_operation(run):
                continue
            calculation = calculate(run)
        except NotArithmetic:
            continue
        rest = (text[:start] + text[end:]).strip()
        if not re.sub(r"[\s?？!！。.,，:：=]", "", rest) or _CUES.search(rest):
            return calculation
    return None


_SMALLER = re.compile(r"哪个小|哪个更小|谁小|谁更小|更小|较小|小还是|\bsmaller\b|\bless\b|\blower\b|\bsmallest\b", re.I)
_LARGER = re.compile(r"哪个大|哪个更大|谁大|谁更大|更大|较大|大还是|比较|哪个多|\b(?:larger|bigger|greater|higher|"
                     r"largest|biggest|compare)\b", re.I)
_RELATION = re.compile(rf"^\s*(?:is\s+)?(-?{_NUMBER})\s*(>=|<=|>|<|=)\s*(-?{_NUMBER})\s*(?:吗|\?|？|对吗)?\s*$", re.I)


def comparison_in(question: str) -> Comparison | None:
    """Two numbers a question asks to compare (``9.11 和 9.9 哪个大？``, ``Is 9.11 > 9.9?``), else None."""
    text = normalized(question)
    if len(text) > 200:
        return None
    relation = _RELATION.match(text)
    if relation:
        first, second = relation.group(1), relation.group(3)
        return Comparison(first, second, _order(first, second), asks_smaller=relation.group(2) in ("<", "<="))
    if not (_LARGER.search(text) or _SMALLER.search(text)):
        return None
    numbers = [m.group(0) for m in re.finditer(rf"(?<![A-Za-z0-9_.])-?{_NUMBER}(?![A-Za-z0-9_.])", text)]
    if len(numbers) != 2 or re.search(r"[+*/^%]", text):
        return None
    first, second = numbers
    return Comparison(first, second, _order(first, second), asks_smaller=bool(_SMALLER.search(text))
                      and not _LARGER.search(text))


def _order(first: str, second: str) -> int:
    a, b = Fraction(first), Fraction(second)
    return (a > b) - (a < b)


def aligned(first: str, second: str) -> tuple[str, str]:
    """Two decimals written with as many places each: 9.11 and 9.90."""
    def places(n: str) -> int:
        return len(n.partition(".")[2])

    width = max(places(first), places(second))
    if not width:
        return first, second

    def pad(n: str) -> str:
        whole, _, part = n.partition(".")
        return f"{whole}.{part.ljust(width, '0')}"

    return pad(first), pad(second)
