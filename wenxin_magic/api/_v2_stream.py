"""A v2 stream: ``data:`` chunks of ``choices[0].delta`` ending at ``data: [DONE]``.

Reasoning (``reasoning_content``) and text arrive as deltas; tool calls arrive as
fragments keyed by ``index`` and are assembled for the last chunk, which also carries
the usage (from the ``choices: []`` chunk that ``stream_options.include_usage`` asks for).
"""

from __future__ import annotations

import httpx

from ._client import ChatStream
from ._errors import QianfanError
from ._sse import DONE, NOT_JSON, parse_line
from ._types import ChatChunk, RateLimit, Usage, v2_chunk
from ._v2_client import request_id_of
from ._v2_errors import is_error_payload, v2_error


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


class V2ChatStream(ChatStream):
    """A v2 chat stream; the same interface as ChatStream, plus ``reasoning``."""

    def __init__(self, client, path: str, body: dict, *, model: str | None = None):
        super().__init__(client, path, body, model=model)
        self._calls = ToolCalls()
        self._usage_chunk: dict | None = None
        self._finish_reason = None
        self._flagged: ChatChunk | None = None
        self._search_results: list = []
        self._answered_by: str | None = None

    @property
    def tool_calls(self) -> list[dict]:
        return self._calls.complete()

    async def _open(self) -> tuple[httpx.Response, dict | None]:
        response, data, retries = await self._client._open_v2(self._body, stream=True)
        self.retries += retries
        self.rate_limit = RateLimit.from_headers(response.headers)
        self.request_id = request_id_of(response.headers)
        self._response = response
        return response, data

    async def _reauthenticate(self, err: QianfanError) -> bool:
        """Mint a new bearer token once when the stream was refused for it."""
        client = self._client
        if err.code == "invalid_iam_token" and not self._reauthenticated and client._bearer.mints:
            self._reauthenticated = True
            await client._bearer.refresh(client.http, client.iam_base_url, stale=client._bearer.current)
            return True
        return False

    async def _may_retry(self, err: QianfanError, deadline: float) -> bool:
        at_least = getattr(err, "retry_after", None)
        if err.retryable and await self._client._backoff(self.retries + 1, deadline, at_least):
            self.retries += 1
            return True
        return False

    def _whole(self, data: dict) -> ChatChunk:
        """A whole v2 answer as the stream's one and last chunk."""
        chunk = v2_chunk(data, rate_limit=self.rate_limit, request_id=self.request_id, retries=self.retries,
                         model=self.model, is_end=True, sentence_id=0)
        calls = data["choices"][0].get("message", {}).get("tool_calls") if data.get("choices") else None
        chunk.tool_calls = calls if isinstance(calls, list) else []
        self._accept(chunk)
        return chunk

    def _accept(self, chunk: ChatChunk) -> None:
        super()._accept(chunk)
        if chunk.reasoning:
            self._thoughts.append(chunk.reasoning)

    def _parse(self, line: str, response: httpx.Response, rate_limit, request_id, retries):
        """The chunk a line carries (accepted into the stream's state), None to skip, or DONE after the end."""
        try:
            data = parse_line(line)
        except ValueError:
            data = NOT_JSON
        if data is NOT_JSON:  # raised out here, so the decode error (its doc the whole line) is no __context__
            line = self._masked(line, response)
            raise self._interrupted("The stream sent a line that is not JSON.")
        if data is None:
            return None
        if data is DONE:
            return DONE if self.done else self._end(rate_limit, request_id, retries)
        if is_error_payload(data):
            line, data = self._masked(line, response), self._masked(data, response)
            raise self._failed(data, response)
        if not data.get("choices"):  # the usage chunk: its figures go on the last chunk
            self._usage_chunk = data
            return None
        chunk = v2_chunk(data, rate_limit=rate_limit, request_id=request_id, retries=retries, model=self.model,
                         sentence_id=self.chunks)
        self._note(chunk, data)
        self._accept(chunk)
        return chunk

    def _note(self, chunk: ChatChunk, data: dict) -> None:
        """Remember what the last chunk sums up: finish reason, tool calls, safety flag, search results."""
        self._answered_by = data.get("model") or self._answered_by
        if chunk.finish_reason:
            self._finish_reason = chunk.finish_reason
        delta = data["choices"][0].get("delta") if isinstance(data["choices"][0], dict) else None
        if isinstance(delta, dict) and delta.get("tool_calls"):
            self._calls.add(delta["tool_calls"])
        if isinstance(chunk.flag, int) and (self._flagged is None or chunk.flag > self._flagged.flag):
            self._flagged = chunk  # the most severe safety flag so far
        if chunk.search_results and not self._search_results:
            self._search_results = chunk.search_results

    def _failed(self, data: dict, response: httpx.Response) -> QianfanError:
        """An error event: raised as itself before any chunk, as an interruption after some."""
        error = v2_error(200, data, response.headers)
        if self.chunks == 0:
            return error
        interrupted = self._interrupted(f"The stream failed after {self.chunks} chunks: {error.message}",
                                        code=error.code, request_id=error.request_id)
        interrupted.status = error.status
        return interrupted

    def _end(self, rate_limit, request_id, retries) -> ChatChunk:
        """The last chunk, made at ``[DONE]``: no new text; the usage, finish reason and every tool call."""
        raw = self._usage_chunk or {}
        chunk = v2_chunk(raw, rate_limit=rate_limit, request_id=request_id, retries=retries,
                         model=self._answered_by or self.model, is_end=True, sentence_id=self.chunks)
        chunk.finish_reason = self._finish_reason
        chunk.is_truncated = self._finish_reason == "length"
        chunk.tool_calls = self._calls.complete()
        chunk.search_results = self._search_results
        chunk.usage = Usage(raw.get("usage"))
        if self._flagged is not None:
            chunk.flag, chunk.ban_round = self._flagged.flag, self._flagged.ban_round
            chunk.need_clear_history = self._flagged.need_clear_history
        self._accept(chunk)
        return chunk
