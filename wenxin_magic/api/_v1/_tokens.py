"""v1 access tokens: fetched with an application's keys at ``/oauth/2.0/token``, or a fixed one."""

from __future__ import annotations

import time

from .._auth import Credentials, SingleFlight, call_token_service, json_or_empty, token_service_limit
from .._errors import AuthenticationError
from .._secrets import Secret, mask_secrets, redact
from ._codes import V1_ERROR_CODES

TOKEN_PATH = "/oauth/2.0/token"
_UNREACHABLE_HINT = "Check the network and QIANFAN_BASE_URL, or use the offline emulator."


class TokenSource:
    """Access tokens: cached until shortly before they expire, refreshed once for any number of waiters."""

    def __init__(self, credentials: Credentials):
        self._credentials = credentials
        self._token = Secret(credentials.access_token) if credentials.method == "token" else None
        self._refresh_at = float("inf") if self._token else 0.0
        self._flight = SingleFlight()
        self.fetches = 0

    @property
    def can_refresh(self) -> bool:
        return self._credentials.method == "oauth"

    @property
    def current(self) -> str | None:
        return self._token

    async def get(self, http, base_url: str) -> str:
        if self._token is not None and time.monotonic() < self._refresh_at:
            return self._token
        return await self.refresh(http, base_url)

    async def refresh(self, http, base_url: str, stale: str | None = None) -> str:
        """A fresh token; ``stale`` is the one just rejected, so a refresh already done for it is reused."""
        if not self.can_refresh:
            if self._credentials.method == "token" and stale is None:
                return self._token
            raise AuthenticationError(
                "The access token was rejected and cannot be refreshed without the application's keys. "
                "Set QIANFAN_AK and QIANFAN_SK, or a new QIANFAN_ACCESS_TOKEN.", code=111, hint=V1_ERROR_CODES[111].hint)
        if stale is not None and self._token is not None and self._token != stale:
            return self._token
        return await self._flight.run(lambda: self._fetch(http, base_url))

    async def _fetch(self, http, base_url: str) -> str:
        creds = self._credentials
        params = {"grant_type": "client_credentials", "client_id": creds.api_key, "client_secret": creds.secret_key}
        self.fetches += 1
        limit = token_service_limit(http)
        response = await call_token_service(
            http.post(base_url + TOKEN_PATH, params=params, timeout=limit), limit=limit,
            timed_out=f"Fetching an access token from {redact(base_url)}",
            unreachable=f"the token service at {redact(base_url)}", hint=_UNREACHABLE_HINT)
        data = json_or_empty(mask_secrets(response.content, creds.keys))
        if response.status_code != 200 or "access_token" not in data:
            raise _keys_refused(response.status_code, data, creds)
        expires_in = float(data.get("expires_in") or 2592000)
        self._token = Secret(data["access_token"])
        # Refresh ahead of expiry: clocks drift and a long stream must not outlive its token.
        self._refresh_at = time.monotonic() + expires_in - min(600.0, expires_in * 0.1)
        return self._token


def _keys_refused(status: int, data: dict, credentials: Credentials) -> AuthenticationError:
    """The token service's refusal, saying which key to check."""
    error = str(data.get("error") or f"HTTP {status}")
    description = str(data.get("error_description") or "no description")
    if error == "invalid_client" and "unknown" in description:
        what = "the API Key is not known: check QIANFAN_AK"
    elif error == "invalid_client":
        what = "the Secret Key does not match the API Key: check QIANFAN_SK"
    else:
        what = "check QIANFAN_AK and QIANFAN_SK"
    return AuthenticationError(redact(f"The token service refused the keys ({error}: {description}); {what}.",
                                      credentials.secrets), status=status)


