"""Responses and stream chunks: every wire field by name, plus the raw dict."""

from __future__ import annotations


class Usage:
    """Token counts of one answer (for a stream, taken from its final chunk)."""

    __slots__ = ("prompt_tokens", "completion_tokens", "total_tokens", "reasoning_tokens", "raw")

    def __init__(self, raw: dict | None = None):
        raw = raw or {}
        self.raw = raw
        self.prompt_tokens = raw.get("prompt_tokens", 0) or 0
        self.completion_tokens = raw.get("completion_tokens", 0) or 0
        self.total_tokens = raw.get("total_tokens", self.prompt_tokens + self.completion_tokens) or 0
        details = raw.get("completion_tokens_details")
        self.reasoning_tokens = (details.get("reasoning_tokens") or 0) if isinstance(details, dict) else 0

    def __repr__(self) -> str:
        return (f"Usage(prompt_tokens={self.prompt_tokens}, completion_tokens={self.completion_tokens}, "
                f"total_tokens={self.total_tokens})")

    def __eq__(self, other) -> bool:
        return isinstance(other, Usage) and (self.prompt_tokens, self.completion_tokens, self.total_tokens) == (
            other.prompt_tokens, other.completion_tokens, other.total_tokens)


class RateLimit:
    """The four X-Ratelimit-* headers; None for any the service did not send."""

    __slots__ = ("limit_requests", "limit_tokens", "remaining_requests", "remaining_tokens")

    def __init__(self, limit_requests=None, limit_tokens=None, remaining_requests=None, remaining_tokens=None):
        self.limit_requests = limit_requests
        self.limit_tokens = limit_tokens
        self.remaining_requests = remaining_requests
        self.remaining_tokens = remaining_tokens

    @classmethod
    def from_headers(cls, headers) -> "RateLimit | None":
        values = []
        for name in ("limit-requests", "limit-tokens", "remaining-requests", "remaining-tokens"):
            value = headers.get("x-ratelimit-" + name)
            try:
                values.append(int(value.strip()) if value is not None else None)
            except ValueError:
                values.append(None)
        if all(v is None for v in values):
            return None
        return cls(*values)

    def __repr__(self) -> str:
        return (f"RateLimit(limit_requests={self.limit_requests}, limit_tokens={self.limit_tokens}, "
                f"remaining_requests={self.remaining_requests}, remaining_tokens={self.remaining_tokens})")


_FIELDS = ("id", "object", "created", "result", "is_truncated", "need_clear_history", "ban_round",
           "finish_reason", "function_call", "search_info", "flag", "is_safe")
# Read from either API's answer: which one, the model that answered, reasoning, tool calls, search results.
_SHARED = ("api", "model", "reasoning", "tool_calls", "search_results")


def _v1_search_results(search_info) -> list:
    results = search_info.get("search_results") if isinstance(search_info, dict) else None
    return list(results) if isinstance(results, list) else []


class ChatResponse:
    """One non-streamed answer (chat or completion), from v1 or v2.

    ``api`` says which; ``result`` is the answer text, ``reasoning`` what a reasoning model thought first,
    ``tool_calls`` the calls the model asks for, ``search_results`` the web pages it drew on, ``model`` the
    model that answered.
    """

    __slots__ = _FIELDS + _SHARED + ("usage", "raw", "rate_limit", "request_id", "retries", "latency")

    def __init__(self, raw: dict, *, rate_limit: RateLimit | None = None, request_id: str | None = None,
                 retries: int = 0, latency: float | None = None, model: str | None = None):
        self.raw = raw
        self.api = "v1"
        self.model = model
        self.reasoning = ""
        self.tool_calls = []
        self._fill_v1(raw)
        self.rate_limit = rate_limit
        self.request_id = request_id or self.id
        self.retries = retries
        self.latency = latency

    def _fill_v1(self, raw: dict) -> None:
        get = raw.get
        self.id = get("id")
        self.object = get("object")
        self.created = get("created")
        self.result = get("result") or ""
        self.is_truncated = bool(get("is_truncated", False))
        self.need_clear_history = bool(get("need_clear_history", False))
        self.ban_round = get("ban_round")
        self.finish_reason = get("finish_reason")
        self.function_call = get("function_call")
        self.search_info = get("search_info")
        self.flag = get("flag")
        self.is_safe = get("is_safe")
        self.usage = Usage(get("usage"))
        self.search_results = _v1_search_results(self.search_info)

    @property
    def text(self) -> str:
        return self.result

    def __repr__(self) -> str:
        text = self.result if len(self.result) <= 60 else self.result[:57] + "..."
        return f"{type(self).__name__}(id={self.id!r}, result={text!r}, finish_reason={self.finish_reason!r}, {self.usage!r})"


class ChatChunk(ChatResponse):
    """One event of a stream: ``result`` (and ``reasoning``) is the new text only."""

    __slots__ = ("sentence_id", "is_end")

    def __init__(self, raw: dict, *, rate_limit: RateLimit | None = None, request_id: str | None = None,
                 retries: int = 0, latency: float | None = None, model: str | None = None):
        super().__init__(raw, rate_limit=rate_limit, request_id=request_id, retries=retries, latency=latency,
                         model=model)
        self.sentence_id = raw.get("sentence_id")
        self.is_end = bool(raw.get("is_end", False))


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


def _fill_v2(answer: ChatResponse, raw: dict, model: str | None) -> None:
    """The fields of a v2 answer or chunk (``choices[0].message`` or ``.delta``) under the shared names."""
    choice = _first_choice(raw)
    message = choice.get("message") or choice.get("delta") or {}
    get = raw.get
    answer.raw = raw
    answer.api = "v2"
    answer.id, answer.object, answer.created = get("id"), get("object"), get("created")
    answer.model = get("model") or model
    answer.result = message.get("content") or ""
    answer.reasoning = message.get("reasoning_content") or ""
    calls = message.get("tool_calls")
    answer.tool_calls = calls if isinstance(calls, list) and "message" in choice else []
    answer.finish_reason = choice.get("finish_reason")
    answer.is_truncated = answer.finish_reason == "length"
    answer.flag = choice.get("flag")
    answer.ban_round = choice.get("ban_round")
    # flag 2 and above: no further chat on this history (the v1 need_clear_history)
    answer.need_clear_history = isinstance(answer.flag, int) and answer.flag >= 2
    answer.function_call = answer.search_info = answer.is_safe = None
    answer.search_results = _v2_search_results(raw, choice)
    answer.usage = Usage(get("usage"))


def v2_response(raw: dict, *, rate_limit: RateLimit | None = None, request_id: str | None = None,
                retries: int = 0, latency: float | None = None, model: str | None = None) -> ChatResponse:
    """A ChatResponse from a v2 ``chat.completion`` body."""
    answer = ChatResponse.__new__(ChatResponse)
    _fill_v2(answer, raw, model)
    answer.rate_limit, answer.retries, answer.latency = rate_limit, retries, latency
    answer.request_id = request_id or answer.id
    return answer


def v2_chunk(raw: dict, *, rate_limit: RateLimit | None = None, request_id: str | None = None, retries: int = 0,
             model: str | None = None, is_end: bool = False, sentence_id: int | None = None) -> ChatChunk:
    """A ChatChunk from a v2 ``chat.completion.chunk`` event (its delta only)."""
    chunk = ChatChunk.__new__(ChatChunk)
    _fill_v2(chunk, raw, model)
    chunk.rate_limit, chunk.retries, chunk.latency = rate_limit, retries, None
    chunk.request_id = request_id or chunk.id
    chunk.is_end, chunk.sentence_id = is_end, sentence_id
    return chunk
