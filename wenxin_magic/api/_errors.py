"""The errors every API reports, in words a user can act on, and the shape of an error-code table.

Each API's own codes live in its adapter (``_v1/_codes.py``, ``_v2/_codes.py``); what is shared is here.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

from ._secrets import redact

# HTTP statuses worth another try: the service or a gateway before it failed.
RETRYABLE_STATUSES = frozenset({500, 502, 503, 504})


@dataclass(frozen=True)
class ErrorCode:
    """One entry of an API's error table: the HTTP status it comes with, the service's own text (``wire``),
    what the user should do (``hint``), the request field it is about, and (v2) its ``type``."""

    status: int
    wire: str
    hint: str | None = None
    field: str | None = None
    type: str | None = None


def retry_after_seconds(value: str | None) -> float | None:
    """A Retry-After header (seconds or an HTTP date) as seconds from now; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError, IndexError):
        return None


class QianfanError(Exception):
    """Anything that went wrong talking to Qianfan.

    ``code`` is the service's error code, v1's number or v2's string (None for errors found by the client),
    ``message`` the service's own text, ``hint`` what to do about it,
    ``request_id`` the id to quote to support, ``retryable`` whether trying
    again later may succeed.
    """

    retryable = False

    def __init__(self, message: str, *, code: int | str | None = None, request_id: str | None = None,
                 hint: str | None = None, retryable: bool | None = None, status: int | None = None):
        self.message = redact(str(message))
        self.code = code
        self.request_id = request_id
        self.status = status
        self.hint = redact(hint) if hint else hint
        if retryable is not None:
            self.retryable = retryable
        self.retries = 0
        super().__init__(self.message)

    def __str__(self) -> str:
        head = f"[{self.code}] {self.message}" if self.code is not None else self.message
        parts = [head]
        if self.hint and self.hint != self.message:
            parts.append(self.hint)
        if self.request_id:
            parts.append(f"(request id {self.request_id})")
        return " ".join(parts)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, message={self.message!r}, request_id={self.request_id!r})"


class AuthenticationError(QianfanError):
    """Credentials missing, wrong, or a token that could not be refreshed; ``field`` is "credentials" when
    the credentials set do not reach the API a model needs."""

    def __init__(self, *args, field: str | None = None, model: str | None = None, **kw):
        super().__init__(*args, **kw)
        self.field = field
        self.model = model


class RateLimitError(QianfanError):
    """A QPS/RPM/TPM or quota limit; ``retry_after`` says how long to wait when known."""

    def __init__(self, *args, retry_after: float | None = None, **kw):
        super().__init__(*args, **kw)
        self.retry_after = retry_after

    def __str__(self) -> str:
        text = super().__str__()
        if self.retry_after:
            text += f" Retry after about {self.retry_after:.0f} s."
        return text


class InvalidRequestError(QianfanError):
    """The request breaks a rule: ``field`` names what, ``allowed`` what is accepted.

    ``wire_message`` is the text the service itself sends for the same fault.
    """

    def __init__(self, message: str, *, field: str | None = None, allowed: str | None = None,
                 model: str | None = None, wire_message: str | None = None, **kw):
        super().__init__(message, **kw)
        self.field = field
        self.allowed = allowed
        self.model = model
        self.wire_message = redact(wire_message) if wire_message else self.message


class ServerError(QianfanError):
    """The service failed or is overloaded; usually worth trying again."""


class APIConnectionError(QianfanError):
    """The service could not be reached, or did not answer in time."""

    retryable = True


class APITimeoutError(APIConnectionError):
    """No answer within the timeout."""


class StreamInterruptedError(QianfanError):
    """A stream ended before its last chunk; ``partial_text`` (and ``partial_reasoning``) hold what had arrived."""

    def __init__(self, message: str, *, partial_text: str = "", chunks: int = 0, partial_reasoning: str = "",
                 **kw):
        super().__init__(message, **kw)
        self.partial_text = partial_text
        self.partial_reasoning = partial_reasoning
        self.chunks = chunks
