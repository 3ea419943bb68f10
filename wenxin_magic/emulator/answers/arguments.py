"""A function's arguments from a JSON Schema and the question: places, numbers, enums, expressions.
"""

from __future__ import annotations

import json

import re

from .request import is_chinese, topic_of

_CITIES_ZH = ["北京", "上海", "广州", "深圳", "杭州", "成都", "重庆", "天津", "南京", "武汉", "西安", "苏州", "石家庄", "长沙"]


def place_in(question: str) -> str | None:
    m = re.search(r"([\u4e00-\u9fff]{2,6}?(?:省|市|自治区|区|县))", question)
    if m:
        return re.sub(r"^(今天|明天|查询|查一下|请问|帮我查)", "", m.group(1))
    for c in _CITIES_ZH:
        if c in question:
            return c + "市"
    m = re.search(r"\b(?:in|at|for)\s+([A-Z][a-zA-Z]+(?:\s+[A-Z][a-zA-Z]+)*)", question)
    if m:
        return m.group(1)
    return None


_PLACE_WORDS = ("location", "city", "place", "address", "地点", "城市")
_EXPRESSION_WORDS = ("expr", "formula", "equation", "算式", "表达式", "公式")
_NUMERIC = ("integer", "int", "number")
_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_SKIP = object()  # an optional field the question says nothing about: the function's default applies


_PROSE_WORDS = ("answer", "summary", "content", "text", "description", "explanation", "reply", "response", "回答",
                "摘要", "内容")


class _Source:
    """Where argument values come from: the question, the place a call is about, and the question's numbers,
    handed to numeric fields in turn so that ``divide(a, b)`` gets both operands.

    For a whole JSON answer (``every_field``) every property is filled, a field named like an answer gets
    ``prose``, and ``root`` resolves local ``$ref``s (``#/$defs/…``, as pydantic writes them)."""

    def __init__(self, question: str, place: str | None, *, prose: str | None = None, every_field: bool = False,
                 root: dict | None = None):
        self.question = question
        self.place = place
        self.numbers = _NUMBER.findall(question)
        self.taken = 0
        self.prose = prose
        self.every_field = every_field
        self.root = root or {}

    def schema(self, prop) -> dict:
        """``prop`` with a local ``$ref`` followed (a few levels: a schema may refer to itself)."""
        prop = _resolved(prop)
        for _ in range(8):  # a branch of anyOf may itself be a $ref (pydantic's Optional[Model])
            ref = prop.get("$ref")
            if not (isinstance(ref, str) and ref.startswith("#/")):
                break
            target = self.root
            for part in ref[2:].split("/"):
                target = target.get(part) if isinstance(target, dict) else None
            prop = _resolved({**{k: v for k, v in prop.items() if k != "$ref"},
                              **(target if isinstance(target, dict) else {})})
        return prop

    def number(self) -> str | None:
        if not self.numbers:
            return None
        text = self.numbers[self.taken] if self.taken < len(self.numbers) else self.numbers[0]
        self.taken += 1
        return text


def fill_arguments(fn: dict, question: str, place: str | None = None, *, optional_places: bool = False) -> dict:
    """Arguments for ``fn`` taken from the question that meet its schema: every required field of its type
    (nested objects and array items too) and every enum the question names (``place`` fills a location field
    when given). ``optional_places``: an optional location field too, when the question names a place."""
    params = fn.get("parameters") if isinstance(fn.get("parameters"), dict) else {}
    return _object_value(params, _Source(question, place), optional_places)


def json_answer(schema: dict, question: str, prose: str):
    """A JSON value that meets ``schema`` (a response_format's json_schema): every property of every object, of
    its type and within its enum and bounds, nested objects and arrays too; fields named like an answer get
    ``prose``, the others what the question says, as a tool's arguments do."""
    source = _Source(question, None, prose=prose, every_field=True, root=schema)
    top = source.schema(schema)
    if _type(top) is None and "properties" in top:
        top = {**top, "type": "object"}
    listed = _listed(top, source)
    if listed is not None:
        return listed
    return _field_value("answer", top, True, source, False)


_COUNT_WORDS = {"two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "两": 2, "二": 2,
                "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8}
_COUNT = re.compile(r"\b([2-8])\b|\b(" + "|".join(w for w in _COUNT_WORDS if w.isascii()) + r")\b|([两二三四五六七八])[个座家条种位]",
                    re.IGNORECASE)
MAX_LISTED = 8


def _listed(top: dict, source: _Source) -> dict | None:
    """A list of objects wrapped in an object (``{"items": [...]}``, as a client asks for many): as many items as
    the question asks for ("three sights", "5 cities"; 3 when it names no number, at most MAX_LISTED), each told
    apart by its number after the question's topic."""
    props = top.get("properties") if isinstance(top.get("properties"), dict) else {}
    if len(props) != 1:
        return None
    (key, prop), = props.items()
    prop = source.schema(prop)
    item = source.schema(prop.get("items")) if isinstance(prop.get("items"), dict) else {}
    if _type(prop) != "array" or not isinstance(item.get("properties"), dict):
        return None
    match = _COUNT.search(source.question)
    count = 3 if match is None else int(match[1]) if match[1] else _COUNT_WORDS[(match[2] or match[3]).lower()]
    items, topic = [], topic_of(source.question)
    for number in range(1, min(count, MAX_LISTED) + 1):
        value = _object_value(item, source)
        items.append({name: f"{text} ({number})" if text == topic else text for name, text in value.items()})
    return {key: items}


# how a client states a schema in the system message when the model takes only json_object (the words of
# ``AnswerSchema.instructions()``; a test holds the two together)
SCHEMA_STATED = "follow this JSON Schema:"
# how a client's repair round asks again after an answer that missed its schema (``REPAIR_REQUEST``'s words)
REPAIR_ASKED = "corrected JSON"


def stated_schema(system) -> dict | None:
    """The JSON Schema a system message states after SCHEMA_STATED, or None."""
    if not isinstance(system, str) or SCHEMA_STATED not in system:
        return None
    rest = system.split(SCHEMA_STATED, 1)[1].lstrip()
    try:
        schema, _ = json.JSONDecoder().raw_decode(rest)
    except ValueError:
        return None
    return schema if isinstance(schema, dict) else None


def miss_a_key(text: str) -> str:
    """The ``schema_miss`` fault: a JSON answer with its first key dropped (a required one, for the emulator's
    answers, which fill every property); any other answer as it was."""
    try:
        value = json.loads(text)
    except ValueError:
        return text
    if isinstance(value, dict) and len(value) == 1 and isinstance(next(iter(value.values())), list):
        items = next(iter(value.values()))  # a list wrapped in an object: break its first item instead
        if items and isinstance(items[0], dict) and items[0]:
            items[0].pop(next(iter(items[0])))
            return json.dumps(value, ensure_ascii=False, indent=2)
    if isinstance(value, dict) and value:
        value.pop(next(iter(value)))
        return json.dumps(value, ensure_ascii=False, indent=2)
    return text


def _object_value(schema: dict, source: _Source, optional_places: bool = False) -> dict:
    props = schema.get("properties") if isinstance(schema.get("properties"), dict) else {}
    listed = schema.get("required") if isinstance(schema.get("required"), list) else []
    required = [r for r in listed if isinstance(r, str)]
    args: dict = {}
    for name, prop in props.items():
        value = _field_value(name, source.schema(prop), name in required or source.every_field, source,
                             optional_places)
        if value is not _SKIP:
            args[name] = value
    return args


def _field_value(name: str, prop: dict, required: bool, source: _Source, optional_places: bool):
    """One field's value, or ``_SKIP`` when it is optional and the question does not name a value for it."""
    enum = _enum(prop)
    ptype = _type(prop)
    is_place = any(k in name.lower() for k in _PLACE_WORDS)
    if optional_places and is_place and not required and ptype in (None, "string"):
        return source.place or place_in(source.question) or _SKIP
    if enum:
        return _enum_value(enum, required, source.question)
    if not required:
        return _SKIP
    return _typed_value(name, prop, ptype, is_place, source)


def _resolved(prop) -> dict:
    """The schema a value has to meet: the first non-null branch of an ``anyOf``/``oneOf`` (so an optional int
    is an int), ``allOf`` merged; the outer keys (description, default) kept."""
    prop = prop if isinstance(prop, dict) else {}
    for key in ("anyOf", "oneOf"):
        branches = [b for b in prop[key] if isinstance(b, dict)] if isinstance(prop.get(key), list) else []
        if branches:
            branch = next((b for b in branches if _type(_resolved(b)) != "null"), branches[0])
            return {**{k: v for k, v in prop.items() if k != key}, **_resolved(branch)}
    if isinstance(prop.get("allOf"), list):
        merged = {k: v for k, v in prop.items() if k != "allOf"}
        for branch in prop["allOf"]:
            merged.update(_resolved(branch))
        return merged
    return prop


def _type(prop: dict) -> str | None:
    """The JSON type; of a list of types (``["string", "null"]``), the first that is not null."""
    ptype = prop.get("type")
    if isinstance(ptype, list):
        named = [t for t in ptype if isinstance(t, str)]
        return next((t for t in named if t != "null"), named[0] if named else None)
    return ptype if isinstance(ptype, str) else None


def _enum(prop: dict) -> list | None:
    if isinstance(prop.get("enum"), list) and prop["enum"]:
        return prop["enum"]
    return [prop["const"]] if "const" in prop else None


def _enum_value(enum: list, required: bool, question: str):
    hit = next((value for value in enum if _names(question, value)), None)
    if hit is not None:
        return hit
    # a Chinese question gets an optional enum's first value too: what the emulator always did
    return enum[0] if required or is_chinese(question) else _SKIP


def _names(question: str, value) -> bool:
    """Whether the question names an enum value: Chinese anywhere; a Latin word or a number as a whole
    (so the "C" of "Chengdu" does not choose unit "C")."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)) or value == "":
        return False
    if isinstance(value, str) and not value.isascii():
        return value in question
    text = re.escape(str(value))
    flags = re.I if isinstance(value, str) and len(value) > 2 else 0
    return re.search(rf"(?<![A-Za-z0-9.]){text}(?![A-Za-z0-9]|\.\d)", question, flags) is not None


def _typed_value(name: str, prop: dict, ptype: str | None, is_place: bool, source: _Source):
    question = source.question
    if ptype is None and source.every_field and isinstance(prop.get("properties"), dict):
        ptype = "object"
    if ptype == "null":
        return None
    if is_place and ptype in (None, "string"):
        return source.place or place_in(question) or topic_of(question)
    if ptype in ("integer", "int"):
        return _bounded(_integer(source.number()), prop)
    if ptype == "number":
        return _bounded(_number(source.number()), prop)
    if ptype == "boolean":
        return True
    if ptype == "array":
        return _array_value(prop, source)
    if ptype == "object":
        return _object_value(prop, source)
    return _string_value(name, prop, is_place, source)


def _integer(text: str | None) -> int:
    return int(text.split(".")[0]) if text else 1


def _number(text: str | None) -> int | float:
    if not text:
        return 1
    return float(text) if "." in text else int(text)


def _bounded(value, prop: dict):
    """The value moved inside the schema's bounds, so that a question's 0 still meets ``ge=1``."""
    def bound(key):
        limit = prop.get(key)
        return limit if isinstance(limit, (int, float)) and not isinstance(limit, bool) else None

    low, high = bound("minimum"), bound("maximum")
    if bound("exclusiveMinimum") is not None:
        low = bound("exclusiveMinimum") + 1
    if bound("exclusiveMaximum") is not None:
        high = bound("exclusiveMaximum") - 1
    if low is not None and value < low:
        value = low
    if high is not None and value > high:
        value = high
    return value


def _array_value(prop: dict, source: _Source) -> list:
    """Items of the item schema: a list of numbers takes every number in the question, others one item."""
    item = source.schema(prop.get("items")) if isinstance(prop.get("items"), dict) else {}
    item_type = _type(item)
    if item_type in _NUMERIC and not _enum(item) and source.numbers:
        convert = _number if item_type == "number" else _integer
        values = [_bounded(convert(text), item) for text in source.numbers]
        if prop.get("uniqueItems") is True:
            values = list(dict.fromkeys(values))
        return values
    count = prop.get("minItems") if source.every_field and isinstance(prop.get("minItems"), int) else 1
    return [_field_value("item", item, True, source, False) for _ in range(max(1, min(count, 8)))]


def _string_value(name: str, prop: dict, is_place: bool, source: _Source) -> str:
    """The question's topic, as ever; a place for a place field; the arithmetic for a formula field."""
    if any(k in name.lower() for k in _EXPRESSION_WORDS):
        expression = _expression(source.question)
        if expression:
            return expression
    text = source.place if is_place and source.place else topic_of(source.question)
    if source.prose and any(word in name.lower() for word in _PROSE_WORDS):
        text = source.prose
    limit = prop.get("maxLength")
    return text[:limit] if isinstance(limit, int) and not isinstance(limit, bool) and limit > 0 else text


_ARITHMETIC = re.compile(r"[-+*/×÷^%().\d\s]+")
_OPERATION = re.compile(r"[\d)]\s*[-+*/×÷^%]+\s*[-\d(]")


def _expression(question: str) -> str | None:
    """The longest piece of arithmetic in the question (``12 * (3 + 4)``), in Python's operators."""
    best = ""
    for match in _ARITHMETIC.finditer(question):
        candidate = _trimmed_expression(match.group())
        if _OPERATION.search(candidate) and len(candidate) > len(best):
            best = candidate
    return best.replace("×", "*").replace("÷", "/") or None


def _trimmed_expression(text: str) -> str:
    """Without the sentence's punctuation around it, and without a bracket that the question opened outside."""
    text = text.strip().lstrip("+*/×÷^%.)").rstrip("-+*/×÷^%.(").strip()
    while text.count("(") > text.count(")") and text.startswith("("):
        text = text[1:].strip()
    while text.count(")") > text.count("(") and text.endswith(")"):
        text = text[:-1].strip()
    return text


_CITIES_EN = ("Beijing", "Shanghai", "Guangzhou", "Shenzhen", "Hangzhou", "Chengdu", "Chongqing", "Tianjin", "Nanjing",
              "Wuhan", "Xi'an", "Suzhou", "London", "Paris", "Tokyo", "New York")


def places_in(question: str) -> list[str]:
    """Every city the question names, in order."""
    found = [(question.find(c), c + "市") for c in _CITIES_ZH if c in question]
    found += [(question.find(c), c) for c in _CITIES_EN if c in question]
    return [name for _, name in sorted(found)]
