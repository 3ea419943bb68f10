"""QianfanClient: the async client for Qianfan's v1 chat and completions endpoints and v2 chat completions."""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import os
import random
import ssl
import time
from typing import Any, AsyncIterator

import httpx

from ._auth import (ENV_APP_ID, ENV_BASE_URL, ENV_IAM_BASE_URL, Credentials, Signer, TokenSource, ensure_credentials,
                    sent_credentials)
from ._errors import (APIConnectionError, APITimeoutError, AuthenticationError, InvalidRequestError, QianfanError,
                      RateLimitError, Secret, ServerError, StreamInterruptedError, TOKEN_CODES, error_from_code,
                      mask_secrets, redact)
from ._registry import (CHAT, COMPLETION, CUSTOM_CHAT, CUSTOM_COMPLETION, DEFAULT_MODEL, ModelSpec, find_model,
                        model_for_endpoint, unknown_model_error)
from ._routing import V2, Route, route, unreachable_error
from ._sse import DONE, NOT_JSON, LineDecoder, parse_line
from ._types import ChatChunk, ChatResponse, RateLimit, v2_response
from ._v2_client import CHAT_PATH, IAM_BASE_URL, V2_BASE_URL, BearerSource, request_id_of, v2_answer_json, v2_body
from ._v2_validation import validate_v2_request
from ._validation import check_encodable, check_endpoint_name, validate_request

DEFAULT_BASE_URL = "https://aip.baidubce.com"
API_PREFIX = "/rpc/2.0/ai_custom/v1/wenxinworkshop"
_RETRYABLE_STATUS = frozenset({500, 502, 503, 504})
_FOLDERS = {CHAT: "chat", COMPLETION: "completions"}


class _RedactedRequest(httpx.Request):
    """A request that hides the access token in its URL from its repr, which tracebacks show."""

    def __repr__(self) -> str:
        return redact(super().__repr__())


class _RedactingFilter(logging.Filter):
    """httpx logs every request URL, and v1 URLs carry the access token."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.args:
            record.args = tuple(redact(str(a)) if isinstance(a, (str, httpx.URL)) else a for a in record.args)
        if isinstance(record.msg, str) and "=" in record.msg:
            record.msg = redact(record.msg)
        return True


_FILTER = _RedactingFilter()
for _name in ("httpx", "httpcore"):
    logging.getLogger(_name).addFilter(_FILTER)


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """One TLS context for every client: building one loads the CA bundle, about 50 ms each time."""
    return httpx.create_ssl_context()


def _running_loop():
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _resolve(kind: str, model: str | None, endpoint: str | None) -> tuple[ModelSpec, str, bool]:
    """(spec to validate against, URL path, whether a chat model answers a completion)."""
    if endpoint is not None:
        return _resolve_endpoint(kind, model, endpoint), f"{_FOLDERS[kind]}/{endpoint}", False
    spec = _registry_model(kind, model)
    return spec, spec.path, kind == COMPLETION and spec.kind == CHAT


def _resolve_endpoint(kind: str, model: str | None, endpoint: str) -> ModelSpec:
    """The rules for a deployed endpoint: the model named, the registry's model there, or any of its kind."""
    check_endpoint_name(endpoint)
    spec = find_model(model) if model else model_for_endpoint(kind, endpoint)
    if spec is None and model:
        raise unknown_model_error(model)
    return spec or (CUSTOM_CHAT if kind == CHAT else CUSTOM_COMPLETION)


def _registry_model(kind: str, model: str | None) -> ModelSpec:
    if model is None:
        if kind == COMPLETION:
            raise InvalidRequestError("A completion needs `endpoint=` (the API address of your deployed service) "
                                      "or `model=` (e.g. SQLCoder-7B).", field="endpoint")
        model = DEFAULT_MODEL
    spec = find_model(model)
    if spec is None:
        raise unknown_model_error(model)
    if spec.endpoint is None:
        raise InvalidRequestError(f"{spec.name} runs only on a service you deploy yourself: give that service's "
                                  "API address as the endpoint.", field="endpoint", model=spec.name)
    if kind == CHAT and spec.kind == COMPLETION:
        raise InvalidRequestError(f"{spec.name} continues text rather than chatting: use complete(model=..., "
                                  "prompt=...).", field="model", model=spec.name)
    return spec


def _build_body(messages_or_prompt: dict, params: dict[str, Any]) -> dict:
    body = dict(messages_or_prompt)
    for key, value in params.items():
        if value is not None:
            body[key] = value
    return body


def _error_from_payload(data: dict, headers, status: int) -> QianfanError:
    code = data.get("error_code")
    request_id = data.get("id") or headers.get("x-baidu-request-id")
    err = error_from_code(int(code), str(data.get("error_msg") or ""), request_id=request_id, status=status)
    if isinstance(err, RateLimitError):
        err.retry_after = 60.0 if err.code in (336501, 336502) else 1.0
    return err


def _error_from_http(response: httpx.Response, content: bytes) -> QianfanError:
    status = response.status_code
    bce_code = response.headers.get("x-bce-error-code")
    if bce_code or status in (401, 403):
        detail = response.headers.get("x-bce-error-message") or bce_code or f"HTTP {status}"
        return AuthenticationError(
            f"The request's signature was rejected ({detail}). Check QIANFAN_ACCESS_KEY and QIANFAN_SECRET_KEY, "
            "and that the machine's clock is right.", code=14, status=status,
            request_id=response.headers.get("x-baidu-request-id"))
    kind = response.headers.get("content-type", "unknown").split(";")[0]
    return ServerError(f"The service answered HTTP {status} with {kind} instead of an answer.",
                       hint="The service failed; try again in a moment.", status=status,
                       retryable=status in _RETRYABLE_STATUS)


def _answer_json(response: httpx.Response, content: bytes) -> dict:
    """The JSON of a whole answer; QianfanError for an error payload or a failed HTTP exchange."""
    status = response.status_code
    if status != 200 and "json" not in response.headers.get("content-type", ""):
        raise _error_from_http(response, content)
    try:
        data = json.loads(content)
    except ValueError:
        raise ServerError(f"The service answered HTTP {status} with a body that is not JSON.", status=status,
                          retryable=True) from None
    if isinstance(data, dict) and "error_code" in data:
        raise _error_from_payload(data, response.headers, status)
    if status != 200:
        raise _error_from_http(response, content)
    return data


def _base_urls(base_url: str | None, iam_base_url: str | None) -> tuple[str, str, str]:
    """(v1, v2, IAM) base URLs: a base URL given (or QIANFAN_BASE_URL) serves all three, as the emulator does."""
    given = (base_url or os.environ.get(ENV_BASE_URL) or "").rstrip("/")
    iam = (iam_base_url or os.environ.get(ENV_IAM_BASE_URL) or "").rstrip("/")
    if not given or given == DEFAULT_BASE_URL:
        return DEFAULT_BASE_URL, V2_BASE_URL, iam or IAM_BASE_URL
    return given, given, iam or given


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
        self._tokens = TokenSource(self._credentials)
        self._signer = Signer(self._credentials) if self._credentials.method == "iam" else None
        self._bearer = BearerSource(self._credentials)
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
            limits = httpx.Limits(max_connections=self._max_connections,
                                  max_keepalive_connections=self._max_connections)
            self._http = httpx.AsyncClient(timeout=httpx.Timeout(self.timeout, connect=min(10.0, self.timeout)),
                                           limits=limits, headers={"Content-Type": "application/json"},
                                           verify=_tls_context())
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
        held = (*self._credentials.keys, self._tokens.current, self._bearer.current)
        sent = sent_credentials(request) if request is not None else ()
        return tuple(Secret(s) for s in {*held, *sent} if s)

    def _redact(self, text: str) -> str:
        return redact(text, (*self._credentials.secrets, *self._secrets()))

    @staticmethod
    def _encode(body: dict) -> bytes:
        try:
            return json.dumps(body, ensure_ascii=False).encode()
        except UnicodeEncodeError:  # reached only with validate=False
            check_encodable(body)
            raise

    async def _request(self, path: str, body: dict) -> tuple[httpx.Request, str | None]:
        ensure_credentials(self._credentials)
        url = f"{self.base_url}{API_PREFIX}/{path}"
        content = self._encode(body)
        if self._signer is not None:
            headers = self._signer.headers("POST", url, {"Content-Type": "application/json"})
            return self.http.build_request("POST", url, content=content, headers=headers), None
        token = await self._tokens.get(self.http, self.base_url)
        request = self.http.build_request("POST", url, params={"access_token": token}, content=content)
        request.__class__ = _RedactedRequest
        return request, token

    async def _request_v2(self, body: dict) -> tuple[httpx.Request, str | None]:
        ensure_credentials(self._credentials)
        if V2 not in self.apis:
            raise unreachable_error(str(body.get("model")), V2)
        content = self._encode(body)
        token = await self._bearer.get(self.http, self.iam_base_url)
        headers = {"Authorization": f"Bearer {token}"}
        if self._credentials.app_id:
            headers["appid"] = self._credentials.app_id
        return self.http.build_request("POST", self.v2_base_url + CHAT_PATH, content=content, headers=headers), token

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

    async def _open(self, path: str, body: dict, *, stream: bool) -> tuple[httpx.Response, dict | None, int]:
        """v1: send with auth refresh and retries: (response, parsed JSON or None for a live stream, retries)."""
        return await self._attempts(lambda: self._request(path, body), self._send, self._reauth_v1, stream=stream,
                                    where=self.base_url)

    async def _open_v2(self, body: dict, *, stream: bool) -> tuple[httpx.Response, dict | None, int]:
        """v2: the same, refreshing a minted bearer token once and honouring Retry-After."""
        send = functools.partial(self._send, api="v2")
        return await self._attempts(lambda: self._request_v2(body), send, self._reauth_v2, stream=stream,
                                    where=self.v2_base_url, honour_retry_after=True)

    async def _attempts(self, build, send, reauth, *, stream: bool, where: str,
                        honour_retry_after: bool = False) -> tuple[httpx.Response, dict | None, int]:
        """Build and send a request until it succeeds, the error is final, or the retry budget is spent.

        ``reauth(error, credential)`` renews the credential once and says whether to try again at once.
        """
        deadline = time.monotonic() + self.retry_total_timeout
        attempt = 0
        refreshed = False
        while True:
            credential = None
            try:
                request, credential = await build()
                response, data = await send(request, stream=stream)
                return response, data, attempt
            except QianfanError as err:
                if not refreshed and await reauth(err, credential):
                    refreshed = True
                    continue
                error = err
            except httpx.TransportError as exc:
                error = self._unreachable(exc, where)
            at_least = getattr(error, "retry_after", None) if honour_retry_after else None
            if error.retryable and await self._backoff(attempt + 1, deadline, at_least):
                attempt += 1
                continue
            error.retries = attempt
            raise error

    async def _reauth_v1(self, err: QianfanError, token: str | None) -> bool:
        if err.code in TOKEN_CODES and self._tokens.can_refresh:
            await self._tokens.refresh(self.http, self.base_url, stale=token)
            return True
        return False

    async def _reauth_v2(self, err: QianfanError, token: str | None) -> bool:
        if err.code == "invalid_iam_token" and self._bearer.mints:
            await self._bearer.refresh(self.http, self.iam_base_url, stale=token)
            return True
        return False

    async def _send(self, request: httpx.Request, *, stream: bool, api: str = "v1") -> tuple[httpx.Response, dict | None]:
        """One try: (response, its JSON), or (response, None) for a live event stream; errors raised."""
        response = await self.http.send(request, stream=True)
        if stream and response.status_code == 200 and "text/event-stream" in response.headers.get("content-type", ""):
            return response, None
        try:
            content = mask_secrets(await response.aread(), self._secrets(request))
        finally:
            await response.aclose()
        if api == "v2":
            return response, v2_answer_json(response.status_code, response.headers, content)
        return response, _answer_json(response, content)

    def _unreachable(self, exc: httpx.TransportError, base_url: str | None = None) -> APIConnectionError:
        where = self._redact(base_url or self.base_url)
        if isinstance(exc, httpx.TimeoutException):
            return APITimeoutError(f"No answer from {where} within {self.timeout:g} s.",
                                   hint="The service is slow or unreachable; try again, or raise the timeout.")
        return APIConnectionError(f"Could not reach {where}: {self._redact(str(exc)) or type(exc).__name__}.",
                                  hint="Check the network, QIANFAN_BASE_URL, or use the offline emulator.")

    def _prepare(self, kind: str, model, endpoint, payload: dict, params: dict) -> tuple[ModelSpec, str, dict]:
        spec, path, as_chat = _resolve(kind, model, endpoint)
        if as_chat:
            payload = {"messages": [{"role": "user", "content": payload["prompt"]}]}
        body = _build_body(payload, params)
        if self.validate:
            validate_request(spec, body)
        return spec, path, body

    async def _call(self, kind, model, endpoint, payload, params) -> ChatResponse:
        spec, path, body = self._prepare(kind, model, endpoint, payload, params)
        body["stream"] = False
        started = time.perf_counter()
        response, data, retries = await self._open(path, body, stream=False)
        return ChatResponse(data, rate_limit=RateLimit.from_headers(response.headers),
                            request_id=response.headers.get("x-baidu-request-id"), retries=retries,
                            latency=time.perf_counter() - started, model=_label(spec, endpoint))

    def _route(self, model) -> Route:
        return route(model, self.apis)

    def _prepare_v2(self, routed: Route, messages, params: dict, *, stream: bool) -> dict:
        body = v2_body(routed.model, messages, params, stream=stream)
        if self.validate:
            validate_v2_request(body, routed.spec)
        return body

    async def _call_v2(self, routed: Route, messages, params: dict) -> ChatResponse:
        body = self._prepare_v2(routed, messages, params, stream=False)
        started = time.perf_counter()
        response, data, retries = await self._open_v2(body, stream=False)
        return v2_response(data, rate_limit=RateLimit.from_headers(response.headers),
                           request_id=request_id_of(response.headers), retries=retries,
                           latency=time.perf_counter() - started, model=routed.model)

    # -- public API -------------------------------------------------------------
    async def chat(self, model: str | None = None, messages: list[dict] | None = None, *,
                   endpoint: str | None = None, **params) -> ChatResponse:
        """One chat answer. ``model`` is a v1 registry name (any case, aliases) or a v2 id (see ``route``);
        ``endpoint`` a deployed v1 service."""
        if endpoint is None:
            routed = self._route(model)
            if routed.api == V2:
                return await self._call_v2(routed, messages, params)
            model = _v1_name(model, routed)
        return await self._call(CHAT, model, endpoint, {"messages": messages}, params)

    def stream_chat(self, model: str | None = None, messages: list[dict] | None = None, *,
                    endpoint: str | None = None, **params) -> "ChatStream":
        """A chat answer as it is written: iterate with ``async for``; validated right away."""
        if endpoint is None:
            routed = self._route(model)
            if routed.api == V2:
                from ._v2_stream import V2ChatStream

                body = self._prepare_v2(routed, messages, params, stream=True)
                return V2ChatStream(self, CHAT_PATH, body, model=routed.model)
            model = _v1_name(model, routed)
        spec, path, body = self._prepare(CHAT, model, endpoint, {"messages": messages}, params)
        return ChatStream(self, path, body, model=_label(spec, endpoint))

    async def complete(self, prompt: str | None = None, *, endpoint: str | None = None, model: str | None = None,
                       **params) -> ChatResponse:
        """Text continuation of ``prompt`` by a completion endpoint (or a chat model answering it)."""
        return await self._call(COMPLETION, model, endpoint, {"prompt": prompt}, params)

    def stream_complete(self, prompt: str | None = None, *, endpoint: str | None = None, model: str | None = None,
                        **params) -> "ChatStream":
        spec, path, body = self._prepare(COMPLETION, model, endpoint, {"prompt": prompt}, params)
        return ChatStream(self, path, body, model=_label(spec, endpoint))


def _v1_name(model, routed: Route):
    """The name to resolve on v1: as given (so errors read as before), or the twin chosen for it."""
    return routed.model if routed.twin_of is not None else model


def _label(spec: ModelSpec, endpoint: str | None) -> str:
    """The model an answer names: the registry model, or the endpoint of a deployed service."""
    return endpoint if spec in (CUSTOM_CHAT, CUSTOM_COMPLETION) else spec.name


class ChatStream:
    """A streamed answer: ``async for chunk in stream`` yields ChatChunk deltas.

    After (or during) iteration: ``text`` so far, ``usage`` and ``finish_reason``
    from the last chunk, ``retries``, ``rate_limit``, ``time_to_first_token``.
    ``aclose()`` stops early and closes the connection.
    """

    def __init__(self, client: QianfanClient, path: str, body: dict, *, model: str | None = None):
        self._client = client
        self._path = path
        self._body = dict(body, stream=True)
        self._response: httpx.Response | None = None
        self._iterator: AsyncIterator[ChatChunk] | None = None
        self._parts: list[str] = []
        self._thoughts: list[str] = []
        self._reauthenticated = False
        self.model = model
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

    async def _open(self) -> tuple[httpx.Response, dict | None]:
        response, data, retries = await self._client._open(self._path, self._body, stream=True)
        self.retries += retries
        self.rate_limit = RateLimit.from_headers(response.headers)
        self.request_id = response.headers.get("x-baidu-request-id")
        self._response = response
        return response, data

    async def _chunks(self) -> AsyncIterator[ChatChunk]:
        deadline = time.monotonic() + self._client.retry_total_timeout
        while True:
            response, whole = await self._open()
            if whole is not None:  # a server that answered the whole thing at once
                yield self._whole(whole)
                return
            try:
                # One generator from socket to caller: each layer would cost a hop per chunk.
                decoder = LineDecoder()
                rate_limit, request_id, retries = self.rate_limit, self.request_id, self.retries
                try:
                    async for data in response.aiter_raw():
                        for line in decoder.feed(data):
                            chunk = self._parse(line, response, rate_limit, request_id, retries)
                            if chunk is None:
                                continue
                            if chunk is DONE:
                                return
                            yield chunk
                            if chunk.is_end:
                                return
                    for line in decoder.flush():
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
                # Failed before any text: the same recovery as a plain request.
                if await self._reauthenticate(err):
                    continue
                if not await self._may_retry(err, deadline):
                    err.retries = self.retries
                    raise
            finally:
                await response.aclose()

    async def _reauthenticate(self, err: QianfanError) -> bool:
        """Refresh the access token once when the stream was refused for it."""
        tokens = self._client._tokens
        if err.code in TOKEN_CODES and not self._reauthenticated and tokens.can_refresh:
            self._reauthenticated = True
            await tokens.refresh(self._client.http, self._client.base_url, stale=tokens.current)
            return True
        return False

    async def _may_retry(self, err: QianfanError, deadline: float) -> bool:
        """Wait before opening the stream again, if the error and the retry budget allow it."""
        if err.retryable and await self._client._backoff(self.retries + 1, deadline):
            self.retries += 1
            return True
        return False

    def _whole(self, data: dict) -> ChatChunk:
        """A whole answer as the stream's one and last chunk."""
        chunk = ChatChunk(dict(data, is_end=True, sentence_id=0), rate_limit=self.rate_limit,
                          request_id=self.request_id, retries=self.retries, model=self.model)
        self._accept(chunk)
        return chunk

    def _cut_off(self, exc: httpx.TransportError) -> StreamInterruptedError:
        if isinstance(exc, httpx.TimeoutException):
            return self._interrupted(f"The stream stalled: nothing arrived for {self._client.timeout:g} s.")
        return self._interrupted(f"The connection closed before the answer was complete ({type(exc).__name__}).")

    def _accept(self, chunk: ChatChunk) -> None:
        if self.time_to_first_token is None:
            self.time_to_first_token = time.perf_counter() - self.started
        self.chunks += 1
        self.last = chunk
        if chunk.result:
            self._parts.append(chunk.result)
        if chunk.is_end:
            self.done = True

    def _masked(self, value, response: httpx.Response):
        """``value`` read from ``response`` without the credentials it may echo, before an error is made of it:
        the frames it passes show their locals in verbose tracebacks."""
        return mask_secrets(value, self._client._secrets(response.request))

    def _interrupted(self, why: str, code: int | None = None, request_id: str | None = None) -> StreamInterruptedError:
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
        if data is None or data is DONE:
            return data
        if "error_code" in data:
            line, data = self._masked(line, response), self._masked(data, response)
            error = _error_from_payload(data, response.headers, response.status_code)
            if self.chunks == 0:
                raise error
            raise self._interrupted(f"The stream failed after {self.chunks} chunks: {error.message}",
                                    code=error.code, request_id=error.request_id)
        chunk = ChatChunk(data, rate_limit=rate_limit, request_id=request_id, retries=retries, model=self.model)
        self._accept(chunk)
        return chunk
