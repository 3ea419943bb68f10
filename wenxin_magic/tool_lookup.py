"""What cells and the panel both name: the notebook's functions a turn may call, and extra request fields.

``%%wenxin --tools f,g``, ``%config WenxinMagics.tools`` and the chat panel's tools box all name tools the same
way: a name in the notebook's namespace, or a dotted path from one to a callable attribute (``module.func``,
``obj.method``). Each says what was wrong in the same words, so a name that works in a cell works in the panel.
``%%wenxin --param NAME=VALUE`` and the panel's params box read request fields by one rule too (``read_param``).
"""

from __future__ import annotations

import json
import math
import re
import shlex
from collections.abc import Callable, Iterable, Mapping

# keywords of a turn that are not request fields, or fields that options of their own set
RESERVED_PARAMS = {
    "model": "-m/--model", "messages": "the cell body", "stream": "--no-stream", "endpoint": "--endpoint",
    "chat": "-c/--chat", "system": "-s/--system", "new": "--new", "completion": "--completion",
    "function_name": None, "raise_on_error": None, "tools": "--tools", "functions": "--tools", "approve": "--approve",
    "on_call": None, "on_start": None, "on_delta": None, "max_tool_rounds": "%config WenxinMagics.max_tool_rounds",
    "tools_loop": None,
}


class ParamError(ValueError):
    """A NAME=VALUE that names no request field it may set; the message says what is allowed."""


def _preview(text: str) -> str:
    return repr(text) if len(text) <= 40 else f"{text[:20]!r}... ({len(text):,} characters)"


def read_param(text: str) -> tuple[str, object]:
    """``NAME=VALUE``: VALUE is JSON when it parses as JSON, else the text as written.

    Only ``json.loads`` reads it: a value is data, never code or another option.
    """
    name, sep, value = text.partition("=")
    name = name.strip()
    if not sep or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        raise ParamError(f"--param takes NAME=VALUE, NAME a request field such as seed or metadata (letters, "
                         f"digits, _), got {_preview(text)}")
    if name in RESERVED_PARAMS:
        instead = RESERVED_PARAMS[name]
        raise ParamError(f"--param {name}=... is not a request field it may set" + (f"; use {instead}" if instead
                                                                                      else ""))
    try:
        parsed = json.loads(value)
    except ValueError:
        return name, value
    if isinstance(parsed, float) and not math.isfinite(parsed):  # NaN and Infinity are not JSON the service reads
        return name, value
    return name, parsed


def read_params(text: str) -> dict[str, object]:
    """``NAME=VALUE NAME=VALUE ...`` (the panel's params box), each read as ``read_param`` reads it."""
    try:
        tokens = shlex.split(text)
    except ValueError as exc:
        raise ParamError(f"cannot read {_preview(text)} ({exc}); check the quotes") from None
    values: dict[str, object] = {}
    for token in tokens:
        name, value = read_param(token)
        if name in values:
            raise ParamError(f"{name} is given twice; give it once")
        values[name] = value
    return values

ALLOWED = "a function's name, or a dotted path to one (module.func)"


class ToolLookupError(ValueError):
    """Names that name no callable of the notebook; the message says, for each, what is wrong and what is allowed."""


def is_tool_name(name: str) -> bool:
    """Whether ``name`` is spelled as a tool: identifiers joined by dots."""
    return all(part.isidentifier() for part in name.split("."))


def split_tool_names(text: str) -> list[str]:
    """The names in a comma-separated list, blanks dropped; ToolLookupError names any that is not spelled as one."""
    names = [name.strip() for name in text.split(",") if name.strip()]
    bad = [name for name in names if not is_tool_name(name)]
    if bad:
        raise ToolLookupError(" ".join(f"{name!r} is not a name: a tool is {ALLOWED}." for name in bad))
    return names


def find_tools(names: Iterable[str], namespace: Mapping) -> list[Callable]:
    """The callables ``names`` name in ``namespace``, in order; ToolLookupError says why each failing name fails."""
    found, problems = [], []
    for name in names:
        try:
            found.append(_find(name, namespace))
        except ToolLookupError as err:
            problems.append(str(err))
    if problems:
        raise ToolLookupError(" ".join(problems))
    return found


def _find(name: str, namespace: Mapping) -> Callable:
    if not is_tool_name(name):
        raise ToolLookupError(f"{name!r} is not a name: a tool is {ALLOWED}.")
    head, *attributes = name.split(".")
    if head not in namespace:
        if attributes:
            raise ToolLookupError(f"{name!r} is not defined in this notebook: nothing is named {head!r}; import or "
                                  "define it and run its cell first, or check the spelling.")
        raise ToolLookupError(f"{name!r} is not defined in this notebook; define the function (def {head}(...): ...) "
                              "and run its cell first, or check the spelling.")
    found = namespace[head]
    for attribute in attributes:
        if not hasattr(found, attribute):
            raise ToolLookupError(f"{name!r}: {type(found).__name__} has no attribute {attribute!r}.")
        found = getattr(found, attribute)
    if not callable(found):
        raise ToolLookupError(f"{name!r} is not a function but a value of type {type(found).__name__}; a tool is "
                              f"{ALLOWED}, defined with def (or another callable).")
    return found
