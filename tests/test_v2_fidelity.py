"""Clients nobody here wrote, against the emulator's v2 API: the official OpenAI SDK and the official Qianfan SDK.

A fidelity check: the emulator speaks v2 well enough for the reference clients, so what the package's own client
learns from it holds for the service.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import subprocess
import sys
import textwrap

import pytest

from _fakes import fake_keys

V2 = "/v2/chat/completions"
IAM = fake_keys("v2_fidelity")
_DIGEST = hashlib.sha256(b"v2-fidelity").hexdigest()
KEY = f"bce-v3/ALTAK-FAKEFIDELITY{_DIGEST[:8]}/{_DIGEST[8:48]}"

WEATHER = {"type": "function", "function": {
    "name": "get_current_weather", "description": "获得指定地点的天气",
    "parameters": {"type": "object",
                   "properties": {"location": {"type": "string"}, "unit": {"type": "string", "enum": ["摄氏度", "华氏度"]}},
                   "required": ["location"]}}}
PRICE = {"type": "function", "function": {
    "name": "get_current_price", "description": "获得指定公司的股价",
    "parameters": {"type": "object",
                   "properties": {"company": {"type": "string"},
                                  "exchange": {"type": "string", "enum": ["纳斯达克", "上海证券交易所", "香港证券交易所"]}},
                   "required": ["company", "exchange"]}}}


@pytest.fixture(scope="module")
def emulator(emulator_factory):
    return emulator_factory(iam_credentials={IAM.iak: IAM.isk}, rpm=300, tpm=300000)


def user(text: str) -> list[dict]:
    return [{"role": "user", "content": text}]


# ------------------------------------------------------------------------------------- the OpenAI SDK

import openai  # noqa: E402 - a test dependency: its absence must fail, not skip


@pytest.fixture
def client(emu):
    with openai.OpenAI(base_url=emu.base_url + "/v2", api_key=KEY, max_retries=0, timeout=10,
                       default_headers={"appid": "app-fidelity"}) as c:
        yield c


def test_openai_chat_streamed_and_not(client, emu):
    whole = client.chat.completions.create(model="ernie-speed-8k", messages=user("介绍下故宫"))
    answer = whole.choices[0].message.content
    assert "故宫" in answer and whole.choices[0].finish_reason == "stop" and whole.model == "ernie-speed-8k"
    assert whole.usage.total_tokens == whole.usage.prompt_tokens + whole.usage.completion_tokens > 0
    assert whole.choices[0].model_extra["flag"] == 0
    chunks = list(client.chat.completions.create(model="ernie-speed-8k", messages=user("介绍下故宫"), stream=True,
                                                 stream_options={"include_usage": True}))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == answer
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == whole.usage.completion_tokens
    sent = [r for r in emu.requests if r["path"] == V2]
    assert sent[-1]["appid"] == "app-fidelity" and sent[-1]["headers"]["authorization"] == "Bearer ***"


def test_openai_reads_reasoning_from_the_extra_fields(client):
    whole = client.chat.completions.create(model="deepseek-r1", messages=user("介绍下北京"))
    reasoning = whole.choices[0].message.model_extra["reasoning_content"]
    assert "北京" in reasoning and whole.choices[0].message.content
    details = whole.usage.model_dump()["completion_tokens_details"]  # a typed field in newer SDKs, an extra in older
    assert details["reasoning_tokens"] > 0
    chunks = list(client.chat.completions.create(model="deepseek-r1", messages=user("介绍下北京"), stream=True))
    streamed = "".join((c.choices[0].delta.model_extra or {}).get("reasoning_content") or "" for c in chunks)
    assert streamed == reasoning
    first_content = next(i for i, c in enumerate(chunks) if c.choices[0].delta.content)
    last_reasoning = max(i for i, c in enumerate(chunks) if (c.choices[0].delta.model_extra or {}).get("reasoning_content"))
    assert last_reasoning < first_content


def test_openai_tool_calls_whole_and_assembled_from_the_stream(client):
    question = "北京天气怎么样，腾讯股价多少"
    whole = client.chat.completions.create(model="deepseek-v3", messages=user(question), tools=[WEATHER, PRICE])
    assert whole.choices[0].finish_reason == "tool_calls"
    calls = whole.choices[0].message.tool_calls
    assert [c.function.name for c in calls] == ["get_current_weather", "get_current_price"]
    assert json.loads(calls[0].function.arguments)["location"] == "北京市"
    assert json.loads(calls[1].function.arguments)["exchange"] in PRICE["function"]["parameters"]["properties"][
        "exchange"]["enum"]
    streamer = getattr(client.chat.completions, "stream", None) or client.beta.chat.completions.stream  # older SDKs
    with streamer(model="deepseek-v3", messages=user(question), tools=[WEATHER, PRICE]) as s:
        final = s.get_final_completion()
    assembled = final.choices[0].message.tool_calls
    assert [(c.id, c.function.name, c.function.arguments) for c in assembled] == \
        [(c.id, c.function.name, c.function.arguments) for c in calls]
    # the results go back, and the answer uses them
    messages = user(question) + [whole.choices[0].message.model_dump(exclude_none=True)] + [
        {"role": "tool", "tool_call_id": calls[0].id, "content": json.dumps({"temperature": 22, "description": "晴"})},
        {"role": "tool", "tool_call_id": calls[1].id, "content": json.dumps({"price": 388.5})}]
    answer = client.chat.completions.create(model="deepseek-v3", messages=messages, tools=[WEATHER, PRICE])
    content = answer.choices[0].message.content
    assert "22" in content and "388.5" in content and answer.choices[0].finish_reason == "stop"


def test_openai_sees_web_search_results_and_flags(client):
    whole = client.chat.completions.create(model="deepseek-v3", messages=user("介绍下故宫"),
                                           extra_body={"web_search": {"enable": True, "enable_citation": True}})
    assert "^[1]^" in whole.choices[0].message.content
    assert whole.model_extra["search_results"][0]["url"].startswith("https://www.example.com/")
    flagged = client.chat.completions.create(model="ernie-speed-8k", messages=user("敏感测试"))
    assert flagged.choices[0].model_extra["flag"] == 2 and flagged.choices[0].finish_reason == "content_filter"


def test_openai_errors_map_to_its_classes(client, emu):
    with pytest.raises(openai.BadRequestError) as bad:
        client.chat.completions.create(model="ernie-speed-8k", messages=user("hi"), temperature=0)
    assert bad.value.status_code == 400 and bad.value.code == "invalid_argument"
    with openai.OpenAI(base_url=emu.base_url + "/v2", api_key="not-a-v2-key", max_retries=0) as wrong:
        with pytest.raises(openai.AuthenticationError) as auth:
            wrong.chat.completions.create(model="ernie-speed-8k", messages=user("hi"))
    assert auth.value.code == "invalid_iam_token"
    emu.inject("rpm")
    with pytest.raises(openai.RateLimitError) as limited:
        client.chat.completions.create(model="ernie-speed-8k", messages=user("hi"))
    assert limited.value.code == "rpm_rate_limit_exceeded"
    emu.set_limits(rpm=1)
    client.chat.completions.create(model="ernie-lite-8k", messages=user("hi"))
    with pytest.raises(openai.RateLimitError):
        client.chat.completions.create(model="ernie-lite-8k", messages=user("hi"))


def test_openai_raises_a_mid_stream_error_event(client, emu):
    emu.inject("stream_error", after=1, message="boom")
    with pytest.raises(openai.APIError) as err:
        list(client.chat.completions.create(model="ernie-speed-8k", messages=user("介绍下故宫"), stream=True))
    assert "boom" in str(err.value)


# ----------------------------------------------------------------------------------- the Qianfan SDK

assert importlib.util.find_spec("qianfan") is not None, "the test extras install the official qianfan SDK"

# The SDK's rate limiter binds to the first event loop it meets: each check runs in its own process.
QIANFAN_V2 = textwrap.dedent("""
    import json, qianfan
    chat = qianfan.ChatCompletion(version="2", model="ernie-speed-8k")
    whole = chat.do(messages=[{"role": "user", "content": "介绍下故宫"}])
    parts = [r.body for r in chat.do(messages=[{"role": "user", "content": "介绍下故宫"}], stream=True)]
    thinking = chat.do(model="deepseek-r1", messages=[{"role": "user", "content": "介绍下北京"}])
    print(json.dumps({"whole": whole.body, "parts": parts, "thinking": thinking.body}, ensure_ascii=False))
""")


def _run_sdk(emu, tmp_path, **credentials):
    env = {k: v for k, v in os.environ.items() if not k.startswith("QIANFAN_")}
    env.update(QIANFAN_BASE_URL=emu.base_url, QIANFAN_CONSOLE_API_BASE_URL=emu.base_url,
               QIANFAN_IAM_BASE_URL=emu.base_url, QIANFAN_LLM_API_RETRY_COUNT="1", HOME=str(tmp_path), **credentials)
    out = subprocess.run([sys.executable, "-c", QIANFAN_V2], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def _check_sdk_answers(data):
    answer = data["whole"]["choices"][0]["message"]["content"]
    assert "故宫" in answer and data["whole"]["object"] == "chat.completion"
    chunks = [p for p in data["parts"] if p.get("choices")]
    assert len(chunks) >= 2 and all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks) == answer
    message = data["thinking"]["choices"][0]["message"]
    assert "北京" in message["reasoning_content"] and message["content"]


def test_qianfan_sdk_v2_mints_a_bearer_token_from_iam_keys(emu, tmp_path):
    data = _run_sdk(emu, tmp_path, QIANFAN_ACCESS_KEY=IAM.iak, QIANFAN_SECRET_KEY=IAM.isk)
    _check_sdk_answers(data)
    seen = [(r["method"], r["path"], r["status"]) for r in emu.requests]
    assert seen[0] == ("GET", "/v1/BCE-BEARER/token", 200)
    assert [s for s in seen[1:]] == [("POST", V2, 200)] * 3  # one token served every call
    assert all(r["headers"]["authorization"] == "Bearer ***" for r in emu.requests if r["path"] == V2)


def test_qianfan_sdk_v2_refused_with_wrong_iam_keys(emu, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("QIANFAN_")}
    env.update(QIANFAN_BASE_URL=emu.base_url, QIANFAN_CONSOLE_API_BASE_URL=emu.base_url,
               QIANFAN_IAM_BASE_URL=emu.base_url, QIANFAN_LLM_API_RETRY_COUNT="1", HOME=str(tmp_path),
               QIANFAN_ACCESS_KEY=IAM.iak, QIANFAN_SECRET_KEY=IAM.wrong_isk)
    out = subprocess.run([sys.executable, "-c", QIANFAN_V2], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode != 0
    assert [(r["path"], r["status"]) for r in emu.requests][0] == ("/v1/BCE-BEARER/token", 401)
    assert not any(r["path"] == V2 and r["status"] == 200 for r in emu.requests)


def test_qianfan_sdk_v2_with_an_api_key(emu, tmp_path):
    data = _run_sdk(emu, tmp_path, QIANFAN_BEARER_TOKEN=KEY)
    _check_sdk_answers(data)
    assert [r["path"] for r in emu.requests] == [V2] * 3  # no token minted: the key is used as it is
