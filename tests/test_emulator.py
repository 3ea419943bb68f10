"""The Qianfan emulator, driven over real loopback HTTP with plain httpx."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time

import httpx
import pytest

from wenxin_magic.api import sign_request
from wenxin_magic.emulator import Emulator
from wenxin_magic.emulator.answers import chunk

PREFIX = "/rpc/2.0/ai_custom/v1/wenxinworkshop"
AK, SK = "test-api-key", "test-secret-key"
IAM_AK, IAM_SK = "iam-access-key", "iam-secret-key"

WEATHER_FUNCTIONS = [
    {"name": "get_current_weather", "description": "获得指定地点的天气",
     "parameters": {"type": "object",
                    "properties": {"location": {"type": "string", "description": "省,市名,例如:河北省,石家庄"},
                                   "unit": {"type": "string", "enum": ["摄氏度", "华氏度"]}},
                    "required": ["location"]}},
    {"name": "get_current_price", "description": "获得指定公司的股价",
     "parameters": {"type": "object",
                    "properties": {"company": {"type": "string", "description": "公司名,例如:腾讯,阿里巴巴"},
                                   "exchange": {"type": "string", "enum": ["纳斯达克", "上海证券交易所", "香港证券交易所"]}},
                    "required": ["company", "exchange"]}},
]


@pytest.fixture(scope="module")
def emu():
    with Emulator(credentials={AK: SK}, iam_credentials={IAM_AK: IAM_SK}) as e:
        yield e


@pytest.fixture(scope="module")
def http(emu):
    with httpx.Client(base_url=emu.base_url, timeout=10) as c:
        yield c


@pytest.fixture(scope="module")
def token(http):
    r = http.post("/oauth/2.0/token", params={"grant_type": "client_credentials", "client_id": AK,
                                              "client_secret": SK})
    return r.json()["access_token"]


@pytest.fixture(autouse=True)
def _fresh(request):
    if "emu" in request.fixturenames:
        e = request.getfixturevalue("emu")
        e.clear()
        e.reset_limits()
        e.set_limits(rpm=300, tpm=300000)
    yield


def post(http, token, endpoint, body, *, kind="chat", **kw):
    return http.post(f"{PREFIX}/{kind}/{endpoint}", params={"access_token": token}, json=body, **kw)


def ask(http, token, endpoint, text, **extra):
    r = post(http, token, endpoint, {"messages": [{"role": "user", "content": text}], **extra})
    assert r.status_code == 200
    return r.json()


def events(text: str) -> list[dict]:
    return [json.loads(line[5:]) for line in text.splitlines() if line.startswith("data:")]


def stream(http, token, endpoint, body):
    r = post(http, token, endpoint, {**body, "stream": True})
    assert r.headers["content-type"].startswith("text/event-stream")
    return r, events(r.text)


# ------------------------------------------------------------------ OAuth

def test_oauth_success(http):
    r = http.post("/oauth/2.0/token", params={"grant_type": "client_credentials", "client_id": AK,
                                              "client_secret": SK})
    assert r.status_code == 200
    body = r.json()
    assert set(body) == {"refresh_token", "expires_in", "scope", "session_key", "access_token", "session_secret"}
    assert body["expires_in"] == 2592000 and body["scope"] == "public wise_adapt"
    assert re.fullmatch(r"24\.[0-9a-f]{32}\.2592000\.\d+\.\d+-\d+", body["access_token"])
    # GET works too
    assert http.get("/oauth/2.0/token", params={"grant_type": "client_credentials", "client_id": AK,
                                                "client_secret": SK}).status_code == 200


@pytest.mark.parametrize("params, error, description", [
    ({"grant_type": "client_credentials", "client_id": "nope", "client_secret": SK}, "invalid_client",
     "unknown client id"),
    ({"grant_type": "client_credentials", "client_id": AK, "client_secret": "bad"}, "invalid_client",
     "Client authentication failed"),
    ({"grant_type": "password", "client_id": AK, "client_secret": SK}, "unsupported_grant_type", None),
])
def test_oauth_failures(http, params, error, description):
    r = http.post("/oauth/2.0/token", params=params)
    assert r.status_code == 401
    assert r.json()["error"] == error
    if description:
        assert r.json()["error_description"] == description


def test_token_expiry_and_revocation():
    with Emulator() as e, httpx.Client(base_url=e.base_url) as c:
        def tok():
            return c.post("/oauth/2.0/token", params={"grant_type": "client_credentials", "client_id": "a",
                                                      "client_secret": "b"}).json()["access_token"]
        body = {"messages": [{"role": "user", "content": "你好"}]}
        t1 = tok()
        assert "result" in post(c, t1, "ernie_speed", body).json()
        e.expire_tokens()
        assert post(c, t1, "ernie_speed", body).json()["error_code"] == 111
        t2 = tok()
        assert "result" in post(c, t2, "ernie_speed", body).json()
        e.revoke_tokens()
        r = post(c, t2, "ernie_speed", body).json()
        assert r["error_code"] == 110 and r["error_msg"] == "Access token invalid or no longer valid"
        assert post(c, "24.unknown", "ernie_speed", body).json()["error_code"] == 110
        missing = c.post(f"{PREFIX}/chat/ernie_speed", json=body)
        assert missing.status_code == 200 and missing.json()["error_code"] == 110
        assert re.fullmatch(r"as-[a-z0-9]{10}", missing.json()["id"])
    with Emulator(token_ttl=0) as e, httpx.Client(base_url=e.base_url) as c:
        t = c.get("/oauth/2.0/token", params={"grant_type": "client_credentials", "client_id": "a",
                                              "client_secret": "b"}).json()
        assert t["expires_in"] == 0
        time.sleep(0.01)
        assert post(c, t["access_token"], "ernie_speed", body).json()["error_code"] == 111


# -------------------------------------------------------------------- IAM

def _iam_request(http, emu, ak, sk, *, skew=0.0, order=("x-bce-date", "host", "content-type")):
    path = f"{PREFIX}/chat/ernie_speed"
    ts = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + skew))  # x-bce-date, UTC
    host = emu.base_url.split("//")[1]
    headers = {"Content-Type": "application/json", "Host": host, "x-bce-date": ts}
    auth = sign_request(ak, sk, "POST", path, {}, headers, timestamp=ts, expiration=300)
    # a client may list the signed headers in any order
    prefix, _signed, signature = auth.rsplit("/", 2)
    headers["Authorization"] = f"{prefix}/{';'.join(order)}/{signature}"
    body = json.dumps({"messages": [{"role": "user", "content": "hello"}]})
    return http.post(path, content=body, headers=headers)


def test_iam_signature_verified(http, emu):
    good = _iam_request(http, emu, IAM_AK, IAM_SK)
    assert good.status_code == 200 and good.json()["result"]
    bad = _iam_request(http, emu, IAM_AK, "wrong-secret")
    assert bad.status_code == 401
    assert bad.headers["X-Bce-Error-Code"] == "SignatureDoesNotMatch"
    assert bad.headers["X-Bce-Error-Message"] == "SignatureDoesNotMatch, cause: Fail to authn user: Signature does not match"
    assert bad.json()["error_code"] == 14 and bad.json()["error_msg"] == "IAM Certification failed"
    unknown = _iam_request(http, emu, "someone-else", IAM_SK)
    assert unknown.status_code == 401
    assert unknown.headers["X-Bce-Error-Message"] == "NotFound, cause: Could not find credential."
    stale = _iam_request(http, emu, IAM_AK, IAM_SK, skew=-3600)
    assert stale.status_code == 401


def test_iam_published_test_vector_recomputes():
    auth = sign_request("ak-example", "sk-example", "POST", f"{PREFIX}/chat/completions",
                        {}, {"Content-Type": "application/json", "Host": "aip.baidubce.com",
                             "x-bce-date": "2024-01-01T00:00:00Z"}, timestamp="2024-01-01T00:00:00Z", expiration=1800)
    assert auth.endswith("416d24f757d24f9f1f214d4899787433791f2d52e444f2e8357bd821b7b1b92e")


# ------------------------------------------------------------- validation

@pytest.mark.parametrize("endpoint, body, code, text", [
    ("ernie_speed", {"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]},
     336006, "the length of messages must be an odd number"),
    ("ernie_speed", {"messages": [{"role": "user", "content": "hi"}], "temperature": 0}, 336003, None),
    ("ernie_speed", {"messages": [{"role": "user", "content": "hi"}], "temperature": 1.5}, 336003, None),
    ("bloomz_7b1", {"messages": [{"role": "user", "content": "hi"}], "system": "be nice"}, 336003, None),
    ("bloomz_7b1", {"messages": [{"role": "user", "content": "长" * 4801}]}, 336007,
     "the max input characters is 4800"),
    ("completions", {"messages": [{"role": "user", "content": "a " * 6000}]}, 336103, "Prompt tokens too long"),
    ("ernie_speed", {"messages": [{"role": "user", "content": "  "}]}, 336003, None),
])
def test_validation_codes(http, token, endpoint, body, code, text):
    r = post(http, token, endpoint, body)
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/json")
    data = r.json()
    assert data["error_code"] == code, data
    assert re.fullmatch(r"as-[a-z0-9]{10}", data["id"])
    if text:
        assert data["error_msg"] == text


def test_invalid_json_method_and_stream_errors_are_plain_json(http, token):
    r = http.post(f"{PREFIX}/chat/ernie_speed", params={"access_token": token}, content=b"{not json",
                  headers={"Content-Type": "application/json"})
    assert r.json()["error_code"] == 336002 and r.json()["error_msg"] == "Invalid JSON"
    r = http.get(f"{PREFIX}/chat/ernie_speed", params={"access_token": token})
    assert r.json()["error_code"] == 336101
    r = post(http, token, "ernie_speed", {"messages": [], "stream": True})
    assert r.headers["content-type"].startswith("application/json") and r.json()["error_code"] == 336006


def test_unknown_endpoint_strict_and_custom(http, token):
    r = post(http, token, "my_own_service", {"messages": [{"role": "user", "content": "hi"}]})
    assert r.json()["result"]  # served as a custom deployment
    with Emulator(strict_endpoints=True) as e, httpx.Client(base_url=e.base_url) as c:
        t = c.get("/oauth/2.0/token", params={"grant_type": "client_credentials", "client_id": "a",
                                              "client_secret": "b"}).json()["access_token"]
        r = post(c, t, "no_such_model", {"messages": [{"role": "user", "content": "hi"}]})
        assert r.json()["error_code"] == 3 and r.json()["error_msg"] == "Unsupported openapi method"
        for h in ("X-Ratelimit-Limit-Requests", "X-Ratelimit-Remaining-Tokens", "Statement", "X-Baidu-Request-Id"):
            assert h in r.headers


# ------------------------------------------------------------- responses

def test_non_stream_chat_shape(http, token):
    r = post(http, token, "completions_preemptible", {"messages": [{"role": "user", "content": "你好"}]})
    assert r.headers["content-type"] == "application/json;charset=utf-8"
    assert "你好" in r.text  # Chinese sent raw
    data = r.json()
    assert data["object"] == "chat.completion" and re.fullmatch(r"as-[a-z0-9]{10}", data["id"])
    assert data["is_truncated"] is False and data["need_clear_history"] is False
    assert data["finish_reason"] == "normal"
    u = data["usage"]
    assert u["total_tokens"] == u["prompt_tokens"] + u["completion_tokens"] and u["completion_tokens"] > 0
    assert r.headers["Statement"] == "AI-generated" and r.headers["X-Baidu-Request-Id"]


def test_completion_continues_text_on_deployed_yi(http, token):
    r = post(http, token, "my_yi_34b", {"prompt": "Introduce the city Beijing"}, kind="completions")
    data = r.json()
    assert data["object"] == "completion" and data["is_safe"] == 1
    assert "is_truncated" not in data and "need_clear_history" not in data
    assert data["result"].startswith(" is the capital of China")
    r = http.post(f"{PREFIX}/completions/my_yi_34b", params={"access_token": token},
                  json={"prompt": "Introduce the city Beijing", "stream": True})
    evs = events(r.text)
    assert all(e["object"] == "completion" for e in evs) and evs[-1]["is_end"]
    assert "".join(e["result"] for e in evs) == data["result"]


def test_stream_format(http, token):
    plain = ask(http, token, "completions", "介绍一下故宫", temperature=0.1)
    r, evs = stream(http, token, "completions", {"messages": [{"role": "user", "content": "介绍一下故宫"}],
                                                  "temperature": 0.1})
    assert "[DONE]" not in r.text and r.text.endswith("\n\n")
    assert len(evs) >= 3
    assert [e["sentence_id"] for e in evs] == list(range(len(evs)))
    assert len({e["id"] for e in evs}) == 1
    assert [e["is_end"] for e in evs] == [False] * (len(evs) - 1) + [True]
    assert all(e["usage"]["completion_tokens"] == 0 for e in evs[:-1])
    assert all(e["finish_reason"] == "normal" for e in evs)
    assert evs[-1]["usage"] == plain["usage"]
    assert "".join(e["result"] for e in evs) == plain["result"]
    assert all(len(e["result"]) <= 80 for e in evs)


def test_ttft_and_chunk_delay(http, token, emu):
    emu.ttft, emu.chunk_delay = 0.3, 0.02
    try:
        t0 = time.monotonic()
        with http.stream("POST", f"{PREFIX}/chat/ernie_speed", params={"access_token": token},
                         json={"messages": [{"role": "user", "content": "你好"}], "stream": True}) as r:
            headers_at = time.monotonic() - t0
            first = next(r.iter_lines())
            first_at = time.monotonic() - t0
        assert headers_at < 0.25 and first_at >= 0.28 and first.startswith("data:")
    finally:
        emu.ttft, emu.chunk_delay = 0.0, 0.0


def test_deterministic_and_per_model(http, token):
    q = "介绍一下故宫"
    a1 = ask(http, token, "completions", q)["result"]
    a2 = ask(http, token, "completions", q)["result"]
    assert a1 == a2
    answers = {ep: ask(http, token, ep, q)["result"] for ep in ("completions", "ernie_speed", "bloomz_7b1",
                                                               "llama_2_7b", "completions_pro")}
    assert len(set(answers.values())) == len(answers)
    assert "**" in answers["completions"] and "**" not in answers["bloomz_7b1"]
    assert len(answers["bloomz_7b1"]) < len(answers["completions"])
    assert all("故宫" in a for a in answers.values())


def test_language_and_seed_prompts(http, token):
    assert re.search(r"[\u4e00-\u9fff]", ask(http, token, "ernie_speed", "北京有哪些著名景点")["result"])
    en = ask(http, token, "ernie_speed", "What is the history of tea?")["result"]
    assert not re.search(r"[\u4e00-\u9fff]", en) and "history of tea" in en
    for q, word in [("我在北京周末可以去哪里玩", "颐和园"), ("给我推荐一些自驾游路线", "自驾"),
                    ("介绍一下北京", "首都"), ("北京有哪些著名景点", "长城"), ("hello", "Hello")]:
        assert word in ask(http, token, "completions", q)["result"], q
    generic = ask(http, token, "completions", "怎样学习围棋")["result"]
    assert "学习围棋" in generic


def test_memory_and_follow_up(http, token):
    msgs = [{"role": "user", "content": "你好，我叫小林"}, {"role": "assistant", "content": "你好小林"},
            {"role": "user", "content": "我叫什么名字？"}]
    assert "小林" in post(http, token, "ernie_speed", {"messages": msgs}).json()["result"]
    msgs = [{"role": "user", "content": "Hi, my name is Alice."}, {"role": "assistant", "content": "Hi!"},
            {"role": "user", "content": "What is my name?"}]
    assert "Alice" in post(http, token, "ernie_speed", {"messages": msgs}).json()["result"]
    msgs = [{"role": "user", "content": "介绍下故宫"}, {"role": "assistant", "content": "故宫是……"},
            {"role": "user", "content": "继续"}]
    assert "故宫" in post(http, token, "ernie_speed", {"messages": msgs}).json()["result"]


def test_parameters_change_the_answer(http, token):
    base = ask(http, token, "completions", "介绍一下北京", temperature=0.1)
    assert "首都" in base["result"]
    stopped = ask(http, token, "completions", "介绍一下北京", temperature=0.1, stop=["首都"])
    assert stopped["finish_reason"] == "stop" and "首都" not in stopped["result"]
    assert base["result"].startswith(stopped["result"])
    cut = ask(http, token, "completions", "介绍一下北京", temperature=0.1, max_output_tokens=10)
    assert cut["finish_reason"] == "length" and cut["is_truncated"] is True
    assert len(cut["result"]) < len(base["result"])
    low = {ask(http, token, "completions", "介绍一下北京", temperature=t)["result"] for t in (0.1, 0.2, 0.3)}
    assert len(low) == 1
    high = {ask(http, token, "completions", "介绍一下北京", temperature=t, top_p=p)["result"]
            for t in (0.5, 0.7, 0.9, 1.0) for p in (0.2, 0.5, 0.9)}
    assert len(high) > 1
    persona = ask(http, token, "completions", "介绍一下北京", system="你是导游小王，请热情地回答。")["result"]
    assert persona.startswith("我是导游小王")
    english = ask(http, token, "completions", "介绍一下北京", system="Always answer in English.")["result"]
    assert "Beijing" in english and not re.search(r"[\u4e00-\u9fff]", english.split("\n")[0])
    long_text = ask(http, token, "completions", "写 3000 字关于围棋的文章")["result"]
    assert 2800 <= len(long_text) <= 3100
    assert 1500 <= len(ask(http, token, "completions", "详细介绍一下围棋")["result"]) <= 2100
    rep = ask(http, token, "completions", "写 3000 字关于围棋的文章", penalty_score=1.8)["result"]
    sentences = [s for s in re.split(r"(?<=[。！？\n])", rep) if s.strip()]
    assert len(sentences) == len(set(s.strip() for s in sentences))


# -------------------------------------------------------------- functions

def test_function_call_round_trip(http, token):
    r, evs = stream(http, token, "completions_preemptible", {
        "messages": [{"role": "user", "content": "上海市今天的天气"}], "functions": WEATHER_FUNCTIONS,
        "tool_choice": {"type": "function", "function": {"name": "get_current_weather"}}})
    assert len(evs) == 1 and evs[0]["is_end"] and evs[0]["result"] == ""
    assert evs[0]["finish_reason"] == "function_call"
    call = evs[0]["function_call"]
    assert call["name"] == "get_current_weather" and call["thoughts"]
    assert json.loads(call["arguments"])["location"] == "上海市"
    # keyword match without tool_choice, non-stream
    data = ask(http, token, "completions", "北京的天气怎么样", functions=WEATHER_FUNCTIONS)
    assert data["function_call"]["name"] == "get_current_weather" and data["result"] == ""
    assert json.loads(data["function_call"]["arguments"])["location"] == "北京市"
    en = ask(http, token, "completions", "What is the weather like in Boston?", functions=WEATHER_FUNCTIONS)
    assert json.loads(en["function_call"]["arguments"])["location"] == "Boston"
    # second round: the function's result in words
    msgs = [{"role": "user", "content": "上海市今天天气如何?"},
            {"role": "assistant", "content": None,
             "function_call": {"name": "get_current_weather", "arguments": "{ \"location\": \"上海市\"}"}},
            {"role": "function", "name": "get_current_weather",
             "content": "{\"temperature\": \"25\", \"unit\": \"摄氏度\", \"description\": \"晴朗\"}"}]
    text = post(http, token, "completions_preemptible", {"messages": msgs, "functions": WEATHER_FUNCTIONS}).json()
    assert "上海市" in text["result"] and "25摄氏度" in text["result"] and "晴朗" in text["result"]
    # no function fits: a normal answer
    plain = ask(http, token, "completions", "你的名字是什么?", functions=WEATHER_FUNCTIONS)
    assert "function_call" not in plain and plain["result"]


def test_search_info(http, token):
    data = ask(http, token, "completions", "北京有哪些著名景点", enable_citation=True)
    results = data["search_info"]["search_results"]
    assert 2 <= len(results) <= 3 and results[0]["index"] == 1 and results[0]["url"].startswith("https://")
    assert "^[1]^" in data["result"]
    traced = ask(http, token, "completions", "北京有哪些著名景点", enable_trace=True)
    assert traced["search_info"] and "^[1]^" not in traced["result"]
    off = ask(http, token, "completions", "北京有哪些著名景点", enable_trace=True, disable_search=True)
    assert "search_info" not in off


def test_need_clear_history(http, token):
    data = ask(http, token, "completions", "这是一条敏感测试消息")
    assert data["need_clear_history"] is True and data["ban_round"] == -1
    assert data["finish_reason"] == "content_filter" and data["flag"] == 1 and data["result"]
    msgs = [{"role": "user", "content": "你好"}, {"role": "assistant", "content": "你好！"},
            {"role": "user", "content": "unsafe-demo please"}, {"role": "assistant", "content": "..."},
            {"role": "user", "content": "今天天气不错"}]
    data = post(http, token, "ernie_speed", {"messages": msgs}).json()
    assert data["need_clear_history"] is True and data["ban_round"] == 2


# ------------------------------------------------------------------ faults

HELLO = {"messages": [{"role": "user", "content": "你好"}]}
STORY = {"messages": [{"role": "user", "content": "介绍一下故宫"}]}


@pytest.mark.parametrize("fault, code", [("expired_token", 111), ("invalid_token", 110), ("qps", 18),
                                         ("busy", 336100), ("unavailable", 2), ("rpm", 336501), ("tpm", 336502)])
def test_error_faults(http, token, emu, fault, code):
    emu.inject(fault, times=2)
    for _ in range(2):
        r = post(http, token, "ernie_speed", HELLO)
        assert r.status_code == 200 and r.json()["error_code"] == code
        assert r.json()["error_msg"]
    if fault in ("rpm", "tpm"):
        assert r.headers["X-Ratelimit-Remaining-Requests"] == "0" and r.headers["X-Ratelimit-Remaining-Tokens"] == "0"
    assert "result" in post(http, token, "ernie_speed", HELLO).json()


def test_custom_error_and_path_filter(http, token, emu):
    emu.inject("error", code=336000, message="Internal error", path="ernie_speed")
    assert "result" in post(http, token, "completions", HELLO).json()  # other endpoint untouched
    r = post(http, token, "ernie_speed", HELLO).json()
    assert r["error_code"] == 336000 and r["error_msg"] == "Internal error"


def test_slow_first_byte(http, token, emu):
    emu.inject("slow_first_byte", delay=0.3)
    t0 = time.monotonic()
    with http.stream("POST", f"{PREFIX}/chat/ernie_speed", params={"access_token": token},
                     json={**HELLO, "stream": True}) as r:
        assert time.monotonic() - t0 >= 0.28
        r.read()


def test_drop_stream(http, token, emu):
    emu.inject("drop_stream", after=2)
    got = []
    with pytest.raises(httpx.RemoteProtocolError):
        with http.stream("POST", f"{PREFIX}/chat/ernie_speed", params={"access_token": token},
                         json={**STORY, "stream": True}) as r:
            for line in r.iter_lines():
                if line.startswith("data:"):
                    got.append(json.loads(line[5:]))
    assert len(got) == 2 and not any(e["is_end"] for e in got)
    emu.inject("drop_stream")
    with pytest.raises(httpx.RemoteProtocolError):
        post(http, token, "ernie_speed", STORY)
    assert "result" in post(http, token, "ernie_speed", HELLO).json()


def test_stream_error(http, token, emu):
    emu.inject("stream_error", after=1, code=336100)
    r = post(http, token, "ernie_speed", {**STORY, "stream": True})
    lines = [line for line in r.text.splitlines() if line.strip()]
    assert lines[0].startswith("data:") and len(lines) == 2
    err = json.loads(lines[1])
    assert err["error_code"] == 336100 and err["error_msg"] and err["id"].startswith("as-")


def test_http_500(http, token, emu):
    emu.inject("http_500")
    r = post(http, token, "ernie_speed", HELLO)
    assert r.status_code == 500 and r.headers["content-type"].startswith("text/html")
    assert "500 Internal Server Error" in r.text


def test_need_clear_history_fault(http, token, emu):
    emu.inject("need_clear_history", ban_round=-1)
    data = post(http, token, "ernie_speed", HELLO).json()
    assert data["need_clear_history"] is True and data["ban_round"] == -1


def test_stream_shape_faults(http, token, emu):
    reference = post(http, token, "ernie_speed", {**STORY, "stream": True}).text
    emu.inject("crlf")
    crlf = post(http, token, "ernie_speed", {**STORY, "stream": True}).content
    assert b"\r\n\r\n" in crlf and b"\n\n" not in crlf.replace(b"\r\n", b"")
    emu.inject("keepalive")
    ka = post(http, token, "ernie_speed", {**STORY, "stream": True}).text
    assert ": keep-alive" in ka
    emu.inject("fragment")
    pieces = []
    with http.stream("POST", f"{PREFIX}/chat/ernie_speed", params={"access_token": token},
                     json={**STORY, "stream": True}) as r:
        for raw in r.iter_raw():
            pieces.append(raw)
    frag = b"".join(pieces).decode("utf-8")
    strip = lambda t: [dict(e, created=0, id="") for e in events(t)]  # noqa: E731
    assert strip(frag) == strip(reference) == strip(crlf.decode()) == strip(ka)


# ------------------------------------------------------------- rate limits

def test_rate_limit_headers_and_rpm(http, token, emu):
    r = post(http, token, "ernie_speed", HELLO)
    limit = int(r.headers["X-Ratelimit-Limit-Requests"])
    assert limit == 300 and int(r.headers["X-Ratelimit-Limit-Tokens"]) == 300000
    assert int(r.headers["X-Ratelimit-Remaining-Requests"]) == 299
    assert int(r.headers["X-Ratelimit-Remaining-Tokens"]) == 300000 - r.json()["usage"]["total_tokens"]
    emu.set_limits(rpm=2)
    post(http, token, "ernie_speed", HELLO)
    r = post(http, token, "ernie_speed", HELLO)
    assert r.json() == {**r.json(), "error_code": 336501, "error_msg": "Rate limit reached for RPM"}
    assert r.headers["X-Ratelimit-Remaining-Requests"] == "0"
    assert "result" in post(http, token, "completions", HELLO).json()  # other endpoint, own window
    emu.reset_limits()
    emu.set_limits(rpm=300, tpm=20)
    r = post(http, token, "ernie_speed", {"messages": [{"role": "user", "content": "word " * 30}]})
    assert r.json()["error_code"] == 336502 and r.headers["X-Ratelimit-Remaining-Tokens"] == "0"


# --------------------------------------------------------------- request log

def test_request_log_masks_secrets(http, emu):
    r = http.post("/oauth/2.0/token", params={"grant_type": "client_credentials", "client_id": AK,
                                              "client_secret": SK})
    t = r.json()["access_token"]
    post(http, t, "ernie_speed", HELLO)
    _iam_request(http, emu, IAM_AK, IAM_SK)
    log = emu.requests
    assert [e["status"] for e in log] == [200, 200, 200]
    assert log[0]["query"]["client_id"] == "***" and log[0]["query"]["client_secret"] == "***"
    assert log[1]["query"]["access_token"] == "***" and log[1]["json"] == HELLO
    assert log[2]["headers"]["authorization"] == "bce-auth-v1/***"
    dump = json.dumps(log, ensure_ascii=False)
    for secret in (AK, SK, t, IAM_AK, IAM_SK):
        assert secret not in dump
    assert {"method", "path", "query", "headers", "json", "status"} <= set(log[1])


# --------------------------------------------------------------- length, CLI

def test_long_answer_chunking(http, token):
    text = ask(http, token, "completions", "write 20000 characters about Beijing")["result"]
    assert 19000 <= len(text) <= 20100
    pieces = chunk(text)
    assert "".join(pieces) == text and 300 <= len(pieces) <= 500
    with Emulator(answer_chars=20000) as e, httpx.Client(base_url=e.base_url) as c:
        t = c.get("/oauth/2.0/token", params={"grant_type": "client_credentials", "client_id": "a",
                                              "client_secret": "b"}).json()["access_token"]
        evs = events(post(c, t, "ernie_speed", {**HELLO, "stream": True}).text)
        body = "".join(e["result"] for e in evs)
        assert 19000 <= len(body) <= 20000 and 300 <= len(evs) <= 500


def test_cli_prints_loopback_url():
    # the refused start runs alongside the served one: each spends most of its time starting Python
    refusing = subprocess.Popen([sys.executable, "-m", "wenxin_magic.emulator", "--host", "0.0.0.0"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    proc = subprocess.Popen([sys.executable, "-m", "wenxin_magic.emulator", "--port", "0"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline().strip()
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", line)
        r = httpx.get(f"{line}/oauth/2.0/token", params={"grant_type": "client_credentials", "client_id": "a",
                                                         "client_secret": "b"}, timeout=5)
        assert r.status_code == 200
    finally:
        proc.terminate()
        proc.wait(5)
    try:
        _, refused_stderr = refusing.communicate(timeout=20)
    finally:
        if refusing.poll() is None:
            refusing.kill()
            refusing.wait()
    assert refusing.returncode != 0 and "loopback" in refused_stderr
