"""Protocol pieces that need no server: signing, SSE framing, registry, token estimate."""

from __future__ import annotations

import pytest

from wenxin_magic.api import (CHAT, COMPLETION, MODELS, estimate_tokens, find_model, model_for_endpoint,
                              parse_authorization, redact, sign_request)
from wenxin_magic.api._signing import string_to_sign  # a step of the algorithm, checked against the vector
from wenxin_magic.api._sse import DONE, aiter_lines, parse_line

VECTOR_PATH = "/rpc/2.0/ai_custom/v1/wenxinworkshop/chat/completions"
VECTOR_HEADERS = {"Content-Type": "application/json", "Host": "aip.baidubce.com", "x-bce-date": "2024-01-01T00:00:00Z"}


def test_signing_matches_the_published_test_vector():
    text = string_to_sign("POST", VECTOR_PATH, {}, VECTOR_HEADERS, ("content-type", "host", "x-bce-date"))
    assert text == ("POST\n/rpc/2.0/ai_custom/v1/wenxinworkshop/chat/completions\n\n"
                    "content-type:application%2Fjson\nhost:aip.baidubce.com\nx-bce-date:2024-01-01T00%3A00%3A00Z")
    auth = sign_request("ak-example", "sk-example", "POST", VECTOR_PATH, {}, VECTOR_HEADERS,
                        timestamp="2024-01-01T00:00:00Z", expiration=1800)
    assert auth == ("bce-auth-v1/ak-example/2024-01-01T00:00:00Z/1800/content-type;host;x-bce-date/"
                    "416d24f757d24f9f1f214d4899787433791f2d52e444f2e8357bd821b7b1b92e")
    parts = parse_authorization(auth)
    assert parts["access_key"] == "ak-example" and parts["headers_to_sign"] == ("content-type", "host", "x-bce-date")


def test_signing_sorts_headers_whatever_order_they_are_listed():
    a = sign_request("k", "s", "POST", "/p", {"b": "2", "a": "1"}, VECTOR_HEADERS, timestamp="2024-01-01T00:00:00Z",
                     headers_to_sign=("x-bce-date", "host", "content-type"))
    b = sign_request("k", "s", "POST", "/p", {"a": "1", "b": "2"}, VECTOR_HEADERS, timestamp="2024-01-01T00:00:00Z")
    assert a == b


async def _lines(pieces):
    async def gen():
        for piece in pieces:
            yield piece
    return [line async for line in aiter_lines(gen())]


async def test_multibyte_character_split_across_reads():
    data = 'data: {"result":"你好，世界"}\n\n'.encode()
    cut = data.index("好".encode()) + 1  # inside the three bytes of 好
    assert await _lines([data[:cut], data[cut:]]) == ['data: {"result":"你好，世界"}', ""]


async def test_crlf_including_a_split_crlf():
    data = b'data: {"a":1}\r\n\r\ndata: {"a":2}\r\n\r\n'
    for cut in range(1, len(data)):
        assert await _lines([data[:cut], data[cut:]]) == ['data: {"a":1}', "", 'data: {"a":2}', ""]


async def test_byte_at_a_time():
    data = ': keep-alive\n\ndata: {"result":"故宫"}\n\n'.encode()
    assert await _lines([data[i:i + 1] for i in range(len(data))]) == [": keep-alive", "", 'data: {"result":"故宫"}', ""]


async def test_last_line_without_newline():
    assert await _lines([b'{"error_code":18}']) == ['{"error_code":18}']


def test_parse_line_kinds():
    assert parse_line("") is None and parse_line(": keep-alive") is None and parse_line("event: x") is None
    assert parse_line('data: {"result": "a"}') == {"result": "a"}
    assert parse_line('data:{"result": "a"}') == {"result": "a"}
    assert parse_line("data: [DONE]") is DONE
    assert parse_line('{"error_code": 336100, "error_msg": "busy"}')["error_code"] == 336100
    with pytest.raises(ValueError):
        parse_line("data: {not json")


def test_registry_has_the_seed_models_as_their_pages_describe():
    bloomz = find_model("BLOOMZ-7B")
    assert bloomz.path == "chat/bloomz_7b1" and bloomz.max_input_chars == 4800
    assert "top_k" in bloomz.params and "system" not in bloomz.params
    pre = find_model("ERNIE-3.5-8K-preemptible")
    assert pre.path == "chat/completions_preemptible" and pre.max_input_chars == 20000 and pre.max_input_tokens == 5120
    for name in ("system", "functions", "tool_choice", "disable_search", "enable_citation", "enable_trace",
                 "max_output_tokens", "response_format"):
        assert name in pre.params
    yi = find_model("yi-34b")
    assert yi.kind == COMPLETION and yi.endpoint is None
    speed = find_model("ERNIE-Speed-8K")
    assert speed.path == "chat/ernie_speed" and (speed.max_input_chars, speed.max_input_tokens) == (24000, 6144)
    assert {"system", "max_output_tokens"} <= speed.params


def test_registry_is_large_and_consistent():
    assert len(MODELS) >= 34
    names = [m.name for m in MODELS]
    assert len(names) == len(set(names))
    for spec in MODELS:
        assert spec.kind in (CHAT, COMPLETION) and spec.max_input_chars > 0
        assert {"stream", "temperature", "top_p"} <= spec.params
        if spec.endpoint:
            assert model_for_endpoint(spec.kind, spec.endpoint) is spec


def test_token_estimate_follows_the_published_rule():
    assert estimate_tokens("你好世界") == 2  # 4 x 0.625
    assert estimate_tokens("hello big world") == 3
    assert estimate_tokens("北京 is great") == 3  # 1.25 + 2
    assert estimate_tokens("") == 0


def test_redact_masks_tokens_in_urls_and_known_secrets():
    url = "https://aip.baidubce.com/x?access_token=24.abc.123&b=1"
    assert redact(url) == "https://aip.baidubce.com/x?access_token=***&b=1"
    assert redact("key is s3cr3t-value", ("s3cr3t-value",)) == "key is ***"
    assert "sig" not in redact("Authorization: bce-auth-v1/ak/2024/1800/host/sig")
