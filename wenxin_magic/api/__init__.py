"""The Qianfan protocol: auth, model registry, parameter rules, validation, errors and the async client.

Knows nothing of IPython. Everything other code may use is in ``__all__``; the
underscored modules are private. The client (and with it httpx) loads on first
use, so importing this package stays cheap.
"""

import types

from ._auth import Credentials
from ._errors import (APIConnectionError, APITimeoutError, AuthenticationError, InvalidRequestError, QianfanError,
                      RateLimitError, ServerError, StreamInterruptedError, describe_code, redact)
from ._parameters import PARAMETERS, Parameter
from ._registry import (CHAT, COMPLETION, CUSTOM_CHAT, CUSTOM_COMPLETION, DEFAULT_MODEL, MODELS, ModelSpec, find_model,
                        model_for_endpoint, suggest_models, unknown_model_error)
from ._signing import parse_authorization, sign_request
from ._types import ChatChunk, ChatResponse, RateLimit, Usage
from ._routing import Route, route
from ._v2_models import UNKNOWN_V2, V2_MODELS, V2ModelSpec, find_v2_model
from ._v2_validation import validate_v2_request
from ._validation import check_endpoint_name, estimate_tokens, input_size, validate_request

__all__ = [
    # the client and what it returns
    "QianfanClient", "ChatStream", "ChatResponse", "ChatChunk", "Usage", "RateLimit", "Credentials",
    # errors
    "QianfanError", "AuthenticationError", "RateLimitError", "InvalidRequestError", "ServerError",
    "APIConnectionError", "APITimeoutError", "StreamInterruptedError", "describe_code", "redact",
    # models
    "MODELS", "ModelSpec", "DEFAULT_MODEL", "CHAT", "COMPLETION", "CUSTOM_CHAT", "CUSTOM_COMPLETION",
    "find_model", "model_for_endpoint", "suggest_models", "unknown_model_error",
    # v2 models and which API serves a name
    "V2_MODELS", "V2ModelSpec", "UNKNOWN_V2", "find_v2_model", "Route", "route",
    # request rules
    "PARAMETERS", "Parameter", "validate_request", "validate_v2_request", "check_endpoint_name", "estimate_tokens",
    "input_size",
    # request signing (the emulator verifies what the client signs)
    "sign_request", "parse_authorization",
]

# The client imports httpx: load it only when someone asks for it.
_LAZY = frozenset({"QianfanClient", "ChatStream"})


def _claim(obj) -> None:
    """Present ``obj`` as this package's own in reprs and docs, not as its private module's (as httpx does)."""
    if isinstance(obj, (type, types.FunctionType)):
        obj.__module__ = __name__


for _name in set(__all__) - _LAZY:
    _claim(globals()[_name])
del _name


def __getattr__(name):
    if name in _LAZY:
        from . import _client

        value = getattr(_client, name)
        _claim(value)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
