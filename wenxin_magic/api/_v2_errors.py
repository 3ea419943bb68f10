"""v2 errors: ``{"error": {"code", "message", "type"}, "id"}`` with an HTTP status, as the client's error classes.

``code`` is the service's string code, ``status`` the HTTP status; the hint says what to do.
"""

from __future__ import annotations

import time
from email.utils import parsedate_to_datetime

from ._errors import AuthenticationError, InvalidRequestError, QianfanError, RateLimitError, ServerError

_RETRYABLE_STATUS = frozenset({500, 502, 503, 504})

# code -> what the user should do
_HINTS: dict[str, str] = {
    "malformed_json": "The request body is not valid JSON.",
    "invalid_model": "Check the model id (v2 ids are lower-case, e.g. ernie-speed-8k) and that your account may use it.",
    "invalid_messages": "Messages must start with a user message, alternate user and assistant, and end with a user "
                        "message (tool results follow the assistant message that called the tools).",
    "characters_too_long": "The conversation is longer than the model accepts; start a new conversation or drop old "
                           "turns.",
    "tokens_too_long": "The conversation has more tokens than the model accepts; start a new conversation or drop old "
                       "turns.",
    "invalid_argument": "A parameter is out of range or not accepted by this model.",
    "invalid_appid": "The app id is not one of your account's: check QIANFAN_APP_ID, or leave it unset.",
    "invalid_iam_token": "The v2 API Key or bearer token was rejected: check QIANFAN_API_KEY (bce-v3/ALTAK-…/…), or "
                         "the IAM keys QIANFAN_ACCESS_KEY/QIANFAN_SECRET_KEY it was minted from.",
    "no_parameter_permission": "Your account may not use one of the parameters sent; drop it or enable it in the "
                               "Qianfan console.",
    "system_unsafe": "The system message was refused by the content filter; reword it.",
    "user_setting_unsafe": "The user field was refused by the content filter.",
    "functions_unsafe": "The tool definitions were refused by the content filter; reword them.",
    "account_overdue": "The account is in arrears; top it up in the Baidu Cloud console.",
    "model_offline": "The model is offline; choose another model.",
    "method_not_supported": "Only POST is accepted.",
    "rpm_rate_limit_exceeded": "Requests per minute are used up; the quota refreshes within 60 seconds.",
    "tpm_rate_limit_exceeded": "Tokens per minute are used up; the quota refreshes within 60 seconds.",
    "user_rate_limit_exceeded": "Too many requests per second for this app; slow down or raise the QPS quota.",
    "cluster_rate_limit_exceeded": "The model's cluster is over its limit; wait a little and try again.",
    "internal_error": "The service failed internally; it was retried and can be retried again.",
}
# the status a code comes with, for an error object that arrives in a 200 body or in a stream
_STATUS = {"invalid_iam_token": 401, "invalid_appid": 401, "no_parameter_permission": 401, "system_unsafe": 403,
           "user_setting_unsafe": 403, "functions_unsafe": 403, "account_overdue": 403, "model_offline": 403,
           "method_not_supported": 405, "rpm_rate_limit_exceeded": 429, "tpm_rate_limit_exceeded": 429,
           "user_rate_limit_exceeded": 429, "cluster_rate_limit_exceeded": 429, "internal_error": 500}
_FIELDS = {"invalid_model": "model", "invalid_messages": "messages", "characters_too_long": "messages",
           "tokens_too_long": "messages", "no_parameter_permission": "parameters", "invalid_appid": "app_id",
           "system_unsafe": "messages", "functions_unsafe": "tools"}


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


def is_error_payload(data) -> bool:
    return isinstance(data, dict) and isinstance(data.get("error"), dict)


def v2_error(status: int, data: dict | None, headers) -> QianfanError:
    """The error a v2 answer reports (status and body), with ``code`` the string code."""
    detail = data.get("error") if is_error_payload(data) else {}
    code = detail.get("code") or None
    if status == 200:
        status = _STATUS.get(code, 400)
    message = str(detail.get("message") or f"HTTP {status}")
    request_id = (data or {}).get("id") or headers.get("x-request-id") or headers.get("x-baidu-request-id")
    kw = dict(code=code, status=status, request_id=request_id, hint=_HINTS.get(code))
    if status == 429 or code in ("rpm_rate_limit_exceeded", "tpm_rate_limit_exceeded"):
        return RateLimitError(message, retryable=True, retry_after=retry_after_seconds(headers.get("retry-after")),
                              **kw)
    if status >= 500:
        error = ServerError(message, retryable=status in _RETRYABLE_STATUS, **kw)
        error.retry_after = retry_after_seconds(headers.get("retry-after"))
        return error
    if code == "invalid_model" or (status not in (401, 403)):
        return InvalidRequestError(message, field=_FIELDS.get(code), **kw)
    return AuthenticationError(message, field=_FIELDS.get(code, "credentials"), **kw)


def v2_http_error(status: int, content_type: str, headers) -> QianfanError:
    """A failed exchange whose body is not a v2 error object (a proxy's page, an empty body)."""
    kind = content_type.split(";")[0] or "an empty body"
    if status in (401, 403):
        return AuthenticationError(f"The service refused the request (HTTP {status}).", status=status,
                                   hint=_HINTS["invalid_iam_token"], field="credentials",
                                   request_id=headers.get("x-request-id"))
    return ServerError(f"The service answered HTTP {status} with {kind} instead of an answer.",
                       hint="The service failed; try again in a moment.", status=status,
                       retryable=status in _RETRYABLE_STATUS or status == 429)
