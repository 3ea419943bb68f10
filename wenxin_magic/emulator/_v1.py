"""Qianfan's v1 API in the emulator: OAuth access tokens at ``/oauth/2.0/token`` and the wenxinworkshop routes
(``/rpc/2.0/ai_custom/v1/wenxinworkshop/{chat|completions}/{endpoint}``).

v1 answers every error with HTTP 200 and ``{"error_code", "error_msg", "id"}``, streams ``data:`` events with
``sentence_id`` and ``is_end``, and writes a bare JSON error line into a broken stream. Authentication by IAM
signature, faults, rate limits and the writers are the shared exchange's (``_exchange``).
"""

from __future__ import annotations

import asyncio
import hmac
import time

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..api import (CHAT, COMPLETION, CUSTOM_CHAT, CUSTOM_COMPLETION, V1_API_PREFIX, V1_TOKEN_PATH,
                   InvalidRequestError, describe_code, estimate_tokens, find_model, input_size, model_for_endpoint,
                   validate_request)
from ._exchange import (ANY_METHOD, Exchange, RawResponse, Refused, admit, check_iam, fail_as_injected,
                        decoded_body, injected_faults, json_text, make_plain, make_stream, request_id)
from ._faults import ERROR_FAULTS
from ._replay import LESSON_ID_PREFIX, from_lesson, mark_not_in_lesson
from ._state import EmulatorState
from .answers import Answer, chunk, compose, miss_a_key

def routes(state: EmulatorState) -> list[Route]:
    async def token(request: Request):
        return await _serve_token(state, request)

    async def chat(request: Request):
        return await _serve_v1(state, request)

    return [Route(V1_TOKEN_PATH, token, methods=["GET", "POST"]),
            Route(V1_API_PREFIX + "/{kind:str}/{endpoint:path}", chat, methods=ANY_METHOD)]


class V1Exchange(Exchange):
    """One v1 request being answered: refused with HTTP 200 and v1's ``error_code``."""

    def refuse(self, code: int, message: str | None = None, *, key=None, exhausted: bool = False) -> Refused:
        return Refused(_v1_error(code, message, self.headers(key, exhausted)))

    def refuse_injected(self, fault: str, kw: dict) -> Refused:
        if fault in ERROR_FAULTS:
            code, message = ERROR_FAULTS[fault]
            return self.refuse(code, message, exhausted=fault in ("rpm", "tpm"))
        return self.refuse(int(kw.get("code", 1)), kw.get("message"))

    def error_line(self, fault: dict, rid: str, eol: str) -> str:
        return _error_line(fault, rid) + eol

    def error_body(self, fault: dict, rid: str) -> str:
        return _error_line(fault, rid)


def _v1_error(code: int, message: str | None, headers: dict) -> Response:
    if message is None:
        known = describe_code(code)
        message = known[0] if known else "Unknown error"
    body = json_text({"error_code": code, "error_msg": message, "id": request_id()})
    return Response(body, status_code=200, headers=headers, media_type="application/json")


def _oauth_error(error: str, description: str) -> Response:
    return Response(json_text({"error": error, "error_description": description}), status_code=401,
                    media_type="application/json")


async def _serve_token(state: EmulatorState, request: Request) -> Response:
    body = await request.body()
    entry = state.log(request, body)
    response = _token_answer(state, _token_params(request, body))
    entry["status"] = response.status_code
    return response


def _token_params(request: Request, body: bytes) -> dict:
    """The query's parameters, plus a form body's (the query wins)."""
    params = dict(request.query_params)
    if request.method == "POST" and "x-www-form-urlencoded" in request.headers.get("content-type", ""):
        from urllib.parse import parse_qsl

        for k, v in parse_qsl(body.decode("utf-8", "replace")):
            params.setdefault(k, v)
    return params


def _token_answer(state: EmulatorState, params: dict) -> Response:
    if params.get("grant_type") != "client_credentials":
        return _oauth_error("unsupported_grant_type", "The authorization grant type is not supported")
    ak, sk = params.get("client_id") or "", params.get("client_secret") or ""
    creds = state.credentials  # None: any keys will do
    if not ak or (creds is not None and ak not in creds):
        return _oauth_error("invalid_client", "unknown client id")
    if not sk or (creds is not None and not hmac.compare_digest(creds[ak], sk)):
        return _oauth_error("invalid_client", "Client authentication failed")
    return JSONResponse(state.issue_token(ak))


def _iam_failure(kind: str, headers: dict) -> Response:
    if kind == "notfound":
        code, msg = "NotFound", "NotFound, cause: Could not find credential."
    else:
        code, msg = "SignatureDoesNotMatch", "SignatureDoesNotMatch, cause: Fail to authn user: Signature does not match"
    h = dict(headers)
    h["X-Bce-Error-Code"] = code
    h["X-Bce-Error-Message"] = msg
    body = json_text({"error_code": 14, "error_msg": "IAM Certification failed", "id": request_id()})
    return Response(body, status_code=401, headers=h, media_type="application/json")


def _resolve(state: EmulatorState, seg: str, endpoint: str):
    kind = CHAT if seg == "chat" else COMPLETION if seg == "completions" else None
    if kind is None or not endpoint or "/" in endpoint.strip("/"):
        return None
    endpoint = endpoint.strip("/")
    spec = model_for_endpoint(kind, endpoint)
    if spec is not None:
        return spec
    if endpoint in state.deployments:
        spec = find_model(state.deployments[endpoint])
        if spec is not None and spec.kind == kind:
            return spec
        return None
    if state.strict_endpoints:
        return None
    return CUSTOM_CHAT if kind == CHAT else CUSTOM_COMPLETION


async def _serve_v1(state: EmulatorState, request: Request):
    body_bytes = await request.body()
    endpoint = request.path_params["endpoint"].strip("/")
    exchange = V1Exchange(state, state.log(request, body_bytes), request)
    # the service's order: auth, method and endpoint, (faults), JSON and validation, rate limits
    try:
        exchange.key = (_authenticate(exchange, request, endpoint), endpoint)
        spec = _endpoint_spec(exchange, request, endpoint)
        faults, slow = injected_faults(state, request)
        await fail_as_injected(exchange, faults, slow)
        body = await _valid_body(exchange, spec, body_bytes, slow)
        prompt_tokens = input_size(body)[1]
        window_entry = admit(exchange, prompt_tokens)
    except Refused as refused:
        exchange.entry["status"] = refused.response.status_code
        return refused.response
    replayed = None if spec.kind == COMPLETION else \
        from_lesson(state.lesson, state.lesson_speed, _model_of(spec, endpoint), body.get("messages"), "v1")
    answer, pace = replayed if replayed is not None else (_answer(state, spec, endpoint, body, faults), None)
    usage = _usage(prompt_tokens, _completion_tokens(answer))
    state.add_tokens(window_entry, usage["completion_tokens"])
    exchange.entry["status"] = 200
    rid = request_id(LESSON_ID_PREFIX if replayed else "as-")
    if body.get("stream") is True:
        events = _stream_events(answer, usage, rid, spec.kind == COMPLETION)
        return RawResponse(make_stream(exchange, events, faults, slow, pace=pace))
    payload = _full_body(answer, usage, rid, spec.kind == COMPLETION)
    return RawResponse(make_plain(exchange, payload, faults, slow, max(1, len(chunk(answer.text))), pace))


def _authenticate(exchange: V1Exchange, request: Request, endpoint: str) -> tuple:
    """Who is asking, by access token or IAM signature; refused as the service refuses."""
    token = request.query_params.get("access_token")
    auth = request.headers.get("authorization")
    if token:
        status, ak = exchange.state.token_status(token)
        if status == "expired":
            raise exchange.refuse(111, "Access token expired", key=("token", token, endpoint))
        if status != "ok":
            raise exchange.refuse(110, "Access token invalid or no longer valid", key=("token", token, endpoint))
        return ("ak", ak)
    if auth:
        ak, failure = check_iam(exchange.state, request, auth)
        if failure:
            raise Refused(_iam_failure(failure, exchange.headers(("anonymous", endpoint))))
        return ("iam", ak)
    raise exchange.refuse(110, "Access token invalid or no longer valid", key=("anonymous", endpoint))


def _endpoint_spec(exchange: V1Exchange, request: Request, endpoint: str):
    if request.method != "POST":
        raise exchange.refuse(336101, "Invalid HTTP method")
    spec = _resolve(exchange.state, request.path_params["kind"], endpoint)
    if spec is None:
        raise exchange.refuse(3, "Unsupported openapi method")
    return spec


async def _valid_body(exchange: V1Exchange, spec, body_bytes: bytes, slow: float) -> dict:
    try:
        body = decoded_body(body_bytes)
    except ValueError:
        if slow:
            await asyncio.sleep(slow)
        raise exchange.refuse(336002, "Invalid JSON") from None
    if body is None:
        raise exchange.refuse(336002, "Invalid JSON")
    if not isinstance(body, dict):
        raise exchange.refuse(336001, "Invalid Argument")
    try:
        validate_request(spec, body)
    except InvalidRequestError as err:
        raise exchange.refuse(err.code, err.wire_message) from None
    return body


def _answer(state: EmulatorState, spec, endpoint: str, body: dict, faults: dict) -> Answer:
    answer = compose(spec, endpoint, body, answer_chars=state.answer_chars)
    if "schema_miss" in faults:
        answer.text = miss_a_key(answer.text)
    # v1 has no flags 3 and 4: a fault that asks for one gets v1's nearest, need_clear_history
    for fault in ("need_clear_history", "flag_hide", "flag_withdraw"):
        if fault in faults and not answer.need_clear_history:
            answer.need_clear_history = True
            answer.ban_round = int(faults[fault].get("ban_round", -1))
            answer.flag = 1
    if spec.kind != COMPLETION:
        mark_not_in_lesson(state.lesson, _model_of(spec, endpoint), body.get("messages"), answer)
    return answer


def _model_of(spec, endpoint: str) -> str:
    """The model a v1 endpoint serves, as a lesson names it."""
    return getattr(spec, "name", None) or endpoint


def _completion_tokens(answer: Answer) -> int:
    if answer.function_call:
        call = answer.function_call
        return estimate_tokens(call.get("arguments", "")) + estimate_tokens(call.get("thoughts", "")) + 1
    return estimate_tokens(answer.text) if answer.text else 0


def _usage(prompt_tokens: int, completion_tokens: int) -> dict:
    return {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens}


def _common(answer: Answer, rid: str, is_completion: bool) -> dict:
    return {"id": rid, "object": "completion" if is_completion else "chat.completion", "created": int(time.time())}


def _extras(answer: Answer, out: dict) -> None:
    if answer.function_call:
        out["function_call"] = answer.function_call
    if answer.search_info:
        out["search_info"] = answer.search_info
    if answer.need_clear_history:
        out["ban_round"] = answer.ban_round if answer.ban_round is not None else -1
        out["flag"] = answer.flag or 1


def _full_body(answer: Answer, usage: dict, rid: str, is_completion: bool) -> dict:
    out = _common(answer, rid, is_completion)
    out["result"] = answer.text
    if is_completion:
        out["is_safe"] = 0 if answer.need_clear_history else 1
        if answer.finish_reason != "normal":
            out["finish_reason"] = answer.finish_reason
    else:
        out["is_truncated"] = answer.is_truncated
        out["need_clear_history"] = answer.need_clear_history
        out["finish_reason"] = answer.finish_reason
    _extras(answer, out)
    out["usage"] = usage
    return out


def _stream_events(answer: Answer, usage: dict, rid: str, is_completion: bool) -> list[dict]:
    pieces = [] if answer.function_call else chunk(answer.text)
    partial = {"prompt_tokens": usage["prompt_tokens"], "completion_tokens": 0,
               "total_tokens": usage["prompt_tokens"]}
    events = []
    texts = pieces + [""]
    for i, text in enumerate(texts):
        last = i == len(texts) - 1
        ev = _common(answer, rid, is_completion)
        ev.update({"sentence_id": i, "is_end": last, "is_truncated": answer.is_truncated if last else False,
                   "result": text, "need_clear_history": answer.need_clear_history,
                   "finish_reason": answer.finish_reason if last else "normal"})
        if is_completion:
            ev["is_safe"] = 0 if answer.need_clear_history else 1
        if last or answer.search_info or answer.need_clear_history:
            _extras(answer, ev)
        ev["usage"] = usage if last else partial
        events.append(ev)
    return events


def _error_line(fault: dict, rid: str) -> str:
    """The bare JSON error the service sends instead of (the rest of) an answer."""
    code = int(fault.get("code", 336100))
    message = fault.get("message") or (describe_code(code) or ("Unknown error",))[0]
    return json_text({"error_code": code, "error_msg": message, "id": rid})
