"""QianfanClient: one pipeline for both APIs. It owns the connection pool and the attempt loop (retries with
backoff, Retry-After, one renewal of an expired credential); each API is an adapter (``_v1/``, ``_v2/``) that
says where to send, how to authenticate and how to read the wire."""

from __future__ import annotations

import asyncio
import json
import os
import random
import time

import httpx

from ._adapter import Service
from ._auth import ENV_APP_ID, ENV_BASE_URL, ENV_IAM_BASE_URL, Credentials, ensure_credentials, sent_credentials
from ._errors import APIConnectionError, APITimeoutError, QianfanError
from ._http import new_pool
from ._responses import ChatResponse, RateLimit
from ._routing import Target, target
from ._secrets import Secret, mask_secrets, redact
from ._streaming import ChatStream
from ._v1._models import CHAT, COMPLETION
from ._v1._service import V1Service
from ._v1._wire import BASE_URL as V1_BASE_URL
from ._v2._bearer import IAM_BASE_URL
from ._v2._service import V2Service
from ._v2._wire import API as V2_API
from ._v2._wire import BASE_URL as V2_BASE_URL
from ._v2._wire import MODELS_PATH as V2_MODELS_PATH


def _running_loop():
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _base_urls(base_url: str | None, iam_base_url: str | None) -> tuple[str, str, str]:
    """(v1, v2, IAM) base URLs: a base URL given (or QIANFAN_BASE_URL) serves all three, as the emulator does."""
    given = (base_url or os.environ.get(ENV_BASE_URL) or "").rstrip("/")
    iam = (iam_base_url or os.environ.get(ENV_IAM_BASE_URL) or "").rstrip("/")
    if not given or given == V1_BASE_URL:
        return V1_BASE_URL, V2_BASE_URL, iam or IAM_BASE_URL
    return given, given, iam or given


class Attempts:
    """One request's tries: the retries so far, the time they must end by, whether the credential was renewed
    (once per request), and the credential the last try carried."""

    __slots__ = ("count", "deadline", "renewed", "credential")

    def __init__(self, budget: float):
        self.count = 0
        self.deadline = time.monotonic() + budget
        self.renewed = False
        self.credential: str | None = None


class QianfanClient:
    """Async client for Qianfan v1 chat and completions and v2 chat completions, with auth, validation and retries.

    Credentials not given fall back to the environment variables the official
    SDK reads: QIANFAN_AK/QIANFAN_SK (OAuth), QIANFAN_ACCESS_KEY/QIANFAN_SECRET_KEY
    (IAM signing, and v2 bearer tokens minted from them), QIANFAN_ACCESS_TOKEN,
    QIANFAN_API_KEY or QIANFAN_BEARER_TOKEN (a v2 API Key, bce-v3/…), QIANFAN_APP_ID,
    QIANFAN_BASE_URL and QIANFAN_IAM_BASE_URL. ``chat`` and ``stream_chat`` send a
    v1 registry name to v1 and a v2 id (``ernie-speed-8k``, ``deepseek-r1``) to v2
    (see ``route``).
    """

    def __init__(self, api_key: str | None = None, secret_key: str | None = None, *,
                 access_key: str | None = None, secret_access_key: str | None = None,
                 access_token: str | None = None, bearer_token: str | None = None, app_id: str | None = None,
                 iam_base_url: str | None = None, base_url: str | None = None,
                 timeout: float = 60.0, max_retries: int = 2, retry_backoff: float = 0.5,
                 retry_max_wait: float = 8.0, retry_total_timeout: float = 60.0,
                 max_connections: int = 20, validate: bool = True):
        app_id = app_id or os.environ.get(ENV_APP_ID)
        given = Credentials(api_key, secret_key, access_key, secret_access_key, access_token, bearer_token, app_id)
        if given.method == "none":
            given = Credentials.from_env()
            given.app_id = given.app_id or Credentials(app_id=app_id).app_id
        self._credentials = given
        self.base_url, self.v2_base_url, self.iam_base_url = _base_urls(base_url, iam_base_url)
        self.timeout = timeout
        self.max_retries = max(0, int(max_retries))
        self.retry_backoff = retry_backoff
        self.retry_max_wait = retry_max_wait
        self.retry_total_timeout = retry_total_timeout
        self.validate = validate
        self._max_connections = max_connections
        v1, v2 = V1Service(given, self.base_url), V2Service(given, self.v2_base_url, self.iam_base_url)
        self._services: dict[str, Service] = {v1.api: v1, v2.api: v2}
        self._tokens, self._bearer = v1.tokens, v2.bearer
        self._http: httpx.AsyncClient | None = None
        self._http_loop = None

    # -- plumbing ---------------------------------------------------------------
    @property
    def auth_method(self) -> str:
        """'oauth', 'token', 'iam', 'bearer' or 'none'."""
        return self._credentials.method

    @property
    def apis(self) -> frozenset[str]:
        """The APIs the credentials reach: "v1", "v2" or both."""
        return self._credentials.apis

    @property
    def token_fetches(self) -> int:
        """How many access tokens this client has fetched."""
        return self._tokens.fetches

    @property
    def bearer_fetches(self) -> int:
        """How many v2 bearer tokens this client has minted from IAM keys."""
        return self._bearer.fetches

    def __repr__(self) -> str:
        return f"QianfanClient(base_url={self.base_url!r}, auth={self.auth_method!r})"

    @property
    def http(self) -> httpx.AsyncClient:
        # Pooled connections belong to the loop that opened them; a client used
        # from a new loop (a second asyncio.run, a worker thread) gets a new pool.
        loop = _running_loop()
        if self._http is not None and loop is not None and self._http_loop not in (None, loop):
            self._http = None
        if self._http is None or self._http.is_closed:
            self._http_loop = loop
            self._http = new_pool(self.timeout, self._max_connections)
        return self._http

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    async def __aenter__(self) -> "QianfanClient":
        return self

    async def __aexit__(self, *exc) -> None:
        await self.aclose()

    def _secrets(self, request: httpx.Request | None = None) -> tuple[Secret, ...]:
        """What an answer may echo back: the keys this client holds, the tokens it obtained, and what ``request``
        carried (a token a concurrent refresh has since replaced included)."""
        held = (*self._credentials.keys, *(service.credential for service in self._services.values()))
        sent = sent_credentials(request) if request is not None else ()
        return tuple(Secret(s) for s in {*held, *sent} if s)

    def _redact(self, text: str) -> str:
        return redact(text, (*self._credentials.secrets, *self._secrets()))

    # -- the attempt loop: the one place that sends, retries and renews ------------------------------------
    @staticmethod
    def _encode(service: Service, body: dict) -> bytes:
        try:
            return json.dumps(body, ensure_ascii=False).encode()
        except UnicodeEncodeError:  # reached only with validate=False
            service.check_encodable(body)
            raise

    async def _open(self, service: Service, path: str | None, body: dict, *, stream: bool,
                    attempts: Attempts | None = None) -> tuple[httpx.Response, dict | None, Attempts]:
        """Send until an answer comes, the error is final, or the retry budget is spent: (response, its JSON or
        None for a live event stream, the attempts). ``attempts`` carries a stream's budget across reopenings."""
        attempts = attempts or Attempts(self.retry_total_timeout)
        content = None
        while True:
            try:
                ensure_credentials(self._credentials)
                content = content or (None if body is None else self._encode(service, body))
                request, attempts.credential = await service.request(self.http, path, body, content)
                response, data = await self._send(service, request, stream=stream)
                return response, data, attempts
            except QianfanError as err:
                error = err
            except httpx.TransportError as exc:
                error = self._unreachable(exc, service.base_url)
            if not await self._recover(service, attempts, error):
                error.retries = attempts.count
                raise service.explain(error, body)

    async def _recover(self, service: Service, attempts: Attempts, error: QianfanError) -> bool:
        """Whether to try again after ``error``: at once with a renewed credential (once per request), or after
        a backoff (and a Retry-After, where the API sends one) while the retries and the time budget last."""
        if not attempts.renewed and service.expired(error):
            attempts.renewed = True
            await service.renew(self.http, attempts.credential)
            return True
        at_least = getattr(error, "retry_after", None) if service.honours_retry_after else None
        if error.retryable and await self._backoff(attempts.count + 1, attempts.deadline, at_least):
            attempts.count += 1
            return True
        return False

    async def _backoff(self, attempt: int, deadline: float, at_least: float | None = None) -> bool:
        """Sleep before retry ``attempt`` (1-based), at least ``at_least`` seconds (a Retry-After);
        False when the retries or the time budget are spent."""
        if attempt > self.max_retries:
            return False
        wait = min(self.retry_backoff * 2 ** (attempt - 1) + random.uniform(0, self.retry_backoff),
                   self.retry_max_wait)
        if at_least:
            wait = max(wait, at_least)
        if time.monotonic() + wait > deadline:
            return False
        await asyncio.sleep(wait)
        return True

    async def _send(self, service: Service, request: httpx.Request, *, stream: bool) -> tuple[httpx.Response, dict | None]:
        """One try: (response, its JSON), or (response, None) for a live event stream; errors raised."""
        response = await self.http.send(request, stream=True)
        if stream and response.status_code == 200 and "text/event-stream" in response.headers.get("content-type", ""):
            return response, None
        try:
            content = mask_secrets(await response.aread(), self._secrets(request))
        finally:
            await response.aclose()
        return response, service.answer_json(response.status_code, response.headers, content)

    def _unreachable(self, exc: httpx.TransportError, base_url: str) -> APIConnectionError:
        where = self._redact(base_url)
        if isinstance(exc, httpx.TimeoutException):
            return APITimeoutError(f"No answer from {where} within {self.timeout:g} s.",
                                   hint="The service is slow or unreachable; try again, or raise the timeout.")
        return APIConnectionError(f"Could not reach {where}: {self._redact(str(exc)) or type(exc).__name__}.",
                                  hint="Check the network, QIANFAN_BASE_URL, or use the offline emulator.")

    # -- requests -----------------------------------------------------------------------------------------
    async def _call(self, routed: Target, payload: dict, params: dict) -> ChatResponse:
        service = self._services[routed.api]
        body, notes = service.body(routed, payload, params, stream=False, validate=self.validate)
        started = time.perf_counter()
        response, data, attempts = await self._open(service, routed.path, body, stream=False)
        answer = service.read_answer(data, model=routed.model, rate_limit=RateLimit.from_headers(response.headers),
                                     request_id=service.request_id(response.headers), retries=attempts.count,
                                     latency=time.perf_counter() - started)
        answer.notes = notes
        return answer

    def _stream(self, routed: Target, payload: dict, params: dict) -> ChatStream:
        service = self._services[routed.api]
        body, notes = service.body(routed, payload, params, stream=True, validate=self.validate)
        return ChatStream(self, service, routed.path, body, model=routed.model, notes=notes)

    # -- public API -------------------------------------------------------------
    async def chat(self, model: str | None = None, messages: list[dict] | None = None, *,
                   endpoint: str | None = None, **params) -> ChatResponse:
        """One chat answer. ``model`` is a v1 registry name (any case, aliases) or a v2 id (see ``route``);
        ``endpoint`` a deployed v1 service."""
        return await self._call(target(CHAT, model, endpoint, self.apis), {"messages": messages}, params)

    def stream_chat(self, model: str | None = None, messages: list[dict] | None = None, *,
                    endpoint: str | None = None, **params) -> ChatStream:
        """A chat answer as it is written: iterate with ``async for``; validated right away."""
        return self._stream(target(CHAT, model, endpoint, self.apis), {"messages": messages}, params)

    async def complete(self, prompt: str | None = None, *, endpoint: str | None = None, model: str | None = None,
                       **params) -> ChatResponse:
        """Text continuation of ``prompt`` by a completion endpoint (or a chat model answering it)."""
        return await self._call(target(COMPLETION, model, endpoint, self.apis), {"prompt": prompt}, params)

    def stream_complete(self, prompt: str | None = None, *, endpoint: str | None = None, model: str | None = None,
                        **params) -> ChatStream:
        return self._stream(target(COMPLETION, model, endpoint, self.apis), {"prompt": prompt}, params)

    async def list_models(self) -> list[str]:
        """The v2 model ids this key can call (``GET /v2/models``), in the service's order. The service's list is
        the authority; ``V2_MODELS`` is a shipped catalog of what is known about them."""
        service = self._services[V2_API]
        _, data, _ = await self._open(service, V2_MODELS_PATH, None, stream=False)
        entries = data.get("data") if isinstance(data, dict) else None
        return [entry["id"] for entry in entries or () if isinstance(entry, dict) and isinstance(entry.get("id"), str)]
