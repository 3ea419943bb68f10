"""What the client's pipeline asks of an API's adapter: the two protocols each of ``_v1/`` and ``_v2/`` meets.

A new API is a new adapter package with a ``Service`` (bound to a client's credentials) and a ``Decoder``
(one per stream), plus its model table, rules and error codes; the client, its attempt loop and ChatStream
stay as they are.
"""

from __future__ import annotations

from typing import Any, Protocol

from ._errors import QianfanError
from ._responses import ChatChunk, ChatResponse


class Decoder(Protocol):
    """Reads one stream's events (parsed JSON) into chunks."""

    error_key: str  # an event holding this key may be an error: ``is_error`` says

    def __init__(self, model: str | None) -> None: ...

    def is_error(self, data: dict) -> bool: ...

    def error(self, data: dict, headers, status: int) -> QianfanError: ...

    def chunk(self, data: dict, rate_limit, request_id, retries) -> ChatChunk | None:
        """The chunk an event carries, or None for an event that carries none (its content saved for later)."""

    def end(self, rate_limit, request_id, retries) -> ChatChunk | None:
        """At ``[DONE]``: the last chunk, if the API makes it then; None ends the stream."""

    def whole(self, data: dict, rate_limit, request_id, retries) -> ChatChunk:
        """A whole answer, from a server that did not stream, as the stream's one and last chunk."""


class Service(Protocol):
    """One API bound to one client's credentials: where to send, how to authenticate, how to read answers."""

    api: str  # "v1" or "v2"
    base_url: str
    honours_retry_after: bool  # whether a Retry-After header sets the least wait before a retry
    decoder: type[Decoder]

    @property
    def credential(self) -> str | None:
        """The token in use, which an answer may echo (and so is masked in it)."""

    def body(self, target, payload: dict, params: dict, *, stream: bool, validate: bool) -> tuple[dict, tuple]:
        """(the request body for ``target`` (see ``_routing.Target``), checked against its rules if ``validate``;
        one-line notes on how it was sent)."""

    def explain(self, error: QianfanError, body: dict | None) -> QianfanError:
        """A final error of a request, with what the request itself tells (e.g. the model asked for)."""

    def check_encodable(self, body: dict, model: str | None = None) -> None:
        """Raise this API's error for text UTF-8 cannot encode."""

    async def request(self, http, path: str | None, body: dict, content: bytes) -> tuple[Any, str | None]:
        """(the authenticated httpx request, the credential it carries)."""

    def expired(self, error: QianfanError) -> bool:
        """Whether ``error`` says the credential expired and can be renewed."""

    async def renew(self, http, stale: str | None) -> None:
        """A new credential in place of ``stale``."""

    def answer_json(self, status: int, headers, content: bytes) -> dict:
        """The JSON of a whole answer; this API's QianfanError for an error."""

    def read_answer(self, raw: dict, *, model, rate_limit, request_id, retries, latency) -> ChatResponse: ...

    def request_id(self, headers) -> str | None: ...
