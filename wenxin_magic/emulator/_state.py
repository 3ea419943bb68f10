"""The emulator's shared, lock-guarded state: tokens, faults waiting, rate-limit windows, the request log.

The handlers (``_v1``, ``_v2``) read and change it from the server's thread, ``Emulator``'s controls from any other.
"""

from __future__ import annotations

import collections
import json
import re
import secrets
import threading
import time
import zlib

from starlette.requests import Request

from ._faults import FAULTS, OUTCOME_FAULTS

# The log lives as long as its emulator, which in an offline notebook kernel is the kernel's whole life:
# it keeps only the newest requests, and a body too large to keep whole only by its size.
REQUEST_LOG_SIZE = 1000
LOGGED_BODY_LIMIT = 256 * 1024

_SECRET_HEADER = re.compile(r"key|token|secret|auth|password|cookie|credential|signature", re.I)


def _model_ids(models) -> tuple[str, ...]:
    """The ids, lower-case, each once, in the order given."""
    if models is None:
        return ()
    if isinstance(models, str):
        models = [models]
    ids = [m.strip().lower() for m in models if isinstance(m, str) and m.strip()]
    if len(ids) != len(list(models)):
        raise ValueError(f"models must be model ids (non-empty strings), got {list(models)!r}")
    return tuple(dict.fromkeys(ids))


class EmulatorState:
    """Everything the handlers share with the controlling thread."""

    def __init__(self, *, ttft=0.0, chunk_delay=0.0, credentials=None, iam_credentials=None, rpm=300,
                 tpm=300000, token_ttl=2592000, deployments=None, strict_endpoints=False, answer_chars=None,
                 v2_keys=None, request_log_size=None, models=None, lesson=None, lesson_speed=1.0):
        self.lock = threading.Lock()
        self.ttft = float(ttft)
        self.chunk_delay = float(chunk_delay)
        self.credentials = dict(credentials) if credentials is not None else None
        self.iam_credentials = dict(iam_credentials) if iam_credentials is not None else None
        self.rpm = int(rpm)
        self.tpm = int(tpm)
        self.token_ttl = int(token_ttl)
        self.deployments = {"my_yi_34b": "Yi-34B"} if deployments is None else dict(deployments)
        self.strict_endpoints = bool(strict_endpoints)
        self.answer_chars = answer_chars
        self.tokens: dict[str, dict] = {}
        self.v2_keys = frozenset(v2_keys) if v2_keys is not None else None  # None: any well-formed key will do
        self.bearer_tokens: dict[str, dict] = {}  # minted at /v1/BCE-BEARER/token
        self.extra_models = _model_ids(models)  # v2 ids served beside the catalog's
        self.faults: list[dict] = []
        self.requests: list[dict] = []
        self.request_log_size = REQUEST_LOG_SIZE if request_log_size is None else int(request_log_size)
        if self.request_log_size < 1:
            raise ValueError("request_log_size must be at least 1")
        self.windows: dict[tuple, collections.deque] = {}
        self.counter = 0
        self.seen_secrets: set[str] = set()
        self.lesson = lesson  # a _lesson.Lesson the answers come from when it holds the question
        self.lesson_speed = float(lesson_speed)  # 1.0 the recorded pace, 0 at once

    # -- controls (called from any thread)
    def inject(self, fault: str, times: int = 1, **kw) -> None:
        if fault not in FAULTS:
            raise ValueError(f"unknown fault {fault!r}; choose from {', '.join(sorted(FAULTS))}")
        if times < 1:
            raise ValueError("times must be at least 1")
        path = kw.pop("path", None)
        with self.lock:
            self.faults.append({"name": fault, "remaining": int(times), "path": path, "kw": kw})

    def _mark_tokens(self, state: str) -> None:
        with self.lock:
            for info in (*self.tokens.values(), *self.bearer_tokens.values()):
                info["state"] = state

    def expire_tokens(self) -> None:
        self._mark_tokens("expired")

    def revoke_tokens(self) -> None:
        self._mark_tokens("revoked")

    def clear(self) -> None:
        with self.lock:
            self.requests.clear()
            self.faults.clear()

    def reset_limits(self) -> None:
        with self.lock:
            self.windows.clear()

    def set_limits(self, rpm: int | None = None, tpm: int | None = None) -> None:
        with self.lock:
            if rpm is not None:
                self.rpm = int(rpm)
            if tpm is not None:
                self.tpm = int(tpm)

    def snapshot_requests(self) -> list[dict]:
        with self.lock:
            return [dict(r) for r in self.requests]

    # -- used by handlers
    def take_faults(self, path: str) -> dict[str, dict]:
        """Consume the first matching outcome fault and one of each modifier fault."""
        taken: dict[str, dict] = {}
        with self.lock:
            outcome = False
            for fault in self.faults:
                if fault["path"] and fault["path"] not in path:
                    continue
                name = fault["name"]
                if name in OUTCOME_FAULTS:
                    if outcome:
                        continue
                    outcome = True
                elif name in taken:
                    continue
                taken[name] = dict(fault["kw"])
                fault["remaining"] -= 1
            self.faults = [f for f in self.faults if f["remaining"] > 0]
        return taken

    def issue_token(self, ak: str) -> dict:
        now = int(time.time())
        with self.lock:
            self.counter += 1
            n = self.counter
        appid = 10000000 + zlib.crc32(ak.encode()) % 90000000
        token = f"24.{secrets.token_hex(16)}.{self.token_ttl}.{now}.{100000 + n}-{appid}"
        refresh = f"25.{secrets.token_hex(16)}.315360000.{now + 315360000}.{100000 + n}-{appid}"
        with self.lock:
            self.tokens[token] = {"ak": ak, "issued": time.time(), "ttl": self.token_ttl, "state": "ok"}
            self.seen_secrets.update({token, refresh})
        return {"refresh_token": refresh, "expires_in": self.token_ttl, "scope": "public wise_adapt",
                "session_key": secrets.token_hex(24), "access_token": token, "session_secret": secrets.token_hex(16)}

    def issue_bearer(self, ak: str, ttl: int) -> dict:
        """A v2 bearer token for IAM key ``ak``, valid for ``ttl`` seconds, as /v1/BCE-BEARER/token answers."""
        now = time.time()
        token = f"bce-v3/ALTAK-{secrets.token_urlsafe(15).replace('-', 'x').replace('_', 'y')}/{secrets.token_hex(20)}"
        with self.lock:
            self.bearer_tokens[token] = {"ak": ak, "issued": now, "ttl": ttl, "state": "ok"}
            self.seen_secrets.add(token)

        def stamp(t: float) -> str:
            return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))

        return {"userId": f"{zlib.crc32(ak.encode()):08x}" * 4, "token": token, "status": "enable",
                "createTime": stamp(now), "expireTime": stamp(now + ttl)}

    def token_status(self, token: str, *, bearer: bool = False) -> tuple[str, str | None]:
        """("ok" | "expired" | "invalid", the key it was issued to) for an access token or a minted bearer token."""
        with self.lock:
            info = (self.bearer_tokens if bearer else self.tokens).get(token)
            if info is None:
                return "invalid", None
            if info["state"] == "revoked":
                return "invalid", info["ak"]
            if info["state"] == "expired" or time.time() > info["issued"] + info["ttl"]:
                return "expired", info["ak"]
            return "ok", info["ak"]

    def rate_headers(self, key, *, exhausted: bool = False, split: bool = False) -> dict[str, str]:
        """The rate-limit headers: v1's spelling (tokens as one count), or with ``split`` v2's (input and output
        tokens apart, each against the TPM quota)."""
        with self.lock:
            used_req, used_tok, used_in = self._usage(key)
            rpm, tpm = self.rpm, self.tpm

        def left(limit: int, used: int) -> str:
            return "0" if exhausted else str(max(0, limit - used))

        headers = {"X-Ratelimit-Limit-Requests": str(rpm), "X-Ratelimit-Remaining-Requests": left(rpm, used_req)}
        if split:
            return {**headers, "X-Ratelimit-Limit-Input-Tokens": str(tpm), "X-Ratelimit-Limit-Output-Tokens": str(tpm),
                    "X-Ratelimit-Remaining-Input-Tokens": left(tpm, used_in),
                    "X-Ratelimit-Remaining-Output-Tokens": left(tpm, used_tok - used_in)}
        return {**headers, "X-Ratelimit-Limit-Tokens": str(tpm), "X-Ratelimit-Remaining-Tokens": left(tpm, used_tok)}

    def _usage(self, key) -> tuple[int, int, int]:
        """Requests, tokens and input tokens in the key's last 60 seconds."""
        window = self.windows.get(key)
        if not window:
            return 0, 0, 0
        cutoff = time.monotonic() - 60.0
        while window and window[0][0] < cutoff:
            window.popleft()
        return len(window), sum(e[1] for e in window), sum(e[2] for e in window)

    def admit(self, key, prompt_tokens: int):
        """Record one request; (None, entry) if admitted, else (336501|336502, None)."""
        with self.lock:
            used_req, used_tok, _ = self._usage(key)
            if used_req >= self.rpm:
                return 336501, None
            if used_tok + prompt_tokens > self.tpm:
                return 336502, None
            entry = [time.monotonic(), prompt_tokens, prompt_tokens]  # when, all tokens, input tokens
            self.windows.setdefault(key, collections.deque()).append(entry)
            return None, entry

    def add_tokens(self, entry, tokens: int) -> None:
        """Count an answer's (output) tokens in the request's window entry."""
        with self.lock:
            entry[1] += tokens

    def log(self, request: Request, body: bytes) -> dict:
        query = {}
        for k, v in request.query_params.multi_items():
            if k in ("access_token", "client_id", "client_secret") or _SECRET_HEADER.search(k):
                if v:
                    self.seen_secrets.add(v)
                v = "***"
            query[k] = v
        headers = {}
        for k, v in request.headers.items():
            if k == "authorization":
                v = "bce-auth-v1/***" if v.startswith("bce-auth-v1") else \
                    "Bearer ***" if v[:7].lower() == "bearer " else "***"
            elif _SECRET_HEADER.search(k):
                v = "***"
            headers[k] = v
        cut = len(body) > LOGGED_BODY_LIMIT
        try:
            parsed = json.loads(body) if body and not cut else None
        except ValueError:
            parsed = None
        entry = {"method": request.method, "path": request.url.path, "query": query, "headers": headers,
                 "json": parsed, "status": None}
        if cut:
            entry.update(body_cut=True, body_size=len(body))
        if "appid" in request.headers:
            entry["appid"] = request.headers["appid"]
        with self.lock:
            known = [s for s in self.seen_secrets | set(self.tokens) | set(self.v2_keys or ()) |
                     set(self.credentials or {}) |
                     set((self.credentials or {}).values()) | set(self.iam_credentials or {}) |
                     set((self.iam_credentials or {}).values()) if s and len(s) >= 4]
            for section in ("query", "headers"):
                for k, v in entry[section].items():
                    for s in known:
                        if s in v:
                            v = v.replace(s, "***")
                    entry[section][k] = v
            self.requests.append(entry)
            del self.requests[:-self.request_log_size]
        return entry
