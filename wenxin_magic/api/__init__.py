"""The Qianfan protocol: auth, model tables, parameter rules, validation, errors and the async client.

A request's path: ``QianfanClient.chat`` asks ``_routing.target`` once where it goes (API, model, rules,
path); that API's adapter (``_v1/`` or ``_v2/``: a ``Service``, see ``_adapter.py``) writes the body and checks
it; the client's one attempt loop (``_client.py``) sends it, renewing an expired credential once and retrying
with backoff; the adapter reads the answer into the neutral ``ChatResponse``, or its ``Decoder`` reads each
event of a ``ChatStream`` (``_streaming.py``) into a ``ChatChunk``. Below both adapters: errors (``_errors``),
secrets (``_secrets``), SSE lines (``_sse``), the size of a request's text (``_text``), the parameter table.

v2's model catalog is data (``catalog.json`` beside this file: limits, reasoning switch, tools, vision,
json_schema, prices with their date and source), read on first use of ``V2_MODELS``. v2 requests are checked
forward-compatibly: only what is certain to be refused is refused, and the service's answer is the authority.

Knows nothing of IPython. Everything other code may use is in ``__all__``; the
underscored modules are private. The client (and with it httpx) loads on first
use, so importing this package stays cheap.
"""

import types

from ._auth import Credentials
from ._errors import (RETRYABLE_STATUSES, APIConnectionError, APITimeoutError, AuthenticationError, ErrorCode,
                      InvalidRequestError, QianfanError, RateLimitError, ServerError, StreamInterruptedError)
from ._parameters import PARAMETERS, Parameter
from ._responses import ChatChunk, ChatResponse, RateLimit, Usage
from ._routing import Route, route
from ._secrets import redact
from ._signing import parse_authorization, sign_request
from ._text import estimate_tokens, input_size
from ._v1._codes import V1_ERROR_CODES, describe_code
from ._v1._models import (CHAT, COMPLETION, CUSTOM_CHAT, CUSTOM_COMPLETION, DEFAULT_MODEL, MODELS, ModelSpec,
                          find_model, model_for_endpoint, suggest_models, unknown_model_error)
from ._v1._rules import check_endpoint_name, validate_request
from ._v1._tokens import TOKEN_PATH as V1_TOKEN_PATH
from ._v1._wire import API_PREFIX as V1_API_PREFIX
from ._v1._wire import BASE_URL as V1_BASE_URL
from ._v2._bearer import BEARER_PATH as V2_BEARER_PATH
from ._v2._bearer import IAM_BASE_URL as V2_IAM_BASE_URL
from ._v2._codes import V2_ERROR_CODES
from ._v2._models import UNKNOWN_V2, V2_MODELS, Price, V2ModelSpec, catalog_source, find_v2_model
from ._v2._reasoning import reasoning_params
from ._v2._rules import validate_v2_request
from ._v2._wire import BASE_URL as V2_BASE_URL
from ._v2._wire import CHAT_PATH as V2_CHAT_PATH
from ._v2._wire import MODELS_PATH as V2_MODELS_PATH

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
    # the catalog's prices and their date and source (read from api/catalog.json on first use)
    "Price", "CATALOG_DATE", "catalog_source",
    # reasoning controls (think, thinking_budget, effort) as each model takes them
    "reasoning_params",
    # request rules
    "PARAMETERS", "Parameter", "validate_request", "validate_v2_request", "check_endpoint_name", "estimate_tokens",
    "input_size",
    # request signing (the emulator verifies what the client signs)
    "sign_request", "parse_authorization",
    # the wire's facts, one table each, which the emulator serves: addresses, paths, statuses worth a retry,
    # error codes (HTTP status, the service's text, hint, field)
    "V1_BASE_URL", "V1_API_PREFIX", "V1_TOKEN_PATH", "V2_BASE_URL", "V2_CHAT_PATH", "V2_MODELS_PATH",
    "V2_IAM_BASE_URL",
    "V2_BEARER_PATH", "RETRYABLE_STATUSES", "ErrorCode", "V1_ERROR_CODES", "V2_ERROR_CODES",
]

# The client imports httpx: load it only when someone asks for it. CATALOG_DATE is read from the catalog file,
# which is read on first use too.
_LAZY = frozenset({"QianfanClient", "ChatStream", "CATALOG_DATE"})


def _claim(obj) -> None:
    """Present ``obj`` as this package's own in reprs and docs, not as its private module's (as httpx does)."""
    if isinstance(obj, (type, types.FunctionType)):
        obj.__module__ = __name__


for _name in set(__all__) - _LAZY:
    _claim(globals()[_name])
del _name


def __getattr__(name):
    if name == "CATALOG_DATE":
        from ._v2._models import catalog_date

        globals()[name] = catalog_date()
        return globals()[name]
    if name in _LAZY:
        from . import _client

        value = getattr(_client, name)
        _claim(value)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
