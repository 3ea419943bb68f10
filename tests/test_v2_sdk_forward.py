"""The official openai SDK sends what its users send (max_tokens, the developer role, json_schema, a forced
tool_choice, extra_body thinking fields), and the emulator, which checks requests with the package's own
validate_v2_request, accepts it as the service does."""

from __future__ import annotations

import hashlib

import openai
import pytest

_DIGEST = hashlib.sha256(b"v2-sdk-forward").hexdigest()
KEY = f"bce-v3/ALTAK-FAKEFORWARD{_DIGEST[:8]}/{_DIGEST[8:48]}"
CHAT = "/v2/chat/completions"
TOOL = {"type": "function", "function": {"name": "get_weather", "description": "the weather in a city",
                                         "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                                                        "required": ["city"]}}}


@pytest.fixture
def sdk(emu):
    with openai.OpenAI(base_url=emu.base_url + "/v2", api_key=KEY, max_retries=0, timeout=10) as client:
        yield client


def last_body(emu) -> dict:
    return [r["json"] for r in emu.requests if r["path"] == CHAT][-1]


def test_max_tokens_and_the_developer_role(sdk, emu):
    answer = sdk.chat.completions.create(model="ernie-4.5-turbo-128k", max_tokens=4096, messages=[
        {"role": "developer", "content": "Answer in one line."}, {"role": "user", "content": "hello"}])
    assert answer.choices[0].message.content
    assert last_body(emu)["max_tokens"] == 4096 and last_body(emu)["messages"][0]["role"] == "developer"


def test_json_schema_and_extra_body_thinking_fields(sdk, emu):
    schema = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
    answer = sdk.chat.completions.create(
        model="qwen3-8b", messages=[{"role": "user", "content": "a city in JSON"}],
        response_format={"type": "json_schema", "json_schema": {"name": "city", "schema": schema}},
        extra_body={"enable_thinking": True, "thinking_budget": 1024, "thinking_strategy": "short_think"})
    assert answer.choices[0].message.content is not None
    body = last_body(emu)
    assert (body["enable_thinking"], body["thinking_budget"], body["response_format"]["type"]) == (
        True, 1024, "json_schema")


def test_a_forced_tool_choice_streamed(sdk, emu):
    choice = {"type": "function", "function": {"name": "get_weather"}}
    stream = sdk.chat.completions.create(model="deepseek-v3", stream=True, tools=[TOOL], tool_choice=choice,
                                         messages=[{"role": "user", "content": "Weather in Beijing?"}],
                                         stream_options={"include_usage": True})
    chunks = list(stream)
    assert chunks and last_body(emu)["tool_choice"] == choice


def test_sampling_on_a_reasoning_model_and_a_field_nobody_knows(sdk, emu):
    answer = sdk.chat.completions.create(model="deepseek-r1", temperature=0, top_p=0.5,
                                         messages=[{"role": "user", "content": "hello"}],
                                         extra_body={"some_future_field": {"x": 1}})
    assert answer.choices[0].message.content
    assert last_body(emu)["some_future_field"] == {"x": 1}
