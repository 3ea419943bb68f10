"""The official OpenAI SDK against the emulator, with the requests people send the real service in 2026.

Each request here is one the service documents and accepts (spec: qianfan-2026.md §1, §3); a client nobody here
wrote sends it, so the emulator is judged by the service's rules, not by our client's.
"""

from __future__ import annotations

import hashlib
import json

import openai  # a test dependency: its absence must fail, not skip
import pytest

V2 = "/v2/chat/completions"
_DIGEST = hashlib.sha256(b"v2-fidelity-2026").hexdigest()
KEY = f"bce-v3/ALTAK-FAKE2026{_DIGEST[:8]}/{_DIGEST[8:48]}"

WEATHER = {"type": "function", "function": {
    "name": "get_current_weather", "description": "获得指定地点的天气",
    "parameters": {"type": "object", "properties": {"location": {"type": "string"}}, "required": ["location"]}}}
CITY = {"type": "object",
        "properties": {"city": {"type": "string"}, "population": {"type": "integer"},
                       "famous_for": {"type": "array", "items": {"type": "string"}},
                       "kind": {"type": "string", "enum": ["capital", "port", "other"]}},
        "required": ["city", "population", "famous_for", "kind"], "additionalProperties": False}


@pytest.fixture
def client(emu):
    with openai.OpenAI(base_url=emu.base_url + "/v2", api_key=KEY, max_retries=0, timeout=10) as c:
        yield c


def user(text: str) -> list[dict]:
    return [{"role": "user", "content": text}]


def last_body(emu) -> dict:
    return [r for r in emu.requests if r["path"] == V2][-1]["json"]


def test_max_tokens_is_accepted_on_a_128k_model(client):
    whole = client.chat.completions.create(model="ernie-4.5-turbo-128k", messages=user("介绍下故宫"), max_tokens=4096)
    assert whole.choices[0].message.content and whole.choices[0].finish_reason in ("stop", "length")


def test_a_developer_message_is_accepted(client):
    messages = [{"role": "developer", "content": "Answer briefly."}] + user("介绍下故宫")
    whole = client.chat.completions.create(model="ernie-4.5-turbo-32k", messages=messages)
    assert whole.choices[0].message.content


def test_a_forced_tool_choice_is_honoured_in_a_stream(client):
    chunks = list(client.chat.completions.create(
        model="ernie-4.5-turbo-32k", messages=user("你好"), tools=[WEATHER], stream=True,
        tool_choice={"type": "function", "function": {"name": "get_current_weather"}}))
    calls = [call for chunk in chunks if chunk.choices for call in (chunk.choices[0].delta.tool_calls or [])]
    assert calls and calls[0].function.name == "get_current_weather"
    arguments = json.loads("".join(call.function.arguments or "" for call in calls))
    assert isinstance(arguments["location"], str)
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == ["tool_calls"]


def test_json_schema_is_answered_with_json_that_follows_it(client):
    whole = client.chat.completions.create(
        model="ernie-4.5-turbo-32k", messages=user("介绍一个中国城市"),
        response_format={"type": "json_schema", "json_schema": {"name": "city", "schema": CITY, "strict": True}})
    data = json.loads(whole.choices[0].message.content)
    assert set(data) == {"city", "population", "famous_for", "kind"}
    assert isinstance(data["city"], str) and isinstance(data["population"], int)
    assert all(isinstance(item, str) for item in data["famous_for"]) and data["kind"] in ("capital", "port", "other")


def test_an_unknown_model_raises_the_sdks_authentication_error(client):
    with pytest.raises(openai.AuthenticationError) as caught:
        client.chat.completions.create(model="ernie-9.9-imaginary", messages=user("你好"))
    assert caught.value.status_code == 401
    assert caught.value.body["code"] == "invalid_model"
    assert "does not exist" in caught.value.body["message"]


@pytest.mark.parametrize("extra", [{"enable_thinking": True}, {"thinking": {"type": "enabled"}},
                                   {"thinking_budget": 2048, "thinking_strategy": "short_think"},
                                   {"reasoning_effort": "low"},
                                   {"stream_options": {"include_usage": True, "chunk_include_usage": True}},
                                   {"metadata": {"lesson": "1"}, "repetition_penalty": 1.05}])
def test_documented_extra_fields_are_accepted(client, emu, extra):
    stream = "stream_options" in extra
    result = client.chat.completions.create(model="qwen3-235b-a22b", messages=user("1+1等于几？"), stream=stream,
                                            extra_body=extra)
    if stream:
        chunks = list(result)
        assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    else:
        assert result.choices[0].message.content
    body = last_body(emu)
    assert all(body[name] == value for name, value in extra.items())


def test_temperatures_outside_ernies_range_reach_deepseek(client):
    for temperature in (0, 1.5):
        whole = client.chat.completions.create(model="deepseek-v3", messages=user("介绍下故宫"),
                                               temperature=temperature)
        assert whole.choices[0].message.content


def test_the_model_list_names_what_the_key_can_call(client):
    ids = [model.id for model in client.models.list()]
    assert "ernie-speed-8k" in ids and "ernie-4.5-turbo-32k" in ids and len(ids) == len(set(ids))
