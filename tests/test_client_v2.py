"""QianfanClient on Qianfan's v2 API: request translation, SSE parsing and error mapping against scripted
answers (httpx.MockTransport), then end to end against the emulator's v2 over loopback HTTP."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from _fakes import fake_keys
from wenxin_magic.api import (APIConnectionError, AuthenticationError, InvalidRequestError, QianfanClient,
                              RateLimitError, ServerError, StreamInterruptedError)
from wenxin_magic.api import _client as client_module
from wenxin_magic.api._v2 import _bearer as bearer_module

KEYS = fake_keys("client_v2")
KEY = "bce-v3/ALTAK-clientV2test/" + KEYS.ak.rsplit("-", 1)[1]
OTHER_KEY = "bce-v3/ALTAK-notAllowed/0000"
HELLO = [{"role": "user", "content": "hello"}]
BASE = "http://qianfan.test"
TOOL = {"type": "function", "function": {"name": "get_weather", "description": "the weather in a city",
                                         "parameters": {"type": "object",
                                                        "properties": {"city": {"type": "string"}},
                                                        "required": ["city"]}}}


# -- scripted answers ----------------------------------------------------------------------------------

def _event(delta=None, finish=None, **extra) -> dict:
    choice = {"index": 0, "delta": delta or {}, "finish_reason": finish, "flag": 0}
    return {"id": "as-1", "object": "chat.completion.chunk", "created": 1, "model": "ernie-speed-8k",
            "choices": [choice], **extra}


def _usage_event(prompt=3, completion=5, reasoning=None) -> dict:
    usage = {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}
    if reasoning is not None:
        usage["completion_tokens_details"] = {"reasoning_tokens": reasoning}
    return {"id": "as-1", "object": "chat.completion.chunk", "created": 1, "model": "ernie-speed-8k",
            "choices": [], "usage": usage}


def sse(*events, done=True, eol="\n") -> bytes:
    text = "".join(f"data: {json.dumps(e, ensure_ascii=False)}{eol}{eol}" for e in events)
    if done:
        text += f"data: [DONE]{eol}{eol}"
    return text.encode("utf-8")


def whole(content="Hi.", **message) -> dict:
    return {"id": "as-2", "object": "chat.completion", "created": 1, "model": "ernie-speed-8k",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content, **message},
                         "finish_reason": "stop", "flag": 0}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3}}


def error_json(code: str, message: str = "no", status: int = 400) -> tuple[int, dict]:
    return status, {"error": {"code": code, "message": message, "type": "invalid_request_error"}, "id": "as-err"}


class Script:
    """A MockTransport handler answering from a list, recording every request."""

    def __init__(self, *answers):
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        return answer(request)

    @property
    def bodies(self) -> list[dict]:
        return [json.loads(r.content) for r in self.requests if r.method == "POST"]


def stream_response(*pieces: bytes, fail: Exception | None = None):
    """An event stream sent in these pieces (then ``fail`` raised, if given): a fresh one for each request."""
    async def body():
        for piece in pieces:
            yield piece
        if fail is not None:
            raise fail
    return lambda request: httpx.Response(200, headers={"content-type": "text/event-stream"}, content=body())


def json_response(status: int, data, headers=None):
    return lambda request: httpx.Response(status, json=data, headers=headers)


def scripted(script: Script, **options) -> QianfanClient:
    options = {"bearer_token": KEY, "base_url": BASE, "retry_backoff": 0.001, **options}
    client = QianfanClient(**options)
    client._http = httpx.AsyncClient(transport=httpx.MockTransport(script), timeout=5,
                                     headers={"Content-Type": "application/json"})
    return client


class Clock:
    """Stands in for the asyncio module in the client: records the waits asked for instead of sleeping."""

    def __init__(self):
        self.waits: list[float] = []

    async def sleep(self, seconds):
        self.waits.append(seconds)

    def __getattr__(self, name):
        return getattr(asyncio, name)


async def collect(stream) -> list:
    return [chunk async for chunk in stream]


# -- request translation ---------------------------------------------------------------------------------

async def test_a_v2_request_is_a_bearer_post_to_chat_completions():
    script = Script(json_response(200, whole()))
    async with scripted(script, app_id="app-77") as client:
        answer = await client.chat("ernie-speed-8k", HELLO)
    request = script.requests[0]
    assert (request.method, str(request.url)) == ("POST", BASE + "/v2/chat/completions")
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert request.headers["appid"] == "app-77"
    assert script.bodies[0] == {"model": "ernie-speed-8k", "messages": HELLO, "stream": False}
    assert (answer.api, answer.result, answer.model, answer.request_id) == ("v2", "Hi.", "ernie-speed-8k", "as-2")


async def test_no_appid_header_without_an_app_id(monkeypatch):
    monkeypatch.delenv("QIANFAN_APP_ID", raising=False)
    script = Script(json_response(200, whole()))
    async with scripted(script) as client:
        await client.chat("ernie-speed-8k", HELLO)
    assert "appid" not in script.requests[0].headers


async def test_v1_spellings_are_translated():
    script = Script(json_response(200, whole()))
    async with scripted(script) as client:
        await client.chat("ernie-4.5-turbo-32k", HELLO, system="Be brief.", max_output_tokens=100,
                          response_format="json_object", web_search=True, penalty_score=1.2, temperature=0.5,
                          top_p=0.9, stop=["END"], frequency_penalty=0.1, presence_penalty=0.2, user_id="u1")
    body = script.bodies[0]
    assert body["messages"] == [{"role": "system", "content": "Be brief."}, *HELLO]
    assert body["max_completion_tokens"] == 100 and "max_output_tokens" not in body
    assert body["response_format"] == {"type": "json_object"}
    assert body["web_search"] == {"enable": True, "enable_citation": True, "enable_trace": True}
    assert (body["penalty_score"], body["temperature"], body["top_p"], body["stop"]) == (1.2, 0.5, 0.9, ["END"])
    assert (body["frequency_penalty"], body["presence_penalty"], body["user"]) == (0.1, 0.2, "u1")
    assert "system" not in body and "user_id" not in body


async def test_tools_thinking_and_v1_functions_pass_through():
    script = Script(json_response(200, whole()))
    async with scripted(script) as client:
        await client.chat("deepseek-v3", HELLO, tools=[TOOL], tool_choice="auto")
        await client.chat("qwen3-235b-a22b", HELLO, enable_thinking=False)
        await client.chat("deepseek-v3", HELLO, functions=[TOOL["function"]])
    assert script.bodies[0]["tools"] == [TOOL] and script.bodies[0]["tool_choice"] == "auto"
    assert script.bodies[1]["enable_thinking"] is False
    assert script.bodies[2]["tools"] == [TOOL]


async def test_streams_ask_for_usage_and_reasoning_is_stripped():
    history = [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b", "reasoning_content": "hm"},
               {"role": "user", "content": "c"}]
    script = Script(stream_response(sse(_event({"content": "x"}, "stop"), _usage_event())))
    async with scripted(script) as client:
        await collect(client.stream_chat("deepseek-r1", history))
    body = script.bodies[0]
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert body["messages"][1] == {"role": "assistant", "content": "b"}
    assert history[1]["reasoning_content"] == "hm"  # the caller's history is left as it was


async def test_a_v1_name_with_only_a_v2_key_sends_its_twin_id():
    script = Script(json_response(200, whole()))
    async with scripted(script) as client:
        answer = await client.chat("ERNIE-Speed-8K", HELLO)
        await client.chat(None, HELLO)
    assert [b["model"] for b in script.bodies] == ["ernie-speed-8k", "ernie-speed-8k"]
    assert answer.api == "v2"


async def test_an_unknown_v2_id_is_sent_as_it_is():
    script = Script(json_response(200, whole()))
    async with scripted(script) as client:
        await client.chat("glm-4.5-air", HELLO, enable_thinking=True)
    assert script.bodies[0]["model"] == "glm-4.5-air"


async def test_bad_requests_never_leave_the_client():
    script = Script(json_response(200, whole()))
    async with scripted(script) as client:
        with pytest.raises(InvalidRequestError) as caught:
            # ERNIE's documented temperature range, which the catalog row confirms (tools are no longer refused)
            await client.chat("ernie-speed-8k", HELLO, temperature=0)
        with pytest.raises(InvalidRequestError):
            client.stream_chat("ernie-speed-8k", HELLO, max_output_tokens=99999)
        with pytest.raises(AuthenticationError, match="BLOOMZ-7B is served only by Qianfan's v1 API"):
            await client.chat("BLOOMZ-7B", HELLO)
    assert (caught.value.code, caught.value.status, caught.value.field) == ("invalid_argument", 400, "temperature")
    assert script.requests == []


async def test_validate_false_sends_what_it_is_given():
    script = Script(json_response(200, whole()))
    async with scripted(script, validate=False) as client:
        await client.chat("ernie-speed-8k", HELLO, tools=[TOOL])
    assert script.bodies[0]["tools"] == [TOOL]


async def test_base_urls(monkeypatch):
    for name in ("QIANFAN_BASE_URL", "QIANFAN_IAM_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    default = QianfanClient(bearer_token=KEY)
    assert (default.base_url, default.v2_base_url, default.iam_base_url) == (
        "https://aip.baidubce.com", "https://qianfan.baidubce.com", "https://iam.bj.baidubce.com")
    one = QianfanClient(bearer_token=KEY, base_url="http://127.0.0.1:9/")
    assert (one.base_url, one.v2_base_url, one.iam_base_url) == ("http://127.0.0.1:9",) * 3
    iam = QianfanClient(bearer_token=KEY, iam_base_url="http://iam.test")
    assert iam.iam_base_url == "http://iam.test" and iam.v2_base_url == "https://qianfan.baidubce.com"


def test_an_app_id_given_with_credentials_from_the_environment(monkeypatch):
    monkeypatch.setenv("QIANFAN_API_KEY", KEY)
    monkeypatch.delenv("QIANFAN_APP_ID", raising=False)
    for name in ("QIANFAN_AK", "QIANFAN_SK", "QIANFAN_ACCESS_KEY", "QIANFAN_SECRET_KEY", "QIANFAN_ACCESS_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    assert QianfanClient(app_id="app-9")._credentials.app_id == "app-9"
    monkeypatch.setenv("QIANFAN_APP_ID", "app-env")
    assert QianfanClient()._credentials.app_id == "app-env"


def test_client_reads_the_v2_environment(monkeypatch):
    for name in ("QIANFAN_AK", "QIANFAN_SK", "QIANFAN_ACCESS_KEY", "QIANFAN_SECRET_KEY", "QIANFAN_ACCESS_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("QIANFAN_API_KEY", KEY)
    client = QianfanClient()
    assert (client.auth_method, client.apis) == ("bearer", frozenset({"v2"}))
    assert KEY not in repr(client)


# -- answers ---------------------------------------------------------------------------------------------

async def test_a_whole_v2_answer_fills_the_shared_fields():
    answer_body = whole("The answer ^[1]^.", reasoning_content="Thinking.",
                        tool_calls=[{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}])
    answer_body["usage"]["completion_tokens_details"] = {"reasoning_tokens": 7}
    answer_body["search_results"] = [{"index": 1, "url": "https://example.com/a", "title": "A"}]
    script = Script(json_response(200, answer_body, {"x-ratelimit-limit-requests": "300"}))
    async with scripted(script) as client:
        answer = await client.chat("deepseek-v3", HELLO)
    assert (answer.result, answer.reasoning, answer.finish_reason) == ("The answer ^[1]^.", "Thinking.", "stop")
    assert answer.tool_calls[0]["function"]["name"] == "f"
    assert answer.search_results == [{"index": 1, "url": "https://example.com/a", "title": "A"}]
    assert (answer.usage.reasoning_tokens, answer.usage.total_tokens) == (7, 3)
    assert answer.rate_limit.limit_requests == 300 and answer.need_clear_history is False


async def test_web_search_results_under_either_name():
    body = whole()
    body["web_search"] = [{"index": 2, "url": "https://example.com/b", "title": "B"}]
    script = Script(json_response(200, body))
    async with scripted(script) as client:
        answer = await client.chat("deepseek-v3", HELLO)
    assert answer.search_results[0]["index"] == 2


async def test_flag_two_asks_to_clear_the_history():
    body = whole("")
    body["choices"][0].update(flag=2, ban_round=-1, finish_reason="content_filter")
    script = Script(json_response(200, body))
    async with scripted(script) as client:
        answer = await client.chat("ernie-speed-8k", HELLO)
    assert (answer.flag, answer.ban_round, answer.need_clear_history) == (2, -1, True)
    body["choices"][0].update(flag=1)
    async with scripted(Script(json_response(200, body))) as client:
        assert (await client.chat("ernie-speed-8k", HELLO)).need_clear_history is False


# -- streams ---------------------------------------------------------------------------------------------

async def test_a_stream_yields_deltas_and_ends_at_done_with_the_usage():
    events = [_event({"role": "assistant", "reasoning_content": "Let me "}), _event({"reasoning_content": "think."}),
              _event({"content": "Nine "}), _event({"content": "point nine."}, "stop"),
              _usage_event(4, 9, reasoning=3)]
    script = Script(stream_response(sse(*events)))
    async with scripted(script) as client:
        stream = client.stream_chat("deepseek-r1", HELLO)
        chunks = await collect(stream)
    assert [c.result for c in chunks] == ["", "", "Nine ", "point nine.", ""]
    assert [c.reasoning for c in chunks] == ["Let me ", "think.", "", "", ""]
    assert [c.is_end for c in chunks] == [False] * 4 + [True]
    last = chunks[-1]
    assert (last.usage.prompt_tokens, last.usage.completion_tokens, last.usage.reasoning_tokens) == (4, 9, 3)
    assert (last.finish_reason, last.api, last.model) == ("stop", "v2", "ernie-speed-8k")
    assert (stream.text, stream.reasoning, stream.finish_reason) == ("Nine point nine.", "Let me think.", "stop")
    assert stream.usage.total_tokens == 13


async def test_crlf_keepalives_and_bytes_split_anywhere():
    text = "你好，世界。"
    payload = b": keep-alive\r\n\r\n" + sse(_event({"content": text}), _event({}, "stop"), _usage_event(), eol="\r\n")
    pieces = [payload[i:i + 1] for i in range(len(payload))]  # every UTF-8 character split across reads
    script = Script(stream_response(*pieces))
    async with scripted(script) as client:
        stream = client.stream_chat("ernie-speed-8k", HELLO)
        chunks = await collect(stream)
    assert stream.text == text and chunks[-1].is_end and chunks[-1].usage.total_tokens == 8


async def test_done_without_a_final_newline_still_ends_the_stream():
    payload = sse(_event({"content": "ok"}, "stop"), done=False) + b"data: [DONE]"
    async with scripted(Script(stream_response(payload))) as client:
        stream = client.stream_chat("ernie-speed-8k", HELLO)
        chunks = await collect(stream)
    assert chunks[-1].is_end and stream.text == "ok"


async def test_a_stream_without_usage_ends_with_an_empty_usage():
    async with scripted(Script(stream_response(sse(_event({"content": "ok"}, "stop"))))) as client:
        chunks = await collect(client.stream_chat("ernie-speed-8k", HELLO))
    assert chunks[-1].is_end and chunks[-1].usage.total_tokens == 0


async def test_tool_call_fragments_are_assembled_by_index():
    first = {"index": 0, "id": "call_a", "type": "function", "function": {"name": "get_weather", "arguments": ""}}
    second = {"index": 1, "id": "call_b", "type": "function", "function": {"name": "get_weather", "arguments": ""}}
    events = [_event({"tool_calls": [first]}), _event({"tool_calls": [second]}),
              _event({"tool_calls": [{"index": 0, "function": {"arguments": '{"city": '}}]}),
              _event({"tool_calls": [{"index": 1, "function": {"arguments": '{"city": "Shanghai"}'}}]}),
              _event({"tool_calls": [{"index": 0, "function": {"arguments": '"Beijing"}'}}]}),
              _event({}, "tool_calls"), _usage_event()]
    async with scripted(Script(stream_response(sse(*events)))) as client:
        stream = client.stream_chat("deepseek-v3", [{"role": "user", "content": "weather in Beijing and Shanghai"}],
                                    tools=[TOOL])
        chunks = await collect(stream)
    calls = chunks[-1].tool_calls
    assert [c["id"] for c in calls] == ["call_a", "call_b"]
    assert [json.loads(c["function"]["arguments"]) for c in calls] == [{"city": "Beijing"}, {"city": "Shanghai"}]
    assert {c["function"]["name"] for c in calls} == {"get_weather"}
    assert chunks[-1].finish_reason == "tool_calls" and all(c.tool_calls == [] for c in chunks[:-1])


async def test_the_last_chunk_carries_the_flag_and_search_results():
    flagged = _event({}, "content_filter")
    flagged["choices"][0].update(flag=2, ban_round=-1)
    results = [{"index": 1, "url": "https://example.com/x", "title": "X"}]
    events = [_event({"content": "a"}, search_results=results), flagged, _usage_event()]
    async with scripted(Script(stream_response(sse(*events)))) as client:
        chunks = await collect(client.stream_chat("ernie-speed-8k", HELLO))
    assert chunks[1].need_clear_history and chunks[-1].need_clear_history
    assert (chunks[-1].flag, chunks[-1].ban_round, chunks[-1].search_results) == (2, -1, results)


async def test_a_dropped_stream_keeps_text_and_reasoning():
    events = [_event({"reasoning_content": "Hmm, "}), _event({"content": "The ans"})]
    async with scripted(Script(stream_response(sse(*events, done=False), fail=httpx.ReadError("cut")))) as client:
        stream = client.stream_chat("deepseek-r1", HELLO)
        with pytest.raises(StreamInterruptedError) as caught:
            await collect(stream)
    err = caught.value
    assert (err.partial_text, err.partial_reasoning, err.chunks) == ("The ans", "Hmm, ", 2)
    assert not err.retryable


async def test_a_stream_that_ends_before_done_is_interrupted():
    async with scripted(Script(stream_response(sse(_event({"content": "part"}, "stop"), done=False)))) as client:
        with pytest.raises(StreamInterruptedError, match="before its last chunk") as caught:
            await collect(client.stream_chat("ernie-speed-8k", HELLO))
    assert caught.value.partial_text == "part"


async def test_an_error_event_mid_stream_interrupts_it():
    error = {"error": {"code": "internal_error", "message": "Internal error", "type": "Internal_error"}, "id": "as-9"}
    payload = sse(_event({"content": "Half"}), done=False) + f"data: {json.dumps(error)}\n\n".encode()
    script = Script(stream_response(payload))
    async with scripted(script) as client:
        with pytest.raises(StreamInterruptedError) as caught:
            await collect(client.stream_chat("ernie-speed-8k", HELLO))
    assert (caught.value.code, caught.value.partial_text, caught.value.request_id) == ("internal_error", "Half",
                                                                                        "as-9")
    assert len(script.requests) == 1  # text had arrived: never sent again


async def test_an_error_event_before_any_text_is_retried():
    error = {"error": {"code": "internal_error", "message": "Internal error", "type": "Internal_error"}, "id": "as-9"}
    script = Script(stream_response(f"data: {json.dumps(error)}\n\n".encode()),
                    stream_response(sse(_event({"content": "ok"}, "stop"))))
    async with scripted(script) as client:
        stream = client.stream_chat("ernie-speed-8k", HELLO)
        await collect(stream)
    assert (stream.text, stream.retries, len(script.requests)) == ("ok", 1, 2)


async def test_a_line_that_is_not_json_interrupts():
    script = Script(stream_response(b"data: {not json\n\n"))
    async with scripted(script, max_retries=1) as client:
        with pytest.raises(StreamInterruptedError, match="not JSON") as caught:
            await collect(client.stream_chat("ernie-speed-8k", HELLO))
    assert caught.value.chunks == 0 and len(script.requests) == 2  # nothing had arrived: tried once more


async def test_a_stream_answered_whole_is_one_last_chunk():
    script = Script(json_response(200, whole("All at once.", reasoning_content="R")))
    async with scripted(script) as client:
        stream = client.stream_chat("ernie-speed-8k", HELLO)
        chunks = await collect(stream)
    assert len(chunks) == 1 and chunks[0].is_end
    assert (stream.text, stream.reasoning, chunks[0].usage.total_tokens) == ("All at once.", "R", 3)


# -- errors ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("status, code, kind, field", [
    (400, "invalid_argument", InvalidRequestError, None),
    (400, "invalid_messages", InvalidRequestError, "messages"),
    (400, "tokens_too_long", InvalidRequestError, "messages"),
    (401, "invalid_model", InvalidRequestError, "model"),
    (401, "invalid_iam_token", AuthenticationError, "credentials"),
    (401, "invalid_appid", AuthenticationError, "app_id"),
    (403, "account_overdue", AuthenticationError, "credentials"),
    (403, "model_offline", AuthenticationError, "credentials"),
])
async def test_final_errors_map_to_their_class(status, code, kind, field):
    script = Script(json_response(*error_json(code, "service text", status)))
    async with scripted(script) as client:
        with pytest.raises(kind) as caught:
            await client.chat("ernie-speed-8k", HELLO)
    err = caught.value
    assert (type(err), err.code, err.status, err.field, err.request_id) == (kind, code, status, field, "as-err")
    if code == "invalid_model":  # the message names the model; the service's own text is kept
        assert (err.message, err.wire_message, err.model) == (
            "The model 'ernie-speed-8k' does not exist or this key cannot use it (the service said: service text)",
            "service text", "ernie-speed-8k")
    else:
        assert err.message == "service text"
    assert err.hint and not err.retryable
    assert len(script.requests) == 1


@pytest.mark.parametrize("status, code, kind", [
    (429, "rpm_rate_limit_exceeded", RateLimitError), (429, "tpm_rate_limit_exceeded", RateLimitError),
    (429, "user_rate_limit_exceeded", RateLimitError), (429, "cluster_rate_limit_exceeded", RateLimitError),
    (500, "internal_error", ServerError), (502, "internal_error", ServerError), (503, "internal_error", ServerError),
])
async def test_transient_errors_are_retried(status, code, kind, monkeypatch):
    monkeypatch.setattr(client_module, "asyncio", Clock())
    script = Script(json_response(*error_json(code, "busy", status)))
    async with scripted(script, max_retries=2) as client:
        with pytest.raises(kind) as caught:
            await client.chat("ernie-speed-8k", HELLO)
    assert caught.value.retryable and caught.value.retries == 2 and caught.value.status == status
    assert len(script.requests) == 3


async def test_retry_after_is_honoured(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(client_module, "asyncio", clock)
    status, body = error_json("rpm_rate_limit_exceeded", "Rate limit reached for RPM", 429)
    script = Script(json_response(status, body, {"retry-after": "7"}), json_response(200, whole()))
    async with scripted(script, retry_max_wait=1.0) as client:
        answer = await client.chat("ernie-speed-8k", HELLO)
    assert answer.retries == 1 and clock.waits == [7.0]


async def test_retry_after_beyond_the_budget_is_not_waited_for(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(client_module, "asyncio", clock)
    status, body = error_json("tpm_rate_limit_exceeded", "Rate limit reached for TPM", 429)
    script = Script(json_response(status, body, {"retry-after": "120"}))
    async with scripted(script, retry_total_timeout=30) as client:
        with pytest.raises(RateLimitError) as caught:
            await client.chat("ernie-speed-8k", HELLO)
    assert caught.value.retry_after == 120 and "Retry after about 120 s" in str(caught.value)
    assert len(script.requests) == 1 and clock.waits == []


async def test_a_stream_refused_with_retry_after_waits_that_long(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(client_module, "asyncio", clock)
    status, body = error_json("internal_error", "Internal error", 503)
    script = Script(json_response(status, body, {"retry-after": "3"}),
                    stream_response(sse(_event({"content": "ok"}, "stop"))))
    async with scripted(script) as client:
        stream = client.stream_chat("ernie-speed-8k", HELLO)
        await collect(stream)
    assert stream.text == "ok" and stream.retries == 1 and clock.waits[0] >= 3


async def test_an_error_object_in_a_200_body_is_an_error():
    script = Script(json_response(200, error_json("rpm_rate_limit_exceeded", "Rate limit reached for RPM")[1]))
    async with scripted(script, max_retries=0) as client:
        with pytest.raises(RateLimitError) as caught:
            await client.chat("ernie-speed-8k", HELLO)
    assert (caught.value.code, caught.value.status) == ("rpm_rate_limit_exceeded", 429)


async def test_a_failure_without_an_error_object():
    script = Script(lambda request: httpx.Response(502, text="<html>bad gateway</html>",
                                                   headers={"content-type": "text/html"}))
    async with scripted(script, max_retries=1) as client:
        with pytest.raises(ServerError, match="HTTP 502 with text/html") as caught:
            await client.chat("ernie-speed-8k", HELLO)
    assert caught.value.retries == 1 and len(script.requests) == 2


async def test_a_rejected_api_key_is_not_refreshed():
    script = Script(json_response(*error_json("invalid_iam_token", "IAM Certification failed", 401)))
    async with scripted(script) as client:
        with pytest.raises(AuthenticationError, match="QIANFAN_API_KEY") as caught:
            await client.chat("ernie-speed-8k", HELLO)
    assert caught.value.code == "invalid_iam_token" and len(script.requests) == 1


async def test_an_unreachable_v2_host():
    def refuse(request):
        raise httpx.ConnectError("refused")
    async with scripted(Script(refuse), max_retries=1) as client:
        with pytest.raises(APIConnectionError, match="Could not reach http://qianfan.test"):
            await client.chat("ernie-speed-8k", HELLO)


async def test_the_key_never_shows_in_an_error():
    script = Script(json_response(*error_json("invalid_argument", f"bad key {KEY}")))
    async with scripted(script) as client:
        with pytest.raises(InvalidRequestError) as caught:
            await client.chat("ernie-speed-8k", HELLO)
    assert KEY not in str(caught.value) and "bce-v3/***" in str(caught.value)


# -- bearer tokens minted from IAM keys (scripted) ---------------------------------------------------------

def token_answer(token: str, lifetime: int) -> httpx.Response:
    return httpx.Response(200, json={"userId": "u", "token": token, "status": "enable",
                                     "createTime": "2026-01-01T00:00:00Z",
                                     "expireTime": _later("2026-01-01T00:00:00", lifetime)})


def _later(start: str, seconds: int) -> str:
    from datetime import datetime, timedelta

    return (datetime.fromisoformat(start) + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


class Minting:
    """An IAM token service and a v2 chat service on one scripted host."""

    def __init__(self, lifetime: int = 86400):
        self.lifetime = lifetime
        self.minted: list[str] = []
        self.reject: set[str] = set()
        self.chat_auth: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/BCE-BEARER/token":
            assert request.headers["authorization"].startswith("bce-auth-v1/" + KEYS.iak)
            token = f"bce-v3/ALTAK-minted/{len(self.minted)}"
            self.minted.append(token)
            return token_answer(token, self.lifetime)
        token = request.headers["authorization"].removeprefix("Bearer ")
        self.chat_auth.append(token)
        if token in self.reject:
            return json_response(*error_json("invalid_iam_token", "IAM Certification failed", 401))(request)
        return json_response(200, whole())(request)


def minting_client(service: Minting, **options) -> QianfanClient:
    client = QianfanClient(access_key=KEYS.iak, secret_access_key=KEYS.isk, base_url=BASE, retry_backoff=0.001,
                           **options)
    client._http = httpx.AsyncClient(transport=httpx.MockTransport(service), timeout=5)
    return client


class FakeTime:
    def __init__(self):
        self.now = 1000.0

    def monotonic(self):
        return self.now

    def __getattr__(self, name):
        import time
        return getattr(time, name)


async def test_the_token_request_is_signed_and_asks_for_a_lifetime():
    service = Minting()
    async with minting_client(service) as client:
        await client.chat("ernie-speed-8k", HELLO)
    assert service.minted == ["bce-v3/ALTAK-minted/0"] and service.chat_auth == ["bce-v3/ALTAK-minted/0"]
    assert client.bearer_fetches == 1 and client.apis == frozenset({"v1", "v2"})


@pytest.mark.parametrize("lifetime, early", [(86400, 600.0), (1800, 180.0)])
async def test_tokens_are_refreshed_ahead_of_expiry(lifetime, early, monkeypatch):
    clock = FakeTime()
    monkeypatch.setattr(bearer_module, "time", clock)
    service = Minting(lifetime)
    async with minting_client(service) as client:
        await client.chat("ernie-speed-8k", HELLO)
        clock.now += lifetime - early - 1
        await client.chat("ernie-speed-8k", HELLO)
        assert client.bearer_fetches == 1
        clock.now += 2
        await client.chat("ernie-speed-8k", HELLO)
    assert client.bearer_fetches == 2 and service.chat_auth[-1] == "bce-v3/ALTAK-minted/1"


async def test_concurrent_requests_mint_one_token():
    service = Minting()
    async with minting_client(service) as client:
        answers = await asyncio.gather(*(client.chat("ernie-speed-8k", HELLO) for _ in range(50)))
    assert len(answers) == 50 and len(service.minted) == 1


async def test_a_rejected_minted_token_is_refreshed_once():
    service = Minting()
    service.reject.add("bce-v3/ALTAK-minted/0")
    async with minting_client(service) as client:
        answer = await client.chat("ernie-speed-8k", HELLO)
    assert answer.result == "Hi." and client.bearer_fetches == 2
    assert service.chat_auth == ["bce-v3/ALTAK-minted/0", "bce-v3/ALTAK-minted/1"]


async def test_a_token_rejected_after_refresh_is_an_authentication_error():
    service = Minting()
    service.reject.update({"bce-v3/ALTAK-minted/0", "bce-v3/ALTAK-minted/1"})
    async with minting_client(service) as client:
        with pytest.raises(AuthenticationError) as caught:
            await client.chat("ernie-speed-8k", HELLO)
    assert caught.value.code == "invalid_iam_token" and client.bearer_fetches == 2


async def test_the_token_service_refusing_the_keys():
    def refuse(request):
        return httpx.Response(401, json={"requestId": "r", "code": "SignatureDoesNotMatch", "message": "no"},
                              headers={"x-bce-error-code": "SignatureDoesNotMatch"})
    client = QianfanClient(access_key=KEYS.iak, secret_access_key=KEYS.isk, base_url=BASE)
    client._http = httpx.AsyncClient(transport=httpx.MockTransport(refuse))
    async with client:
        with pytest.raises(AuthenticationError) as caught:
            await client.chat("ernie-speed-8k", HELLO)
    assert "SignatureDoesNotMatch" in caught.value.message and "QIANFAN_SECRET_KEY" in caught.value.message
    assert KEYS.isk not in str(caught.value)


# == end to end against the emulator's v2 ==================================================================

@pytest.fixture(scope="module")
def emulator(emulator_factory):
    return emulator_factory(iam_credentials={KEYS.iak: KEYS.isk}, v2_keys={KEY})


def v2_requests(emu) -> list[dict]:
    return [r for r in emu.requests if r["path"] == "/v2/chat/completions"]


def bearer_requests(emu) -> list[dict]:
    return [r for r in emu.requests if r["path"] == "/v1/BCE-BEARER/token"]


@pytest.fixture
async def keyed(emu):
    async with QianfanClient(bearer_token=KEY, app_id="app-e2e", base_url=emu.base_url, retry_backoff=0.01,
                             timeout=10) as client:
        yield client


@pytest.fixture
async def iam(emu):
    async with QianfanClient(access_key=KEYS.iak, secret_access_key=KEYS.isk, base_url=emu.base_url,
                             retry_backoff=0.01, timeout=10) as client:
        yield client


async def test_e2e_an_api_key_chats_and_streams(keyed, emu):
    answer = await keyed.chat("ernie-speed-8k", HELLO)
    stream = keyed.stream_chat("ernie-speed-8k", HELLO)
    chunks = await collect(stream)
    assert answer.api == "v2" and answer.result and answer.usage.total_tokens > 0
    assert stream.text == answer.result and chunks[-1].is_end and chunks[-1].usage == answer.usage
    logged = v2_requests(emu)
    assert len(logged) == 2 and logged[0]["appid"] == "app-e2e"
    assert logged[0]["headers"]["authorization"] == "Bearer ***"
    assert logged[1]["json"]["stream_options"] == {"include_usage": True}


async def test_e2e_a_key_the_emulator_does_not_know(emu):
    async with QianfanClient(bearer_token=OTHER_KEY, base_url=emu.base_url) as client:
        with pytest.raises(AuthenticationError) as caught:
            await client.chat("ernie-speed-8k", HELLO)
    assert (caught.value.code, caught.value.status) == ("invalid_iam_token", 401)


async def test_e2e_iam_keys_reach_both_apis(iam, emu):
    v1 = await iam.chat("ERNIE-Speed-8K", HELLO)
    v2 = await iam.chat("ernie-speed-8k", HELLO)
    assert (v1.api, v2.api, v1.model, v2.model) == ("v1", "v2", "ERNIE-Speed-8K", "ernie-speed-8k")
    paths = [r["path"] for r in emu.requests]
    assert any("/wenxinworkshop/chat/ernie_speed" in p for p in paths)
    assert paths.count("/v2/chat/completions") == 1 and iam.bearer_fetches == 1


async def test_e2e_a_hundred_concurrent_requests_mint_one_token(iam, emu):
    answers = await asyncio.gather(*(iam.chat("ernie-speed-8k", HELLO) for _ in range(100)))
    assert all(a.result for a in answers)
    assert iam.bearer_fetches == 1 and len(bearer_requests(emu)) == 1
    assert len(v2_requests(emu)) == 100


async def test_e2e_an_expired_minted_token_is_refreshed(iam, emu):
    await iam.chat("ernie-speed-8k", HELLO)
    emu.expire_tokens()
    answer = await iam.chat("ernie-speed-8k", HELLO)
    stream = iam.stream_chat("ernie-speed-8k", HELLO)
    await collect(stream)
    assert answer.result and stream.text
    assert iam.bearer_fetches == 2 and len(bearer_requests(emu)) == 2
    assert [r["status"] for r in v2_requests(emu)] == [200, 401, 200, 200]


async def test_e2e_a_v1_name_with_only_a_v2_key_crosses_to_its_twin(emu):
    async with QianfanClient(bearer_token=KEY, base_url=emu.base_url) as client:
        answer = await client.chat("ERNIE-Speed-8K", HELLO)
    assert answer.api == "v2" and v2_requests(emu)[0]["json"]["model"] == "ernie-speed-8k"


async def test_e2e_a_reasoning_stream(keyed):
    stream = keyed.stream_chat("deepseek-r1", [{"role": "user", "content": "9.11 和 9.9 哪个大？"}])
    chunks = await collect(stream)
    first_text = next(i for i, c in enumerate(chunks) if c.result)
    assert stream.reasoning and stream.text
    assert all(not c.result for c in chunks[:first_text]) and all(not c.reasoning for c in chunks[first_text:])
    assert chunks[-1].usage.reasoning_tokens > 0


async def test_e2e_qwen3_thinks_only_when_asked(keyed):
    thinking = await keyed.chat("qwen3-235b-a22b", HELLO, enable_thinking=True)
    plain = await keyed.chat("qwen3-235b-a22b", HELLO, enable_thinking=False)
    assert thinking.reasoning and not plain.reasoning


async def test_e2e_tool_calls_round_trip(keyed):
    question = [{"role": "user", "content": "What is the weather in Beijing?"}]
    stream = keyed.stream_chat("deepseek-v3", question, tools=[TOOL])
    chunks = await collect(stream)
    calls = chunks[-1].tool_calls
    assert chunks[-1].finish_reason == "tool_calls" and calls[0]["function"]["name"] == "get_weather"
    assert json.loads(calls[0]["function"]["arguments"]) == {"city": "Beijing"}
    assert (await keyed.chat("deepseek-v3", question, tools=[TOOL])).tool_calls == calls
    history = question + [{"role": "assistant", "content": "", "tool_calls": calls},
                          {"role": "tool", "tool_call_id": calls[0]["id"], "content": '{"temperature": 23}'}]
    answer = await keyed.chat("deepseek-v3", history, tools=[TOOL])
    assert "23" in answer.result and answer.finish_reason == "stop"


async def test_e2e_web_search(keyed):
    answer = await keyed.chat("ernie-4.5-turbo-32k", [{"role": "user", "content": "Latest news on Qianfan?"}],
                              web_search=True)
    assert answer.search_results and all("example" in r["url"] for r in answer.search_results)
    stream = keyed.stream_chat("ernie-4.5-turbo-32k", [{"role": "user", "content": "Latest news on Qianfan?"}],
                               web_search=True)
    chunks = await collect(stream)
    assert chunks[-1].search_results == answer.search_results


async def test_e2e_json_output(keyed):
    answer = await keyed.chat("ernie-3.5-8k", [{"role": "user", "content": "List three colours as JSON"}],
                              response_format="json_object")
    assert isinstance(json.loads(answer.result), dict)


async def test_e2e_unsafe_input_flags_the_answer(keyed):
    answer = await keyed.chat("ernie-speed-8k", [{"role": "user", "content": "unsafe-demo"}])
    chunks = await collect(keyed.stream_chat("ernie-speed-8k", [{"role": "user", "content": "unsafe-demo"}]))
    assert (answer.flag, answer.need_clear_history, answer.ban_round) == (2, True, -1)
    assert chunks[-1].need_clear_history and chunks[-1].finish_reason == "content_filter"


async def test_e2e_the_emulator_refuses_what_the_client_would(keyed):
    async with QianfanClient(bearer_token=KEY, base_url=keyed.v2_base_url, validate=False) as client:
        with pytest.raises(InvalidRequestError) as caught:
            await client.chat("ernie-speed-8k", HELLO, temperature=1.5)
    assert (caught.value.code, caught.value.status) == ("invalid_argument", 400)


# -- every fault, in v2's form ------------------------------------------------------------------------------

@pytest.mark.parametrize("fault, kind, code, status", [
    ("rpm", RateLimitError, "rpm_rate_limit_exceeded", 429),
    ("tpm", RateLimitError, "tpm_rate_limit_exceeded", 429),
    ("qps", RateLimitError, "user_rate_limit_exceeded", 429),
    ("busy", ServerError, "internal_error", 500),
    ("unavailable", ServerError, "internal_error", 500),
])
async def test_e2e_transient_faults_are_retried_then_succeed(keyed, emu, fault, kind, code, status):
    emu.inject(fault, times=1, path="/v2/")
    answer = await keyed.chat("ernie-speed-8k", HELLO)
    assert answer.retries == 1 and [r["status"] for r in v2_requests(emu)] == [status, 200]


@pytest.mark.parametrize("fault, kind, code, status", [
    ("rpm", RateLimitError, "rpm_rate_limit_exceeded", 429),
    ("qps", RateLimitError, "user_rate_limit_exceeded", 429),
    ("busy", ServerError, "internal_error", 500),
    ("http_500", ServerError, None, 500),
])
async def test_e2e_transient_faults_that_persist(emu, fault, kind, code, status):
    emu.inject(fault, times=5, path="/v2/")
    async with QianfanClient(bearer_token=KEY, base_url=emu.base_url, retry_backoff=0.01, max_retries=2) as client:
        with pytest.raises(kind) as caught:
            await client.chat("ernie-speed-8k", HELLO)
    assert (caught.value.code, caught.value.status, caught.value.retries) == (code, status, 2)
    assert len(v2_requests(emu)) == 3


async def test_e2e_a_retry_after_header_is_read(emu):
    emu.inject("rpm", times=1, path="/v2/", retry_after=99)
    async with QianfanClient(bearer_token=KEY, base_url=emu.base_url, retry_total_timeout=5) as client:
        with pytest.raises(RateLimitError) as caught:
            await client.chat("ernie-speed-8k", HELLO)
    assert caught.value.retry_after == 99 and len(v2_requests(emu)) == 1


@pytest.mark.parametrize("fault", ["expired_token", "invalid_token"])
async def test_e2e_token_faults_with_a_minted_token_refresh(iam, emu, fault):
    emu.inject(fault, times=1, path="/v2/")
    answer = await iam.chat("ernie-speed-8k", HELLO)
    assert answer.result and iam.bearer_fetches == 2


@pytest.mark.parametrize("fault", ["expired_token", "invalid_token"])
async def test_e2e_token_faults_with_an_api_key_are_final(keyed, emu, fault):
    emu.inject(fault, times=1, path="/v2/")
    with pytest.raises(AuthenticationError) as caught:
        await keyed.chat("ernie-speed-8k", HELLO)
    assert (caught.value.code, caught.value.status) == ("invalid_iam_token", 401)


async def test_e2e_an_error_fault_with_a_v2_code(keyed, emu):
    emu.inject("error", code="invalid_model", status=401, message="The model does not exist", path="/v2/")
    with pytest.raises(InvalidRequestError) as caught:
        await keyed.chat("ernie-speed-8k", HELLO)
    assert (caught.value.code, caught.value.status, caught.value.field) == ("invalid_model", 401, "model")


async def test_e2e_a_dropped_stream(keyed, emu):
    emu.inject("drop_stream", after=2, path="/v2/")
    stream = keyed.stream_chat("deepseek-r1", [{"role": "user", "content": "9.11 和 9.9 哪个大？"}])
    with pytest.raises(StreamInterruptedError) as caught:
        await collect(stream)
    assert caught.value.chunks == 2 and caught.value.partial_reasoning and not caught.value.partial_text
    assert len(v2_requests(emu)) == 1


async def test_e2e_a_stream_error_mid_stream(keyed, emu):
    emu.inject("stream_error", after=2, path="/v2/")
    with pytest.raises(StreamInterruptedError) as caught:
        await collect(keyed.stream_chat("ernie-speed-8k", [{"role": "user", "content": "Tell me a long story"}]))
    assert caught.value.chunks == 2 and caught.value.partial_text and isinstance(caught.value.code, str)


async def test_e2e_a_stream_error_before_any_text_is_retried(keyed, emu):
    emu.inject("stream_error", after=0, code="internal_error", path="/v2/")
    stream = keyed.stream_chat("ernie-speed-8k", HELLO)
    await collect(stream)
    assert stream.text and stream.retries == 1


async def test_e2e_slow_first_byte(keyed, emu):
    emu.inject("slow_first_byte", delay=0.2, path="/v2/")
    stream = keyed.stream_chat("ernie-speed-8k", HELLO)
    await collect(stream)
    assert stream.text and stream.retries == 0


@pytest.mark.parametrize("fault", ["crlf", "keepalive", "fragment"])
async def test_e2e_framing_faults_change_nothing(keyed, emu, fault):
    question = [{"role": "user", "content": "用中文介绍一下北京"}]
    plain = await keyed.chat("ernie-speed-8k", question)
    emu.inject(fault, path="/v2/")
    stream = keyed.stream_chat("ernie-speed-8k", question)
    chunks = await collect(stream)
    assert stream.text == plain.result and chunks[-1].is_end


async def test_e2e_need_clear_history_fault(keyed, emu):
    emu.inject("need_clear_history", path="/v2/")
    answer = await keyed.chat("ernie-speed-8k", HELLO)
    assert answer.need_clear_history and answer.flag >= 2


async def test_e2e_rate_limit_windows(emu):
    emu.set_limits(rpm=2)
    async with QianfanClient(bearer_token=KEY, base_url=emu.base_url, max_retries=0) as client:
        await client.chat("ernie-speed-8k", HELLO)
        answer = await client.chat("ernie-speed-8k", HELLO)
        with pytest.raises(RateLimitError) as caught:
            await client.chat("ernie-speed-8k", HELLO)
    assert answer.rate_limit.limit_requests == 2 and answer.rate_limit.remaining_requests == 0
    assert (caught.value.code, caught.value.status) == ("rpm_rate_limit_exceeded", 429)
