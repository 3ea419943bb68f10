"""Qianfan's v2 API in the emulator: ``POST /v2/chat/completions``, ``GET /v2/models`` and
``GET /v1/BCE-BEARER/token``.

v2 is OpenAI-compatible: a bearer key (``Authorization: Bearer bce-v3/ALTAK-…/…``) or a bearer token minted
from IAM keys, lower-case model ids, errors as HTTP statuses with ``{"error": {code, message, type}, "id"}``,
``chat.completion.chunk`` streams ending ``data: [DONE]``. IAM signatures, faults, rate-limit windows and the
writers are the shared exchange's (``_exchange``), as for v1; the answers are the composer's (``answers.compose_v2``).
"""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..api import (UNKNOWN_V2, V2_BEARER_PATH, V2_CHAT_PATH, V2_ERROR_CODES, V2_MODELS, InvalidRequestError,
                   estimate_tokens, find_v2_model, input_size, validate_v2_request)
from ._exchange import (ANY_METHOD, Exchange, RawResponse, Refused, admit, check_iam, decoded_body, fail_as_injected,
                        injected_faults, json_text, make_plain, make_stream, request_id)
from ._faults import ERROR_FAULTS
from ._replay import LESSON_ID_PREFIX, from_lesson, mark_not_in_lesson
from ._state import EmulatorState
from .answers import HIDE, WITHDRAW, Answer, chunk, compose_v2, miss_a_key

# v1's fault names and numeric codes, in v2's words: code, and the message when v2 has its own
FAULT_CODES = {
    "expired_token": ("invalid_iam_token", None),
    "invalid_token": ("invalid_iam_token", None),
    "qps": ("user_rate_limit_exceeded", None),
    "busy": ("internal_error", "Server high load, please try again later"),
    "unavailable": ("internal_error", "Service temporarily unavailable"),
    "rpm": ("rpm_rate_limit_exceeded", None),
    "tpm": ("tpm_rate_limit_exceeded", None),
}
assert set(FAULT_CODES) == set(ERROR_FAULTS)
FROM_V1_CODES = {110: "invalid_iam_token", 111: "invalid_iam_token", 14: "invalid_iam_token", 18: "user_rate_limit_exceeded",
                 336501: "rpm_rate_limit_exceeded", 336502: "tpm_rate_limit_exceeded", 336100: "internal_error",
                 2: "internal_error", 336002: "malformed_json", 336003: "invalid_argument", 336006: "invalid_messages",
                 336007: "characters_too_long", 336103: "tokens_too_long", 336101: "method_not_supported"}

_WELL_FORMED_KEY = re.compile(r"bce-v3/ALTAK-[A-Za-z0-9_-]+/[A-Za-z0-9_-]+")
_FINISH = {"normal": "stop", "stop": "stop", "length": "length", "content_filter": "content_filter",
           "tool_calls": "tool_calls", "function_call": "tool_calls"}
MODELS_PATH = "/v2/models"
MAX_BEARER_TTL = 2592000  # 30 days, the service's upper bound
DEFAULT_BEARER_TTL = 1800


def error_body(code: str, message: str | None = None, rid: str | None = None, type_: str | None = None) -> dict:
    entry = V2_ERROR_CODES.get(code, V2_ERROR_CODES["internal_error"])
    return {"error": {"code": code, "message": message or entry.wire, "type": type_ or entry.type},
            "id": rid or request_id()}


def routes(state: EmulatorState) -> list[Route]:
    async def chat(request: Request):
        return await serve_chat(state, request)

    async def bearer(request: Request):
        return await serve_bearer_token(state, request)

    async def models(request: Request):
        return await serve_models(state, request)

    return [Route(V2_CHAT_PATH, chat, methods=ANY_METHOD), Route(V2_BEARER_PATH, bearer, methods=["GET"]),
            Route(MODELS_PATH, models, methods=ANY_METHOD)]


def known_models(state: EmulatorState) -> list[str]:
    """The ids this emulator serves on v2: the catalog's, then those it was started with."""
    return list(dict.fromkeys([spec.id for spec in V2_MODELS] + list(state.extra_models)))


def is_known_model(state: EmulatorState, model: str) -> bool:
    return find_v2_model(model) is not None or model.strip().lower() in state.extra_models


# --------------------------------------------------------------------- bearer tokens

def _bce_error(status: int, code: str, message: str) -> Response:
    """An IAM (BCE) error: ``{"requestId", "code", "message"}`` and the X-Bce-Error-* headers."""
    body = {"requestId": str(uuid.uuid4()), "code": code, "message": message}
    return JSONResponse(body, status_code=status, headers={"X-Bce-Error-Code": code, "X-Bce-Error-Message": message})


async def serve_bearer_token(state: EmulatorState, request: Request) -> Response:
    entry = state.log(request, await request.body())
    response = _bearer_answer(state, request)
    entry["status"] = response.status_code
    return response


def _bearer_answer(state: EmulatorState, request: Request) -> Response:
    auth = request.headers.get("authorization")
    if not auth:
        return _bce_error(401, "AccessDenied", "Access denied: the request is not signed (bce-auth-v1).")
    ak, failure = check_iam(state, request, auth)
    if failure == "notfound":
        return _bce_error(401, "NotFound", "NotFound, cause: Could not find credential.")
    if failure:
        return _bce_error(401, "SignatureDoesNotMatch",
                          "SignatureDoesNotMatch, cause: Fail to authn user: Signature does not match")
    raw = request.query_params.get("expireInSeconds", str(DEFAULT_BEARER_TTL))
    try:
        ttl = int(raw)
    except ValueError:
        ttl = 0
    if not 1 <= ttl <= MAX_BEARER_TTL:
        return _bce_error(400, "InvalidParameter", f"expireInSeconds must be an integer in [1, {MAX_BEARER_TTL}]")
    return JSONResponse(state.issue_bearer(ak, ttl))


# ------------------------------------------------------------------------- chat

class V2Exchange(Exchange):
    """One v2 request being answered: refused with an HTTP status and ``{"error": {code, message, type}}``;
    X-Request-Id echoed."""

    def __init__(self, state: EmulatorState, entry: dict, request: Request):
        super().__init__(state, entry, request)
        self.base_headers["X-Request-Id"] = request.headers.get("x-request-id") or self.base_headers["X-Baidu-Request-Id"]

    def headers(self, key=None, exhausted: bool = False) -> dict:
        """v2 spells its token limits apart, input and output."""
        return {**self.state.rate_headers(key or self.key, exhausted=exhausted, split=True), **self.base_headers}

    def refuse(self, code, message: str | None = None, *, key=None, exhausted: bool = False, status: int | None = None,
               retry_after=None) -> Refused:
        """``code``: a v2 code, or a v1 number (then its v2 code and message)."""
        if not isinstance(code, str):
            code, message = FROM_V1_CODES.get(code, "internal_error"), None
        headers = self.headers(key, exhausted)
        if retry_after is not None:
            headers["Retry-After"] = str(retry_after)
        body = error_body(code, message)
        return Refused(Response(json_text(body), status_code=status or V2_ERROR_CODES.get(code, V2_ERROR_CODES["internal_error"]).status, headers=headers,
                                 media_type="application/json"))

    def refuse_injected(self, fault: str, kw: dict) -> Refused:
        retry_after = kw.get("retry_after")
        if fault in FAULT_CODES:
            code, message = FAULT_CODES[fault]
            return self.refuse(code, kw.get("message") or message, exhausted=fault in ("rpm", "tpm"),
                               status=kw.get("status"), retry_after=retry_after)
        code = kw.get("code", "internal_error")
        return self.refuse(code if isinstance(code, str) else int(code), kw.get("message"), status=kw.get("status"),
                           retry_after=retry_after)

    def error_line(self, fault: dict, rid: str, eol: str) -> str:
        return f"data: {self.error_body(fault, rid)}{eol}{eol}"

    def error_body(self, fault: dict, rid: str) -> str:
        code = fault.get("code", "internal_error")
        message = fault.get("message")
        if not isinstance(code, str):
            code = FROM_V1_CODES.get(int(code), "internal_error")
        return json_text(error_body(code, message, rid))


async def serve_chat(state: EmulatorState, request: Request):
    body_bytes = await request.body()
    exchange = V2Exchange(state, state.log(request, body_bytes), request)
    # the service's order: auth, method, (faults), JSON and validation, rate limits
    try:
        identity = _authenticate(exchange, request)
        if request.method != "POST":
            raise exchange.refuse("method_not_supported", key=(identity, "v2"))
        faults, slow = injected_faults(state, request)
        exchange.key = (identity, "v2")
        await fail_as_injected(exchange, faults, slow)
        body, spec = await _valid_body(exchange, body_bytes, slow)
        exchange.key = (identity, "v2", body["model"].lower())
        prompt_tokens = input_size(body)[1]
        window_entry = admit(exchange, prompt_tokens)
    except Refused as refused:
        exchange.entry["status"] = refused.response.status_code
        return refused.response
    replayed = from_lesson(state.lesson, state.lesson_speed, body["model"], body.get("messages"), "v2")
    answer, pace = replayed if replayed is not None else (_answer(state, spec, body, faults), None)
    usage = _usage(prompt_tokens, answer)
    state.add_tokens(window_entry, usage["completion_tokens"])
    exchange.entry["status"] = 200
    rid, model = request_id(LESSON_ID_PREFIX if replayed else "as-"), body["model"]
    if body.get("stream") is True:
        options = body.get("stream_options") if isinstance(body.get("stream_options"), dict) else {}
        shape = StreamShape(usage_chunk=options.get("include_usage") is True,
                            every_chunk=options.get("chunk_include_usage") is True,
                            on_last_chunk="usage_on_last_chunk" in faults, search_status=_wants_status(body))
        return RawResponse(make_stream(exchange, stream_events(answer, usage, rid, model, shape), faults, slow,
                                       done="[DONE]", pace=pace))
    n_chunks = max(1, len(chunk(answer.reasoning)) + len(chunk(answer.text)))
    return RawResponse(make_plain(exchange, full_body(answer, usage, rid, model), faults, slow, n_chunks, pace))


async def serve_models(state: EmulatorState, request: Request):
    """``GET /v2/models``: the ids this key can call, for the same credentials as chat."""
    exchange = V2Exchange(state, state.log(request, await request.body()), request)
    try:
        identity = _authenticate(exchange, request)
        if request.method != "GET":
            raise exchange.refuse("method_not_supported", key=(identity, "v2"))
    except Refused as refused:
        exchange.entry["status"] = refused.response.status_code
        return refused.response
    exchange.entry["status"] = 200
    data = [{"id": model, "object": "model", "owned_by": "", "created": 0} for model in known_models(state)]
    return Response(json_text({"object": "list", "data": data}), media_type="application/json",
                    headers=exchange.base_headers)


def _authenticate(exchange: V2Exchange, request: Request) -> tuple:
    """Who is asking: a bearer token the emulator minted (and has not expired), or a v2 API key."""
    scheme, _, key = request.headers.get("authorization", "").partition(" ")
    key = key.strip()
    state = exchange.state
    if scheme.lower() == "bearer" and key:
        with state.lock:
            state.seen_secrets.add(key)  # masked wherever it turns up in the request log
        status, ak = state.token_status(key, bearer=True)
        if status == "ok":
            return ("iam", ak)
        if ak is None:  # not minted here: an API key
            keys = state.v2_keys
            if (keys is None and _WELL_FORMED_KEY.fullmatch(key)) or (keys is not None and key in keys):
                return ("bearer", key)
    raise exchange.refuse("invalid_iam_token", key=("anonymous", "v2"))


async def _valid_body(exchange: V2Exchange, body_bytes: bytes, slow: float):
    """The request body and its model's spec, once it passes the service's checks."""
    try:
        body = decoded_body(body_bytes)
    except ValueError:
        body = None
    if not isinstance(body, dict):
        if slow:
            await asyncio.sleep(slow)
        raise exchange.refuse("malformed_json" if body is None else "invalid_argument")
    model = body.get("model")
    if isinstance(model, str) and model.strip() and not is_known_model(exchange.state, model):
        raise exchange.refuse("invalid_model")  # the service's words: it names no model
    spec = _spec_for(model)
    try:
        validate_v2_request(body, spec)
    except InvalidRequestError as err:
        code = err.code if isinstance(err.code, str) else FROM_V1_CODES.get(err.code, "invalid_argument")
        raise exchange.refuse(code, err.wire_message, status=getattr(err, "status", None)) from None
    return body, spec


def _spec_for(model):
    if not isinstance(model, str) or not model:
        return None
    return find_v2_model(model) or UNKNOWN_V2


def _answer(state: EmulatorState, spec, body: dict, faults: dict) -> Answer:
    answer = compose_v2(body["model"], body, reasoning=thinks(spec, body), answer_chars=state.answer_chars)
    if "schema_miss" in faults:
        answer.text = miss_a_key(answer.text)
    if "need_clear_history" in faults and not answer.need_clear_history:
        kw = faults["need_clear_history"]
        answer.need_clear_history = True
        answer.ban_round = int(kw.get("ban_round", -1))
        answer.flag = int(kw.get("flag", 2))
    for fault, flag in (("flag_hide", HIDE), ("flag_withdraw", WITHDRAW)):
        if fault in faults and not answer.need_clear_history:
            answer.flag, answer.ban_round = flag, int(faults[fault].get("ban_round", -1))
    if answer.flag == WITHDRAW:
        _withdrawn(answer)
    mark_not_in_lesson(state.lesson, body["model"], body.get("messages"), answer)
    return answer


def thinks(spec, body: dict) -> bool:
    """Whether the model reasons before this answer, as its catalog row says: always; by its switch
    (``enable_thinking: bool`` or ``thinking: {"type": "enabled"|"disabled"}``), else by the row's default;
    never. A row that predates those fields: a model with a switch (qwen3) thinks when asked to, other
    reasoning models always do."""
    if getattr(spec, "always_thinks", False):
        return True
    param = getattr(spec, "thinking_param", None)
    if param is None and getattr(spec, "thinking_switch", False) and not hasattr(spec, "thinking_param"):
        param = "enable_thinking"
    default = bool(getattr(spec, "thinking_default", None))
    if param == "enable_thinking":
        value = body.get("enable_thinking")
        return value if isinstance(value, bool) else default
    if param == "thinking":
        switch = body.get("thinking")
        kind = switch.get("type") if isinstance(switch, dict) else None
        return kind == "enabled" if kind in ("enabled", "disabled") else default
    return bool(getattr(spec, "reasoning", False))


def _withdrawn(answer: Answer) -> None:
    """The answer as far as it got before the service withdrew it: the first half of its stream pieces."""
    pieces = chunk(answer.text)
    if len(pieces) > 1:
        answer.text = "".join(pieces[:(len(pieces) + 1) // 2])
    answer.finish_reason = "content_filter"


def _wants_status(body: dict) -> bool:
    search = body.get("web_search")
    return isinstance(search, dict) and search.get("enable") is True and search.get("enable_status") is True


def _usage(prompt_tokens: int, answer: Answer) -> dict:
    reasoning = estimate_tokens(answer.reasoning)
    completion = reasoning + estimate_tokens(answer.text)
    for call in answer.tool_calls or ():
        completion += estimate_tokens(call["function"]["arguments"]) + 1
    usage = {"prompt_tokens": prompt_tokens, "completion_tokens": completion,
             "total_tokens": prompt_tokens + completion}
    if answer.reasoning:
        usage["completion_tokens_details"] = {"reasoning_tokens": reasoning}
    return usage


def _flag(answer: Answer) -> int:
    """The choice's ``flag``: 2 (or the one asked for) for need_clear_history, 3 or 4 when asked, else 0."""
    if answer.need_clear_history:
        return answer.flag or 2
    return answer.flag if answer.flag in (HIDE, WITHDRAW) else 0


def _choice_extras(answer: Answer, choice: dict, flag: int | None = None) -> dict:
    choice["flag"] = _flag(answer) if flag is None else flag
    if choice["flag"]:
        choice["ban_round"] = answer.ban_round if answer.ban_round is not None else -1
    return choice


def _search_results(answer: Answer) -> list | None:
    return (answer.search_info or {}).get("search_results")


def full_body(answer: Answer, usage: dict, rid: str, model: str) -> dict:
    message = {"role": "assistant", "content": answer.text}
    if answer.reasoning:
        message["reasoning_content"] = answer.reasoning
    if answer.tool_calls:
        message["tool_calls"] = answer.tool_calls
    choice = {"index": 0, "message": message, "finish_reason": _FINISH.get(answer.finish_reason, "stop")}
    out = {"id": rid, "object": "chat.completion", "created": int(time.time()), "model": model,
           "choices": [_choice_extras(answer, choice)], "usage": usage}
    if _search_results(answer):
        out["search_results"] = _search_results(answer)
    return out


def _fragments(text: str, size: int = 12) -> list[str]:
    return [text[i:i + size] for i in range(0, len(text), size)] or [""]


def _tool_call_deltas(calls: list) -> list[list[dict]]:
    """Each call as a stream sends it: its id, type and name first, then its arguments in fragments."""
    deltas = []
    for index, call in enumerate(calls):
        deltas.append([{"index": index, "id": call["id"], "type": "function",
                        "function": {"name": call["function"]["name"], "arguments": ""}}])
        deltas += [[{"index": index, "function": {"arguments": piece}}]
                   for piece in _fragments(call["function"]["arguments"])]
    return deltas


@dataclass(frozen=True)
class StreamShape:
    """What a stream carries beside the answer: ``usage_chunk`` (``include_usage``) a last ``choices: []`` chunk
    with the usage, or with ``on_last_chunk`` the usage on the last choice chunk instead; ``every_chunk``
    (``chunk_include_usage``) the usage so far on every chunk; ``search_status`` a search status packet first."""

    usage_chunk: bool = False
    every_chunk: bool = False
    on_last_chunk: bool = False
    search_status: bool = False


def _usage_so_far(usage: dict, share: float) -> dict:
    completion = round(usage["completion_tokens"] * share)
    return {"prompt_tokens": usage["prompt_tokens"], "completion_tokens": completion,
            "total_tokens": usage["prompt_tokens"] + completion}


def stream_events(answer: Answer, usage: dict, rid: str, model: str, shape: StreamShape = StreamShape()) -> list[dict]:
    """The chunks of a v2 stream: reasoning first, then the answer or its tool calls, then the finish
    (and a last ``choices: []`` chunk with the usage when asked for); ``data: [DONE]`` follows them.
    A withdrawn answer (flag 4) streams unflagged until its last chunk, which withdraws it."""
    deltas = [{"reasoning_content": piece} for piece in chunk(answer.reasoning)]
    deltas += [{"content": piece} for piece in chunk(answer.text)]
    deltas += [{"tool_calls": piece} for piece in _tool_call_deltas(answer.tool_calls or [])]
    if deltas:
        deltas[0] = {"role": "assistant", **deltas[0]}
    events = []
    results = _search_results(answer)
    withdrawn = _flag(answer) == WITHDRAW

    def event(choices: list, **fields) -> dict:
        return {"id": rid, "object": "chat.completion.chunk", "created": int(time.time()), "model": model,
                "choices": choices, **fields}

    if shape.search_status:
        # where delta_tag rides (the choice or the chunk) is not confirmed: the packet carries it in both
        status = {"index": 0, "delta": {}, "delta_tag": "search_status", "finish_reason": None}
        events.append(event([_choice_extras(answer, status, 0 if withdrawn else None)], delta_tag="search_status"))
    for i, delta in enumerate(deltas + [{}]):
        last = i == len(deltas)
        choice = {"index": 0, "delta": delta, "finish_reason": _FINISH.get(answer.finish_reason, "stop") if last else None}
        events.append(event([_choice_extras(answer, choice, 0 if withdrawn and not last else None)]))
        if results and (i == 0 or last):
            events[-1]["search_results"] = results
    if shape.every_chunk:
        for index, item in enumerate(events, start=1):
            item["usage"] = usage if index == len(events) else _usage_so_far(usage, index / len(events))
    if shape.on_last_chunk:
        events[-1]["usage"] = usage
    elif shape.usage_chunk:
        events.append(event([], usage=usage))
    return events
