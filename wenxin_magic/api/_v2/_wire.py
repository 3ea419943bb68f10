"""v2 on the wire: the request body out (from parameters in either API's spelling), answers and stream chunks in.

A v2 stream is ``data:`` chunks of ``choices[0].delta`` ending at ``data: [DONE]``. Reasoning
(``reasoning_content``) and text arrive as deltas; tool calls arrive as fragments keyed by ``index`` and are
assembled for the last chunk, which also carries the usage: the last usage any chunk carried (a ``choices: []``
chunk, the last choice chunk, or every chunk with ``chunk_include_usage``; where it rides is not confirmed, so
the last one seen wins). The last chunk is made at ``[DONE]``. A packet whose ``delta_tag`` is
``search_status`` says the service is searching (``status`` "searching") and carries no text.
"""

from __future__ import annotations

import json

from .._errors import ServerError
from .._responses import ChatChunk, ChatResponse, RateLimit, Usage
from ._codes import is_error_payload, v2_error, v2_http_error

API = "v2"
BASE_URL = "https://qianfan.baidubce.com"
CHAT_PATH = "/v2/chat/completions"
MODELS_PATH = "/v2/models"


# -- the request body --------------------------------------------------------------------------------------

def _web_search(value):
    """``web_search=True`` (the v1 habit) turns search on with citations and the results returned."""
    if value is True:
        return {"enable": True, "enable_citation": True, "enable_trace": True}
    return None if value is False else value


def _response_format(value):
    return {"type": value} if isinstance(value, str) else value


def _tools(functions):
    """v1 ``functions`` as v2 ``tools``."""
    if not isinstance(functions, list):
        return functions
    return [{"type": "function", "function": f} for f in functions]


# v1 spelling -> (v2 name, how the value changes)
_TRANSLATIONS = {
    "max_output_tokens": ("max_completion_tokens", None),
    "response_format": ("response_format", _response_format),
    "web_search": ("web_search", _web_search),
    "user_id": ("user", None),
    "functions": ("tools", _tools),
}


def _history(messages) -> list:
    """The messages as sent: ``reasoning_content`` stripped (the service answers 400 to it)."""
    if not isinstance(messages, list):
        return messages
    return [{k: v for k, v in m.items() if k != "reasoning_content"} if isinstance(m, dict) and
            "reasoning_content" in m else m for m in messages]


def v2_body(model: str, messages, params: dict, *, stream: bool) -> dict:
    """A v2 request body from a model id, messages and parameters in either API's spelling."""
    history = _history(messages)
    system = params.get("system")
    if system is not None and isinstance(history, list):
        history = [{"role": "system", "content": system}, *history]
    body = {"model": model, "messages": history}
    for key, value in params.items():
        if key == "system":
            continue
        name, convert = _TRANSLATIONS.get(key, (key, None))
        value = convert(value) if convert else value
        if value is not None:
            body[name] = value
    body["stream"] = stream
    if stream:
        body.setdefault("stream_options", {"include_usage": True})
    return body


# -- answers -----------------------------------------------------------------------------------------------

def answer_json(status: int, headers, content: bytes) -> dict:
    """The JSON of a whole v2 answer; QianfanError for an error object or a failed exchange."""
    content_type = headers.get("content-type", "")
    try:
        data = json.loads(content)
    except ValueError:
        if status != 200:
            raise v2_http_error(status, content_type, headers) from None
        raise ServerError(f"The service answered HTTP {status} with a body that is not JSON.", status=status,
                          retryable=True) from None
    if is_error_payload(data):
        raise v2_error(status, data, headers)
    if status != 200 or not isinstance(data, dict):
        raise v2_http_error(status, content_type, headers)
    return data


def request_id_of(headers) -> str | None:
    return headers.get("x-request-id") or headers.get("x-baidu-request-id")


def _first_choice(raw: dict) -> dict:
    choices = raw.get("choices")
    if isinstance(choices, list) and choices and isinstance(choices[0], dict):
        return choices[0]
    return {}


def _v2_search_results(raw: dict, choice: dict) -> list:
    """Search results under either name the service uses (``search_results`` or ``web_search``)."""
    for holder in (raw, choice):
        for name in ("search_results", "web_search"):
            value = holder.get(name)
            if isinstance(value, list):
                return value
            if isinstance(value, dict) and isinstance(value.get("search_results"), list):
                return value["search_results"]
    return []


SEARCHING = "searching"
SEARCH_STATUS_TAG = "search_status"


def _read(cls, raw: dict, model, rate_limit, request_id, retries, latency=None, *, final: bool = False):
    """A v2 answer or chunk (``choices[0].message`` or ``.delta``) under the neutral names; tool calls from a
    whole message only (a stream's fragments are assembled for its last chunk)."""
    choice = _first_choice(raw)
    message = choice.get("message") or choice.get("delta") or {}
    calls = message.get("tool_calls")
    finish_reason = choice.get("finish_reason")
    flag = choice.get("flag")
    # by position, in the order of ChatResponse's parameters (see there why)
    answer = cls(API, raw, raw.get("id"), raw.get("model") or model, message.get("content") or "",
                 message.get("reasoning_content") or "", calls if isinstance(calls, list) and "message" in choice
                 else None, finish_reason, finish_reason == "length", flag, choice.get("ban_round"),
                 # flag 2 and above: no further chat on this history
                 isinstance(flag, int) and flag >= 2, _v2_search_results(raw, choice), Usage(raw.get("usage")),
                 final, rate_limit, request_id, retries, latency)
    if (choice.get("delta_tag") or raw.get("delta_tag")) == SEARCH_STATUS_TAG:
        answer.status = SEARCHING
    return answer


def read_answer(raw: dict, *, model: str | None = None, rate_limit: RateLimit | None = None,
                request_id: str | None = None, retries: int = 0, latency: float | None = None) -> ChatResponse:
    """A v2 ``chat.completion`` body as a ChatResponse."""
    return _read(ChatResponse, raw, model, rate_limit, request_id, retries, latency, final=True)


# -- streams -----------------------------------------------------------------------------------------------

class ToolCalls:
    """Tool calls assembled from stream fragments: id, type and name when given, arguments concatenated."""

    __slots__ = ("_calls",)

    def __init__(self):
        self._calls: dict[int, dict] = {}

    def add(self, fragments) -> None:
        for fragment in fragments if isinstance(fragments, list) else ():
            if isinstance(fragment, dict):
                self._add(fragment)

    def _add(self, fragment: dict) -> None:
        index = fragment.get("index")
        index = index if isinstance(index, int) else len(self._calls)
        call = self._calls.setdefault(index, {"id": None, "type": "function",
                                              "function": {"name": "", "arguments": ""}})
        if fragment.get("id"):
            call["id"] = fragment["id"]
        if fragment.get("type"):
            call["type"] = fragment["type"]
        function = fragment.get("function") if isinstance(fragment.get("function"), dict) else {}
        name, arguments = function.get("name"), function.get("arguments")
        if isinstance(name, str) and name and name != call["function"]["name"]:
            call["function"]["name"] += name
        if isinstance(arguments, str):
            call["function"]["arguments"] += arguments

    def complete(self) -> list[dict]:
        """The calls in index order."""
        return [self._calls[index] for index in sorted(self._calls)]


class V2Decoder:
    """Reads one v2 stream's events into chunks, and remembers what its last chunk sums up: the finish reason,
    the tool calls, the most severe safety flag, the search results and the usage."""

    error_key = "error"  # an event with it may be an error (checked inline: a call per chunk costs)

    def __init__(self, model: str | None):
        self.model = model
        self._calls = ToolCalls()
        self._usage_chunk: dict | None = None
        self._usage: dict | None = None  # the last usage any chunk carried
        self._finish_reason = None
        self._flagged: ChatChunk | None = None
        self._search_results: list = []
        self._answered_by: str | None = None
        self._ended = False

    @staticmethod
    def is_error(data) -> bool:
        return is_error_payload(data)

    @staticmethod
    def error(data: dict, headers, status: int):
        return v2_error(200, data, headers)

    def chunk(self, data: dict, rate_limit, request_id, retries) -> ChatChunk | None:
        """The chunk an event carries, or None for the usage event (its figures go on the last chunk)."""
        if not data.get("choices"):
            self._usage_chunk = data
            if isinstance(data.get("usage"), dict):
                self._usage = data["usage"]
            return None
        if data.get("usage"):
            self._usage = data["usage"]
        chunk = _read(ChatChunk, data, self.model, rate_limit, request_id, retries)
        self._note(chunk, data)
        return chunk

    def _note(self, chunk: ChatChunk, data: dict) -> None:
        self._answered_by = data.get("model") or self._answered_by
        if chunk.finish_reason:
            self._finish_reason = chunk.finish_reason
        delta = data["choices"][0].get("delta") if isinstance(data["choices"][0], dict) else None
        if isinstance(delta, dict) and delta.get("tool_calls"):
            self._calls.add(delta["tool_calls"])
        if chunk.flag and (self._flagged is None or chunk.flag > self._flagged.flag):
            self._flagged = chunk  # the most severe safety flag so far
        if chunk.search_results and not self._search_results:
            self._search_results = chunk.search_results

    def end(self, rate_limit, request_id, retries) -> ChatChunk | None:
        """The last chunk, made at ``[DONE]``: no new text; the usage, finish reason and every tool call.
        None at a second ``[DONE]``."""
        if self._ended:
            return None
        self._ended = True
        chunk = _read(ChatChunk, self._usage_chunk or {}, self._answered_by or self.model, rate_limit, request_id,
                      retries, final=True)
        chunk.finish_reason = self._finish_reason
        chunk.is_truncated = self._finish_reason == "length"
        chunk.tool_calls = self._calls.complete()
        chunk.search_results = self._search_results
        if isinstance(self._usage, dict):
            chunk.usage = Usage(self._usage)
        if self._flagged is not None:
            chunk.flag, chunk.ban_round = self._flagged.flag, self._flagged.ban_round
            chunk.need_clear_history = self._flagged.need_clear_history
        return chunk

    def whole(self, data: dict, rate_limit, request_id, retries) -> ChatChunk:
        """A whole v2 answer (a server that did not stream) as the stream's one and last chunk."""
        return _read(ChatChunk, data, self.model, rate_limit, request_id, retries, final=True)
