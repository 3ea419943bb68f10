"""Answers as data: the shape an answer must have, as a JSON Schema for the model and a check of what came back.

A shape is a pydantic model, a dataclass or a TypedDict the notebook defines, or a short spec written inline:
``"city, population int, famous_for list[str]"`` (fields separated by commas or new lines, each ``name [type]
[: description]``, ``str`` when no type is given). ``many`` asks for a list of such objects, wrapped in an object
(``{"items": [...]}``) because a response format's schema must be an object at its top.

pydantic makes the schema and checks the answer; it is imported on first use, as for tools.
"""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass

from ..api import QianfanError

SHORT_TYPES = {"str": str, "int": int, "float": float, "bool": bool}
SHORT_SPEC_HELP = ("fields separated by commas, each 'name [type][: description]' with type one of str (the "
                   "default), int, float, bool, or list[...] of one of those; e.g. \"city, population int, "
                   "famous_for list[str]\"")
_FIELD = re.compile(r"^\s*(?P<name>[^\W\d]\w*)\s*(?P<type>[A-Za-z_][\w\[\] ]*?)?\s*(?::\s*(?P<doc>.*?))?\s*$")
_LIST = re.compile(r"^list\s*\[\s*(\w+)\s*\]$")
ITEMS = "items"


class AnswerSchemaError(ValueError):
    """A shape that cannot be used, or an answer that does not have it: the message says what and what is allowed."""


class SchemaMismatchError(QianfanError):
    """The answer did not follow the schema, even after the repair round; the reply keeps the raw answer."""

    def __init__(self, message: str, *, problem: str = ""):
        super().__init__(message, code="schema_mismatch",
                         hint="Ask again, or simplify the schema (fewer fields, plainer types).")
        self.problem = problem


@dataclass(frozen=True)
class ShortField:
    name: str
    type: type
    many: bool = False
    description: str | None = None

    @property
    def annotation(self):
        return list[self.type] if self.many else self.type


def parse_short_spec(text: str) -> list[ShortField]:
    """The fields of a short spec; AnswerSchemaError names the part that does not parse."""
    parts = [part for part in re.split(r"[,\n]", text or "") if part.strip()]
    if not parts:
        raise AnswerSchemaError(f"The schema is empty: write {SHORT_SPEC_HELP}.")
    fields, seen = [], set()
    for part in parts:
        match = _FIELD.match(part)
        if match is None:
            raise AnswerSchemaError(f"{part.strip()!r} is not a field: write {SHORT_SPEC_HELP}.")
        name, written = match["name"], (match["type"] or "str").strip()
        listed = _LIST.match(written)
        base = listed.group(1) if listed else written
        if base not in SHORT_TYPES:
            raise AnswerSchemaError(f"{written!r} (for {name!r}) is not a type a short spec knows: the types are str, "
                                    "int, float, bool and list[...] of one of them. For anything richer, name a "
                                    "pydantic model, a dataclass or a TypedDict.")
        if name in seen:
            raise AnswerSchemaError(f"{name!r} is named twice in the schema.")
        seen.add(name)
        fields.append(ShortField(name, SHORT_TYPES[base], bool(listed), match["doc"] or None))
    return fields


class AnswerSchema:
    """A shape an answer must have: ``json_schema`` for the request, ``validate`` for what came back."""

    def __init__(self, name: str, target, *, many: bool = False, as_dict: bool = False):
        self.name = name
        self.many = many
        self.as_dict = as_dict  # a short spec's or a TypedDict's value is a dict, not the model made for it
        self._target = target
        self._adapter = None

    @property
    def adapter(self):
        if self._adapter is None:
            from pydantic import TypeAdapter

            self._adapter = TypeAdapter(list[self._target] if self.many else self._target)
        return self._adapter

    @property
    def item_schema(self) -> dict:
        from pydantic import TypeAdapter

        from ._tool_schema import _portable

        raw = TypeAdapter(self._target).json_schema()
        return _portable(raw, raw.get("$defs", {}))

    @property
    def json_schema(self) -> dict:
        """The schema the model is asked to follow; with ``many``, a list of items inside an object."""
        item = self.item_schema
        if not self.many:
            return item
        return {"type": "object", "properties": {ITEMS: {"type": "array", "items": item}}, "required": [ITEMS],
                "additionalProperties": False}

    def response_format(self) -> dict:
        """The ``response_format`` of a model that takes ``json_schema``."""
        return {"type": "json_schema", "json_schema": {"name": _schema_name(self.name), "schema": self.json_schema,
                                                       "strict": True}}

    def instructions(self) -> str:
        """What to say in the system message when the model takes only ``json_object``."""
        return ("Answer with one JSON object and nothing else. It must follow this JSON Schema:\n"
                + json.dumps(self.json_schema, ensure_ascii=False))

    def fields(self) -> list[tuple[str, str]]:
        """(name, JSON type) of each field of an item: the columns a batch table gets."""
        properties = self.item_schema.get("properties", {})
        return [(name, str(sub.get("type", "string"))) for name, sub in properties.items()]

    def validate(self, text: str):
        """The answer's value, checked: a model or dataclass instance, or a dict (a list of them with ``many``).

        AnswerSchemaError says what is wrong, in words fit to send back to the model for a repair."""
        data = _json_in(text)
        wrapped = self.many and isinstance(data, dict) and set(data) == {ITEMS}
        if wrapped:
            data = data[ITEMS]
        from pydantic import ValidationError

        try:
            value = self.adapter.validate_python(data)
        except ValidationError as err:
            where = [((ITEMS,) if wrapped else ()) + tuple(e["loc"]) for e in err.errors()[:8]]
            problems = "; ".join(f"{'.'.join(str(p) for p in loc) or 'the answer'}: {e['msg']}"
                                 for loc, e in zip(where, err.errors()[:8], strict=True))
            raise AnswerSchemaError(f"The answer does not follow the schema {self.name!r}: {problems}.") from None
        if self.as_dict:
            value = ([item.model_dump(exclude_unset=True) for item in value] if self.many
                     else value.model_dump(exclude_unset=True))
        return value


def _schema_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "_", name)[:64] or "answer"


def _json_in(text: str):
    """The JSON an answer holds: all of it, or a fenced block, or the outermost object or list in it."""
    candidates = [text or ""]
    fenced = re.search(r"```(?:json)?\s*\n(.*?)```", text or "", re.S)
    if fenced:
        candidates.append(fenced.group(1))
    for opening, closing in (("{", "}"), ("[", "]")):
        start, end = (text or "").find(opening), (text or "").rfind(closing)
        if 0 <= start < end:
            candidates.append(text[start:end + 1])
    for candidate in candidates:
        try:
            return json.loads(candidate)
        except ValueError:
            continue
    raise AnswerSchemaError("The answer is not JSON: it must be one JSON object that follows the schema.")


def answer_schema(spec, namespace=None, *, many: bool = False) -> AnswerSchema:
    """The shape ``spec`` names: a class, the name of one in ``namespace`` (the notebook), or a short spec."""
    if isinstance(spec, str):
        text = spec.strip()
        if text.isidentifier():
            if namespace is not None and text in namespace:
                return answer_schema(namespace[text], many=many)
            if text[:1].isupper():  # a class's name, not a field's
                raise AnswerSchemaError(f"{text!r} is not defined in this notebook: name a pydantic model, a "
                                        f"dataclass or a TypedDict defined there, or write {SHORT_SPEC_HELP}.")
        return _from_short_spec(text, many)
    if isinstance(spec, type) and hasattr(spec, "__total__"):  # a TypedDict
        return AnswerSchema(spec.__name__, _typed_dict_model(spec), many=many, as_dict=True)
    if isinstance(spec, type) and _is_shape(spec):
        return AnswerSchema(spec.__name__, spec, many=many)
    raise AnswerSchemaError(f"{type(spec).__name__ if not isinstance(spec, type) else spec.__name__} is not a shape: "
                            f"name a pydantic model, a dataclass or a TypedDict, or write {SHORT_SPEC_HELP}.")


def _is_shape(cls: type) -> bool:
    if dataclasses.is_dataclass(cls):
        return True
    return hasattr(cls, "model_json_schema") and hasattr(cls, "model_validate")


def _from_short_spec(text: str, many: bool) -> AnswerSchema:
    from pydantic import ConfigDict, Field, create_model

    fields = parse_short_spec(text)
    model = create_model("answer", __config__=ConfigDict(extra="forbid"),
                         **{f.name: (f.annotation, Field(..., description=f.description)) for f in fields})
    return AnswerSchema("answer", model, many=many, as_dict=True)


def _typed_dict_model(cls: type):
    """A TypedDict as a pydantic model: pydantic refuses ``typing.TypedDict`` itself before Python 3.12."""
    from typing import get_type_hints

    from pydantic import create_model

    required = getattr(cls, "__required_keys__", frozenset(get_type_hints(cls)))
    return create_model(cls.__name__, **{name: (hint, ... if name in required else None)
                                         for name, hint in get_type_hints(cls).items()})


REPAIR_REQUEST = ("{problem} Answer again with only the corrected JSON: one JSON object that follows the schema, "
                  "nothing else.")


def schema_request(schema: AnswerSchema, api: str | None, spec) -> tuple[dict, str | None]:
    """How a turn asks for ``schema``: the request parameters to add, and the instructions for the system message
    (None when the response format carries the schema itself).

    ``json_schema`` where the model's catalog row says it takes it (True; not where it is unconfirmed), else
    ``json_object`` (every v2 model, and the v1 models that accept ``response_format``) with the schema stated."""
    if api == "v2" and getattr(spec, "json_schema", None) is True:
        return {"response_format": schema.response_format()}, None
    if api == "v2" or (spec is not None and spec.accepts("response_format")):
        return {"response_format": "json_object"}, schema.instructions()
    return {}, schema.instructions()


def with_instructions(system: str | None, instructions: str | None) -> str | None:
    """The system message of a turn that states its schema: the conversation's own first, then the schema."""
    if not instructions:
        return system
    return f"{system}\n\n{instructions}" if system else instructions


def plain_data(value):
    """A validated value as plain JSON data (dicts, lists, str, numbers): for display and tables."""
    if isinstance(value, list):
        return [plain_data(item) for item in value]
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        from pydantic import TypeAdapter

        return TypeAdapter(type(value)).dump_python(value, mode="json")
    return value
