"""The prompt template of a batch: ``{item}``, ``{item.field}``, ``{item[key]}`` (nested too) and ``{i}``.

A small language of its own, with no dependency: a path the item lacks is a ``TemplateError`` that says what
the item has. ``describe`` and ``pandas_kind`` are shared with the batch runner, which reads the items.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

__all__ = ["TemplateError", "template_fields", "fill_template", "describe", "pandas_kind"]

_LISTED = 8  # how many keys or attributes an error message names


class TemplateError(ValueError):
    """A template names something an item lacks."""


_TOKEN = re.compile(r"\{\{|\}\}|\{([^{}]*)\}")
_FIELD = re.compile(r"i|item(?:\.[^\W\d]\w*|\[[^\[\]]*\])*")
_STEP = re.compile(r"\.([^\W\d]\w*)|\[([^\[\]]*)\]")
_QUOTED = re.compile(r"""'(.*)'|"(.*)\"""", re.DOTALL)


def template_fields(template: str) -> list[str]:
    """The ``{item...}`` and ``{i}`` paths ``template`` uses, each once, in order of first use."""
    fields: list[str] = []
    for match in _TOKEN.finditer(template):
        path = match.group(1)
        if path is not None and _FIELD.fullmatch(path) and path not in fields:
            fields.append(path)
    return fields


def fill_template(template: str, item, index: int) -> str:
    """``template`` with ``{item}``, ``{item.field}``, ``{item[key]}`` (nested too) and ``{i}`` filled for one item.

    ``{{`` and ``}}`` are literal braces; any other ``{...}`` stays as written, since it is text (JSON, say) or
    was the notebook's to fill. A path the item lacks raises TemplateError.
    """
    def replace(match: re.Match) -> str:
        path = match.group(1)
        if path is None:  # "{{" or "}}"
            return match.group(0)[0]
        if not _FIELD.fullmatch(path):
            return match.group(0)
        return str(index if path == "i" else _resolve(item, path, index))

    return _TOKEN.sub(replace, template)


def _resolve(item, path: str, index: int):
    value, walked = item, "item"
    for step in _STEP.finditer(path, pos=len("item")):
        name, key = step.group(1), step.group(2)
        try:
            value = _attribute_or_key(value, name) if name is not None else _subscript(value, _key(key))
        except (AttributeError, KeyError, IndexError, TypeError):
            owner = "the item" if walked == "item" else walked
            lacking = repr(name) if name is not None else f"[{key}]"
            raise TemplateError(f"item {index}: {{{path}}}: {owner} ({describe(value)}) has no {lacking}; "
                                f"it has: {_contents(value)}") from None
        walked += step.group(0)
    return value


def _key(text: str):
    text = text.strip()
    quoted = _QUOTED.fullmatch(text)
    if quoted:
        return quoted.group(1) if quoted.group(1) is not None else quoted.group(2)
    return int(text) if re.fullmatch(r"-?\d+", text) else text


def _attribute_or_key(value, name: str):
    # a dict's or a DataFrame row's columns come before its attributes: a row's ``.name`` is its label
    if _has_key(value, name):
        return value[name]
    if isinstance(value, Mapping):
        raise KeyError(name)
    return getattr(value, name)


def _subscript(value, key):
    if isinstance(key, int) and isinstance(value, Mapping) and key not in value and str(key) in value:
        return value[str(key)]
    if isinstance(key, int) and pandas_kind(value) == "Series" and not _has_key(value, key):
        return value.iloc[key]  # by position, as for a list
    return value[key]


def _has_key(value, key) -> bool:
    keys = getattr(value, "keys", None)
    if not callable(keys):
        return False
    try:
        return key in keys()
    except TypeError:
        return False


def describe(value) -> str:
    if value is None:
        return "None"
    kind = type(value).__name__
    article = "an" if kind[:1].lower() in "aeiou" else "a"
    if isinstance(value, (list, tuple)) and not hasattr(value, "_fields"):
        return f"{article} {kind} of {len(value)}"
    return f"{article} {kind}"


def _contents(value) -> str:
    """What an item has, for an error message: its keys, its indices or its public attributes."""
    if isinstance(value, (str, bytes)):
        return "only its text"
    if isinstance(value, (list, tuple)) and not hasattr(value, "_fields"):
        return f"indices 0–{len(value) - 1}" if value else "nothing (it is empty)"
    names = _names(value)
    if not names:
        return "nothing"
    shown = ", ".join(names[:_LISTED])
    return shown if len(names) <= _LISTED else f"{shown}, … ({len(names)} in all)"


def _names(value) -> list[str]:
    keys = getattr(value, "keys", None)
    if callable(keys):
        try:
            return [str(k) for k in keys()]
        except TypeError:
            return []
    if hasattr(value, "_fields"):  # a namedtuple
        return list(value._fields)
    own = [n for n in getattr(value, "__dict__", {}) if not n.startswith("_")]
    return own or [n for n in dir(value) if not n.startswith("_") and not callable(getattr(value, n, None))]


def pandas_kind(value) -> str | None:
    """"DataFrame" or "Series" for pandas' (without importing pandas), else None."""
    for cls in type(value).__mro__:
        if cls.__module__.startswith("pandas") and cls.__name__ in ("DataFrame", "Series"):
            return cls.__name__
    return None
