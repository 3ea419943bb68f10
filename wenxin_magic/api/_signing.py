"""bce-auth-v1 request signing (Baidu Cloud IAM Access Key / Secret Key).

Used by the client to sign and by the emulator to verify, so both follow the
one algorithm in the protocol notes and its published test vector.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from urllib.parse import quote

DEFAULT_HEADERS_TO_SIGN = ("content-type", "host", "x-bce-date")
DEFAULT_EXPIRATION = 1800


def canonical_time(timestamp: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(timestamp))


def _normalize(text: str) -> str:
    return quote(text, safe="-_.~")


def _canonical_query(params: dict[str, str]) -> str:
    return "&".join(sorted(f"{_normalize(k)}={_normalize(v or '')}" for k, v in params.items()
                           if k.lower() != "authorization"))


def _canonical_headers(headers: dict[str, str], names: tuple[str, ...]) -> str:
    wanted = set(names)
    lines = []
    for name, value in headers.items():
        key = name.strip().lower()
        if key in wanted or key.startswith("x-bce-"):
            lines.append(f"{_normalize(key)}:{_normalize(str(value).strip())}")
    return "\n".join(sorted(lines))


def string_to_sign(method: str, path: str, params: dict[str, str], headers: dict[str, str],
                   headers_to_sign: tuple[str, ...]) -> str:
    return "\n".join([method.upper(), quote(path, safe="/-_.~"), _canonical_query(params),
                      _canonical_headers(headers, headers_to_sign)])


def sign_request(access_key: str, secret_key: str, method: str, path: str, params: dict[str, str],
                 headers: dict[str, str], *, timestamp: str, expiration: int = DEFAULT_EXPIRATION,
                 headers_to_sign: tuple[str, ...] = DEFAULT_HEADERS_TO_SIGN) -> str:
    """The Authorization header value for a request.

    ``timestamp`` is the request's x-bce-date (``YYYY-MM-DDTHH:MM:SSZ``).
    """
    prefix = f"bce-auth-v1/{access_key}/{timestamp}/{expiration}"
    signing_key = hmac.new(secret_key.encode(), prefix.encode(), hashlib.sha256).hexdigest()
    names = tuple(sorted({n.lower() for n in headers_to_sign}))
    text = string_to_sign(method, path, params, headers, names)
    signature = hmac.new(signing_key.encode(), text.encode(), hashlib.sha256).hexdigest()
    return f"{prefix}/{';'.join(names)}/{signature}"


def parse_authorization(value: str) -> dict | None:
    """The parts of a bce-auth-v1 Authorization header, or None if it is not one."""
    parts = value.split("/")
    if len(parts) != 6 or parts[0] != "bce-auth-v1":
        return None
    _, access_key, timestamp, expiration, signed, signature = parts
    try:
        expires = int(expiration)
    except ValueError:
        return None
    return {"access_key": access_key, "timestamp": timestamp, "expiration": expires,
            "headers_to_sign": tuple(h for h in signed.split(";") if h), "signature": signature}
