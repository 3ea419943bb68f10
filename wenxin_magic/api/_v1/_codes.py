"""v1's error codes: one table of what each means, and the errors v1 answers are turned into.

v1 reports an error as ``{"error_code", "error_msg"}`` in an HTTP 200 body (or a bare JSON line in a stream);
a failed exchange before the service (a gateway, a refused signature) comes as an HTTP status instead.
"""

from __future__ import annotations

from .._errors import (RETRYABLE_STATUSES, AuthenticationError, ErrorCode, InvalidRequestError, QianfanError,
                        RateLimitError, ServerError)

# code -> (what the service says, what the user should do)
_TEXTS: dict[int, tuple[str, str]] = {
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
TOKEN_CODES = frozenset({110, 111})  # the access token expired or is not valid: fetch a new one
_AUTH_CODES = frozenset({6, 13, 14, 100, 110, 111})
_RATE_CODES = frozenset({4, 17, 18, 19, 336501, 336502})
_SERVER_CODES = frozenset({1, 2, 15, 336000, 336100})
# The request field a code is about, so a caller can add its own advice (code 3: no such model or endpoint).
_FIELDS = {3: "endpoint"}

# The table: every v1 error comes in an HTTP 200 body.
V1_ERROR_CODES: dict[int, ErrorCode] = {code: ErrorCode(200, wire, hint, _FIELDS.get(code))
                                        for code, (wire, hint) in _TEXTS.items()}


def v1_invalid(code: int, message: str, *, wire: str | None = None, field: str | None = None,
               allowed: str | None = None, model: str | None = None) -> InvalidRequestError:
    """A v1 rule broken: ``message`` for people, ``wire`` the service's own text, the hint from the table."""
    known = V1_ERROR_CODES.get(code)
    return InvalidRequestError(message, code=code, field=field, allowed=allowed, model=model, wire_message=wire,
                               hint=known.hint if known else None)


def error_from_code(code: int, message: str | None = None, *, request_id: str | None = None,
                    status: int | None = None) -> QianfanError:
    """The QianfanError subclass for a service ``error_code``."""
    known = V1_ERROR_CODES.get(code)
    text = message or (known.wire if known else "Unknown error code")
    kw = dict(code=code, request_id=request_id, status=status, retryable=code in RETRYABLE_CODES,
              hint=known.hint if known else None)
    if code in _AUTH_CODES:
        return AuthenticationError(text, **kw)
    if code in _RATE_CODES:
        return RateLimitError(text, **kw)
    if code in _SERVER_CODES:
        return ServerError(text, **kw)
    return InvalidRequestError(text, field=known.field if known else None, **kw)


def describe_code(code: int) -> tuple[str, str] | None:
    """(service text, what to do) for a known error code."""
    known = V1_ERROR_CODES.get(code)
    return (known.wire, known.hint) if known else None


def error_from_payload(data: dict, headers, status: int) -> QianfanError:
    """The error an ``{"error_code", "error_msg"}`` answer reports."""
    code = data.get("error_code")
    request_id = data.get("id") or headers.get("x-baidu-request-id")
    err = error_from_code(int(code), str(data.get("error_msg") or ""), request_id=request_id, status=status)
    if isinstance(err, RateLimitError):
        err.retry_after = 60.0 if err.code in (336501, 336502) else 1.0
    return err


def error_from_http(status: int, headers) -> QianfanError:
    """A failed exchange whose body is no v1 error: a refused signature, a gateway's page."""
    bce_code = headers.get("x-bce-error-code")
    if bce_code or status in (401, 403):
        detail = headers.get("x-bce-error-message") or bce_code or f"HTTP {status}"
        return AuthenticationError(
            f"The request's signature was rejected ({detail}). Check QIANFAN_ACCESS_KEY and QIANFAN_SECRET_KEY, "
            "and that the machine's clock is right.", code=14, status=status, hint=V1_ERROR_CODES[14].hint,
            request_id=headers.get("x-baidu-request-id"))
    kind = headers.get("content-type", "unknown").split(";")[0]
    return ServerError(f"The service answered HTTP {status} with {kind} instead of an answer.",
                       hint="The service failed; try again in a moment.", status=status,
                       retryable=status in RETRYABLE_STATUSES)
