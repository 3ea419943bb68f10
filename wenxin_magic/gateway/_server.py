"""The gateway's HTTP side (Starlette): Qianfan v2 for students, forwarded with the teacher's key.

``POST /v2/chat/completions`` (streamed and not) and ``GET /v2/models`` for students, who sign in with their own
token as ``Authorization: Bearer``; ``POST /admin/pause`` and ``/admin/resume`` for the teacher (the admin token).
A request passes, in order: the token (401), the body (413, 400), the pause (403), the allowlist (403), the output
cap (clamped, never refused: the reply carries the header ``X-Wenxin-Gateway-Note``), the daily budgets (429
``daily_budget_exceeded``), then waits for the key's quota (429 ``quota_wait_timeout`` after ``wait_timeout``)
and is forwarded. Every error is in the v2 form ``{"error": {"code", "message", "type"}}``, and every text that
leaves (bodies, errors, stream lines) passes ``redact`` with the teacher's key.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hmac
import json
import logging
import time
from dataclasses import dataclass, replace

from wenxin_magic.api import V2_CHAT_PATH, V2_MODELS_PATH, estimate_tokens, find_v2_model, input_size, redact

from ._config import ConfigError, GatewayConfig, load_config
from ._state import Grant, QuotaTimeout, State
from ._tokens import RosterError, Student, find_student, read_roster

log = logging.getLogger("wenxin_magic.gateway")

NOTE_HEADER = "X-Wenxin-Gateway-Note"
_PASSED_HEADERS = ("content-type", "x-request-id")


def error_response(status: int, code: str, message: str, kind: str = "invalid_request_error", headers=None):
    from starlette.responses import JSONResponse

    return JSONResponse({"error": {"code": code, "message": message, "type": kind}}, status_code=status,
                        headers=headers)


def today() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d")


def _next_midnight() -> str:
    tomorrow = dt.datetime.now(dt.timezone.utc).date() + dt.timedelta(days=1)
    return f"{tomorrow.isoformat()}T00:00:00Z"


def _yuan(model: str, input_tokens: int, output_tokens: int) -> float:
    spec = find_v2_model(model)
    price = getattr(spec, "price", None)
    return price.cost(input_tokens, output_tokens) if price is not None else 0.0


@dataclass
class Sending:
    """A request on its way: its reservation, and its ledger entry (day, and the input counted so far)."""

    grant: Grant
    student: Student
    model: str
    day: str
    counted_input: int


class Gateway:
    """What the routes share: the config, the state, the students, the teacher's key and the upstream client."""

    def __init__(self, config: GatewayConfig, state: State, students: list[Student], key: str,
                 admin_token: str | None = None):
        if not key:
            raise ValueError(f"the teacher's key is missing: set the environment variable {config.key_env}")
        self.config, self.state, self.students = config, state, students
        self._key = key
        self._admin_token = admin_token
        self._client = None
        self._tasks: set[asyncio.Task] = set()
        self._checked = time.monotonic()
        self._stamp = tuple(_mtime(path) for path in (config.source, config.roster)) if config.source else ()

    # -- what leaves
    def clean(self, text: str) -> str:
        return redact(text, (self._key,))

    @property
    def client(self):
        if self._client is None:
            import httpx

            self._client = httpx.AsyncClient(base_url=self.config.upstream_url,
                                             timeout=httpx.Timeout(self.config.upstream_timeout, connect=10),
                                             headers={"Authorization": f"Bearer {self._key}"})
        return self._client

    async def aclose(self) -> None:
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._client is not None:
            await self._client.aclose()
        await self.state.close()

    # -- the policy and the roster, live
    def refresh(self) -> None:
        """Read class.toml's policy and the roster again when either file changed (looked at once a second at
        most): models, the output cap, budgets, limits and students change without a restart. The upstream, the
        key, Redis and the quota are read at start only. A file that no longer reads is logged, and the last good
        one kept."""
        source = self.config.source
        now = time.monotonic()
        if source is None or now - self._checked < 1.0:
            return
        self._checked = now
        stamp = tuple(_mtime(path) for path in (source, self.config.roster))
        if stamp == self._stamp:
            return
        try:
            fresh = load_config(source)
            students = read_roster(fresh.roster)
        except (ConfigError, RosterError, OSError) as exc:
            log.error("kept the last good policy and roster: %s", self.clean(str(exc)))
            self._stamp = stamp
            return
        self._stamp = stamp
        self.students = students
        self.config = replace(self.config, models=fresh.models, max_output_tokens=fresh.max_output_tokens,
                              daily_tokens=fresh.daily_tokens, daily_yuan=fresh.daily_yuan,
                              max_body_bytes=fresh.max_body_bytes, wait_timeout=fresh.wait_timeout, roster=fresh.roster)

    # -- checks
    def student_of(self, request) -> Student | None:
        self.refresh()
        header = request.headers.get("authorization", "")
        token = header[7:].strip() if header[:7].lower() == "bearer " else ""
        return find_student(self.students, token) if token else None

    def is_admin(self, request) -> bool:
        header = request.headers.get("authorization", "")
        token = header[7:].strip() if header[:7].lower() == "bearer " else ""
        return bool(self._admin_token and token and hmac.compare_digest(token, self._admin_token))

    async def read_body(self, request):
        """(body, None) or (None, an error response)."""
        limit = self.config.max_body_bytes
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            return None, _too_large(limit)
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                return None, _too_large(limit)
            chunks.append(chunk)
        try:
            body = json.loads(b"".join(chunks) or b"null")
        except ValueError:
            return None, error_response(400, "malformed_json", "The request body is not valid JSON.")
        if not isinstance(body, dict):
            return None, error_response(400, "malformed_json", "The request body must be a JSON object.")
        if not isinstance(body.get("model"), str) or not body["model"].strip():
            return None, error_response(400, "invalid_argument", "you must provide a model parameter")
        return body, None

    async def refusal(self, student: Student, model: str):
        """The policy's answer to this request before anything is sent, or None."""
        if await self.state.paused(student.group):
            return _paused()
        if not self.config.allows(model):
            allowed = ", ".join(self.config.models or ())
            return error_response(403, "model_not_allowed", f"The model {model!r} is not allowed in this class; "
                                  f"the allowed models are: {allowed}.", "access_denied")
        limits = self.config.daily_tokens, self.config.daily_yuan
        if limits != (None, None):
            tokens, yuan = await self.state.used_today(student.name, today())
            over = (limits[0] is not None and tokens >= limits[0]) or (limits[1] is not None and yuan >= limits[1])
            if over:
                budget = f"{limits[0]} tokens" if limits[0] is not None and tokens >= limits[0] else \
                    f"¥{limits[1]:g}"
                return error_response(429, "daily_budget_exceeded",
                                      f"Your daily budget of {budget} is used up (used today: {tokens} tokens, "
                                      f"¥{yuan:.4f}). It resets at {_next_midnight()} (UTC midnight).",
                                      "rate_limit_exceeded", headers={"X-Wenxin-Budget-Reset": _next_midnight()})
        return None

    def cap_output(self, body: dict) -> str | None:
        """Clamp the output tokens to the class's cap; the note says so, or None."""
        cap = self.config.max_output_tokens
        if cap is None:
            return None
        asked = body.get("max_completion_tokens", body.get("max_tokens"))
        if isinstance(asked, int) and not isinstance(asked, bool) and asked <= cap:
            return None
        body.pop("max_tokens", None)
        body["max_completion_tokens"] = cap
        return f"max_completion_tokens set to the class's cap of {cap}" + (f" (asked: {asked})" if asked else "")

    def estimate(self, body: dict) -> int:
        output = body.get("max_completion_tokens", body.get("max_tokens"))
        output = output if isinstance(output, int) and not isinstance(output, bool) else 1024
        return input_size(body)[1] + output

    # -- accounting, which a student hanging up does not cancel
    async def open_ledger_entry(self, student: Student, model: str, body: dict, grant: Grant) -> Sending:
        """Count the request, with its estimated input, before it is sent: a replica killed while it streams
        leaves the request counted in the ledger."""
        sending = Sending(grant, student, model, today(), input_size(body)[1])
        await self.state.add_usage(student.name, model, sending.day, input_tokens=sending.counted_input)
        return sending

    def account(self, sending: Sending, *, input_tokens: int = 0, output_tokens: int = 0, error: bool = False):
        """Settle the reservation and correct the ledger's entry to the service's usage, in a task of its own (a
        student hanging up does not cancel it)."""
        async def run():
            await self.state.settle(sending.grant, input_tokens + output_tokens)
            await self.state.add_usage(sending.student.name, sending.model, sending.day, requests=0,
                                       input_tokens=input_tokens - sending.counted_input, output_tokens=output_tokens,
                                       yuan=_yuan(sending.model, input_tokens, output_tokens), errors=int(error))

        task = asyncio.ensure_future(run())
        self._tasks.add(task)
        task.add_done_callback(self._accounted)
        return task

    def _accounted(self, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("the ledger could not be written: %s", self.clean(repr(task.exception())))

    async def send(self, body: dict, *, stream: bool):
        """The upstream's answer (a stream left open when it is one). A 429 the service still answers, though the
        key's quota was waited for (someone else uses the key too), is retried after its Retry-After within the
        class's ``wait_timeout``, so that it reaches no student while there is time."""
        deadline = asyncio.get_running_loop().time() + self.config.wait_timeout
        while True:
            answer = await self.client.send(self.client.build_request("POST", V2_CHAT_PATH, json=body), stream=stream)
            if answer.status_code != 429:
                return answer
            pause = _retry_after(answer.headers.get("retry-after"))
            if asyncio.get_running_loop().time() + pause > deadline:
                return answer
            await answer.aclose()
            await asyncio.sleep(pause)


def _mtime(path) -> float | None:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return None


def _retry_after(value: str | None) -> float:
    try:
        return min(max(float(value), 0.1), 30.0)
    except (TypeError, ValueError):
        return 1.0


def _tokens_used(usage, body: dict, relayed: str = "") -> dict:
    """The service's usage, or (when a stream ended without it) an estimate: the input and what was relayed."""
    if isinstance(usage, dict):
        return {"input_tokens": int(usage.get("prompt_tokens") or 0),
                "output_tokens": int(usage.get("completion_tokens") or 0)}
    return {"input_tokens": input_size(body)[1], "output_tokens": estimate_tokens(relayed)}


def _too_large(limit: int):
    return error_response(413, "request_too_large", f"The request body is over the gateway's limit of {limit} bytes "
                          "([policy] max_body_bytes); send less (smaller pictures, a shorter history).")


def _upstream_down(gateway: Gateway, exc: Exception):
    return error_response(502, "upstream_unavailable", "The gateway could not reach the Qianfan service "
                          f"({gateway.clean(type(exc).__name__ + ': ' + str(exc))}); try again later or tell "
                          "the teacher.", "server_error")


def _upstream_error(gateway: Gateway, status: int, content: bytes):
    text = gateway.clean(content.decode("utf-8", "replace"))
    if status == 401 and "iam" in text:
        return error_response(502, "upstream_auth_failed", "The Qianfan service refused the class's key; tell the "
                              "teacher (the gateway's [upstream] key).", "server_error")
    from starlette.responses import Response

    return Response(text, status_code=status, media_type="application/json")


async def _chat(gateway: Gateway, request):
    student = gateway.student_of(request)
    if student is None:
        return error_response(401, "invalid_iam_token", "invalid_iam_token: the token is not one of this class's; "
                              "set QIANFAN_API_KEY to the token your teacher gave you.", "invalid_request_error")
    body, refused = await gateway.read_body(request)
    if refused is not None:
        return refused
    model = body["model"].strip().lower()  # the ledger counts one row per v2 id, in its own (lower) case
    note = gateway.cap_output(body)
    headers = {NOTE_HEADER: note} if note else {}
    try:
        refused = await gateway.refusal(student, model)
        if refused is not None:
            return refused
        grant = await gateway.state.acquire(student.name, gateway.estimate(body), timeout=gateway.config.wait_timeout)
    except QuotaTimeout as exc:
        return _quota_timeout(exc)
    except Exception as exc:  # the shared state is down: refuse rather than over-spend
        return _state_down(gateway, exc)
    try:
        # the exam switch may have flipped while this request waited its turn for the quota: nothing is sent then
        paused_meanwhile = await gateway.state.paused(student.group)
    except Exception as exc:
        await _release(gateway, grant)
        return _state_down(gateway, exc)
    if paused_meanwhile:
        await _release(gateway, grant)
        return _paused()
    try:
        sending = await gateway.open_ledger_entry(student, model, body, grant)
    except Exception as exc:
        await _release(gateway, grant)
        return _state_down(gateway, exc)
    if body.get("stream") is True:
        return await _stream(gateway, sending, body, headers)
    try:
        answer = await gateway.send(body, stream=False)
    except Exception as exc:
        gateway.account(sending, error=True)
        return _upstream_down(gateway, exc)
    if answer.status_code != 200:
        gateway.account(sending, error=True)
        return _upstream_error(gateway, answer.status_code, answer.content)
    try:
        usage = answer.json().get("usage")
    except (ValueError, AttributeError):
        usage = None
    gateway.account(sending, **_tokens_used(usage, body))
    from starlette.responses import Response

    passed = {k: v for k, v in answer.headers.items() if k.lower() in _PASSED_HEADERS}
    return Response(gateway.clean(answer.text), status_code=200, headers={**passed, **headers})


async def _release(gateway: Gateway, grant: Grant) -> None:
    try:
        await gateway.state.settle(grant, 0)
    except Exception as exc:
        log.warning("a reservation could not be released: %s", gateway.clean(str(exc)))


def _paused():
    return error_response(403, "gateway_paused", "The class is paused by the teacher (an exam or a break): nothing "
                          "was sent. Try again when the teacher resumes it.", "access_denied")


def _quota_timeout(exc: QuotaTimeout):
    return error_response(429, "quota_wait_timeout", f"The class's shared quota is busy: {exc}. Nothing was sent; "
                          "try again in a minute.", "rate_limit_exceeded", headers={"Retry-After": "10"})


def _state_down(gateway: Gateway, exc: Exception):
    log.warning("the shared state failed: %s", gateway.clean(str(exc)))
    return error_response(503, "gateway_state_unavailable", "The gateway cannot count the class's quota right now "
                          "(its shared state is down), so nothing was sent; tell the teacher.", "server_error")


async def _stream(gateway: Gateway, sending: Sending, body: dict, headers: dict):
    from starlette.responses import StreamingResponse

    try:
        upstream = await gateway.send(body, stream=True)
    except Exception as exc:
        gateway.account(sending, error=True)
        return _upstream_down(gateway, exc)
    if upstream.status_code != 200:
        content = await upstream.aread()
        await upstream.aclose()
        gateway.account(sending, error=True)
        return _upstream_error(gateway, upstream.status_code, content)

    async def relay():
        usage, pieces, failed = None, [], False
        try:
            async for line in upstream.aiter_lines():
                if line.startswith("data:"):
                    try:
                        event = json.loads(line[5:])
                    except ValueError:
                        event = None
                    if isinstance(event, dict):
                        usage = event.get("usage") if isinstance(event.get("usage"), dict) else usage
                        for choice in event.get("choices") or ():
                            delta = choice.get("delta") or {} if isinstance(choice, dict) else {}
                            pieces += [str(delta.get("content") or ""), str(delta.get("reasoning_content") or "")]
                yield gateway.clean(line) + "\n"
        except Exception as exc:
            failed = True
            log.warning("a stream from the upstream broke: %s", gateway.clean(str(exc)))
            raise
        finally:
            await upstream.aclose()
            gateway.account(sending, **_tokens_used(usage, body, "".join(pieces)), error=failed)

    return StreamingResponse(relay(), status_code=200, media_type="text/event-stream", headers=headers)


async def _models(gateway: Gateway, request):
    if gateway.student_of(request) is None and not gateway.is_admin(request):
        return error_response(401, "invalid_iam_token", "invalid_iam_token: the token is not one of this class's.")
    try:
        answer = await gateway.client.get(V2_MODELS_PATH)
    except Exception as exc:
        return _upstream_down(gateway, exc)
    if answer.status_code != 200:
        return _upstream_error(gateway, answer.status_code, answer.content)
    listing = json.loads(gateway.clean(answer.text))
    if isinstance(listing, dict) and isinstance(listing.get("data"), list):
        listing["data"] = [m for m in listing["data"] if isinstance(m, dict) and gateway.config.allows(str(m.get("id")))]
    from starlette.responses import JSONResponse

    return JSONResponse(listing)


async def _pause(gateway: Gateway, request, paused: bool):
    if not gateway.is_admin(request):
        return error_response(401, "invalid_admin_token", "Pausing and resuming need the admin token (the "
                              f"environment variable {gateway.config.admin_token_env} where the gateway runs).")
    try:
        body = json.loads(await request.body() or b"{}")
    except ValueError:
        body = None
    group = body.get("group") if isinstance(body, dict) else None
    if not isinstance(body, dict) or (group is not None and not isinstance(group, str)):
        return error_response(400, "malformed_json", 'The body is {"group": "NAME"} or {} for the whole class.')
    await gateway.state.set_paused(group or None, paused)
    from starlette.responses import JSONResponse

    return JSONResponse({"group": group or None, "paused": paused})


def build_app(gateway: Gateway):
    """The Starlette app over ``gateway``."""
    from starlette.applications import Starlette
    from starlette.routing import Route

    async def chat(request):
        return await _guarded(gateway, _chat(gateway, request))

    async def models(request):
        return await _guarded(gateway, _models(gateway, request))

    async def pause(request):
        return await _pause(gateway, request, True)

    async def resume(request):
        return await _pause(gateway, request, False)

    return Starlette(routes=[Route(V2_CHAT_PATH, chat, methods=["POST"]), Route(V2_MODELS_PATH, models),
                             Route("/admin/pause", pause, methods=["POST"]),
                             Route("/admin/resume", resume, methods=["POST"])])


async def _guarded(gateway: Gateway, work):
    try:
        return await work
    except Exception as exc:  # never a traceback, never the key
        log.error("the gateway failed on a request: %s", gateway.clean(f"{type(exc).__name__}: {exc}"))
        return error_response(500, "internal_error", "The gateway failed on this request; nothing more was sent. "
                              "Tell the teacher if it happens again.", "server_error")
