"""A notebook function as a tool the model can call: the JSON Schema of its parameters and the check of its arguments.

pydantic builds the schema and validates the model's arguments, but it is imported only when a tool is described:
loading the extension must stay light.
"""

from __future__ import annotations

import functools
import inspect
import json
import re
import typing
from dataclasses import dataclass, field
from typing import Any, Callable

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,63}$")
_MAX_MESSAGE = 600
_SUPPORTED = "str, int, float, bool, list, dict, tuple, Literal, an Enum, Optional, a pydantic model or a dataclass"


class ToolDefinitionError(ValueError):
    """A callable that cannot be offered as a tool; the message names it and says why and what is allowed."""


class ToolArgumentsError(ValueError):
    """The model's arguments do not fit the function; short enough to send back to the model as the call's result."""


@dataclass
class FunctionSchema:
    name: str
    description: str
    parameters: dict
    notes: list[str]
    function: Callable
    _model: Any = field(default=None, repr=False, compare=False)  # the pydantic model that validates arguments
    _positional_only: tuple = field(default=(), repr=False, compare=False)  # (parameter, field name), in order
    _keywords: tuple = field(default=(), repr=False, compare=False)  # (parameter, field name)

    def definition(self) -> dict:
        """A v1 ``functions`` entry; v2 wraps it as ``{"type": "function", "function": ...}``."""
        return {"name": self.name, "description": self.description, "parameters": self.parameters}

    def validate(self, arguments: str | dict | None) -> tuple[list, dict]:
        """``(args, kwargs)`` to call the function with, from the model's JSON text or a dict.

        ToolArgumentsError if they do not fit; fields the function does not take are ignored, since models add them.
        Parameters left out keep the function's own defaults.
        """
        from pydantic import ValidationError

        data = _load_arguments(self.name, arguments)
        try:
            checked = self._model.model_validate(data)
        except ValidationError as error:
            raise ToolArgumentsError(_describe_problems(self.name, error.errors())) from None
        given = checked.model_fields_set
        # positional-only values cannot be skipped, so defaults fill the gaps before the last one given
        last = max((i for i, (_, key) in enumerate(self._positional_only) if key in given), default=-1)
        args = [getattr(checked, key) if key in given else param.default
                for param, key in self._positional_only[:last + 1]]
        kwargs = {param.name: getattr(checked, key) for param, key in self._keywords if key in given}
        return args, kwargs


def function_schema(fn) -> FunctionSchema:
    """The schema of ``fn``; ToolDefinitionError if it is not callable, has no usable name, or has no signature."""
    if not callable(fn):
        raise ToolDefinitionError(f"{_short(fn)} is not callable; offer a function defined with def.")
    name = _tool_name(fn)
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):
        raise ToolDefinitionError(f"{name}: Python cannot tell its parameters (a builtin or C function?); "
                                  "wrap it in a def with named, typed parameters.") from None
    description, param_docs = _parse_docstring(inspect.getdoc(_unwrapped(fn)) or "")
    params = [p for p in signature.parameters.values() if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    types, notes = _parameter_types(fn, name, signature)
    model = _build_model(name, params, types, param_docs)
    keys = {p.name: f"p{i}" for i, p in enumerate(params)}
    return FunctionSchema(
        name=name, description=description, parameters=_parameters_schema(name, model), notes=notes, function=fn,
        _model=model,
        _positional_only=tuple((p, keys[p.name]) for p in params if p.kind is p.POSITIONAL_ONLY),
        _keywords=tuple((p, keys[p.name]) for p in params if p.kind is not p.POSITIONAL_ONLY))


def _unwrapped(fn):
    """What holds the docstring and annotations: the wrapped function of a partial, the method of an instance."""
    while isinstance(fn, functools.partial):
        fn = fn.func
    if inspect.isroutine(fn) or inspect.isclass(fn):
        return fn
    return type(fn).__call__  # an instance of a class with __call__


def _tool_name(fn) -> str:
    while isinstance(fn, functools.partial):
        fn = fn.func
    # an instance of a class with __call__ goes by its class's name
    name = getattr(fn, "__name__", None) or (type(fn).__name__ if not inspect.isroutine(fn) else None)
    if not isinstance(name, str) or not _NAME.match(name):
        raise ToolDefinitionError(f"{_short(fn)} has no usable name ({name!r}): a tool needs a name of letters, "
                                  "digits, _ or - (at most 64); use a def with a name, not a lambda.")
    return name


def _parameter_types(fn, name, signature) -> tuple[dict, list[str]]:
    """Each parameter's type (None: unhinted) and the notes for the user about those that are not typed."""
    hints_source = _unwrapped(fn)
    hints_source = hints_source.__init__ if inspect.isclass(hints_source) else hints_source
    try:
        hints = typing.get_type_hints(hints_source, include_extras=True)
    except Exception:  # one bad hint spoils them all; the parameters are then resolved one by one
        hints = None
    types, unhinted, unresolved, variadic = {}, [], [], []
    for param in signature.parameters.values():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            variadic.append(("*" if param.kind is param.VAR_POSITIONAL else "**") + param.name)
        elif param.annotation is param.empty:
            types[param.name] = None
            unhinted.append(param.name)
        elif hints is not None and param.name in hints:
            types[param.name] = hints[param.name]
        else:
            types[param.name] = _resolve_alone(param.annotation, getattr(hints_source, "__globals__", {}))
            if types[param.name] is None:
                unresolved.append(param.name)
    notes = []
    if unhinted:
        notes.append(f"{name}: no type hints for {', '.join(unhinted)}: they are sent as strings; "
                     "add type hints to say what they are.")
    if unresolved:
        notes.append(f"{name}: cannot resolve the type hints of {', '.join(unresolved)}: they are sent as strings.")
    if variadic:
        notes.append(f"{name}: {', '.join(variadic)} cannot be described to the model; only named parameters are.")
    return types, notes


def _resolve_alone(annotation, namespace):
    if not isinstance(annotation, str):
        return annotation
    try:  # the same evaluation get_type_hints does for a postponed annotation
        return eval(annotation, dict(namespace))  # a copy: eval may add __builtins__ to the namespace it gets
    except Exception:
        return None


def _build_model(name, params, types, param_docs):
    from pydantic import Field, PydanticUserError, WithJsonSchema, create_model
    from pydantic.errors import PydanticSchemaGenerationError

    fields = {}
    for i, param in enumerate(params):
        tp = types[param.name]
        # an unhinted value is described as a string but passed through as the model sent it
        tp = typing.Annotated[Any, WithJsonSchema({"type": "string"})] if tp is None else tp
        required = param.default is param.empty
        doc = _annotated_description(tp) or param_docs.get(param.name)
        fields[f"p{i}"] = (tp, Field(... if required else param.default, alias=param.name, description=doc))
    try:
        return create_model(f"{name}_arguments", **fields)
    except (PydanticSchemaGenerationError, PydanticUserError, TypeError) as error:
        culprit = next((p.name for p in params if not _describable(types[p.name])), None)
        where = f"parameter {culprit!r} has type {types[culprit]!r}" if culprit else f"its parameters ({error})"
        hint = " (before Python 3.12, a TypedDict from typing_extensions)" if "typing_extensions" in str(error) else ""
        raise ToolDefinitionError(f"{name}: {where}, which cannot be sent as JSON; use {_SUPPORTED}{hint}.") from None


def _annotated_description(tp) -> str | None:
    """``Annotated[int, "text"]`` or ``Annotated[int, Field(description=...)]`` outranks the docstring."""
    if typing.get_origin(tp) is not typing.Annotated:
        return None
    texts = [getattr(meta, "description", None) if not isinstance(meta, str) else meta for meta in tp.__metadata__]
    return " ".join(text for text in texts if isinstance(text, str)) or None


def _describable(tp) -> bool:
    from pydantic import TypeAdapter

    if tp is None:  # unhinted
        return True
    try:
        TypeAdapter(tp).json_schema()
        return True
    except Exception:
        return False


def _parameters_schema(name, model) -> dict:
    import warnings

    with warnings.catch_warnings():  # a default JSON cannot hold is left out of the schema, which is what we want
        warnings.simplefilter("ignore")
        try:
            raw = model.model_json_schema()
        except Exception as error:
            message = f"{name}: its parameters cannot be sent as JSON ({error}); use {_SUPPORTED}."
            raise ToolDefinitionError(message) from None
    try:
        properties = {key: _portable(sub, raw.get("$defs", {})) for key, sub in raw.get("properties", {}).items()}
    except RecursionError:  # inlining a type that contains itself never ends
        message = f"{name}: a recursive type cannot be written out for the model; use {_SUPPORTED}."
        raise ToolDefinitionError(message) from None
    return {"type": "object", "properties": properties, "required": list(raw.get("required", []))}


def _portable(schema, defs, seen=()):
    """``schema`` as ERNIE accepts it: definitions inlined, no titles, Optional as its other branch, const as enum."""
    if not isinstance(schema, dict):
        return schema
    if "$ref" in schema:
        ref = schema["$ref"].rsplit("/", 1)[-1]
        if ref in seen:
            raise RecursionError(ref)
        siblings = {key: value for key, value in schema.items() if key != "$ref"}
        return _portable({**defs[ref], **siblings}, defs, seen + (ref,))
    out = {}
    for key, value in schema.items():
        if key in ("title", "$defs"):
            continue
        if key in ("properties", "patternProperties"):
            out[key] = {name: _portable(sub, defs, seen) for name, sub in value.items()}
        elif key in ("items", "additionalProperties", "not"):
            out[key] = _portable(value, defs, seen)
        elif key in ("anyOf", "oneOf", "allOf", "prefixItems"):
            out[key] = [_portable(sub, defs, seen) for sub in value if key == "prefixItems" or sub != {"type": "null"}]
        else:
            out[key] = value
    if "const" in out and "enum" not in out:
        out["enum"] = [out.pop("const")]
    for key in ("anyOf", "oneOf", "allOf"):
        if len(out.get(key, ())) == 1:
            out = {**out.pop(key)[0], **out}
    return out


def _load_arguments(name, arguments) -> dict:
    if arguments is None or (isinstance(arguments, str) and not arguments.strip()):
        return {}
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments)
        except json.JSONDecodeError as error:
            raise ToolArgumentsError(f"{name}: the arguments are not valid JSON ({error}); "
                                     "send a JSON object of the parameters.") from None
    if not isinstance(arguments, dict):
        raise ToolArgumentsError(f"{name}: the arguments must be a JSON object of the parameters, "
                                 f"not {type(arguments).__name__} {_short(arguments)}.")
    return arguments


def _describe_problems(name, errors) -> str:
    problems = []
    for error in errors:
        where = ".".join(str(part) for part in error["loc"]) or "arguments"
        got = "" if error["type"] == "missing" else f" (got {_short(error.get('input'))})"
        problems.append(f"{where}: {error['msg']}{got}"[:_MAX_MESSAGE // 3])  # room for more than one problem
    message = f"{name}: "
    for shown, problem in enumerate(problems):
        rest = f"; and {len(problems) - shown} more"
        if len(message) + len(problem) + len(rest) + 2 > _MAX_MESSAGE:
            return message + rest[2:]
        message += ("; " if shown else "") + problem
    return message


def _short(value, limit=40) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


# ---- docstrings: the function's description and each parameter's, in Google, NumPy or Sphinx style

_PARAM_SECTIONS = {"args", "arguments", "parameters", "params", "keyword args", "keyword arguments", "other parameters"}
_OTHER_SECTIONS = {"returns", "return", "yields", "yield", "raises", "examples", "example", "notes", "note",
                   "attributes", "see also", "references", "warnings", "warning", "todo"}
_GOOGLE_ENTRY = re.compile(r"^\*{0,2}(\w+)\s*(?:\([^)]*\))?\s*:\s*(.*)$")  # name (type): text
_NUMPY_ENTRY = re.compile(r"^\*{0,2}(\w+(?:\s*,\s*\*{0,2}\w+)*)\s*(?::.*)?$")  # name, other : type
_SPHINX_FIELD = re.compile(r"^:(\w+)(?:\s+([^:]*))?:\s*(.*)$")  # :param type name: text
_SPHINX_PARAMS = {"param", "parameter", "arg", "argument", "key", "keyword"}


def _parse_docstring(doc: str) -> tuple[str, dict[str, str]]:
    """``(description, {parameter: description})`` from a docstring cleaned by ``inspect.getdoc``."""
    lines, docs, description_end, i = doc.splitlines(), {}, None, 0
    while i < len(lines):
        kind, body = _section_at(lines, i)
        if kind and description_end is None:
            description_end = i
        if kind == "google":
            i = _read_entries(lines, body, _indent(lines[i]) + 1, _GOOGLE_ENTRY, docs)
        elif kind == "numpy":
            i = _read_entries(lines, body, _indent(lines[i]), _NUMPY_ENTRY, docs)
        elif kind == "sphinx":
            i = _read_sphinx_field(lines, i, docs)
        else:
            i = body
    texts = {name: " ".join(" ".join(text).split()) for name, text in docs.items()}
    return " ".join(" ".join(lines[:description_end]).split()), {name: text for name, text in texts.items() if text}


def _section_at(lines, i) -> tuple[str | None, int]:
    """What starts at line ``i`` (a Google or NumPy section, a Sphinx field, or nothing) and where its body begins."""
    title = lines[i].strip().lower()
    if title.endswith(":") and title[:-1].strip() in _PARAM_SECTIONS | _OTHER_SECTIONS:
        return ("google" if title[:-1].strip() in _PARAM_SECTIONS else "other"), i + 1
    if title and i + 1 < len(lines) and re.fullmatch(r"-{3,}", lines[i + 1].strip()):
        return ("numpy" if title in _PARAM_SECTIONS else "other"), i + 2
    return ("sphinx" if _SPHINX_FIELD.match(title) else None), i + 1


def _indent(line) -> int:
    return len(line) - len(line.lstrip())


def _read_entries(lines, start, min_indent, entry, docs) -> int:
    """Read ``name: text`` entries with more indented continuations; returns the index of the line after them."""
    entry_indent, current = None, []
    for i in range(start, len(lines)):
        line = lines[i]
        if not line.strip():
            continue
        if _indent(line) < min_indent or _section_at(lines, i)[0] in ("google", "numpy", "other"):
            return i
        entry_indent = _indent(line) if entry_indent is None else entry_indent
        match = entry.match(line.strip()) if _indent(line) == entry_indent else None
        if match:
            current = [name.strip().lstrip("*") for name in match.group(1).split(",")]
            docs.update({name: list(match.groups()[1:]) for name in current})
        elif current and _indent(line) > entry_indent:
            for name in current:
                docs[name].append(line)
        else:
            return i
    return len(lines)


def _read_sphinx_field(lines, i, docs) -> int:
    match = _SPHINX_FIELD.match(lines[i].strip())
    kind, target, text, base = match.group(1), (match.group(2) or "").split(), [match.group(3)], _indent(lines[i])
    i += 1
    while i < len(lines) and lines[i].strip() and _indent(lines[i]) > base:
        text.append(lines[i])
        i += 1
    if kind in _SPHINX_PARAMS and target:
        docs[target[-1].lstrip("*")] = text
    return i
