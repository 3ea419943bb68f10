"""Credentials, and what both APIs' token services share: IAM signing, one fetch for many waiters.

v1's access tokens are fetched in ``_v1/_tokens.py``, v2's bearer tokens minted in ``_v2/_bearer.py``.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from urllib.parse import urlsplit

from ._errors import APIConnectionError, APITimeoutError, AuthenticationError
from ._secrets import Secret
from ._signing import DEFAULT_EXPIRATION, canonical_time, sign_request

ENV_API_KEY = "QIANFAN_AK"
ENV_SECRET_KEY = "QIANFAN_SK"
ENV_ACCESS_KEY = "QIANFAN_ACCESS_KEY"
ENV_SECRET_ACCESS_KEY = "QIANFAN_SECRET_KEY"
ENV_ACCESS_TOKEN = "QIANFAN_ACCESS_TOKEN"
ENV_BASE_URL = "QIANFAN_BASE_URL"
ENV_V2_API_KEY = "QIANFAN_API_KEY"
ENV_BEARER_TOKEN = "QIANFAN_BEARER_TOKEN"
ENV_APP_ID = "QIANFAN_APP_ID"
ENV_IAM_BASE_URL = "QIANFAN_IAM_BASE_URL"
BEARER_PREFIX = "bce-v3/"

def token_service_limit(http) -> float:
    """Seconds to wait for a token service: it is quick or down, so never longer than for an answer."""
    return min(10.0, http.timeout.read or 10.0)


async def call_token_service(request, *, limit: float, timed_out: str, unreachable: str, hint: str):
    """Await a token service's response; a network failure is said in words, the keys not blamed for it."""
    import httpx

    try:
        return await request
    except httpx.TimeoutException:
        raise APITimeoutError(f"{timed_out} timed out ({limit:g} s).", hint=hint) from None
    except httpx.TransportError as exc:
        raise APIConnectionError(f"Could not reach {unreachable} ({type(exc).__name__}).", hint=hint) from None


def sent_credentials(request) -> tuple[Secret, ...]:
    """The credentials an httpx request carried, which a service's error may echo back: its token parameters and
    its Authorization value (past a scheme such as ``Bearer``), and the secret or signature at that value's end."""
    sent = [request.url.params.get(name) for name in ("access_token", "client_id", "client_secret")]
    authorization = request.headers.get("authorization")
    if authorization:
        credential = authorization.rpartition(" ")[2]
        sent += [credential, credential.rpartition("/")[2]]
    return tuple(Secret(value) for value in sent if value)


def json_or_empty(content: bytes) -> dict:
    """A token service's JSON object, or {} for anything else."""
    try:
        data = json.loads(content)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


class SingleFlight:
    """One fetch at a time: every caller that asks while it runs awaits the same result.

    A fetch belongs to the loop that started it; a caller on another loop starts its own.
    """

    def __init__(self):
        self._inflight: asyncio.Future | None = None

    async def run(self, fetch):
        inflight = self._inflight
        if inflight is None or inflight.done() or inflight.get_loop() is not asyncio.get_running_loop():
            inflight = self._inflight = asyncio.ensure_future(fetch())
        return await asyncio.shield(inflight)  # a caller that gives up does not cancel the others' fetch


def _secret(value) -> Secret | None:
    return Secret(value) if value else None


def is_bearer_key(value) -> bool:
    """A v2 API Key or bearer token (``bce-v3/ALTAK-…/…``), as opposed to a v1 application's API Key."""
    return isinstance(value, str) and value.startswith(BEARER_PREFIX)


class Credentials:
    """What the client may authenticate with; never printed.

    ``api_key``/``secret_key``: an application's keys (v1, OAuth); ``access_token``: a fixed v1 token;
    ``access_key``/``secret_access_key``: IAM keys (v1 signing, and v2 bearer tokens minted from them);
    ``bearer_token``: a v2 API Key ``bce-v3/…`` (an ``api_key`` of that form is taken as one);
    ``app_id``: the v2 app id sent in the ``appid`` header.
    """

    __slots__ = ("api_key", "secret_key", "access_key", "secret_access_key", "access_token", "bearer_token",
                 "app_id")

    def __init__(self, api_key=None, secret_key=None, access_key=None, secret_access_key=None, access_token=None,
                 bearer_token=None, app_id=None):
        if is_bearer_key(api_key):
            api_key, bearer_token = None, bearer_token or api_key
        self.api_key = _secret(api_key)
        self.secret_key = _secret(secret_key)
        self.access_key = _secret(access_key)
        self.secret_access_key = _secret(secret_access_key)
        self.access_token = _secret(access_token)
        self.bearer_token = _secret(bearer_token)
        self.app_id = _secret(app_id)

    @classmethod
    def from_env(cls, environ=os.environ) -> "Credentials":
        bearer = environ.get(ENV_V2_API_KEY) or environ.get(ENV_BEARER_TOKEN)
        return cls(environ.get(ENV_API_KEY), environ.get(ENV_SECRET_KEY), environ.get(ENV_ACCESS_KEY),
                   environ.get(ENV_SECRET_ACCESS_KEY), environ.get(ENV_ACCESS_TOKEN), bearer,
                   environ.get(ENV_APP_ID))

    @property
    def keys(self) -> tuple[str, ...]:
        """The credentials proper: ``secrets`` but the app id, an identifier that may be a short number."""
        return tuple(s for s in (self.api_key, self.secret_key, self.access_key, self.secret_access_key,
                                 self.access_token, self.bearer_token) if s)

    @property
    def secrets(self) -> tuple[str, ...]:
        return (*self.keys, self.app_id) if self.app_id else self.keys

    @property
    def method(self) -> str:
        """'oauth', 'token', 'iam', 'bearer' or 'none', in that priority."""
        if self.api_key and self.secret_key:
            return "oauth"
        if self.access_token:
            return "token"
        if self.has_iam:
            return "iam"
        if self.bearer_token:
            return "bearer"
        return "none"

    @property
    def has_iam(self) -> bool:
        return bool(self.access_key and self.secret_access_key)

    @property
    def apis(self) -> frozenset[str]:
        """The APIs these credentials reach: "v1" (application keys, a token, IAM keys), "v2" (a bearer, IAM keys)."""
        apis = set()
        if (self.api_key and self.secret_key) or self.access_token or self.has_iam:
            apis.add("v1")
        if self.bearer_token or self.has_iam:
            apis.add("v2")
        return frozenset(apis)

    def __repr__(self) -> str:
        return f"Credentials(method={self.method!r})"


def missing_credentials_error() -> AuthenticationError:
    return AuthenticationError(
        "No Qianfan credentials. Set QIANFAN_AK and QIANFAN_SK (an application's API Key and Secret Key), "
        "or QIANFAN_ACCESS_KEY and QIANFAN_SECRET_KEY (IAM keys), or QIANFAN_ACCESS_TOKEN, "
        "or QIANFAN_API_KEY (a v2 API Key, bce-v3/…).")


class Signer:
    """bce-auth-v1 signatures for IAM Access Key / Secret Key requests."""

    def __init__(self, credentials: Credentials, expiration: int = DEFAULT_EXPIRATION):
        self._credentials = credentials
        self._expiration = expiration

    def headers(self, method: str, url: str, headers: dict[str, str]) -> dict[str, str]:
        parts = urlsplit(url)
        signed = {"Host": parts.netloc, "Content-Type": headers.get("Content-Type", "application/json"),
                  "x-bce-date": canonical_time(time.time())}
        params = dict(p.split("=", 1) if "=" in p else (p, "") for p in parts.query.split("&") if p)
        signature = sign_request(self._credentials.access_key, self._credentials.secret_access_key, method,
                                 parts.path, params, signed, timestamp=signed["x-bce-date"],
                                 expiration=self._expiration)
        # a Secret: it names the access key, and the caller's frame (its locals in a traceback) holds it
        signed["Authorization"] = Secret(signature)
        return signed


def ensure_credentials(credentials: Credentials) -> None:
    if credentials.method == "none":
        raise missing_credentials_error()
