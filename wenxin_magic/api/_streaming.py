"""ChatStream: an answer as it is written. It decodes and keeps what arrived; the client opens it, and decides
whether to open it again when it fails before its first chunk. Each API's decoder reads its events."""

from __future__ import annotations

import time
from typing import AsyncIterator

import httpx

from ._adapter import Service
from ._errors import QianfanError, StreamInterruptedError
from ._responses import ChatChunk, RateLimit
from ._secrets import mask_secrets
from ._sse import DONE, NOT_JSON, LineDecoder, parse_line


class ChatStream:
    """A streamed answer: ``async for chunk in stream`` yields ChatChunk deltas.

    After (or during) iteration: ``text`` and ``reasoning`` so far, ``usage``, ``finish_reason`` and
    ``tool_calls`` from the last chunk, ``retries``, ``rate_limit``, ``time_to_first_token``.
    ``aclose()`` stops early and closes the connection.
    """

    def __init__(self, client, service: Service, path: str | None, body: dict, *, model: str | None = None,
                 notes: tuple = ()):
        self._client = client
        self._service = service
        self._path = path
        self._body = body
        self._decoder = service.decoder(model)
        self._response: httpx.Response | None = None
        self._iterator: AsyncIterator[ChatChunk] | None = None
        self._parts: list[str] = []
        self._thoughts: list[str] = []
        self.model = model
        self.notes = notes  # how the request was sent: they ride on the first chunk
        self.chunks = 0
        self.last: ChatChunk | None = None
        self.retries = 0
        self.rate_limit: RateLimit | None = None
        self.request_id: str | None = None
        self.started = time.perf_counter()
        self.time_to_first_token: float | None = None
        self.done = False

    @property
    def text(self) -> str:
        return "".join(self._parts)

    @property
    def reasoning(self) -> str:
        """What a reasoning model thought before answering (v2), so far."""
        return "".join(self._thoughts)

    @property
    def usage(self):
        return self.last.usage if self.last is not None else None

    @property
    def finish_reason(self):
        return self.last.finish_reason if self.last is not None else None

    @property
    def tool_calls(self) -> list[dict]:
        return self.last.tool_calls if self.last is not None else []

    def __aiter__(self) -> "ChatStream":
        return self

    async def __anext__(self) -> ChatChunk:
        if self._iterator is None:
            self._iterator = self._chunks()
        return await self._iterator.__anext__()

    async def __aenter__(self) -> "ChatStream":
        return self

    async def __aexit__(self, *exc) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        try:
            if self._iterator is not None:
                await self._iterator.aclose()
        except RuntimeError:  # interrupted while the generator itself was running
            pass
        finally:
            if self._response is not None:
                await self._response.aclose()

    async def _open(self, attempts):
        response, whole, attempts = await self._client._open(self._service, self._path, self._body, stream=True,
                                                             attempts=attempts)
        self.retries = attempts.count
        self.rate_limit = RateLimit.from_headers(response.headers)
        self.request_id = self._service.request_id(response.headers)
        self._response = response
        return response, whole, attempts

    async def _chunks(self) -> AsyncIterator[ChatChunk]:
        attempts = None
        decoder = self._decoder
        while True:
            response, whole, attempts = await self._open(attempts)
            if whole is not None:  # a server that answered the whole thing at once
                yield self._accept(decoder.whole(whole, self.rate_limit, self.request_id, self.retries))
                return
            try:
                # One generator from socket to caller: each layer would cost a hop per chunk.
                lines = LineDecoder()
                rate_limit, request_id, retries = self.rate_limit, self.request_id, self.retries
                try:
                    async for data in response.aiter_raw():
                        for line in lines.feed(data):
                            chunk = self._parse(line, response, rate_limit, request_id, retries)
                            if chunk is None:
                                continue
                            if chunk is DONE:
                                return
                            yield chunk
                            if chunk.final:
                                return
                    for line in lines.flush():
                        chunk = self._parse(line, response, rate_limit, request_id, retries)
                        if chunk is not None and chunk is not DONE:
                            yield chunk
                except httpx.TransportError as exc:
                    raise self._cut_off(exc) from None
                if not self.done:
                    raise self._interrupted("The stream ended before its last chunk.")
                return
            except QianfanError as err:
                # Verbose tracebacks print this frame's locals: the bytes and line read last may echo a credential.
                data = line = None
                if self.chunks:
                    raise  # text was delivered: starting again would repeat it
                # Failed before any text: the client recovers as from a refused request.
                if not await self._client._recover(self._service, attempts, err):
                    err.retries = attempts.count
                    raise
            finally:
                await response.aclose()

    def _cut_off(self, exc: httpx.TransportError) -> StreamInterruptedError:
        if isinstance(exc, httpx.TimeoutException):
            return self._interrupted(f"The stream stalled: nothing arrived for {self._client.timeout:g} s.")
        return self._interrupted(f"The connection closed before the answer was complete ({type(exc).__name__}).")

    def _accept(self, chunk: ChatChunk) -> ChatChunk:
        if self.time_to_first_token is None:
            self.time_to_first_token = time.perf_counter() - self.started
        if not self.chunks and self.notes:
            chunk.notes = self.notes
        self.chunks += 1
        self.last = chunk
        if chunk.text:
            self._parts.append(chunk.text)
        if chunk.reasoning:
            self._thoughts.append(chunk.reasoning)
        if chunk.final:
            self.done = True
        return chunk

    def _masked(self, value, response: httpx.Response):
        """``value`` read from ``response`` without the credentials it may echo, before an error is made of it:
        the frames it passes show their locals in verbose tracebacks."""
        return mask_secrets(value, self._client._secrets(response.request))

    def _interrupted(self, why: str, code=None, request_id: str | None = None) -> StreamInterruptedError:
        hint = ("The partial answer is kept; ask again to get the rest." if self.chunks else
                "Nothing arrived; try again.")
        # Nothing delivered yet means nothing can be duplicated: safe to retry.
        return StreamInterruptedError(why, partial_text=self.text, chunks=self.chunks, code=code,
                                      request_id=request_id or self.request_id, hint=hint,
                                      retryable=self.chunks == 0, partial_reasoning=self.reasoning)

    def _parse(self, line: str, response: httpx.Response, rate_limit, request_id, retries):
        """The chunk a line carries (accepted into the stream's state), None to skip, or DONE."""
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
            chunk = self._decoder.end(rate_limit, request_id, retries)
            return DONE if chunk is None else self._accept(chunk)
        if self._decoder.error_key in data and self._decoder.is_error(data):
            line, data = self._masked(line, response), self._masked(data, response)
            raise self._failed(data, response)
        chunk = self._decoder.chunk(data, rate_limit, request_id, retries)
        return None if chunk is None else self._accept(chunk)

    def _failed(self, data: dict, response: httpx.Response) -> QianfanError:
        """An error event: raised as itself before any chunk, as an interruption after some."""
        error = self._decoder.error(data, response.headers, response.status_code)
        if self.chunks == 0:
            return error
        interrupted = self._interrupted(f"The stream failed after {self.chunks} chunks: {error.message}",
                                        code=error.code, request_id=error.request_id)
        interrupted.status = error.status
        return interrupted
