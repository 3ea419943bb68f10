"""The notebook's functions a turn may call, found by name: one rule for every place that names them.

``%%wenxin --tools f,g``, ``%config WenxinMagics.tools`` and the chat panel's tools box all name tools the same
way: a name in the notebook's namespace, or a dotted path from one to a callable attribute (``module.func``,
``obj.method``). Each says what was wrong in the same words, so a name that works in a cell works in the panel.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

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
