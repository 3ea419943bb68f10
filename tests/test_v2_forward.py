"""The v2 client is forward-compatible: it sends every documented field (and any other, with a note), maps the
reasoning controls per model, and reads the answer shapes of 2026 (usage wherever it rides, flags 3 and 4, the
search status, split rate-limit headers, the model list, invalid_model). Against the emulator over loopback,
and a small fake server for the shapes the emulator does not send."""

from __future__ import annotations

import pytest

from _fake_qianfan import FakeQianfan
from _fakes import fake_keys
from wenxin_magic.api import InvalidRequestError, QianfanClient

KEYS = fake_keys("v2_forward")
KEY = "bce-v3/ALTAK-forwardTest/" + KEYS.ak.rsplit("-", 1)[1]
HELLO = [{"role": "user", "content": "hello"}]
CHAT = "/v2/chat/completions"
SCHEMA = {"type": "json_schema", "json_schema": {"name": "city", "schema": {
    "type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}, "strict": True}}
TOOL = {"type": "function", "function": {"name": "get_weather", "description": "the weather in a city",
                                         "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                                                        "required": ["city"]}}}


@pytest.fixture
async def keyed(emu):
    async with QianfanClient(bearer_token=KEY, base_url=emu.base_url, retry_backoff=0.01, timeout=10) as client:
        yield client


def sent(emu) -> list[dict]:
    return [r["json"] for r in emu.requests if r["path"] == CHAT]


# -- what the client sends, answered by the emulator ---------------------------------------------------------

async def test_max_tokens_is_taken_as_documented(keyed, emu):
    answer = await keyed.chat("ernie-4.5-turbo-128k", HELLO, max_tokens=4096)
    assert answer.text and sent(emu)[-1]["max_tokens"] == 4096 and answer.notes == ()


async def test_max_tokens_beyond_the_models_output_is_refused_in_the_services_words(keyed, emu):
    with pytest.raises(InvalidRequestError) as caught:
        await keyed.chat("ernie-speed-8k", HELLO, max_tokens=4096)
    assert caught.value.wire_message == "parameter check failed, max_completion_tokens range is [1, 2048]"
    assert caught.value.field == "max_tokens" and sent(emu) == []


@pytest.mark.parametrize("temperature", [0, 1.5])
async def test_deepseek_takes_sampling_values_outside_ernies_range(keyed, emu, temperature):
    answer = await keyed.chat("deepseek-v3", HELLO, temperature=temperature, top_p=1)
    assert answer.text and sent(emu)[-1]["temperature"] == temperature


async def test_every_documented_field_is_sent(keyed, emu):
    fields = dict(thinking_budget=2048, thinking_strategy="short_think", reasoning_effort="low",
                  stream_options={"include_usage": True, "chunk_include_usage": True}, metadata={"class": "7b"},
                  repetition_penalty=1.05, response_format=SCHEMA, seed=42, stop=["END"])
    stream = keyed.stream_chat("qwen3-8b", [{"role": "developer", "content": "Be brief."}, *HELLO], **fields)
    chunks = [chunk async for chunk in stream]
    body = sent(emu)[-1]
    assert {name: body[name] for name in fields} == fields
    assert body["messages"][0]["role"] == "developer" and stream.text
    assert all(not chunk.notes for chunk in chunks)


async def test_an_unknown_field_is_sent_as_it_is_with_a_note(keyed, emu):
    answer = await keyed.chat("ernie-speed-8k", HELLO, foo={"bar": 1})
    assert sent(emu)[-1]["foo"] == {"bar": 1}
    assert answer.notes == ("`foo` is not a parameter this package knows; sent as it is",)


async def test_a_forced_tool_choice_is_sent_on_a_model_that_takes_tools(keyed, emu):
    choice = {"type": "function", "function": {"name": "get_weather"}}
    stream = keyed.stream_chat("ernie-x1-turbo-32k", [{"role": "user", "content": "Weather in Beijing?"}],
                               tools=[TOOL], tool_choice=choice, parallel_tool_calls=False)
    [chunk async for chunk in stream]
    assert sent(emu)[-1]["tool_choice"] == choice and sent(emu)[-1]["parallel_tool_calls"] is False


async def test_sampling_on_a_reasoning_model_is_sent_with_a_note(keyed, emu):
    stream = keyed.stream_chat("deepseek-r1", HELLO, temperature=0.3, top_p=0.9)
    chunks = [chunk async for chunk in stream]
    assert sent(emu)[-1]["temperature"] == 0.3
    assert chunks[0].notes == ("`temperature`, `top_p`: deepseek-r1 reasons first; the service accepts sampling "
                               "parameters on reasoning and ignores them",)
    assert all(chunk.notes == () for chunk in chunks[1:])


async def test_think_maps_to_each_models_switch(keyed, emu):
    answer = await keyed.chat("qwen3-235b-a22b", HELLO, think=True, thinking_budget=500, effort="high")
    body = sent(emu)[-1]
    assert (body["enable_thinking"], body["thinking_budget"], body["reasoning_effort"]) == (True, 500, "high")
    assert not {"think", "effort"} & set(body)
    assert answer.notes[0] == "think=true sent as enable_thinking=true (qwen3-235b-a22b)" and answer.reasoning


async def test_think_on_a_model_without_a_switch_sends_nothing_and_says_so(keyed, emu):
    answer = await keyed.chat("deepseek-r1", HELLO, think=False)
    assert not {"think", "enable_thinking", "thinking"} & set(sent(emu)[-1])
    assert answer.notes == ("think=false: deepseek-r1 always thinks and has no switch; not sent (it will think "
                            "anyway)",)
    plain = await keyed.chat("ernie-speed-8k", HELLO, think=True, effort="low")
    assert plain.notes == ("think=true, effort=low: ernie-speed-8k does not reason; not sent",)


async def test_a_reasoning_control_of_the_wrong_kind_never_leaves(keyed, emu):
    with pytest.raises(InvalidRequestError) as caught:
        await keyed.chat("qwen3-8b", HELLO, effort="max")
    assert (caught.value.field, caught.value.allowed) == ("effort", "low | medium | high") and sent(emu) == []


async def test_an_image_on_a_text_only_model_never_leaves(keyed, emu):
    image = [{"role": "user", "content": [{"type": "text", "text": "what is this?"},
                                          {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}]}]
    with pytest.raises(InvalidRequestError) as caught:
        await keyed.chat("deepseek-v3", image)
    assert (caught.value.code, caught.value.field) == ("invalid_argument", "messages.content")
    assert "deepseek-v3 reads no images" in caught.value.message and sent(emu) == []


async def test_notes_on_a_v1_model(emu):
    async with QianfanClient(access_key=KEYS.iak, secret_access_key=KEYS.isk, base_url=emu.base_url,
                             timeout=10) as client:
        answer = await client.chat("ERNIE-Speed-8K", HELLO, think=True)
    assert answer.notes == ("think=true: ERNIE-Speed-8K is a v1 model, which has no reasoning controls; not sent",)


# -- answer shapes from a fake server ------------------------------------------------------------------------

def _chunk(delta=None, finish=None, flag=None, usage=None, **choice_extra) -> dict:
    choice = {"index": 0, "delta": delta if delta is not None else {}, "finish_reason": finish, **choice_extra}
    if flag is not None:
        choice["flag"] = flag
    event = {"id": "as-1", "object": "chat.completion.chunk", "created": 1, "model": "ernie-5.1", "choices": [choice]}
    if usage is not None:
        event["usage"] = usage
    return event


def _usage(prompt, completion):
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


@pytest.fixture
def fake():
    with FakeQianfan() as server:
        yield server


@pytest.fixture
async def faked(fake):
    async with QianfanClient(bearer_token=KEY, base_url=fake.base_url, retry_backoff=0.01, timeout=10) as client:
        yield client


async def _stream(client, model="ernie-5.1", **params):
    stream = client.stream_chat(model, HELLO, **params)
    return stream, [chunk async for chunk in stream]


async def test_usage_on_the_last_choice_chunk_reaches_the_final_chunk(fake, faked):
    fake.stream(CHAT, _chunk({"content": "Hi"}), _chunk({"content": "."}, "stop", usage=_usage(4, 2)))
    stream, chunks = await _stream(faked)
    assert chunks[-1].final and (chunks[-1].usage.prompt_tokens, chunks[-1].usage.completion_tokens) == (4, 2)
    assert stream.text == "Hi."


async def test_usage_on_every_chunk_the_last_wins(fake, faked):
    fake.stream(CHAT, _chunk({"content": "a"}, usage=_usage(4, 1)), _chunk({"content": "b"}, usage=_usage(4, 2)),
                _chunk({}, "stop", usage=_usage(4, 3)), {"id": "as-1", "choices": [], "usage": _usage(4, 9)})
    _, chunks = await _stream(faked, stream_options={"include_usage": True, "chunk_include_usage": True})
    assert chunks[-1].usage.completion_tokens == 9 and chunks[0].usage.completion_tokens == 1


async def test_flag_4_withdraws_and_reaches_the_final_chunk(fake, faked):
    fake.stream(CHAT, _chunk({"content": "Some text"}, flag=0), _chunk({}, "stop", flag=4, ban_round=-1))
    _, chunks = await _stream(faked)
    assert [chunk.flag for chunk in chunks] == [0, 4, 4]
    assert chunks[-1].ban_round == -1 and chunks[-1].need_clear_history


async def test_flag_3_on_a_whole_answer_and_0_when_absent(fake, faked):
    fake.answer(CHAT, 200, {"id": "as-2", "object": "chat.completion", "choices": [
        {"index": 0, "message": {"role": "assistant", "content": "x"}, "finish_reason": "stop", "flag": 3,
         "ban_round": -1}], "usage": _usage(1, 1)})
    hidden = await faked.chat("ernie-5.1", HELLO)
    assert (hidden.flag, hidden.ban_round) == (3, -1)
    fake.answer(CHAT, 200, {"id": "as-3", "object": "chat.completion", "choices": [
        {"index": 0, "message": {"role": "assistant", "content": "x"}, "finish_reason": "stop"}]})
    assert (await faked.chat("ernie-5.1", HELLO)).flag == 0


async def test_a_search_status_packet_says_searching_and_references_keep_their_source(fake, faked):
    results = [{"index": 1, "url": "https://a.example", "title": "A", "datasource_id": "ds-7"}]
    fake.stream(CHAT, _chunk({}, delta_tag="search_status"),
                {**_chunk({"content": "Found."}), "search_results": results}, _chunk({}, "stop"))
    stream, chunks = await _stream(faked, web_search={"enable": True, "enable_status": True, "search_number": 28})
    assert chunks[0].status == "searching" and chunks[0].text == ""
    assert [chunk.status for chunk in chunks[1:]] == [None, None, None]
    assert chunks[-1].search_results == results and chunks[-1].search_results[0]["datasource_id"] == "ds-7"
    assert stream.text == "Found."


async def test_references_under_web_search_are_read_too(fake, faked):
    results = [{"index": 1, "url": "https://b.example", "title": "B", "datasource_id": "ds-8"}]
    fake.answer(CHAT, 200, {"id": "as-4", "object": "chat.completion", "web_search": {"search_results": results},
                            "choices": [{"index": 0, "message": {"role": "assistant", "content": "x"},
                                         "finish_reason": "stop"}]})
    assert (await faked.chat("ernie-5.1", HELLO)).search_results == results


SPLIT = {"X-Ratelimit-Limit-Requests": "300", "X-Ratelimit-Remaining-Requests": "299",
         "X-Ratelimit-Limit-Input-Tokens": "100000", "X-Ratelimit-Limit-Output-Tokens": "20000",
         "X-Ratelimit-Remaining-Input-Tokens": "99990", "X-Ratelimit-Remaining-Output-Tokens": "19995"}


async def test_split_rate_limit_headers_are_read(fake, faked):
    fake.stream(CHAT, _chunk({"content": "Hi"}, "stop"), headers=SPLIT)
    stream, _ = await _stream(faked)
    limit = stream.rate_limit
    assert (limit.limit_requests, limit.remaining_requests) == (300, 299)
    assert (limit.limit_input_tokens, limit.limit_output_tokens) == (100000, 20000)
    assert (limit.remaining_input_tokens, limit.remaining_output_tokens) == (99990, 19995)
    assert (limit.limit_tokens, limit.remaining_tokens) == (None, None)


async def test_the_single_token_spelling_still_reads(fake, faked):
    fake.answer(CHAT, 200, {"id": "as", "choices": [{"index": 0, "message": {"content": "x"}}]},
                headers={"X-Ratelimit-Limit-Tokens": "300000", "X-Ratelimit-Remaining-Tokens": "299000"})
    limit = (await faked.chat("ernie-5.1", HELLO)).rate_limit
    assert (limit.limit_tokens, limit.remaining_tokens, limit.limit_input_tokens) == (300000, 299000, None)


async def test_list_models_asks_the_service_with_the_bearer(fake, faked):
    fake.answer("/v2/models", 200, {"object": "list", "data": [
        {"id": "ernie-speed-128k", "object": "model", "owned_by": "", "created": 0},
        {"id": "ernie-5.1", "object": "model", "owned_by": "", "created": 0}, {"object": "model"}]})
    assert await faked.list_models() == ["ernie-speed-128k", "ernie-5.1"]
    method, path, headers, body = fake.requests[-1]
    assert (method, path, body) == ("GET", "/v2/models", None)
    assert headers["Authorization"] == f"Bearer {KEY}"


INVALID_MODEL = {"error": {"code": "invalid_model", "message": "The model does not exist or you do not have access "
                           "to it.", "type": "invalid_request_error"}, "id": "as-x"}


@pytest.mark.parametrize("streamed", [False, True])
async def test_invalid_model_names_the_model(fake, faked, streamed):
    fake.answer(CHAT, 401, INVALID_MODEL)
    with pytest.raises(InvalidRequestError) as caught:
        if streamed:
            await _stream(faked, "ernie-9.9")
        else:
            await faked.chat("ernie-9.9", HELLO)
    error = caught.value
    assert (error.code, error.status, error.field, error.model) == ("invalid_model", 401, "model", "ernie-9.9")
    assert "'ernie-9.9' does not exist" in error.message
    assert error.wire_message == "The model does not exist or you do not have access to it."
    assert "list_models" in error.hint and len(fake.requests) == 1  # a 401 of this kind is not retried
