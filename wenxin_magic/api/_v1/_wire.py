"""v1 on the wire: the request body out, answers and stream chunks in (as the neutral ChatResponse/ChatChunk).

A v1 stream is ``data:`` lines of ``{"sentence_id", "result", "is_end", ...}``; the chunk with ``is_end`` is
the last and carries the usage. An error is ``{"error_code", "error_msg"}``, in a 200 body or as a bare line.
"""

from __future__ import annotations

import json

from .._errors import ServerError
from .._responses import ChatChunk, ChatResponse, RateLimit, Usage
from ._codes import error_from_http, error_from_payload

API = "v1"
BASE_URL = "https://aip.baidubce.com"
API_PREFIX = "/rpc/2.0/ai_custom/v1/wenxinworkshop"  # every v1 chat and completion path is below it


def v1_body(payload: dict, params: dict) -> dict:
    """``payload`` (messages or prompt) with every parameter given a value."""
    body = dict(payload)
    for key, value in params.items():
        if value is not None:
            body[key] = value
    return body


def request_id_of(headers) -> str | None:
    return headers.get("x-baidu-request-id")


def answer_json(status: int, headers, content: bytes) -> dict:
    """The JSON of a whole answer; QianfanError for an error payload or a failed HTTP exchange."""
    if status != 200 and "json" not in headers.get("content-type", ""):
        raise error_from_http(status, headers)
    try:
        data = json.loads(content)
    except ValueError:
        raise ServerError(f"The service answered HTTP {status} with a body that is not JSON.", status=status,
                          retryable=True) from None
    if isinstance(data, dict) and "error_code" in data:
        raise error_from_payload(data, headers, status)
    if status != 200:
        raise error_from_http(status, headers)
    return data


def _search_results(search_info) -> list:
    results = search_info.get("search_results") if isinstance(search_info, dict) else None
    return list(results) if isinstance(results, list) else []


def _read(cls, raw: dict, final: bool, model, rate_limit, request_id, retries, latency=None):
    get = raw.get
    # by position, in the order of ChatResponse's parameters (see there why)
    return cls(API, raw, get("id"), model, get("result") or "", "", None, get("finish_reason"),
               bool(get("is_truncated", False)), get("flag"), get("ban_round"),
               bool(get("need_clear_history", False)), _search_results(get("search_info")), Usage(get("usage")),
               final, rate_limit, request_id, retries, latency)


def read_answer(raw: dict, *, model: str | None = None, rate_limit: RateLimit | None = None,
                request_id: str | None = None, retries: int = 0, latency: float | None = None) -> ChatResponse:
    """A v1 answer body as a ChatResponse; ``model`` the name asked for (v1 answers do not say)."""
    return _read(ChatResponse, raw, True, model, rate_limit, request_id, retries, latency)


def read_chunk(raw: dict, *, model: str | None = None, rate_limit: RateLimit | None = None,
               request_id: str | None = None, retries: int = 0) -> ChatChunk:
    """One v1 stream event as a ChatChunk; the one with ``is_end`` is the last."""
    return _read(ChatChunk, raw, bool(raw.get("is_end", False)), model, rate_limit, request_id, retries)


class V1Decoder:
    """Reads one v1 stream's events into chunks; ``[DONE]`` (which v1 does not send) just ends it."""

    __slots__ = ("model",)
    error_key = "error_code"  # an event with it is an error (checked inline: a call per chunk costs)

    def __init__(self, model: str | None):
        self.model = model

    @staticmethod
    def is_error(data: dict) -> bool:
        return "error_code" in data

    @staticmethod
    def error(data: dict, headers, status: int):
        return error_from_payload(data, headers, status)

    def chunk(self, data: dict, rate_limit, request_id, retries) -> ChatChunk:
        return _read(ChatChunk, data, bool(data.get("is_end", False)), self.model, rate_limit, request_id, retries)

    def end(self, rate_limit, request_id, retries) -> None:
        return None

    def whole(self, data: dict, rate_limit, request_id, retries) -> ChatChunk:
        """A whole answer (a server that did not stream) as the stream's one and last chunk."""
        return _read(ChatChunk, dict(data, is_end=True, sentence_id=0), True, self.model, rate_limit, request_id,
                     retries)
