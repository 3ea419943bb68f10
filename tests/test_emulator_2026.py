"""The emulator as the v2 service is in 2026 (spec qianfan-2026.md): known models and ``invalid_model``,
``GET /v2/models``, the split rate-limit headers, JSON answers that follow a schema, forced tool calls, flags 3
and 4, usage on every chunk or on the last one, the search status packet, and image parts. Over loopback, with
httpx and with the official OpenAI SDK."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys

import httpx
import openai
import pytest

from wenxin_magic.api import V2_ERROR_CODES, V2_MODELS

V2 = "/v2/chat/completions"
MODELS = "/v2/models"
_DIGEST = hashlib.sha256(b"emulator-2026").hexdigest()
KEY = f"bce-v3/ALTAK-FAKE2026{_DIGEST[:8]}/{_DIGEST[8:48]}"
EXTRA = "my-finetuned-ernie"  # served because the emulator was started with it


@pytest.fixture(scope="module")
def emulator(emulator_factory):
    return emulator_factory(models=[EXTRA, "Other-Model-X"], rpm=300, tpm=300000)


@pytest.fixture(scope="module")
def _module_http(emulator):
    with httpx.Client(base_url=emulator.base_url, timeout=10, headers={"Authorization": f"Bearer {KEY}"}) as client:
        yield client


@pytest.fixture
def http(emu, _module_http):
    return _module_http


@pytest.fixture
def sdk(emu):
    with openai.OpenAI(base_url=emu.base_url + "/v2", api_key=KEY, max_retries=0, timeout=10) as client:
        yield client


def user(text: str) -> list[dict]:
    return [{"role": "user", "content": text}]


def chat(http, model="ernie-speed-8k", text="介绍下故宫", **body) -> httpx.Response:
    return http.post(V2, json={"model": model, "messages": user(text), **body})


def ok(http, model="ernie-speed-8k", text="介绍下故宫", **body) -> dict:
    r = chat(http, model, text, **body)
    assert r.status_code == 200, r.text
    return r.json()


def stream(http, model="ernie-speed-8k", text="介绍下故宫", **body) -> list[dict]:
    r = chat(http, model, text, stream=True, **body)
    assert r.status_code == 200, r.text
    lines = [line[5:].strip() for line in r.text.splitlines() if line.startswith("data:")]
    assert lines[-1] == "[DONE]"
    return [json.loads(line) for line in lines[:-1]]


def content_of(chunks: list[dict]) -> str:
    return "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])


# ------------------------------------------------------------------------------- known models

def test_an_unknown_model_gets_the_services_invalid_model(http, emu):
    row = V2_ERROR_CODES["invalid_model"]
    for stream_it in (False, True):
        r = chat(http, "ernie-9.9-typo", stream=stream_it)
        assert r.status_code == row.status, r.text
        assert r.json()["error"] == {"code": "invalid_model", "message": row.wire, "type": row.type}
        assert r.json()["id"].startswith("as-")
    assert [entry["status"] for entry in emu.requests if entry["path"] == V2] == [row.status, row.status]


def test_catalog_models_and_the_extra_ones_are_served(http):
    for model in [spec.id for spec in V2_MODELS][:3] + [EXTRA, "OTHER-model-x"]:
        body = ok(http, model, "你好")
        assert body["model"] == model and body["choices"][0]["message"]["content"]


def test_models_lists_the_catalog_then_the_extra_ids(http, emu):
    r = http.get(MODELS)
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/json")
    listing = r.json()
    assert listing["object"] == "list"
    ids = [item["id"] for item in listing["data"]]
    assert ids == [spec.id for spec in V2_MODELS] + [EXTRA, "other-model-x"]
    assert all(item == {"id": item["id"], "object": "model", "owned_by": "", "created": 0} for item in listing["data"])
    assert emu.requests[-1]["path"] == MODELS and emu.requests[-1]["status"] == 200


def test_models_needs_a_valid_bearer_as_chat_does(emu):
    for headers in ({}, {"Authorization": "Bearer not-a-key"}):
        r = httpx.get(emu.base_url + MODELS, headers=headers)
        assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_iam_token"
    r = httpx.post(emu.base_url + MODELS, headers={"Authorization": f"Bearer {KEY}"})
    assert r.status_code == 405


def test_openai_sdk_lists_models_and_raises_the_status_class_of_invalid_model(sdk):
    assert EXTRA in [model.id for model in sdk.models.list()]
    expected = {400: openai.BadRequestError, 401: openai.AuthenticationError}[V2_ERROR_CODES["invalid_model"].status]
    with pytest.raises(expected) as caught:
        sdk.chat.completions.create(model="no-such-model", messages=user("hi"))
    assert caught.value.code == "invalid_model" and caught.value.status_code == V2_ERROR_CODES["invalid_model"].status


def test_emulator_refuses_models_that_are_not_ids():
    from wenxin_magic.emulator import Emulator

    with pytest.raises(ValueError, match="model ids"):
        Emulator(models=["ok", ""]).state()


def test_cli_serves_the_models_it_is_given():
    proc = subprocess.Popen([sys.executable, "-m", "wenxin_magic.emulator", "--port", "0", "--model", "cli-one",
                             "--model", "cli-two"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        url = proc.stdout.readline().strip()
        auth = {"Authorization": f"Bearer {KEY}"}
        ids = [item["id"] for item in httpx.get(url + MODELS, headers=auth, timeout=10).json()["data"]]
        assert ids[-2:] == ["cli-one", "cli-two"]
        served = httpx.post(url + V2, json={"model": "cli-two", "messages": user("你好")}, headers=auth, timeout=10)
        refused = httpx.post(url + V2, json={"model": "cli-three", "messages": user("你好")}, headers=auth, timeout=10)
        assert served.status_code == 200 and refused.json()["error"]["code"] == "invalid_model"
    finally:
        proc.terminate()
        proc.wait(10)


# ------------------------------------------------------------------------------- rate limits

SPLIT = ("X-Ratelimit-Limit-Requests", "X-Ratelimit-Remaining-Requests", "X-Ratelimit-Limit-Input-Tokens",
         "X-Ratelimit-Limit-Output-Tokens", "X-Ratelimit-Remaining-Input-Tokens", "X-Ratelimit-Remaining-Output-Tokens")


def test_v2_sends_the_split_rate_limit_headers(http, emu):
    emu.set_limits(rpm=50, tpm=10000)
    first = chat(http)
    assert all(name in first.headers for name in SPLIT), dict(first.headers)
    assert "X-Ratelimit-Limit-Tokens" not in first.headers
    assert first.headers["X-Ratelimit-Limit-Input-Tokens"] == first.headers["X-Ratelimit-Limit-Output-Tokens"] == \
        "10000"
    usage = first.json()["usage"]  # the headers count the request they answer, and its answer
    assert int(first.headers["X-Ratelimit-Remaining-Requests"]) == 49
    second = chat(http)
    assert int(second.headers["X-Ratelimit-Remaining-Requests"]) == 48
    assert int(second.headers["X-Ratelimit-Remaining-Input-Tokens"]) == 10000 - 2 * usage["prompt_tokens"]
    assert int(second.headers["X-Ratelimit-Remaining-Output-Tokens"]) == 10000 - 2 * usage["completion_tokens"]
    emu.set_limits(rpm=2)
    refused = chat(http)
    assert refused.status_code == 429 and refused.headers["X-Ratelimit-Remaining-Input-Tokens"] == "0"


def test_v1_keeps_its_spelling(emu):
    token = httpx.post(emu.base_url + "/oauth/2.0/token",
                       params={"grant_type": "client_credentials", "client_id": "ak", "client_secret": "sk"})
    r = httpx.post(f"{emu.base_url}/rpc/2.0/ai_custom/v1/wenxinworkshop/chat/ernie_speed",
                   params={"access_token": token.json()["access_token"]}, json={"messages": user("hi")})
    assert "X-Ratelimit-Limit-Tokens" in r.headers and "X-Ratelimit-Remaining-Tokens" in r.headers
    assert "X-Ratelimit-Limit-Input-Tokens" not in r.headers


# ------------------------------------------------------------------------------- JSON answers

PERSON = {"type": "object", "properties": {
    "city": {"type": "string"},
    "answer": {"type": "string"},
    "mood": {"type": "string", "enum": ["calm", "busy", "sunny"]},
    "population": {"type": "integer", "minimum": 1000},
    "ratio": {"type": "number"},
    "visited": {"type": "boolean"},
    "tags": {"type": "array", "items": {"type": "string"}, "minItems": 2},
    "address": {"type": "object", "properties": {"street": {"type": "string"}, "zip": {"type": "integer"}},
                "required": ["street", "zip"], "additionalProperties": False},
    "rooms": {"type": "array", "items": {"$ref": "#/$defs/Room"}},
    "note": {"anyOf": [{"$ref": "#/$defs/Room"}, {"type": "null"}]},
}, "required": ["city", "answer", "mood", "population", "ratio", "visited", "tags", "address", "rooms", "note"],
    "additionalProperties": False,
    "$defs": {"Room": {"type": "object", "properties": {"name": {"type": "string"}, "size": {"type": "number"}},
                       "required": ["name", "size"]}}}
TYPES = {"string": str, "integer": int, "number": (int, float), "boolean": bool, "array": list, "object": dict}


def follows(value, schema: dict, root: dict) -> None:
    """``value`` meets ``schema``: type, enum, bounds, every required key (nested and through ``$ref``)."""
    if "$ref" in schema:
        schema = root["$defs"][schema["$ref"].rsplit("/", 1)[-1]]
    if "anyOf" in schema:
        schema = schema["anyOf"][0] if value is not None else {"type": "null"}
        return None if value is None else follows(value, schema, root)
    assert isinstance(value, TYPES[schema["type"]]) and not (schema["type"] != "boolean" and isinstance(value, bool))
    if "enum" in schema:
        assert value in schema["enum"]
    if "minimum" in schema:
        assert value >= schema["minimum"]
    if schema["type"] == "object":
        assert set(schema.get("required", ())) <= set(value) <= set(schema["properties"]), value
        for key, item in value.items():
            follows(item, schema["properties"][key], root)
    if schema["type"] == "array":
        assert len(value) >= schema.get("minItems", 0)
        for item in value:
            follows(item, schema["items"], root)


def schema_format(schema: dict) -> dict:
    return {"type": "json_schema", "json_schema": {"name": "city_report", "schema": schema, "strict": True}}


def test_json_schema_is_answered_with_json_that_follows_it(http):
    question = "Is it sunny in Hangzhou today?"
    body = ok(http, "deepseek-v3", question, response_format=schema_format(PERSON))
    data = json.loads(body["choices"][0]["message"]["content"])
    follows(data, PERSON, PERSON)
    assert data["city"] == "Hangzhou" and data["mood"] == "sunny"  # the question's place and the enum it names
    assert len(data["answer"]) > 40  # a field named like an answer carries the answer
    chunks = stream(http, "deepseek-v3", question, response_format=schema_format(PERSON))
    assert json.loads(content_of(chunks)) == data


def test_json_schema_of_another_top_level_shape(http):
    listing = {"type": "array", "items": {"type": "object", "properties": {"n": {"type": "integer"}},
                                          "required": ["n"]}}
    data = json.loads(ok(http, "deepseek-v3", "numbers 3 and 5", response_format=schema_format(listing))
                      ["choices"][0]["message"]["content"])
    assert isinstance(data, list) and data and all(isinstance(item["n"], int) for item in data)
    without = {"type": "json_schema", "json_schema": {"name": "free"}}  # no schema: a JSON object still
    text = ok(http, "deepseek-v3", "介绍下北京", response_format=without)["choices"][0]["message"]["content"]
    assert isinstance(json.loads(text), dict)


def test_json_object_is_a_json_object_streamed_and_not(http):
    whole = ok(http, "deepseek-v3", "介绍下北京", response_format={"type": "json_object"})
    data = json.loads(whole["choices"][0]["message"]["content"])
    assert isinstance(data, dict) and "北京" in json.dumps(data, ensure_ascii=False)
    chunks = stream(http, "deepseek-v3", "介绍下北京", response_format={"type": "json_object"})
    assert json.loads(content_of(chunks)) == data


def test_openai_sdk_parses_a_json_schema_answer(sdk):
    answer = sdk.chat.completions.create(model="deepseek-v3", messages=user("Tell me about Chengdu"),
                                         response_format=schema_format(PERSON))
    follows(json.loads(answer.choices[0].message.content), PERSON, PERSON)


# ------------------------------------------------------------------------------- tool choice

WEATHER = {"type": "function", "function": {
    "name": "get_current_weather", "description": "获得指定地点的天气",
    "parameters": {"type": "object", "properties": {"location": {"type": "string"}}, "required": ["location"]}}}
PRICE = {"type": "function", "function": {
    "name": "get_current_price", "description": "获得指定公司的股价",
    "parameters": {"type": "object", "properties": {"company": {"type": "string"}}, "required": ["company"]}}}


def test_a_forced_tool_choice_calls_the_named_function(http):
    forced = {"type": "function", "function": {"name": "get_current_price"}}
    # the question is about the weather: the choice, not the question, decides
    choice = ok(http, "deepseek-v3", "北京今天天气怎么样", tools=[WEATHER, PRICE], tool_choice=forced)["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert [call["function"]["name"] for call in choice["message"]["tool_calls"]] == ["get_current_price"]
    assert "company" in json.loads(choice["message"]["tool_calls"][0]["function"]["arguments"])


def test_parallel_tool_calls_false_makes_one_call_a_round(http):
    question = "北京和上海今天天气怎么样"
    both = ok(http, "deepseek-v3", question, tools=[WEATHER])["choices"][0]["message"]["tool_calls"]
    one = ok(http, "deepseek-v3", question, tools=[WEATHER], parallel_tool_calls=False)["choices"][0]["message"]
    assert len(both) == 2 and len(one["tool_calls"]) == 1
    assert one["tool_calls"][0]["function"]["arguments"] == both[0]["function"]["arguments"]


def test_openai_sdk_streams_a_forced_tool_call(sdk):
    forced = {"type": "function", "function": {"name": "get_current_weather"}}
    names, arguments, finish = "", "", None
    for event in sdk.chat.completions.create(model="deepseek-v3", messages=user("Tell me a joke"), stream=True,
                                              tools=[WEATHER, PRICE], tool_choice=forced, parallel_tool_calls=False):
        for delta in event.choices[0].delta.tool_calls or () if event.choices else ():
            assert delta.index == 0
            names += delta.function.name or ""
            arguments += delta.function.arguments or ""
        finish = (event.choices[0].finish_reason if event.choices else None) or finish
    assert names == "get_current_weather" and finish == "tool_calls"
    assert isinstance(json.loads(arguments)["location"], str)


# ------------------------------------------------------------------------------- flags 3 and 4

def flags(chunks: list[dict]) -> list[int]:
    return [c["choices"][0]["flag"] for c in chunks if c["choices"]]


def test_hide_demo_answers_with_flag_3(http):
    plain = ok(http, text="介绍下故宫")["choices"][0]
    assert plain["flag"] == 0 and "ban_round" not in plain
    choice = ok(http, text="hide-demo 介绍下故宫")["choices"][0]
    assert choice["flag"] == 3 and choice["ban_round"] == -1 and choice["message"]["content"]
    chunks = stream(http, text="hide-demo 介绍下故宫")
    assert set(flags(chunks)) == {3} and all(c["choices"][0]["ban_round"] == -1 for c in chunks)


def test_withdraw_demo_streams_some_text_then_withdraws_it(http):
    chunks = stream(http, text="withdraw-demo 介绍下故宫")
    shown = content_of(chunks)
    assert shown  # some text went out before the withdrawal
    assert flags(chunks)[:-1] == [0] * (len(chunks) - 1) and flags(chunks)[-1] == 4
    last = chunks[-1]["choices"][0]
    assert last["ban_round"] == -1 and last["delta"] == {} and last["finish_reason"] == "content_filter"
    choice = ok(http, text="withdraw-demo 介绍下故宫")["choices"][0]
    assert choice["flag"] == 4 and choice["message"]["content"] == shown


def test_only_the_question_of_this_round_raises_a_flag(http):
    messages = [*user("hide-demo 你好"), {"role": "assistant", "content": "好"}, *user("介绍下故宫")]
    r = http.post(V2, json={"model": "ernie-speed-8k", "messages": messages})
    assert r.json()["choices"][0]["flag"] == 0


def test_flag_faults_on_v2(http, emu):
    whole = ok(http)["choices"][0]["message"]["content"]
    emu.inject("flag_hide")
    choice = ok(http)["choices"][0]
    assert choice["flag"] == 3 and choice["ban_round"] == -1 and choice["message"]["content"] == whole
    emu.inject("flag_withdraw", ban_round=2)
    chunks = stream(http)
    assert flags(chunks)[-1] == 4 and set(flags(chunks)[:-1]) == {0} and chunks[-1]["choices"][0]["ban_round"] == 2
    assert whole.startswith(content_of(chunks)) and len(content_of(chunks)) < len(whole)
    assert emu.state().faults == []


def test_flag_faults_on_v1_clear_the_history(emu):
    token = httpx.post(emu.base_url + "/oauth/2.0/token",
                       params={"grant_type": "client_credentials", "client_id": "ak", "client_secret": "sk"})
    url = f"{emu.base_url}/rpc/2.0/ai_custom/v1/wenxinworkshop/chat/ernie_speed"
    for fault in ("flag_hide", "flag_withdraw"):
        emu.inject(fault)
        data = httpx.post(url, params={"access_token": token.json()["access_token"]},
                          json={"messages": user("介绍下故宫")}).json()
        assert data["need_clear_history"] is True and data["ban_round"] == -1, fault


# ------------------------------------------------------------------------------- usage in a stream

def test_chunk_include_usage_puts_the_usage_so_far_on_every_chunk(http):
    whole = ok(http)["usage"]
    chunks = stream(http, stream_options={"chunk_include_usage": True})
    assert all("usage" in c for c in chunks) and all(c["choices"] for c in chunks)
    completions = [c["usage"]["completion_tokens"] for c in chunks]
    assert completions == sorted(completions) and completions[0] < completions[-1]
    assert chunks[-1]["usage"] == whole
    both = stream(http, stream_options={"include_usage": True, "chunk_include_usage": True})
    assert both[-1]["choices"] == [] and both[-1]["usage"] == whole == both[-2]["usage"]


def test_usage_on_last_chunk_fault_moves_the_usage_onto_the_finish_chunk(http, emu):
    whole = ok(http)["usage"]
    default = stream(http, stream_options={"include_usage": True})
    assert default[-1]["choices"] == [] and default[-1]["usage"] == whole
    assert "usage" not in default[-2]
    emu.inject("usage_on_last_chunk")
    moved = stream(http, stream_options={"include_usage": True})
    assert all(c["choices"] for c in moved) and moved[-1]["choices"][0]["finish_reason"] == "stop"
    assert moved[-1]["usage"] == whole and all("usage" not in c for c in moved[:-1])


def test_openai_sdk_reads_usage_from_either_shape(sdk, emu):
    def last_usage(**kw):
        found = None
        for event in sdk.chat.completions.create(model="ernie-speed-8k", messages=user("介绍下故宫"), stream=True,
                                                  **kw):
            found = event.usage or found
        return found

    whole = sdk.chat.completions.create(model="ernie-speed-8k", messages=user("介绍下故宫")).usage
    assert last_usage(stream_options={"include_usage": True}).total_tokens == whole.total_tokens
    emu.inject("usage_on_last_chunk")
    assert last_usage(stream_options={"include_usage": True}).total_tokens == whole.total_tokens
    assert last_usage(extra_body={"stream_options": {"chunk_include_usage": True}}).total_tokens == \
        whole.total_tokens


# ------------------------------------------------------------------------------- search status

def test_enable_status_makes_the_first_packet_a_search_status(http):
    search = {"enable": True, "enable_status": True}
    chunks = stream(http, "deepseek-v3", "北京今天有什么新闻", web_search=search)
    first = chunks[0]
    assert first["delta_tag"] == "search_status" and first["choices"][0]["delta_tag"] == "search_status"
    assert first["choices"][0]["delta"] == {} and first["choices"][0]["finish_reason"] is None
    assert all("delta_tag" not in c for c in chunks[1:])
    without = stream(http, "deepseek-v3", "北京今天有什么新闻", web_search={"enable": True})
    assert content_of(chunks) == content_of(without) and "delta_tag" not in without[0]
    assert "delta_tag" not in stream(http, "deepseek-v3", "北京", web_search={"enable": False, "enable_status": True})[0]


# ------------------------------------------------------------------------------- image parts

IMAGE = [{"type": "text", "text": "这张图里有什么"},
         {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}]


def test_image_parts_on_a_model_whose_vision_is_not_known_are_accepted(http):
    r = http.post(V2, json={"model": EXTRA, "messages": [{"role": "user", "content": IMAGE}]})
    assert r.status_code == 200 and r.json()["choices"][0]["message"]["content"]


def test_image_parts_on_a_model_that_sees_nothing_are_refused(http):
    """The catalog row's vision decides: a text model is refused an image, a vision model answers it."""
    blind = [spec for spec in V2_MODELS if not spec.vision]
    seeing = [spec for spec in V2_MODELS if "image" in spec.vision]
    assert len(blind) >= 2 and seeing
    for spec in blind[:2]:
        r = http.post(V2, json={"model": spec.id, "messages": [{"role": "user", "content": IMAGE}]})
        assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_argument", spec.id
    r = http.post(V2, json={"model": seeing[0].id, "messages": [{"role": "user", "content": IMAGE}]})
    assert r.status_code == 200, r.text


# ------------------------------------------------------------------------------- reasoning switches

def test_the_catalog_rows_reasoning_switch_decides_whether_the_answer_thinks():
    from types import SimpleNamespace as Row

    from wenxin_magic.emulator._v2 import thinks

    enable = Row(reasoning=True, always_thinks=False, thinking_param="enable_thinking", thinking_default=True)
    assert thinks(enable, {}) and not thinks(enable, {"enable_thinking": False})
    typed = Row(reasoning=True, always_thinks=False, thinking_param="thinking", thinking_default=False)
    assert not thinks(typed, {}) and thinks(typed, {"thinking": {"type": "enabled"}})
    assert not thinks(typed, {"thinking": {"type": "disabled"}})
    always = Row(reasoning=True, always_thinks=True, thinking_param=None, thinking_default=None)
    assert thinks(always, {"enable_thinking": False})
    never = Row(reasoning=False, always_thinks=False, thinking_param=None, thinking_default=None)
    assert not thinks(never, {"enable_thinking": True})
    older = Row(reasoning=True, thinking_switch=True)  # a row from before the catalog's reasoning fields
    assert thinks(older, {"enable_thinking": True}) and not thinks(older, {})


def test_a_switch_model_thinks_when_asked_over_http(http):
    switch = next(spec for spec in V2_MODELS if getattr(spec, "thinking_param", "enable_thinking") ==
                  "enable_thinking" and spec.thinking_switch and not getattr(spec, "always_thinks", False))
    on = ok(http, switch.id, "介绍下故宫", enable_thinking=True)["choices"][0]["message"]
    off = ok(http, switch.id, "介绍下故宫", enable_thinking=False)["choices"][0]["message"]
    assert on.get("reasoning_content") and not off.get("reasoning_content")
    assert on["content"] == off["content"]


def test_openai_sdk_sends_a_thinking_switch_in_extra_body(sdk):
    switch = next(spec for spec in V2_MODELS if getattr(spec, "thinking_param", "enable_thinking") ==
                  "enable_thinking" and spec.thinking_switch and not getattr(spec, "always_thinks", False))
    answer = sdk.chat.completions.create(model=switch.id, messages=user("介绍下故宫"),
                                         extra_body={"enable_thinking": True})
    assert answer.choices[0].message.model_extra["reasoning_content"]
    plain = sdk.chat.completions.create(model=switch.id, messages=user("介绍下故宫"),
                                        extra_body={"enable_thinking": False})
    assert not (plain.choices[0].message.model_extra or {}).get("reasoning_content")
