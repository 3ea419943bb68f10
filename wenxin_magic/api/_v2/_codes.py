"""v2's error codes: one table of what each means, and the errors v2 answers are turned into.

v2 reports ``{"error": {"code", "message", "type"}, "id"}`` with an HTTP status; ``code`` is the service's
string code. In a 200 body or in a stream the status is the table's.
"""

from __future__ import annotations

from .._errors import (RETRYABLE_STATUSES, AuthenticationError, ErrorCode, InvalidRequestError, QianfanError,
                        RateLimitError, ServerError, retry_after_seconds)

# code -> what the user should do
_HINTS: dict[str, str] = {
    "malformed_json": "The request body is not valid JSON.",
    "invalid_model": "Check the model id (v2 ids are lower-case, e.g. ernie-speed-8k) and that your key may use it: "
                     "QianfanClient.list_models() (GET /v2/models) lists the ids this key can call.",
    "invalid_messages": "Messages must start with a user message, alternate user and assistant, and end with a user "
                        "message (tool results follow the assistant message that called the tools).",
    "characters_too_long": "The conversation is longer than the model accepts; start a new conversation or drop old "
                           "turns.",
    "tokens_too_long": "The conversation has more tokens than the model accepts; start a new conversation or drop old "
                       "turns.",
    "invalid_argument": "A parameter is out of range or not accepted by this model.",
    "invalid_image_url": "An image could not be read: give a URL (at most 1024 bytes) or a data:image/…;base64 URL "
                         "of at most 10 MB whose shortest side is at least 5 px.",
    "image_url_unsafe": "An image was refused by the content filter.",
    "access_denied": "The account may not use this: it may be in arrears, or the service is not enabled for it in "
                     "the Qianfan console.",
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
    "input_tpm_rate_limit_exceeded": "Input tokens per minute are used up; the quota refreshes within 60 seconds.",
    "output_tpm_rate_limit_exceeded": "Output tokens per minute are used up; the quota refreshes within 60 seconds.",
    "user_rate_limit_exceeded": "Too many requests per second for this app; slow down or raise the QPS quota.",
    "cluster_rate_limit_exceeded": "The model's cluster is over its limit; wait a little and try again.",
    "internal_error": "The service failed internally; it was retried and can be retried again.",
}
# code -> (HTTP status, type, the service's own text): qianfan-2026.md §3 (the live service's words), else
# qianfan-protocol.md §4.2
INVALID_MODEL_TEXT = "The model does not exist or you do not have access to it."
_WIRE = {
    "malformed_json": (400, "invalid_request_error", "Invalid Argument"),
    "invalid_model": (401, "invalid_request_error", INVALID_MODEL_TEXT),
    "invalid_messages": (400, "invalid_request_error", "Invalid messages"),
    "characters_too_long": (400, "invalid_request_error", "the max input characters is exceeded"),
    "tokens_too_long": (400, "invalid_request_error", "Prompt tokens too long"),
    "invalid_argument": (400, "invalid_request_error", "Invalid Argument"),
    "invalid_image_url": (400, "invalid_request_error", "invalid image url"),
    "image_url_unsafe": (400, "invalid_request_error", "image url is unsafe"),
    "invalid_appid": (401, "invalid_request_error", "No permission to use the appid"),
    "invalid_iam_token": (401, "invalid_request_error", "invalid_iam_token"),
    "no_parameter_permission": (401, "access_denied", "No permission to use the parameter"),
    "system_unsafe": (403, "unsafe_request", "the content of system field is invalid"),
    "user_setting_unsafe": (403, "unsafe_request", "the content of user field is invalid"),
    "functions_unsafe": (403, "unsafe_request", "the content of functions field is invalid"),
    "account_overdue": (403, "access_denied", "Access denied due to overdue account"),
    "access_denied": (403, "access_denied", "Access denied"),
    "model_offline": (403, "access_denied", "The model is offline"),
    "method_not_supported": (405, "invalid_request_error", "Only POST requests are accepted"),
    "rpm_rate_limit_exceeded": (429, "rate_limit_exceeded", "Rate limit reached for RPM"),
    "tpm_rate_limit_exceeded": (429, "rate_limit_exceeded", "Rate limit reached for TPM"),
    "input_tpm_rate_limit_exceeded": (429, "rate_limit_exceeded", "Rate limit reached for input TPM"),
    "output_tpm_rate_limit_exceeded": (429, "rate_limit_exceeded", "Rate limit reached for output TPM"),
    "user_rate_limit_exceeded": (429, "rate_limit_exceeded", "qps request limit by APP ID reached"),
    "cluster_rate_limit_exceeded": (429, "rate_limit_exceeded", "request limit by resouce cluster reached"),
    "internal_error": (500, "Internal_error", "Internal error"),
}
_FIELDS = {"invalid_model": "model", "invalid_messages": "messages", "characters_too_long": "messages",
           "tokens_too_long": "messages", "no_parameter_permission": "parameters", "invalid_appid": "app_id",
           "system_unsafe": "messages", "functions_unsafe": "tools"}

V2_ERROR_CODES: dict[str, ErrorCode] = {code: ErrorCode(status, wire, _HINTS.get(code), _FIELDS.get(code), kind)
                                        for code, (status, kind, wire) in _WIRE.items()}
EXPIRED_BEARER = "invalid_iam_token"  # the bearer token expired or is not valid: mint a new one


def is_error_payload(data) -> bool:
    return isinstance(data, dict) and isinstance(data.get("error"), dict)


def v2_error(status: int, data: dict | None, headers) -> QianfanError:
    """The error a v2 answer reports (status and body), with ``code`` the string code."""
    detail = data.get("error") if is_error_payload(data) else {}
    code = detail.get("code") or None
    known = V2_ERROR_CODES.get(code)
    if status == 200:
        status = known.status if known else 400
    message = str(detail.get("message") or f"HTTP {status}")
    request_id = (data or {}).get("id") or headers.get("x-request-id") or headers.get("x-baidu-request-id")
    kw = dict(code=code, status=status, request_id=request_id, hint=known.hint if known else None)
    field = known.field if known else None
    if status == 429 or (known is not None and known.status == 429):
        return RateLimitError(message, retryable=True, retry_after=retry_after_seconds(headers.get("retry-after")),
                              **kw)
    if status >= 500:
        error = ServerError(message, retryable=status in RETRYABLE_STATUSES, **kw)
        error.retry_after = retry_after_seconds(headers.get("retry-after"))
        return error
    if code == "invalid_model" or (status not in (401, 403)):
        return InvalidRequestError(message, field=field, **kw)
    return AuthenticationError(message, field=field or "credentials", **kw)


def v2_http_error(status: int, content_type: str, headers) -> QianfanError:
    """A failed exchange whose body is not a v2 error object (a proxy's page, an empty body)."""
    kind = content_type.split(";")[0] or "an empty body"
    if status in (401, 403):
        return AuthenticationError(f"The service refused the request (HTTP {status}).", status=status,
                                   hint=_HINTS[EXPIRED_BEARER], field="credentials",
                                   request_id=headers.get("x-request-id"))
    return ServerError(f"The service answered HTTP {status} with {kind} instead of an answer.",
                       hint="The service failed; try again in a moment.", status=status,
                       retryable=status in RETRYABLE_STATUSES or status == 429)
