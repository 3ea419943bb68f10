"""v2 bearer tokens: a fixed API Key (``bce-v3/…``) sent as it is, or tokens minted from IAM keys at
``GET {iam}/v1/BCE-BEARER/token``."""

from __future__ import annotations

import time
from datetime import datetime

from .._auth import Signer, SingleFlight, call_token_service, json_or_empty, sent_credentials, token_service_limit
from .._errors import AuthenticationError
from .._secrets import Secret, mask_secrets, redact

IAM_BASE_URL = "https://iam.bj.baidubce.com"
BEARER_PATH = "/v1/BCE-BEARER/token"
BEARER_LIFETIME = 86400  # seconds a minted token is asked to live
_UNREACHABLE_HINT = "Check the network and QIANFAN_IAM_BASE_URL, or use the offline emulator."


# -- bearer tokens -----------------------------------------------------------------------------------------

def _parse_time(text) -> float | None:
    try:
        return datetime.fromisoformat(str(text).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _lifetime(data: dict, asked: int) -> float:
    """How long a minted token lives: expireTime − createTime when both read, else what was asked for."""
    created, expires = _parse_time(data.get("createTime")), _parse_time(data.get("expireTime"))
    if created is not None and expires is not None and expires > created:
        return expires - created
    return float(asked)


class BearerSource:
    """The v2 bearer: a fixed API Key, or tokens minted from IAM keys (cached, refreshed once for any number
    of waiters, ahead of expiry by min(600 s, 10 % of the lifetime))."""

    def __init__(self, credentials, lifetime: int = BEARER_LIFETIME):
        self._credentials = credentials
        self._lifetime = lifetime
        self._signer = Signer(credentials) if credentials.has_iam else None
        self._token: Secret | None = None
        self._refresh_at = 0.0
        self._flight = SingleFlight()
        self.fetches = 0

    @property
    def current(self) -> str | None:
        """The token in use: the API Key, or the last one minted."""
        return self._credentials.bearer_token or self._token

    @property
    def mints(self) -> bool:
        """True when tokens are minted from IAM keys (and so can be refreshed)."""
        return not self._credentials.bearer_token and self._signer is not None

    can_refresh = mints

    async def get(self, http, iam_url: str) -> str:
        if not self.mints:
            return self._credentials.bearer_token
        if self._token is not None and time.monotonic() < self._refresh_at:
            return self._token
        return await self.refresh(http, iam_url)

    async def refresh(self, http, iam_url: str, stale: str | None = None) -> str:
        """A freshly minted token; ``stale`` is the one just rejected, so a refresh already done for it is reused."""
        if stale is not None and self._token is not None and self._token != stale:
            return self._token
        return await self._flight.run(lambda: self._mint(http, iam_url))

    async def _mint(self, http, iam_url: str) -> str:
        url = f"{iam_url}{BEARER_PATH}?expireInSeconds={self._lifetime}"
        headers = self._signer.headers("GET", url, {"Content-Type": "application/json"})
        self.fetches += 1
        limit = token_service_limit(http)
        response = await call_token_service(
            http.get(url, headers=headers, timeout=limit), limit=limit,
            timed_out=f"Minting a v2 bearer token at {redact(iam_url)}",
            unreachable=f"the IAM token service at {redact(iam_url)}", hint=_UNREACHABLE_HINT)
        data = json_or_empty(mask_secrets(response.content, (*self._credentials.keys,
                                                             *sent_credentials(response.request))))
        if response.status_code != 200 or not isinstance(data.get("token"), str):
            raise _mint_refused(response, data)
        self._token = Secret(data["token"])
        lifetime = _lifetime(data, self._lifetime)
        self._refresh_at = time.monotonic() + lifetime - min(600.0, lifetime * 0.1)
        return self._token


def _mint_refused(response, data: dict) -> AuthenticationError:
    code = data.get("code") or response.headers.get("x-bce-error-code") or f"HTTP {response.status_code}"
    detail = data.get("message") or response.headers.get("x-bce-error-message") or "no description"
    return AuthenticationError(
        redact(f"The IAM token service refused to mint a v2 bearer token ({code}: {detail}). Check "
               "QIANFAN_ACCESS_KEY and QIANFAN_SECRET_KEY, and that the machine's clock is right."),
        status=response.status_code, field="credentials")
