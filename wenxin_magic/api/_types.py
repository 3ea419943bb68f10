"""Responses and stream chunks: every wire field by name, plus the raw dict."""

from __future__ import annotations


class Usage:
    """Token counts of one answer (for a stream, taken from its final chunk)."""

    __slots__ = ("prompt_tokens", "completion_tokens", "total_tokens", "raw")

    def __init__(self, raw: dict | None = None):
        raw = raw or {}
        self.raw = raw
        self.prompt_tokens = raw.get("prompt_tokens", 0) or 0
        self.completion_tokens = raw.get("completion_tokens", 0) or 0
        self.total_tokens = raw.get("total_tokens", self.prompt_tokens + self.completion_tokens) or 0

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


class ChatResponse:
    """One non-streamed answer (chat or completion)."""

    __slots__ = _FIELDS + ("usage", "raw", "rate_limit", "request_id", "retries", "latency")

    def __init__(self, raw: dict, *, rate_limit: RateLimit | None = None, request_id: str | None = None,
                 retries: int = 0, latency: float | None = None):
        self.raw = raw
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
        self.rate_limit = rate_limit
        self.request_id = request_id or self.id
        self.retries = retries
        self.latency = latency

    @property
    def text(self) -> str:
        return self.result

    def __repr__(self) -> str:
        text = self.result if len(self.result) <= 60 else self.result[:57] + "..."
        return f"{type(self).__name__}(id={self.id!r}, result={text!r}, finish_reason={self.finish_reason!r}, {self.usage!r})"


class ChatChunk(ChatResponse):
    """One event of a stream: ``result`` is the new text only."""

    __slots__ = ("sentence_id", "is_end")

    def __init__(self, raw: dict, *, rate_limit: RateLimit | None = None, request_id: str | None = None,
                 retries: int = 0, latency: float | None = None):
        super().__init__(raw, rate_limit=rate_limit, request_id=request_id, retries=retries, latency=latency)
        self.sentence_id = raw.get("sentence_id")
        self.is_end = bool(raw.get("is_end", False))
