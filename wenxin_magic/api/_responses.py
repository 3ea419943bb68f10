"""Answers and stream chunks in neither API's words, each with the raw wire object it was read from.

Each API's adapter reads its wire format into these (``_v1/_wire.py``, ``_v2/_wire.py``)."""

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


_RATE_LIMIT_HEADERS = ("limit-requests", "limit-tokens", "remaining-requests", "remaining-tokens",
                       "limit-input-tokens", "limit-output-tokens", "remaining-input-tokens", "remaining-output-tokens")


class RateLimit:
    """The X-Ratelimit-* headers in either spelling; None for any the service did not send.

    The tokens come as one quota (``X-Ratelimit-Limit-Tokens`` / ``-Remaining-Tokens``: ``limit_tokens``,
    ``remaining_tokens``) or split into input and output (``-Limit-Input-Tokens``, ``-Limit-Output-Tokens``,
    ``-Remaining-Input-Tokens``, ``-Remaining-Output-Tokens``).
    """

    __slots__ = tuple(name.replace("-", "_") for name in _RATE_LIMIT_HEADERS)

    def __init__(self, limit_requests=None, limit_tokens=None, remaining_requests=None, remaining_tokens=None,
                 limit_input_tokens=None, limit_output_tokens=None, remaining_input_tokens=None,
                 remaining_output_tokens=None):
        self.limit_requests = limit_requests
        self.limit_tokens = limit_tokens
        self.remaining_requests = remaining_requests
        self.remaining_tokens = remaining_tokens
        self.limit_input_tokens = limit_input_tokens
        self.limit_output_tokens = limit_output_tokens
        self.remaining_input_tokens = remaining_input_tokens
        self.remaining_output_tokens = remaining_output_tokens

    @classmethod
    def from_headers(cls, headers) -> "RateLimit | None":
        values = []
        for name in _RATE_LIMIT_HEADERS:
            value = headers.get("x-ratelimit-" + name)
            try:
                values.append(int(value.strip()) if value is not None else None)
            except ValueError:
                values.append(None)
        if all(v is None for v in values):
            return None
        return cls(*values)

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={getattr(self, name)}" for name in self.__slots__
                          if name in ("limit_requests", "limit_tokens", "remaining_requests", "remaining_tokens")
                          or getattr(self, name) is not None)
        return f"RateLimit({shown})"


class ChatResponse:
    """One non-streamed answer (chat or completion), from either API.

    ``api`` says which ("v1" or "v2"); ``text`` is the answer, ``reasoning`` what a reasoning model thought
    first, ``tool_calls`` the calls the model asks for (v2's shape), ``search_results`` the web pages it drew on,
    ``model`` the model that answered; ``flag``, ``ban_round`` and ``need_clear_history`` the safety verdict;
    ``final`` whether this is the whole answer or a stream's last chunk; ``raw`` the wire object as the service
    sent it. ``flag`` is 0 when the service sent none (3: do not display this answer; 4: withdraw what was shown).
    ``notes`` are one-line remarks about how the request was sent (a field this package does not know, sampling
    parameters a reasoning model ignores, how a reasoning control was mapped): on a stream they ride on the first
    chunk. ``status`` is "searching" on a stream's search-status packet (which carries no text), else None.
    """

    __slots__ = ("api", "id", "model", "text", "reasoning", "tool_calls", "finish_reason", "is_truncated", "flag",
                 "ban_round", "need_clear_history", "search_results", "usage", "final", "raw", "rate_limit",
                 "request_id", "retries", "latency", "notes", "status")

    # The adapters pass every field by position, in this order: binding twenty keywords costs more per chunk
    # than the rest of reading it.
    def __init__(self, api: str, raw: dict, id=None, model: str | None = None, text: str = "", reasoning: str = "",
                 tool_calls: list | None = None, finish_reason: str | None = None, is_truncated: bool = False,
                 flag=None, ban_round=None, need_clear_history: bool = False, search_results: list | None = None,
                 usage: Usage | None = None, final: bool = True, rate_limit: RateLimit | None = None,
                 request_id: str | None = None, retries: int = 0, latency: float | None = None):
        self.api = api
        self.raw = raw
        self.id = id
        self.model = model
        self.text = text
        self.reasoning = reasoning
        self.tool_calls = tool_calls if tool_calls is not None else []
        self.finish_reason = finish_reason
        self.is_truncated = is_truncated
        self.flag = flag or 0
        self.ban_round = ban_round
        self.need_clear_history = need_clear_history
        self.search_results = search_results if search_results is not None else []
        self.usage = usage if usage is not None else Usage()
        self.final = final
        self.rate_limit = rate_limit
        self.request_id = request_id or id
        self.retries = retries
        self.latency = latency
        self.notes = ()
        self.status = None

    # v1's own fields, read from its wire object (None on v2's): the session and callers read them by these names.
    @property
    def result(self) -> str:
        """The answer text under v1's name for it."""
        return self.text

    @property
    def function_call(self):
        return self.raw.get("function_call")

    @property
    def search_info(self):
        return self.raw.get("search_info")

    @property
    def is_safe(self):
        return self.raw.get("is_safe")

    @property
    def object(self):
        return self.raw.get("object")

    @property
    def created(self):
        return self.raw.get("created")

    def __repr__(self) -> str:
        text = self.text if len(self.text) <= 60 else self.text[:57] + "..."
        return (f"{type(self).__name__}(id={self.id!r}, result={text!r}, finish_reason={self.finish_reason!r}, "
                f"{self.usage!r})")


class ChatChunk(ChatResponse):
    """One event of a stream: ``text`` (and ``reasoning``) is the new text only; ``final`` (False but for the
    last chunk) marks the chunk that carries the usage, the finish reason and (v2) every tool call assembled."""

    __slots__ = ()

    @property
    def is_end(self) -> bool:
        """``final`` under v1's name for it, which the session reads."""
        return self.final

    @property
    def sentence_id(self):
        """v1's own sequence number of a chunk (None on v2's)."""
        return self.raw.get("sentence_id")
