"""QianfanClient against the emulator over real loopback HTTP."""

from __future__ import annotations

import asyncio
import logging

import pytest

from wenxin_magic.api import (APIConnectionError, APITimeoutError, AuthenticationError, InvalidRequestError,
                              QianfanClient, RateLimitError, ServerError, StreamInterruptedError)
from wenxin_magic.emulator import Emulator

AK, SK = "ak-test-7f3e1c", "sk-test-9b2d4a"
IAM_AK, IAM_SK = "iam-ak-41c8e2", "iam-sk-d05f77"
HELLO = [{"role": "user", "content": "你好"}]


@pytest.fixture(scope="module")
def emu():
    with Emulator(credentials={AK: SK}, iam_credentials={IAM_AK: IAM_SK}) as server:
        yield server


@pytest.fixture
def server(emu):
    emu.clear()
    emu.reset_limits()
    emu.set_limits(rpm=300, tpm=300000)
    yield emu
    emu.clear()


@pytest.fixture
async def client(server):
    async with QianfanClient(AK, SK, base_url=server.base_url, retry_backoff=0.01, timeout=5) as c:
        yield c


def chat_requests(emu):
    return [r for r in emu.requests if "/wenxinworkshop/" in r["path"]]


def token_requests(emu):
    return [r for r in emu.requests if r["path"] == "/oauth/2.0/token"]


# -- answers -------------------------------------------------------------------
async def test_chat_exposes_every_wire_field(client):
    resp = await client.chat(model="ERNIE-Speed-8K", messages=HELLO, temperature=0.7)
    assert resp.result and resp.id.startswith("as-")
    assert resp.object == "chat.completion"
    assert isinstance(resp.created, int)
    assert resp.is_truncated is False and resp.need_clear_history is False
    assert resp.finish_reason == "normal"
    assert resp.usage.total_tokens == resp.usage.prompt_tokens + resp.usage.completion_tokens > 0
    assert resp.raw["result"] == resp.result
    assert resp.rate_limit.limit_requests == 300 and resp.rate_limit.remaining_requests < 300
    assert resp.rate_limit.limit_tokens == 300000 and resp.rate_limit.remaining_tokens is not None


async def test_stream_matches_the_whole_answer(client, server):
    whole = await client.chat(model="BLOOMZ-7B", messages=HELLO)
    stream = client.stream_chat(model="BLOOMZ-7B", messages=HELLO)
    chunks = [chunk async for chunk in stream]
    assert len(chunks) >= 2
    assert [c.sentence_id for c in chunks] == list(range(len(chunks)))
    assert [c.is_end for c in chunks] == [False] * (len(chunks) - 1) + [True]
    assert len({c.id for c in chunks}) == 1
    assert "".join(c.result for c in chunks) == stream.text == whole.result
    assert stream.usage == chunks[-1].usage and stream.usage.completion_tokens > 0
    assert chunks[0].usage.completion_tokens == 0  # usage is only true on the final chunk
    assert chunks[0].rate_limit is not None
    assert server.requests[-1]["json"]["stream"] is True


async def test_model_names_are_case_insensitive_with_aliases(client, server):
    for name in ("ernie speed", "ERNIE-SPEED-8K", "ernie_speed"):
        await client.chat(model=name, messages=HELLO)
    await client.chat(model="ERNIE-Bot", messages=HELLO)
    paths = [r["path"].rsplit("/", 1)[1] for r in chat_requests(server)]
    assert paths == ["ernie_speed"] * 3 + ["completions"]


async def test_completion_on_a_deployed_endpoint(client, server):
    resp = await client.complete(endpoint="my_yi_34b", prompt="Introduce the city Beijing")
    assert resp.object == "completion" and resp.result
    assert server.requests[-1]["path"].endswith("/completions/my_yi_34b")
    assert server.requests[-1]["json"]["prompt"] == "Introduce the city Beijing"
    stream = client.stream_complete(endpoint="my_yi_34b", prompt="Introduce the city Beijing")
    assert "".join([c.result async for c in stream]) == resp.result


async def test_custom_chat_endpoint(client, server):
    resp = await client.chat(endpoint="my_chat_service", messages=HELLO)
    assert resp.result
    assert server.requests[-1]["path"].endswith("/chat/my_chat_service")


async def test_seed_models_answer_differently(client):
    prompt = [{"role": "user", "content": "介绍下故宫"}]
    answers = {m: (await client.chat(model=m, messages=prompt)).result
               for m in ("BLOOMZ-7B", "ERNIE-Speed-8K", "ERNIE-3.5-8K-Preemptible")}
    assert len(set(answers.values())) == 3
    assert all("故宫" in a for a in answers.values())


async def test_function_call_round_trip(client):
    functions = [{"name": "get_current_weather", "description": "获得指定地点的天气",
                  "parameters": {"type": "object", "properties": {"location": {"type": "string"}},
                                 "required": ["location"]}}]
    messages = [{"role": "user", "content": "上海市今天的天气"}]
    first = await client.chat(model="ERNIE-3.5-8K-Preemptible", messages=messages, functions=functions)
    assert first.finish_reason == "function_call"
    assert first.function_call["name"] == "get_current_weather"
    assert "上海" in first.function_call["arguments"]
    messages += [{"role": "assistant", "content": None, "function_call": first.function_call},
                 {"role": "function", "name": "get_current_weather",
                  "content": '{"temperature": "25", "unit": "摄氏度", "description": "晴朗"}'}]
    second = await client.chat(model="ERNIE-3.5-8K-Preemptible", messages=messages, functions=functions)
    assert "25" in second.result


# -- validation before any network call ----------------------------------------
BAD_REQUESTS = [
    (dict(messages=[]), "messages", 336006),
    (dict(messages=HELLO * 2), "messages", 336006),
    (dict(messages=[{"role": "user", "content": "a"}, {"role": "user", "content": "b"},
                    {"role": "user", "content": "c"}]), "messages", 336006),
    (dict(messages=[{"role": "function", "name": "f", "content": "{}"}]), "messages", 336006),
    (dict(messages=[{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"},
                    {"role": "function", "content": "{}"}]), "messages.name", 336003),
    (dict(messages=[{"role": "user", "content": " \n "}]), "messages.content", 336003),
    (dict(messages=HELLO, temperature=0), "temperature", 336003),
    (dict(messages=HELLO, temperature=1.5), "temperature", 336003),
    (dict(messages=HELLO, top_p=-0.1), "top_p", 336003),
    (dict(messages=HELLO, penalty_score=0.5), "penalty_score", 336003),
    (dict(messages=HELLO, stop=["a", "b", "c", "d", "e"]), "stop", 336003),
    (dict(messages=HELLO, stop=["x" * 21]), "stop", 336003),
    (dict(messages=HELLO, max_output_tokens=1), "max_output_tokens", 336003),
    (dict(messages=HELLO, max_output_tokens=2049), "max_output_tokens", 336003),
    (dict(messages=[{"role": "user", "content": "长" * 24001}]), "messages", 336007),
    (dict(messages=HELLO, top_k=3), "top_k", 336003),  # ERNIE-Speed-8K has no top_k
]


@pytest.mark.parametrize("kwargs,field,code", BAD_REQUESTS)
async def test_validation_names_the_field_and_sends_nothing(client, server, kwargs, field, code):
    with pytest.raises(InvalidRequestError) as info:
        await client.chat(model="ERNIE-Speed-8K", **kwargs)
    err = info.value
    assert err.code == code and err.field == field and err.model == "ERNIE-Speed-8K"
    assert field.split(".")[0] in str(err) or "essage" in str(err)
    assert chat_requests(server) == [] and token_requests(server) == []


@pytest.mark.parametrize("kwargs,field,code", BAD_REQUESTS)
async def test_the_emulator_enforces_the_same_rules(server, kwargs, field, code):
    async with QianfanClient(AK, SK, base_url=server.base_url, validate=False, max_retries=0) as raw:
        with pytest.raises(InvalidRequestError) as info:
            await raw.chat(model="ERNIE-Speed-8K", **kwargs)
    assert info.value.code == code
    assert info.value.request_id.startswith("as-")


async def test_parameter_the_model_does_not_accept(client):
    with pytest.raises(InvalidRequestError) as info:
        await client.chat(model="BLOOMZ-7B", messages=HELLO, system="你是一个助手")
    assert info.value.field == "system" and "BLOOMZ-7B" in str(info.value) and "top_k" in info.value.allowed
    with pytest.raises(InvalidRequestError, match="Unknown parameter `temprature`"):
        await client.chat(model="BLOOMZ-7B", messages=HELLO, temprature=0.5)


async def test_bloomz_input_limit_is_4800_chars(client):
    with pytest.raises(InvalidRequestError, match="4800") as info:
        await client.chat(model="BLOOMZ-7B", messages=[{"role": "user", "content": "x " * 2401}])
    assert info.value.code == 336007


async def test_unknown_model_suggests_names(client):
    with pytest.raises(InvalidRequestError, match="ERNIE-Speed-8K"):
        await client.chat(model="ERNIE-Sped-8K", messages=HELLO)
    with pytest.raises(InvalidRequestError, match="endpoint"):
        await client.complete(model="Yi-34B", prompt="hi")


# -- authentication ------------------------------------------------------------
async def test_token_is_cached(client, server):
    for _ in range(3):
        await client.chat(messages=HELLO)
    assert len(token_requests(server)) == 1
    assert all(r["query"].get("access_token") == "***" for r in chat_requests(server))


async def test_expired_token_is_refreshed_transparently(client, server):
    await client.chat(messages=HELLO)
    server.expire_tokens()
    resp = await client.chat(messages=HELLO)
    assert resp.result and len(token_requests(server)) == 2
    server.revoke_tokens()
    chunks = [c async for c in client.stream_chat(messages=HELLO)]
    assert chunks[-1].is_end and len(token_requests(server)) == 3


async def test_injected_token_faults_refresh_once(client, server):
    server.inject("expired_token")
    assert (await client.chat(messages=HELLO)).result
    server.inject("invalid_token")
    assert "".join([c.result async for c in client.stream_chat(messages=HELLO)])
    assert len(token_requests(server)) == 3


async def test_token_is_refreshed_ahead_of_expiry():
    # The emulator counts token lifetimes in whole seconds, so 1 s is the shortest; the second chat comes
    # after the token has expired on the server, as it did with 2 s and a 2.1 s wait.
    with Emulator(token_ttl=1) as emu:
        async with QianfanClient("a", "b", base_url=emu.base_url) as c:
            await c.chat(messages=HELLO)
            await asyncio.sleep(1.1)
            await c.chat(messages=HELLO)
        # Two tokens and exactly two chat requests: the second token was fetched
        # ahead of expiry, not after a 111 rejection and a retry.
        assert len(token_requests(emu)) == 2
        assert len(chat_requests(emu)) == 2


async def test_refresh_is_single_flight(server):
    async with QianfanClient(AK, SK, base_url=server.base_url, max_connections=100) as c:
        replies = await asyncio.gather(*[c.chat(messages=HELLO) for _ in range(100)])
    assert all(r.result for r in replies)
    assert len(token_requests(server)) == 1 and c.token_fetches == 1


async def test_wrong_keys_name_the_variable_and_not_the_secret(server):
    async with QianfanClient("nope-key-123", SK, base_url=server.base_url) as c:
        with pytest.raises(AuthenticationError) as info:
            await c.chat(messages=HELLO)
    assert "QIANFAN_AK" in str(info.value) and info.value.status == 401
    async with QianfanClient(AK, "wrong-secret-456", base_url=server.base_url) as c:
        with pytest.raises(AuthenticationError) as info:
            await c.chat(messages=HELLO)
    text = str(info.value) + repr(info.value)
    assert "QIANFAN_SK" in text and "wrong-secret-456" not in text and SK not in text


async def test_iam_signing(server):
    async with QianfanClient(access_key=IAM_AK, secret_access_key=IAM_SK, base_url=server.base_url) as c:
        resp = await c.chat(model="ERNIE-Speed-8K", messages=HELLO)
        stream = [x async for x in c.stream_chat(model="BLOOMZ-7B", messages=HELLO)]
    assert resp.result and stream[-1].is_end and token_requests(server) == []
    logged = chat_requests(server)[-1]["headers"]
    assert logged["authorization"].startswith("bce-auth-v1/") and IAM_AK not in str(logged)


async def test_bad_iam_signature_names_the_variables(server):
    async with QianfanClient(access_key=IAM_AK, secret_access_key="forged-secret-1", base_url=server.base_url) as c:
        with pytest.raises(AuthenticationError) as info:
            await c.chat(messages=HELLO)
    text = str(info.value)
    assert "QIANFAN_SECRET_KEY" in text and "forged-secret-1" not in text and info.value.code == 14


async def test_credentials_from_the_environment(server, monkeypatch):
    for name in ("QIANFAN_AK", "QIANFAN_SK", "QIANFAN_ACCESS_KEY", "QIANFAN_SECRET_KEY", "QIANFAN_ACCESS_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("QIANFAN_ACCESS_KEY", IAM_AK)
    monkeypatch.setenv("QIANFAN_SECRET_KEY", IAM_SK)
    monkeypatch.setenv("QIANFAN_BASE_URL", server.base_url)
    async with QianfanClient() as c:
        assert c.auth_method == "iam" and c.base_url == server.base_url
        assert (await c.chat(messages=HELLO)).result
    monkeypatch.delenv("QIANFAN_ACCESS_KEY")
    monkeypatch.delenv("QIANFAN_SECRET_KEY")
    async with QianfanClient() as c:
        with pytest.raises(AuthenticationError, match="QIANFAN_AK"):
            await c.chat(messages=HELLO)


async def test_no_secret_in_errors_reprs_or_logs(server, caplog):
    caplog.set_level(logging.DEBUG)
    token = "24.deadbeefcafe.2592000.1.1-secret"
    async with QianfanClient(access_token=token, base_url="http://127.0.0.1:9", max_retries=1,
                             retry_backoff=0.01) as c:
        assert token not in repr(c)
        with pytest.raises(APIConnectionError) as info:
            await c.chat(messages=HELLO)
    assert info.value.retries == 1
    async with QianfanClient(AK, SK, base_url=server.base_url) as c:
        await c.chat(messages=HELLO)
        issued = c._tokens.current
    logged = caplog.text
    for secret in (token, issued, SK, AK):
        assert secret not in str(info.value) and secret not in repr(info.value) and secret not in logged
    assert "access_token=***" in logged  # httpx logged the URL, redacted
    assert all(secret not in str(server.requests) for secret in (issued, SK, AK))


# -- retries and faults --------------------------------------------------------
@pytest.mark.parametrize("fault,code", [("busy", 336100), ("qps", 18), ("unavailable", 2), ("rpm", 336501),
                                        ("tpm", 336502)])
async def test_transient_faults_are_retried(client, server, fault, code):
    server.inject(fault, times=2)
    resp = await client.chat(messages=HELLO)
    assert resp.result and resp.retries == 2
    assert len(chat_requests(server)) == 3


@pytest.mark.parametrize("fault,error", [("busy", ServerError), ("qps", RateLimitError), ("rpm", RateLimitError)])
async def test_beyond_the_retry_budget_is_a_clear_error(client, server, fault, error):
    server.inject(fault, times=3)
    with pytest.raises(error) as info:
        await client.chat(messages=HELLO)
    assert info.value.retries == 2 and info.value.retryable
    assert len(chat_requests(server)) == 3
    assert (await client.chat(messages=HELLO)).result


async def test_rate_limit_error_says_when_to_retry(client, server):
    server.inject("rpm", times=3)
    with pytest.raises(RateLimitError) as info:
        await client.chat(messages=HELLO)
    assert "60" in str(info.value) and info.value.code == 336501


async def test_real_rpm_counter_trips(server):
    server.set_limits(rpm=3)
    async with QianfanClient(AK, SK, base_url=server.base_url, max_retries=0) as c:
        for _ in range(3):
            last = await c.chat(messages=HELLO)
        assert last.rate_limit.remaining_requests == 0
        with pytest.raises(RateLimitError) as info:
            await c.chat(messages=HELLO)
    assert info.value.code == 336501


async def test_non_retryable_errors_are_not_retried(client, server):
    server.inject("error", code=336003, message="bad thing")
    with pytest.raises(InvalidRequestError):
        await client.chat(messages=HELLO)
    assert len(chat_requests(server)) == 1


async def test_http_500_html_is_retried_then_reported(client, server):
    server.inject("http_500")
    assert (await client.chat(messages=HELLO)).retries == 1
    server.inject("http_500", times=3)
    with pytest.raises(ServerError, match="HTTP 500 with text/html"):
        await client.chat(messages=HELLO)


async def test_slow_first_byte_times_out_then_retries(server):
    delay = 0.75  # three times the timeout, as 1.5 s was to 0.5 s
    async with QianfanClient(AK, SK, base_url=server.base_url, timeout=0.25, retry_backoff=0.01,
                             max_retries=1) as c:
        server.inject("slow_first_byte", delay=delay)
        assert (await c.chat(messages=HELLO)).retries == 1
        server.inject("slow_first_byte", delay=delay, times=2)
        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(APITimeoutError, match="0.25 s"):
            await c.chat(messages=HELLO)
        assert loop.time() - started < 2 * delay  # it gave up on both tries, it did not wait them out


async def test_dropped_stream_keeps_the_partial_text_and_is_not_retried(client, server):
    server.inject("drop_stream", after=3)
    stream = client.stream_chat(messages=[{"role": "user", "content": "给我推荐一些自驾游路线"}])
    seen = []
    with pytest.raises(StreamInterruptedError) as info:
        async for chunk in stream:
            seen.append(chunk.result)
    assert len(seen) == 3 and info.value.partial_text == "".join(seen) == stream.text
    assert info.value.chunks == 3
    assert len(chat_requests(server)) == 1


async def test_json_error_line_mid_stream(client, server):
    server.inject("stream_error", after=2, code=336100)
    with pytest.raises(StreamInterruptedError) as info:
        async for _ in client.stream_chat(messages=[{"role": "user", "content": "介绍一下北京"}]):
            pass
    assert info.value.code == 336100 and info.value.chunks == 2 and info.value.partial_text


async def test_error_line_before_any_text_is_retried(client, server):
    server.inject("stream_error", after=0, code=336100)
    chunks = [c async for c in client.stream_chat(messages=HELLO)]
    assert chunks[-1].is_end and len(chat_requests(server)) == 2


async def test_drop_before_any_text_is_retried(client, server):
    server.inject("drop_stream", after=0)
    chunks = [c async for c in client.stream_chat(messages=HELLO)]
    assert chunks[-1].is_end


async def test_json_error_where_a_stream_was_asked(server):
    async with QianfanClient(AK, SK, base_url=server.base_url, validate=False) as c:
        with pytest.raises(InvalidRequestError) as info:
            async for _ in c.stream_chat(messages=HELLO, temperature=5):
                pass
    assert info.value.code == 336003


@pytest.mark.parametrize("fault", ["crlf", "keepalive", "fragment"])
async def test_stream_framing_variants(client, server, fault):
    prompt = [{"role": "user", "content": "我在北京周末可以去哪里玩"}]
    whole = (await client.chat(messages=prompt)).result
    server.inject(fault)
    stream = client.stream_chat(messages=prompt)
    assert "".join([c.result async for c in stream]) == whole
    assert stream.done


async def test_closing_a_stream_early_closes_the_connection(client, server):
    stream = client.stream_chat(messages=[{"role": "user", "content": "write 6000 characters about Beijing"}])
    async for _ in stream:  # take one chunk, then stop
        break
    await stream.aclose()
    assert stream.chunks == 1 and not stream.done
    assert (await client.chat(messages=HELLO)).result


async def test_connections_are_reused(client):
    for _ in range(5):
        await client.chat(messages=HELLO)
    pool = client.http._transport._pool
    assert len(pool.connections) == 1


async def test_need_clear_history_is_reported(client, server):
    resp = await client.chat(messages=[{"role": "user", "content": "敏感测试"}])
    assert resp.need_clear_history and resp.ban_round == -1 and resp.finish_reason == "content_filter"


async def test_search_info_when_citations_are_asked(client):
    resp = await client.chat(model="ERNIE-3.5-8K", messages=[{"role": "user", "content": "介绍一下北京"}],
                             enable_citation=True)
    assert resp.search_info["search_results"][0]["url"]
