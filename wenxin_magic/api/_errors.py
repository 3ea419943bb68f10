"""Errors the service (or the client on its behalf) reports, in words a user can act on."""

from __future__ import annotations

import re

# code -> (what the service says, what the user should do)
_CODES: dict[int, tuple[str, str]] = {
    1: ("Unknown error", "The service failed internally; try again in a moment."),
    2: ("Service temporarily unavailable", "The service is down for a moment; it was retried and can be retried again."),
    3: ("Unsupported openapi method",
        "The model or endpoint name does not exist on this service. Check the model's name or, for a model "
        "you deployed yourself, the endpoint's API address."),
    4: ("Open api request limit reached", "The cluster is over its limit; wait a little and try again."),
    6: ("No permission to access data", "Your application is not authorised for this model; enable it in the Qianfan console."),
    13: ("Get service token failed", "Fetching a token failed; check your API Key / Secret Key."),
    14: ("IAM Certification failed",
         "The AK/SK signature was rejected: check QIANFAN_ACCESS_KEY and QIANFAN_SECRET_KEY (and the machine's clock)."),
    15: ("app not exists or create failed", "A transient application error; it was retried and can be retried again."),
    17: ("Open api daily request limit reached",
         "The daily quota is used up, or the paid service is not enabled for this account."),
    18: ("Open api qps request limit reached", "Too many requests per second; slow down or raise the QPS quota."),
    19: ("Open api total request limit reached", "The free quota is used up; enable paid service in the console."),
    100: ("Invalid parameter", "The access token is missing or malformed; check QIANFAN_ACCESS_TOKEN or use QIANFAN_AK/QIANFAN_SK."),
    110: ("Access token invalid or no longer valid",
          "The access token is not valid. Set QIANFAN_AK and QIANFAN_SK so a fresh token can be fetched automatically."),
    111: ("Access token expired",
          "The access token expired. Set QIANFAN_AK and QIANFAN_SK so it is refreshed automatically."),
    336000: ("Internal error", "The service failed internally; try again."),
    336001: ("Invalid Argument", "The request body is missing a field or is not well formed."),
    336002: ("Invalid JSON", "The request body is not valid JSON."),
    336003: ("Invalid parameter", "A parameter is out of range or not accepted by this model."),
    336004: ("Permission error", "Your account has no permission for this model."),
    336005: ("API name not exist", "The custom endpoint name does not exist."),
    336006: ("the length of messages must be an odd number",
             "Messages must alternate user, assistant, user, ... and end with a user (or function) message: "
             "an odd count, users at odd positions, assistants at even positions."),
    336007: ("the max input characters is exceeded",
             "The conversation is longer than the model accepts; start a new conversation or drop old turns."),
    336100: ("Server high load", "The model is busy (too many people are talking to it); it was retried and can be retried again."),
    336101: ("Invalid HTTP method", "Only POST is accepted."),
    336103: ("Prompt tokens too long",
             "The conversation has more tokens than the model accepts; start a new conversation or drop old turns."),
    336104: ("Invalid system", "The `system` text was rejected."),
    336105: ("Invalid user_setting", "The `user_setting` field was rejected."),
    336501: ("Rate limit reached for RPM",
             "Requests per minute are used up; the quota refreshes within 60 seconds."),
    336502: ("Rate limit reached for TPM",
             "Tokens per minute are used up; the quota refreshes within 60 seconds."),
}

RETRYABLE_CODES = frozenset({2, 15, 18, 336100, 336501, 336502})
TOKEN_CODES = frozenset({110, 111})
_AUTH_CODES = frozenset({6, 13, 14, 100, 110, 111})
_RATE_CODES = frozenset({4, 17, 18, 19, 336501, 336502})
_SERVER_CODES = frozenset({1, 2, 15, 336000, 336100})
# The request field a code is about, so a caller can add its own advice (code 3: no such model or endpoint).
_CODE_FIELDS = {3: "endpoint"}

_TOKEN_IN_URL = re.compile(r"(access_token|client_secret|client_id)=[^&\s'\"]*")
_BCE_AUTH = re.compile(r"bce-auth-v1/[^\s'\"]+")
_BEARER = re.compile(r"bce-v3/[A-Za-z0-9][A-Za-z0-9/_+=.\-]*")  # a v2 API Key or bearer token


def redact(text: str, secrets: tuple[str, ...] = ()) -> str:
    """Text with credentials masked: query-string tokens, signatures and any known secret."""
    if not text:
        return text
    text = _TOKEN_IN_URL.sub(lambda m: f"{m.group(1)}=***", text)
    text = _BCE_AUTH.sub("bce-auth-v1/***", text)
    if "bce-v3/" in text:
        text = _BEARER.sub("bce-v3/***", text)
    for secret in secrets:
        if secret and len(secret) >= 4 and secret in text:
            text = text.replace(secret, "***")
    return text


def mask_secrets(value, secrets):
    """``value`` (bytes, text, or parsed JSON) with every one of ``secrets`` masked as ``redact`` masks it.

    Applied where an answer is read, before it is parsed or kept: a service may echo the credentials a request
    carried in its error, which would then reach the error's texts, and the raw body the locals that verbose
    tracebacks print. Unlike ``redact`` it masks no pattern, so an answer's own text stays as written.
    """
    if isinstance(value, dict):
        return {mask_secrets(k, secrets): mask_secrets(v, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [mask_secrets(v, secrets) for v in value]
    if not isinstance(value, (str, bytes)) or not value:
        return value
    # longest first, so a token is not masked piecemeal through a shorter secret it contains
    for secret in sorted(secrets, key=len, reverse=True):
        if not secret or len(secret) < 4:
            continue
        mask = _mask(secret)
        # JSON may write "/" as "\/", and bearer tokens are full of slashes
        for spelling in {str(secret), secret.replace("/", "\\/")}:
            if isinstance(value, bytes):
                value = value.replace(spelling.encode(), mask.encode())
            else:
                value = value.replace(spelling, mask)
    return value


def _mask(secret: str) -> str:
    """``***`` after the kind of credential it stands for, as ``redact`` writes it, so a message still says which."""
    for kind in ("bce-v3/", "bce-auth-v1/"):
        if secret.startswith(kind):
            return kind + "***"
    return "***"


class Secret(str):
    """A credential that behaves as its text but never shows it in a repr.

    IPython's verbose tracebacks (and debuggers) print the repr of every variable on a
    frame's line; a token held as plain ``str`` would be printed with them.
    """

    __slots__ = ()

    def __repr__(self) -> str:
        return "'***'"


class QianfanError(Exception):
    """Anything that went wrong talking to Qianfan.

    ``code`` is the service's error_code (None for errors found by the client),
    ``message`` the service's own text, ``hint`` what to do about it,
    ``request_id`` the id to quote to support, ``retryable`` whether trying
    again later may succeed.
    """

    retryable = False

    def __init__(self, message: str, *, code: int | None = None, request_id: str | None = None,
                 hint: str | None = None, retryable: bool | None = None, status: int | None = None):
        self.message = redact(str(message))
        self.code = code
        self.request_id = request_id
        self.status = status
        if hint is None and code in _CODES:
            hint = _CODES[code][1]
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


def error_from_code(code: int, message: str | None = None, *, request_id: str | None = None,
                    status: int | None = None) -> QianfanError:
    """The QianfanError subclass for a service ``error_code``."""
    known = _CODES.get(code)
    text = message or (known[0] if known else "Unknown error code")
    kw = dict(code=code, request_id=request_id, status=status, retryable=code in RETRYABLE_CODES)
    if code in _AUTH_CODES:
        return AuthenticationError(text, **kw)
    if code in _RATE_CODES:
        return RateLimitError(text, **kw)
    if code in _SERVER_CODES:
        return ServerError(text, **kw)
    return InvalidRequestError(text, field=_CODE_FIELDS.get(code), **kw)


def describe_code(code: int) -> tuple[str, str] | None:
    """(service text, what to do) for a known error code."""
    return _CODES.get(code)
