"""The Qianfan protocol: auth, model registry, validation, errors and the async client.

Knows nothing of IPython. The client (and with it httpx) loads on first use,
so importing this package stays cheap.
"""

from ._errors import (APIConnectionError, APITimeoutError, AuthenticationError, InvalidRequestError, QianfanError,
                      RateLimitError, ServerError, StreamInterruptedError, describe_code, redact)
from ._registry import CHAT, COMPLETION, DEFAULT_MODEL, MODELS, ModelSpec, find_model, unknown_model_error
from ._types import ChatChunk, ChatResponse, RateLimit, Usage
from ._validation import check_endpoint_name, estimate_tokens, validate_request

_LAZY = {"QianfanClient", "ChatStream"}

__all__ = [
    "QianfanClient", "ChatStream", "ChatResponse", "ChatChunk", "Usage", "RateLimit",
    "QianfanError", "AuthenticationError", "RateLimitError", "InvalidRequestError", "ServerError",
    "APIConnectionError", "APITimeoutError", "StreamInterruptedError",
    "MODELS", "ModelSpec", "find_model", "DEFAULT_MODEL", "CHAT", "COMPLETION",
    "validate_request", "estimate_tokens", "check_endpoint_name", "unknown_model_error", "describe_code", "redact",
]


def __getattr__(name):
    if name in _LAZY:
        from . import _client

        return getattr(_client, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
