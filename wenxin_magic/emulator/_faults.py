"""The faults a test can inject (``Emulator.inject``), and what a plain error fault answers on v1.

An outcome fault decides how a request ends (an error, a 500 page, a cut or broken stream); a modifier fault
changes how a normal answer is sent (a slow first byte, CRLF lines, keep-alive comments, tiny fragments).
v2 meets each error fault in its own form (``_v2.FAULT_CODES``).

v2's own modifiers: ``flag_hide`` answers with ``flag`` 3 (do not display), ``flag_withdraw`` streams part of the
answer and then a chunk with ``flag`` 4 (withdraw what was shown), both with ``ban_round`` -1 unless given;
``usage_on_last_chunk`` puts a stream's usage on its last choice chunk instead of a chunk of its own.
``schema_miss`` (either API) drops the first key of a JSON answer, so the answer misses a required field of the
schema it was asked to follow and a client's repair round can be tested. v1 has no
flags 3 and 4: there the two flag faults mark the answer need_clear_history (``ban_round`` -1), v1's nearest.
"""

from __future__ import annotations

# fault name -> (error_code, error_msg) for the ones that are plain v1 errors
ERROR_FAULTS = {
    "expired_token": (111, "Access token expired"),
    "invalid_token": (110, "Access token invalid or no longer valid"),
    "qps": (18, "Open api qps request limit reached"),
    "busy": (336100, "Server high load, please try again later"),
    "unavailable": (2, "Service temporarily unavailable"),
    "rpm": (336501, "Rate limit reached for RPM"),
    "tpm": (336502, "Rate limit reached for TPM"),
}
OUTCOME_FAULTS = frozenset(ERROR_FAULTS) | {"error", "http_500", "drop_stream", "stream_error"}
MODIFIER_FAULTS = frozenset({"slow_first_byte", "need_clear_history", "crlf", "keepalive", "fragment", "flag_hide",
                             "flag_withdraw", "usage_on_last_chunk", "schema_miss"})

# every fault, in the order the documentation lists them
FAULTS = ("expired_token", "invalid_token", "qps", "busy", "unavailable", "rpm", "tpm", "error", "slow_first_byte",
          "drop_stream", "stream_error", "http_500", "need_clear_history", "crlf", "keepalive", "fragment",
          "flag_hide", "flag_withdraw", "usage_on_last_chunk", "schema_miss")
assert set(FAULTS) == OUTCOME_FAULTS | MODIFIER_FAULTS

# what the http_500 fault answers: the gateway's own error page, not the service's JSON
HTML_500 = ("<html>\r\n<head><title>500 Internal Server Error</title></head>\r\n<body>\r\n"
            "<center><h1>500 Internal Server Error</h1></center>\r\n<hr><center>nginx</center>\r\n"
            "</body>\r\n</html>\r\n")
