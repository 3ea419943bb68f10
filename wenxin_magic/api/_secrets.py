"""Credentials kept out of sight: the Secret type, and masking in text, bytes and parsed answers."""

from __future__ import annotations

import re

_TOKEN_IN_URL = re.compile(r"(access_token|client_secret|client_id)=[^&\s'\"]*")
_BCE_AUTH = re.compile(r"bce-auth-v1/[^\s'\"]+")
_BEARER = re.compile(r"bce-v3/[A-Za-z0-9][A-Za-z0-9/_+=.\-]*")  # a v2 API Key or bearer token


def redact(text: str, secrets: tuple[str, ...] = ()) -> str:
    """Text with credentials masked: query-string tokens, signatures and any known secret."""
    if not text:
        return text
    text = _TOKEN_IN_URL.sub(lambda m: f"{m.group(1)}=***", text)
    text = _BCE_AUTH.sub("bce-auth-v1/***", text)
    if "bce-v3/" in text:
        text = _BEARER.sub("bce-v3/***", text)
    for secret in secrets:
        if secret and len(secret) >= 4 and secret in text:
            text = text.replace(secret, "***")
    return text


def mask_secrets(value, secrets):
    """``value`` (bytes, text, or parsed JSON) with every one of ``secrets`` masked as ``redact`` masks it.

    Applied where an answer is read, before it is parsed or kept: a service may echo the credentials a request
    carried in its error, which would then reach the error's texts, and the raw body the locals that verbose
    tracebacks print. Unlike ``redact`` it masks no pattern, so an answer's own text stays as written.
    """
    if isinstance(value, dict):
        return {mask_secrets(k, secrets): mask_secrets(v, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [mask_secrets(v, secrets) for v in value]
    if not isinstance(value, (str, bytes)) or not value:
        return value
    # longest first, so a token is not masked piecemeal through a shorter secret it contains
    for secret in sorted(secrets, key=len, reverse=True):
        if not secret or len(secret) < 4:
            continue
        mask = _mask(secret)
        # JSON may write "/" as "\/", and bearer tokens are full of slashes
        for spelling in {str(secret), secret.replace("/", "\\/")}:
            if isinstance(value, bytes):
                value = value.replace(spelling.encode(), mask.encode())
            else:
                value = value.replace(spelling, mask)
    return value


def _mask(secret: str) -> str:
    """``***`` after the kind of credential it stands for, as ``redact`` writes it, so a message still says which."""
    for kind in ("bce-v3/", "bce-auth-v1/"):
        if secret.startswith(kind):
            return kind + "***"
    return "***"


class Secret(str):
    """A credential that behaves as its text but never shows it in a repr.

    IPython's verbose tracebacks (and debuggers) print the repr of every variable on a
    frame's line; a token held as plain ``str`` would be printed with them.
    """

    __slots__ = ()

    def __repr__(self) -> str:
        return "'***'"
