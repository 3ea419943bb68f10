"""The emulator's v2 API (``/v2/chat/completions``, ``/v1/BCE-BEARER/token``), over loopback HTTP with httpx."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import time

import httpx
import pytest

from _fakes import FAKE
from wenxin_magic.api import V2_ERROR_CODES, InvalidRequestError, sign_request, validate_v2_request
from wenxin_magic.emulator import FAULTS

V2 = "/v2/chat/completions"
BEARER = "/v1/BCE-BEARER/token"
PREFIX = "/rpc/2.0/ai_custom/v1/wenxinworkshop"
KEYS = FAKE.LOCKED  # the IAM keys the module's emulator accepts


def v2_key(purpose: str) -> str:
    digest = hashlib.sha256(purpose.encode()).hexdigest()
    return f"bce-v3/ALTAK-FAKE{digest[:10]}/{digest[10:50]}"


KEY = v2_key("emulator-v2")
OTHER_KEY = v2_key("emulator-v2-other")

WEATHER = {"type": "function", "function": {
    "name": "get_current_weather", "description": "获得指定地点的天气",
    "parameters": {"type": "object",
                   "properties": {"location": {"type": "string", "description": "省,市名,例如:河北省,石家庄"},
                                  "unit": {"type": "string", "enum": ["摄氏度", "华氏度"]},
                                  "days": {"type": "integer"}},
                   "required": ["location", "days"]}}}
PRICE = {"type": "function", "function": {
    "name": "get_current_price", "description": "获得指定公司的股价",
    "parameters": {"type": "object",
                   "properties": {"company": {"type": "string"},
                                  "exchange": {"type": "string", "enum": ["纳斯达克", "上海证券交易所", "香港证券交易所"]},
                                  "tags": {"type": "array", "items": {"type": "string"}},
                                  "realtime": {"type": "boolean"}},
                   "required": ["company", "exchange", "tags", "realtime"]}}}
TOOLS = [WEATHER, PRICE]


@pytest.fixture(scope="module")
def emulator(emulator_factory):
    return emulator_factory(iam_credentials={KEYS.iak: KEYS.isk}, rpm=300, tpm=300000)  # ``emu`` restores the limits


@pytest.fixture(scope="module")
def locked(emulator_factory):
    """An emulator that accepts one v2 key only."""
    return emulator_factory(v2_keys={KEY})


@pytest.fixture(scope="module")
def _module_http(emulator):
    # one client for the module: each new one loads the CA bundle (~50 ms), though nothing here is TLS
    with httpx.Client(base_url=emulator.base_url, timeout=10, headers={"Authorization": f"Bearer {KEY}"}) as client:
        yield client


@pytest.fixture
def http(emu, _module_http):
    """The module's client, against ``emu`` (reset for each test)."""
    return _module_http


def user(text: str) -> list[dict]:
    return [{"role": "user", "content": text}]


def chat(http, model="ernie-speed-8k", text="介绍下故宫", **body):
    body = {"model": model, "messages": user(text), **body}
    return http.post(V2, json=body)


def ok(http, model="ernie-speed-8k", text="介绍下故宫", **body) -> dict:
    r = chat(http, model, text, **body)
    assert r.status_code == 200, r.text
    return r.json()


def data_lines(text: str) -> list[str]:
    return [line[5:].strip() for line in text.splitlines() if line.startswith("data:")]


def stream(http, model="ernie-speed-8k", text="介绍下故宫", **body) -> list[dict]:
    """The stream's chunks, after checking that it ends with ``data: [DONE]``."""
    r = chat(http, model, text, stream=True, **body)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/event-stream")
    lines = data_lines(r.text)
    assert lines[-1] == "[DONE]", lines[-3:]
    return [json.loads(line) for line in lines[:-1]]


def joined(chunks: list[dict], field: str) -> str:
    return "".join(c["choices"][0]["delta"].get(field) or "" for c in chunks if c["choices"])


def assemble_tool_calls(chunks: list[dict]) -> list[dict]:
    calls: dict[int, dict] = {}
    for c in chunks:
        for piece in (c["choices"][0]["delta"].get("tool_calls") or []) if c["choices"] else []:
            call = calls.setdefault(piece["index"], {"id": None, "type": None, "function": {"name": "", "arguments": ""}})
            call["id"] = piece.get("id") or call["id"]
            call["type"] = piece.get("type") or call["type"]
            call["function"]["name"] += piece.get("function", {}).get("name") or ""
            call["function"]["arguments"] += piece.get("function", {}).get("arguments") or ""
    return [calls[i] for i in sorted(calls)]


def check_schema(arguments: dict, schema: dict) -> None:
    """The arguments have every required field, of its type, within its enum."""
    types = {"string": str, "integer": int, "number": (int, float), "boolean": bool, "array": list, "object": dict}
    for name in schema.get("required", []):
        assert name in arguments, f"{name} missing from {arguments}"
    for name, value in arguments.items():
        prop = schema["properties"][name]
        assert isinstance(value, types[prop["type"]]), (name, value)
        if "enum" in prop:
            assert value in prop["enum"], (name, value)
        if prop["type"] == "array" and "items" in prop:
            assert all(isinstance(v, types[prop["items"]["type"]]) for v in value)


def signed_get(emu, path: str, params: dict, ak: str, sk: str) -> httpx.Response:
    ts = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    host = emu.base_url.split("//", 1)[1]
    auth = sign_request(ak, sk, "GET", path, params, {"host": host, "x-bce-date": ts}, timestamp=ts)
    return httpx.get(emu.base_url + path, params=params, headers={"x-bce-date": ts, "authorization": auth})


def mint(emu, ttl: int | None = 3600, ak: str = KEYS.iak, sk: str = KEYS.isk) -> httpx.Response:
    return signed_get(emu, BEARER, {} if ttl is None else {"expireInSeconds": str(ttl)}, ak, sk)


def v2_requests(emu) -> list[dict]:
    return [r for r in emu.requests if r["path"] == V2]


# ------------------------------------------------------------------------------------------- auth

def test_api_key_is_accepted_appid_recorded_request_id_echoed_and_key_masked(http, emu):
    r = http.post(V2, json={"model": "ernie-speed-8k", "messages": user("你好")},
                  headers={"appid": "app-123", "X-Request-Id": "req-abc"})
    assert r.status_code == 200
    assert r.headers["X-Request-Id"] == "req-abc"
    for header in ("X-Ratelimit-Limit-Requests", "X-Ratelimit-Limit-Input-Tokens", "X-Ratelimit-Remaining-Requests",
                   "X-Ratelimit-Remaining-Output-Tokens"):
        assert header in r.headers
    entry = v2_requests(emu)[-1]
    assert entry["appid"] == "app-123" and entry["headers"]["appid"] == "app-123"
    assert entry["status"] == 200
    assert KEY not in json.dumps(emu.requests) and entry["headers"]["authorization"] == "Bearer ***"


def test_request_id_is_made_up_when_not_sent(http):
    r = chat(http)
    assert r.headers["X-Request-Id"]


@pytest.mark.parametrize("authorization", [None, "Bearer", "Bearer not-a-key", "Bearer bce-v3/ALTAK-x",
                                           f"Basic {KEY}", "bce-auth-v1/a/b/c/d/e"])
def test_anything_but_a_well_formed_key_is_refused(emu, authorization):
    headers = {"Authorization": authorization} if authorization else {}
    r = httpx.post(emu.base_url + V2, json={"model": "ernie-speed-8k", "messages": user("hi")}, headers=headers)
    assert r.status_code == 401
    body = r.json()
    assert body["error"] == {"code": "invalid_iam_token", "message": "invalid_iam_token",
                             "type": "invalid_request_error"}
    assert body["id"].startswith("as-")


def test_locked_emulator_takes_only_its_keys(locked):
    body = {"model": "ernie-speed-8k", "messages": user("hi")}
    good = httpx.post(locked.base_url + V2, json=body, headers={"Authorization": f"Bearer {KEY}"})
    wrong = httpx.post(locked.base_url + V2, json=body, headers={"Authorization": f"Bearer {OTHER_KEY}"})
    assert good.status_code == 200
    assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "invalid_iam_token"


def test_iam_keys_mint_a_bearer_token_that_then_works(emu):
    r = mint(emu, ttl=600)
    assert r.status_code == 200, r.text
    minted = r.json()
    assert minted["token"].startswith("bce-v3/ALTAK-") and minted["status"] == "enable" and minted["userId"]
    created = time.strptime(minted["createTime"], "%Y-%m-%dT%H:%M:%SZ")
    expires = time.strptime(minted["expireTime"], "%Y-%m-%dT%H:%M:%SZ")
    assert time.mktime(expires) - time.mktime(created) == 600
    answer = httpx.post(emu.base_url + V2, json={"model": "ernie-lite-8k", "messages": user("hi")},
                        headers={"Authorization": f"Bearer {minted['token']}"})
    assert answer.status_code == 200 and answer.json()["choices"][0]["message"]["content"]
    token_entry = [e for e in emu.requests if e["path"] == BEARER][-1]
    assert token_entry["headers"]["authorization"] == "bce-auth-v1/***" and token_entry["status"] == 200
    assert minted["token"] not in json.dumps(emu.requests)


def test_minting_without_the_lifetime_gives_the_default(emu):
    minted = mint(emu, ttl=None).json()
    lifetime = time.mktime(time.strptime(minted["expireTime"], "%Y-%m-%dT%H:%M:%SZ")) - \
        time.mktime(time.strptime(minted["createTime"], "%Y-%m-%dT%H:%M:%SZ"))
    assert lifetime == 1800


@pytest.mark.parametrize("ak, sk, status, code", [
    (KEYS.iak, KEYS.wrong_isk, 401, "SignatureDoesNotMatch"),
    (KEYS.wrong_ak, KEYS.isk, 401, "NotFound"),
])
def test_minting_with_wrong_iam_keys_is_refused(emu, ak, sk, status, code):
    r = mint(emu, ak=ak, sk=sk)
    assert r.status_code == status
    assert r.json()["code"] == code and r.headers["X-Bce-Error-Code"] == code


def test_minting_unsigned_or_with_a_bad_lifetime_is_refused(emu):
    assert httpx.get(emu.base_url + BEARER).status_code == 401
    assert mint(emu, ttl=0).status_code == 400
    assert mint(emu, ttl=2592001).status_code == 400


def test_minted_tokens_expire_with_expire_tokens_and_with_time(emu):
    body = {"model": "ernie-speed-8k", "messages": user("hi")}
    token = mint(emu).json()["token"]
    short = mint(emu, ttl=1).json()["token"]
    assert httpx.post(emu.base_url + V2, json=body, headers={"Authorization": f"Bearer {token}"}).status_code == 200
    emu.expire_tokens()
    r = httpx.post(emu.base_url + V2, json=body, headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_iam_token"
    time.sleep(1.2)
    r = httpx.post(emu.base_url + V2, json=body, headers={"Authorization": f"Bearer {short}"})
    assert r.status_code == 401
    fresh = mint(emu).json()["token"]
    assert httpx.post(emu.base_url + V2, json=body, headers={"Authorization": f"Bearer {fresh}"}).status_code == 200


def test_revoked_minted_tokens_are_refused(emu):
    token = mint(emu).json()["token"]
    emu.revoke_tokens()
    r = httpx.post(emu.base_url + V2, json={"model": "ernie-speed-8k", "messages": user("hi")},
                   headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 401


# ------------------------------------------------------------------------------------- validation

BIG_TOKENS = "a " * 7000  # 14,000 characters, 7,000 estimated tokens: over ernie-speed-8k's 6,144


@pytest.mark.parametrize("body, code", [
    ({"messages": user("hi")}, "invalid_argument"),
    ({"model": "", "messages": user("hi")}, "invalid_argument"),
    ({"model": "ernie-speed-8k", "messages": []}, "invalid_argument"),
    ({"model": "ernie-speed-8k", "messages": [{"role": "assistant", "content": "x"}]}, "invalid_messages"),
    ({"model": "ernie-speed-8k", "messages": user("a") + [{"role": "assistant", "content": "b"}]}, "invalid_messages"),
    ({"model": "ernie-speed-8k", "messages": [{"role": "bot", "content": "s"}, *user("c")]}, "invalid_argument"),
    ({"model": "deepseek-r1", "messages": user("a") + [{"role": "assistant", "content": "b", "reasoning_content": "r"},
                                                       *user("c")]}, "invalid_messages"),
    ({"model": "deepseek-v3", "messages": user("a") + [
        {"role": "assistant", "content": "", "tool_calls": [{"id": "c1", "type": "function",
                                                              "function": {"name": "f", "arguments": "{}"}}]},
        {"role": "tool", "content": "{}"}]}, "invalid_messages"),
    ({"model": "ernie-speed-8k", "messages": user("hi"), "temperature": 0}, "invalid_argument"),
    ({"model": "ernie-speed-8k", "messages": user("hi"), "top_p": 1.5}, "invalid_argument"),
    ({"model": "ernie-speed-8k", "messages": user("hi"), "penalty_score": 3}, "invalid_argument"),
    ({"model": "ernie-speed-8k", "messages": user("hi"), "max_completion_tokens": 0}, "invalid_argument"),
    ({"model": "ernie-speed-8k", "messages": user("hi"), "max_completion_tokens": 999999}, "invalid_argument"),
    ({"model": "ernie-speed-8k", "messages": user("hi"), "stop": ["a", "b", "c", "d", "e"]}, "invalid_argument"),
    ({"model": "ernie-speed-8k", "messages": user("hi"), "tools": [WEATHER]}, "invalid_argument"),
    ({"model": "ernie-speed-8k", "messages": user("hi"), "web_search": {"search_number": 29}}, "invalid_argument"),
    ({"model": "ernie-speed-8k", "messages": [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}]}]}, "invalid_argument"),
    ({"model": "deepseek-v3", "messages": user("hi"), "response_format": {"type": "xml"}}, "invalid_argument"),
    ({"model": "deepseek-v3", "messages": user("hi"), "web_search": {"enable": "yes"}}, "invalid_argument"),
    ({"model": "qwen3-235b-a22b", "messages": user("hi"), "enable_thinking": "yes"}, "invalid_argument"),
    ({"model": "ernie-lite-8k", "messages": user("字" * 12000)}, "characters_too_long"),
    ({"model": "ernie-speed-8k", "messages": user(BIG_TOKENS)}, "tokens_too_long"),
])
def test_validation_codes(http, emu, body, code):
    r = http.post(V2, json=body)
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    assert error["code"] == code and error["type"] == "invalid_request_error" and error["message"]
    assert v2_requests(emu)[-1]["status"] == 400
    with pytest.raises(InvalidRequestError) as shared:  # the emulator refuses with the client's own rules and words
        validate_v2_request(body)
    assert (shared.value.code, shared.value.wire_message) == (error["code"], error["message"])


@pytest.mark.parametrize("extra", [{"enable_thinking": True}, {"no_such_field": 1}, {"max_tokens": 100},
                                   {"metadata": {"k": "v"}}])
def test_what_the_service_accepts_is_answered(http, extra):
    r = http.post(V2, json={"model": "ernie-speed-8k", "messages": user("hi"), **extra})
    assert r.status_code == 200, r.text
    assert r.json()["choices"][0]["message"]["content"]


def test_malformed_and_non_object_bodies(http):
    r = http.post(V2, content=b"{not json", headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "malformed_json"
    r = http.post(V2, json=[1, 2])
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_argument"


def test_only_post(http):
    r = http.get(V2)
    assert r.status_code == 405 and r.json()["error"]["code"] == "method_not_supported"


def test_unknown_model_ids_are_refused_as_the_service_does(http):
    r = chat(http, "ernie-9.9-future-8k", "你好")
    assert r.status_code == V2_ERROR_CODES["invalid_model"].status and r.json()["error"]["code"] == "invalid_model"


# ------------------------------------------------------------------------------------ rate limits

def test_rpm_limit_gives_429_with_headers(http, emu):
    emu.set_limits(rpm=2)
    assert chat(http).status_code == 200 and chat(http).status_code == 200
    r = chat(http)
    assert r.status_code == 429
    assert r.json()["error"] == {"code": "rpm_rate_limit_exceeded", "message": "Rate limit reached for RPM",
                                 "type": "rate_limit_exceeded"}
    assert r.headers["X-Ratelimit-Limit-Requests"] == "2" and r.headers["X-Ratelimit-Remaining-Requests"] == "0"
    # another model has its own window
    assert chat(http, "ernie-lite-8k").status_code == 200


def test_tpm_limit_gives_429(http, emu):
    emu.set_limits(tpm=30)
    assert chat(http, text="你好").status_code == 200
    r = chat(http, text="介绍下故宫" * 20)
    assert r.status_code == 429 and r.json()["error"]["code"] == "tpm_rate_limit_exceeded"
    assert r.headers["X-Ratelimit-Remaining-Input-Tokens"] == r.headers["X-Ratelimit-Remaining-Output-Tokens"] == "0"


# --------------------------------------------------------------------------------------- answers

def test_non_stream_shape(http):
    body = ok(http)
    assert body["id"].startswith("as-") and body["object"] == "chat.completion" and body["model"] == "ernie-speed-8k"
    assert isinstance(body["created"], int)
    choice = body["choices"][0]
    assert choice["index"] == 0 and choice["finish_reason"] == "stop" and choice["flag"] == 0
    assert choice["message"]["role"] == "assistant" and "故宫" in choice["message"]["content"]
    assert "reasoning_content" not in choice["message"] and "tool_calls" not in choice["message"]
    usage = body["usage"]
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"] > 0
    assert "search_results" not in body


def test_answers_are_deterministic_and_model_specific(http):
    first = ok(http, "ernie-speed-8k", "什么是机器学习")["choices"][0]["message"]["content"]
    again = ok(http, "ernie-speed-8k", "什么是机器学习")["choices"][0]["message"]["content"]
    other = ok(http, "deepseek-v3", "什么是机器学习")["choices"][0]["message"]["content"]
    assert first == again and first != other


def test_system_message_is_followed(http):
    body = {"model": "ernie-4.0-turbo-8k", "messages": [{"role": "system", "content": "你是小助手"}, *user("介绍下北京")]}
    content = http.post(V2, json=body).json()["choices"][0]["message"]["content"]
    assert content.startswith("我是小助手")


def test_stream_shape_matches_the_whole_answer(http):
    whole = ok(http)["choices"][0]["message"]["content"]
    chunks = stream(http)
    assert len(chunks) >= 3
    assert all(c["object"] == "chat.completion.chunk" and c["id"] == chunks[0]["id"] for c in chunks)
    assert all(c["choices"][0]["finish_reason"] is None for c in chunks[:-1])
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    assert joined(chunks, "content") == whole
    assert all("usage" not in c for c in chunks)  # not asked for


def test_include_usage_adds_a_last_chunk_without_choices(http):
    chunks = stream(http, stream_options={"include_usage": True})
    last = chunks[-1]
    assert last["choices"] == [] and last["usage"]["completion_tokens"] > 0
    assert last["usage"]["total_tokens"] == last["usage"]["prompt_tokens"] + last["usage"]["completion_tokens"]
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"


@pytest.mark.parametrize("model, extra", [("deepseek-r1", {}), ("ernie-x1-turbo-32k", {}),
                                          ("qwen3-235b-a22b", {"enable_thinking": True})])
def test_reasoning_models_think_first(http, model, extra):
    chunks = stream(http, model, "介绍下北京", stream_options={"include_usage": True}, **extra)
    kinds = [("r" if c["choices"][0]["delta"].get("reasoning_content") else
              "c" if c["choices"][0]["delta"].get("content") else "-") for c in chunks if c["choices"]]
    assert kinds[0] == "r" and "c" in kinds
    assert kinds.index("c") > max(i for i, k in enumerate(kinds) if k == "r")  # all the reasoning comes first
    reasoning = joined(chunks, "reasoning_content")
    assert "北京" in reasoning and model not in reasoning  # about the question; the emulator does not sign as the model
    assert chunks[-1]["usage"]["completion_tokens_details"]["reasoning_tokens"] > 0
    whole = ok(http, model, "介绍下北京", **extra)
    assert whole["choices"][0]["message"]["reasoning_content"] == reasoning
    assert whole["choices"][0]["message"]["content"] == joined(chunks, "content")
    assert whole["usage"]["completion_tokens_details"]["reasoning_tokens"] > 0


@pytest.mark.parametrize("model, extra", [("qwen3-235b-a22b", {}), ("qwen3-235b-a22b", {"enable_thinking": False}),
                                          ("deepseek-v3", {})])
def test_other_models_do_not_think(http, model, extra):
    message = ok(http, model, "介绍下北京", **extra)["choices"][0]["message"]
    assert "reasoning_content" not in message and message["content"]


def test_max_completion_tokens_cuts_with_length(http):
    body = ok(http, "ernie-speed-8k", "写一篇关于长城的详细文章", max_completion_tokens=10)
    assert body["choices"][0]["finish_reason"] == "length"
    assert body["usage"]["completion_tokens"] <= 10


def test_stop_cuts_the_answer(http):
    whole = ok(http)["choices"][0]["message"]["content"]
    cut = ok(http, stop=["文物"])["choices"][0]["message"]["content"]
    assert cut == whole[:whole.index("文物")]


# ----------------------------------------------------------------------------------------- tools

def tool_answer(http, text, **body):
    return ok(http, "deepseek-v3", text, tools=TOOLS, **body)


def test_a_matching_question_gets_one_tool_call(http):
    body = tool_answer(http, "北京今天天气怎么样")
    choice = body["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    calls = choice["message"]["tool_calls"]
    assert len(calls) == 1 and calls[0]["type"] == "function" and calls[0]["id"]
    assert calls[0]["function"]["name"] == "get_current_weather"
    arguments = json.loads(calls[0]["function"]["arguments"])
    check_schema(arguments, WEATHER["function"]["parameters"])
    assert arguments["location"] == "北京市"


def test_a_question_naming_several_tools_gets_several_calls(http):
    calls = tool_answer(http, "北京天气怎么样，腾讯股价多少")["choices"][0]["message"]["tool_calls"]
    assert [c["function"]["name"] for c in calls] == ["get_current_weather", "get_current_price"]
    assert len({c["id"] for c in calls}) == 2
    for call, tool in zip(calls, TOOLS, strict=True):
        check_schema(json.loads(call["function"]["arguments"]), tool["function"]["parameters"])


def test_several_cities_get_one_call_each_unless_parallel_calls_are_off(http):
    calls = tool_answer(http, "北京和上海的天气")["choices"][0]["message"]["tool_calls"]
    assert [json.loads(c["function"]["arguments"])["location"] for c in calls] == ["北京市", "上海市"]
    one = tool_answer(http, "北京和上海的天气", parallel_tool_calls=False)["choices"][0]["message"]["tool_calls"]
    assert len(one) == 1


def test_tool_choice_names_the_tool_or_turns_tools_off(http):
    calls = tool_answer(http, "你好", tool_choice={"type": "function", "function": {"name": "get_current_price"}})
    calls = calls["choices"][0]["message"]["tool_calls"]
    assert [c["function"]["name"] for c in calls] == ["get_current_price"]
    check_schema(json.loads(calls[0]["function"]["arguments"]), PRICE["function"]["parameters"])
    none = tool_answer(http, "北京今天天气怎么样", tool_choice="none")["choices"][0]
    assert none["finish_reason"] == "stop" and "tool_calls" not in none["message"]


def test_an_unrelated_question_gets_text(http):
    choice = tool_answer(http, "介绍下故宫")["choices"][0]
    assert choice["finish_reason"] == "stop" and "故宫" in choice["message"]["content"]


def test_tool_calls_stream_in_fragments(http):
    whole = tool_answer(http, "北京天气怎么样，腾讯股价多少")["choices"][0]["message"]["tool_calls"]
    chunks = stream(http, "deepseek-v3", "北京天气怎么样，腾讯股价多少", tools=TOOLS)
    fragments = [c for c in chunks if c["choices"] and c["choices"][0]["delta"].get("tool_calls")]
    assert len(fragments) > len(whole)  # the arguments came in pieces
    assert assemble_tool_calls(chunks) == whole
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"


def test_tool_results_are_used_in_the_answer(http):
    question = "北京和上海的天气"
    calls = tool_answer(http, question)["choices"][0]["message"]["tool_calls"]
    results = [{"temperature": 25, "description": "晴"}, {"temperature": 31, "description": "多云"}]
    messages = user(question) + [{"role": "assistant", "content": "", "tool_calls": calls}] + [
        {"role": "tool", "tool_call_id": call["id"], "content": json.dumps(result, ensure_ascii=False)}
        for call, result in zip(calls, results, strict=True)]
    body = http.post(V2, json={"model": "deepseek-v3", "messages": messages, "tools": TOOLS}).json()
    content = body["choices"][0]["message"]["content"]
    assert body["choices"][0]["finish_reason"] == "stop"
    for text in ("北京", "25", "晴", "上海", "31", "多云"):
        assert text in content, content
    chunks = stream(http, "deepseek-v3", question, tools=TOOLS, messages=messages)
    assert joined(chunks, "content") == content


# ------------------------------------------------------------------------ web search, flag, json

def test_web_search_cites_and_lists_results(http):
    body = ok(http, "deepseek-v3", "介绍下故宫", web_search={"enable": True, "enable_citation": True})
    content = body["choices"][0]["message"]["content"]
    assert "^[1]^" in content and "^[2]^" in content
    results = body["search_results"]
    assert [r["index"] for r in results] == [1, 2, 3]
    assert all(r["url"].startswith("https://www.example.com/") and r["title"] for r in results)
    chunks = stream(http, "deepseek-v3", "介绍下故宫", web_search={"enable": True})
    assert chunks[0]["search_results"] == results and "^[1]^" in joined(chunks, "content")
    plain = ok(http, "deepseek-v3", "介绍下故宫", web_search={"enable": False})
    assert "search_results" not in plain and "^[1]^" not in plain["choices"][0]["message"]["content"]


def test_unsafe_prompts_are_flagged(http):
    body = ok(http, "ernie-speed-8k", "敏感测试")
    choice = body["choices"][0]
    assert choice["flag"] == 2 and choice["ban_round"] == -1 and choice["finish_reason"] == "content_filter"
    chunks = stream(http, "ernie-speed-8k", "敏感测试")
    assert all(c["choices"][0]["flag"] == 2 for c in chunks)
    assert chunks[-1]["choices"][0]["finish_reason"] == "content_filter"


def test_json_object_answers_are_json_on_v2(http):
    content = ok(http, "deepseek-v3", "介绍下北京", response_format={"type": "json_object"})["choices"][0]["message"]
    data = json.loads(content["content"])
    assert isinstance(data, dict) and "北京" in json.dumps(data, ensure_ascii=False)
    text = ok(http, "deepseek-v3", "介绍下北京", response_format={"type": "text"})["choices"][0]["message"]["content"]
    with pytest.raises(ValueError):
        json.loads(text)


def test_json_object_answers_are_json_on_v1(emu):
    token = httpx.post(emu.base_url + "/oauth/2.0/token",
                       params={"grant_type": "client_credentials", "client_id": "ak", "client_secret": "sk"})
    r = httpx.post(f"{emu.base_url}{PREFIX}/chat/completions",
                   params={"access_token": token.json()["access_token"]},
                   json={"messages": user("介绍下北京"), "response_format": "json_object"})
    assert r.status_code == 200 and "error_code" not in r.json(), r.text
    data = json.loads(r.json()["result"])
    assert isinstance(data, dict) and "北京" in json.dumps(data, ensure_ascii=False)


# ---------------------------------------------------------------------------------------- faults

@pytest.mark.parametrize("fault, status, code", [
    ("rpm", 429, "rpm_rate_limit_exceeded"),
    ("tpm", 429, "tpm_rate_limit_exceeded"),
    ("qps", 429, "user_rate_limit_exceeded"),
    ("busy", 500, "internal_error"),
    ("unavailable", 500, "internal_error"),
    ("expired_token", 401, "invalid_iam_token"),
    ("invalid_token", 401, "invalid_iam_token"),
    ("error", 500, "internal_error"),
])
def test_error_faults_in_v2_form(http, emu, fault, status, code):
    emu.inject(fault)
    for stream_it in (False, True):
        r = chat(http, stream=stream_it)
        if stream_it:
            assert r.status_code == 200  # one injection, one request
            continue
        assert r.status_code == status, r.text
        assert r.headers["content-type"].startswith("application/json")
        assert r.json()["error"]["code"] == code and r.json()["id"].startswith("as-")
        assert "X-Ratelimit-Limit-Requests" in r.headers


def _without_ids(r: httpx.Response) -> tuple:
    """What an answer says, without what differs on every request (its id, its time)."""
    def strip(text: str):
        try:
            data = json.loads(text)
        except ValueError:
            return text
        return {k: v for k, v in data.items() if k not in ("id", "created")} if isinstance(data, dict) else data

    if r.headers.get("content-type", "").startswith("text/event-stream"):
        framing = r.content.count(b"\r\n"), r.content.count(b": keep-alive")
        return r.status_code, framing, [strip(line) for line in data_lines(r.text)]
    return r.status_code, strip(r.text)


STREAMED_FAULTS = ("drop_stream", "stream_error", "crlf", "keepalive", "fragment", "usage_on_last_chunk")


def test_every_fault_has_a_v2_form(http, emu):
    """No fault is ignored by v2: each one changes the answer it meets."""
    usage = {"stream_options": {"include_usage": True}}
    plain, streamed = _without_ids(chat(http)), _without_ids(chat(http, stream=True, **usage))
    assert plain == _without_ids(chat(http)) and streamed == _without_ids(chat(http, stream=True, **usage))
    as_json = {"response_format": {"type": "json_object"}}  # schema_miss breaks JSON answers only
    plain_json = _without_ids(chat(http, **as_json))
    for fault in FAULTS:
        emu.inject(fault, path="/v2/")
        try:
            if fault == "schema_miss":
                changed = _without_ids(chat(http, **as_json)) != plain_json
            elif fault in STREAMED_FAULTS:
                changed = _without_ids(chat(http, stream=True, **usage)) != streamed
            else:
                changed = _without_ids(chat(http)) != plain
        except httpx.TransportError:
            changed = True
        assert changed or fault in ("slow_first_byte", "fragment"), fault
        assert emu.state().faults == [], fault  # consumed


def test_error_fault_takes_a_code_status_message_and_retry_after(http, emu):
    emu.inject("error", code="invalid_appid", message="No permission to use the appid")
    r = chat(http)
    assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_appid"
    emu.inject("error", code="cluster_rate_limit_exceeded", retry_after=3)
    r = chat(http)
    assert r.status_code == 429 and r.headers["Retry-After"] == "3"
    emu.inject("rpm", retry_after=2)
    r = chat(http)
    assert r.status_code == 429 and r.headers["Retry-After"] == "2"
    emu.inject("error", code=336100)  # a v1 code is put in v2's words
    r = chat(http)
    assert r.status_code == 500 and r.json()["error"]["code"] == "internal_error"
    emu.inject("error", code="model_offline", status=403, message="gone")
    r = chat(http)
    assert r.status_code == 403 and r.json()["error"] == {"code": "model_offline", "message": "gone",
                                                          "type": "access_denied"}


def test_path_filter_keeps_v2_faults_off_v1(http, emu):
    emu.inject("busy", path="/v2/")
    token = httpx.post(emu.base_url + "/oauth/2.0/token",
                       params={"grant_type": "client_credentials", "client_id": "ak", "client_secret": "sk"})
    v1 = httpx.post(f"{emu.base_url}{PREFIX}/chat/ernie_speed", params={"access_token": token.json()["access_token"]},
                    json={"messages": user("hi")})
    assert "error_code" not in v1.json()
    assert chat(http).status_code == 500


def test_stream_error_is_an_error_event_mid_stream(http, emu):
    emu.inject("stream_error", after=2, code="internal_error", message="boom")
    r = chat(http, stream=True)
    lines = data_lines(r.text)
    assert r.status_code == 200 and "[DONE]" not in lines
    events = [json.loads(line) for line in lines]
    assert all("choices" in e for e in events[:2])
    assert events[2]["error"] == {"code": "internal_error", "message": "boom", "type": "Internal_error"}
    assert len(events) == 3


def test_stream_error_without_stream_is_an_error_body(http, emu):
    emu.inject("stream_error")
    r = chat(http)
    assert r.status_code == 200 and r.json()["error"]["code"] == "internal_error"


def test_drop_stream_cuts_the_connection(http, emu):
    emu.inject("drop_stream", after=2)
    received = []
    with pytest.raises(httpx.TransportError):
        with http.stream("POST", V2, json={"model": "ernie-speed-8k", "messages": user("介绍下故宫"),
                                           "stream": True}) as r:
            for line in r.iter_lines():
                received.append(line)
    assert not any("[DONE]" in line for line in received)
    assert chat(http).status_code == 200  # the next request is fine


def test_http_500_is_an_html_page(http, emu):
    emu.inject("http_500")
    r = chat(http)
    assert r.status_code == 500 and "text/html" in r.headers["content-type"]


def test_slow_first_byte_still_answers(http, emu):
    emu.inject("slow_first_byte", delay=0.05)
    chunks = stream(http)
    assert joined(chunks, "content") == ok(http)["choices"][0]["message"]["content"]
    assert emu.state().faults == []


def test_need_clear_history_fault_flags_the_answer(http, emu):
    emu.inject("need_clear_history", ban_round=1)
    choice = ok(http)["choices"][0]
    assert choice["flag"] == 2 and choice["ban_round"] == 1
    emu.inject("need_clear_history", flag=1)
    choice = stream(http)[-1]["choices"][0]
    assert choice["flag"] == 1 and choice["ban_round"] == -1


def test_framing_faults(http, emu):
    whole = ok(http)["choices"][0]["message"]["content"]
    for fault, check in (("crlf", lambda raw: b"\r\n\r\n" in raw and b"data: [DONE]\r\n\r\n" in raw),
                         ("keepalive", lambda raw: raw.count(b": keep-alive") >= 2),
                         ("fragment", lambda raw: True)):
        emu.inject(fault)
        r = chat(http, stream=True)
        assert check(r.content), fault
        lines = data_lines(r.text)
        assert lines[-1] == "[DONE]", fault
        assert joined([json.loads(line) for line in lines[:-1]], "content") == whole, fault


# ------------------------------------------------------------------------------------------- CLI

def test_cli_serves_v2_with_its_key():
    proc = subprocess.Popen([sys.executable, "-m", "wenxin_magic.emulator", "--port", "0", "--v2-key", KEY],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        url = proc.stdout.readline().strip()
        body = {"model": "ernie-speed-8k", "messages": user("你好")}
        good = httpx.post(url + V2, json=body, headers={"Authorization": f"Bearer {KEY}"}, timeout=10)
        wrong = httpx.post(url + V2, json=body, headers={"Authorization": f"Bearer {OTHER_KEY}"}, timeout=10)
        assert good.status_code == 200 and good.json()["choices"][0]["message"]["content"]
        assert wrong.status_code == 401
    finally:
        proc.terminate()
        proc.wait(10)


def test_optional_place_fields_are_filled_and_required_forces_a_call(http):
    tool = {"type": "function", "function": {"name": "get_weather", "description": "the weather in a city",
                                             "parameters": {"type": "object",
                                                            "properties": {"city": {"type": "string"}}}}}
    calls = ok(http, "deepseek-v3", "What is the weather in Beijing?", tools=[tool])["choices"][0]["message"]
    assert json.loads(calls["tool_calls"][0]["function"]["arguments"]) == {"city": "Beijing"}
    forced = ok(http, "deepseek-v3", "Tell me a joke", tools=[tool], tool_choice="required")["choices"][0]
    assert forced["finish_reason"] == "tool_calls" and forced["message"]["tool_calls"][0]["function"]["name"] == \
        "get_weather"
    free = ok(http, "deepseek-v3", "Tell me a joke", tools=[tool])["choices"][0]
    assert free["finish_reason"] == "stop"
