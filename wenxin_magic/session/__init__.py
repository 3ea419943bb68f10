"""The kernel-level session: conversations, their state, and the connection that answers them.

``get_session()`` is the one Session of this process, shared by the magics, the
chat panel and Python code. No display code lives here.
"""

from __future__ import annotations

from ._answer_schema import AnswerSchema, AnswerSchemaError, SchemaMismatchError, answer_schema, plain_data
from ._backend import NO_CREDENTIALS, Backend
from ._conversation import NORMAL_FINISH, Conversation, Reply, Turn, TurnEvent, model_label, totals
from ._cost import BatchDeclinedError, BatchEstimate, BudgetExceededError, amount, cost_label, price_of
from ._pictures import message_text
from ._runner import Runner
from ._session import Session

__all__ = [
    "Session", "get_session", "set_session", "Backend", "Runner", "Conversation", "Reply", "Turn", "TurnEvent",
    "model_label", "totals", "NORMAL_FINISH", "NO_CREDENTIALS", "ToolCall",
    # answers as data
    "AnswerSchema", "AnswerSchemaError", "SchemaMismatchError", "answer_schema", "plain_data",
    # what answers cost: estimates from the catalog's prices
    "BudgetExceededError", "cost_label", "price_of", "amount", "BatchEstimate", "BatchDeclinedError",
    "message_text",
]
_LATER = ("ToolCall",)  # from _tools, imported when first asked for: loading stays light

_current: Session | None = None


def get_session() -> Session:
    """The kernel's Session, created on first use."""
    global _current
    if _current is None:
        _current = Session()
    return _current


def set_session(session: Session | None) -> Session | None:
    """Make ``session`` the kernel's Session (None: the next ``get_session()`` makes a new one); returns the old."""
    global _current
    previous, _current = _current, session
    return previous


# as httpx does: the exported names belong to the package, not to its private modules
for _name in set(__all__) - set(_LATER):
    _obj = globals()[_name]
    if getattr(_obj, "__module__", "").startswith(__name__ + "._"):
        _obj.__module__ = __name__


def __getattr__(name: str):
    if name in _LATER:
        from . import _tools

        value = getattr(_tools, name)
        value.__module__ = __name__
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
