"""httpx, set up once for every client: the TLS context, the connection pool, and URLs kept out of logs."""

from __future__ import annotations

import functools
import logging
import ssl

import httpx

from ._secrets import redact


class RedactedRequest(httpx.Request):
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


def new_pool(timeout: float, max_connections: int) -> httpx.AsyncClient:
    limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections)
    return httpx.AsyncClient(timeout=httpx.Timeout(timeout, connect=min(10.0, timeout)), limits=limits,
                             headers={"Content-Type": "application/json"}, verify=_tls_context())
