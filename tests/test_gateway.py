"""The gateway forwards a student's v2 request to the upstream (the emulator) with the teacher's key: streamed and
not, through plain HTTP, a real Session, the QianfanClient and the official openai SDK; a wrong token, a malformed
or huge body and a down upstream get v2-form errors; the teacher's key reaches no student."""

from __future__ import annotations

import asyncio
import json

import httpx
import openai
import pytest

from _gateway import ADMIN_TOKEN, STUDENTS, TEACHER_KEY, running_gateway
from wenxin_magic.api import QianfanClient

CHAT = "/v2/chat/completions"
ALICE = STUDENTS["alice"][0]
QUESTION = {"model": "ernie-speed-8k", "messages": [{"role": "user", "content": "介绍下故宫"}]}


@pytest.fixture(scope="module")
def gateway(emulator, tmp_path_factory):
    with running_gateway(tmp_path_factory.mktemp("class"), emulator.base_url) as server:
        yield server


@pytest.fixture
def http(gateway):
    with httpx.Client(base_url=gateway.base_url, timeout=10) as c:
        yield c


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def assert_v2_error(response: httpx.Response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"code", "message", "type"} and error["code"] == code and error["message"]
    assert TEACHER_KEY not in response.text
    return error


def upstream_auth(emu) -> list[str]:
    return [r["headers"].get("authorization") for r in emu.requests if r["path"] == CHAT]


def test_a_whole_answer_is_forwarded_with_the_teachers_key(http, emu):
    answer = http.post(CHAT, json=QUESTION, headers=bearer(ALICE))
    assert answer.status_code == 200, answer.text
    assert answer.json()["choices"][0]["message"]["content"]
    assert answer.json()["usage"]["completion_tokens"] > 0
    assert upstream_auth(emu) == ["Bearer ***"]  # the emulator masks it in its log; it received one bearer key
    assert TEACHER_KEY not in answer.text and TEACHER_KEY not in str(answer.headers)


def test_a_stream_is_relayed_event_by_event(http, emu):
    events = []
    with http.stream("POST", CHAT, json={**QUESTION, "stream": True}, headers=bearer(ALICE)) as answer:
        assert answer.status_code == 200
        assert answer.headers["content-type"].startswith("text/event-stream")
        events = [line for line in answer.iter_lines() if line.startswith("data:")]
    chunks = [json.loads(line[5:]) for line in events if line.strip() != "data: [DONE]"]
    assert len(chunks) > 1 and "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])


def test_a_wrong_or_missing_token_is_401_in_the_v2_form(http, emu):
    error = assert_v2_error(http.post(CHAT, json=QUESTION, headers=bearer("tok-nobody")), 401, "invalid_iam_token")
    assert "QIANFAN_API_KEY" in error["message"]
    assert_v2_error(http.post(CHAT, json=QUESTION), 401, "invalid_iam_token")
    assert_v2_error(http.get("/v2/models", headers=bearer(TEACHER_KEY)), 401, "invalid_iam_token")
    assert upstream_auth(emu) == []  # nothing was sent


def test_malformed_and_huge_bodies(http, emu, gateway):
    assert_v2_error(http.post(CHAT, content=b"{not json", headers=bearer(ALICE)), 400, "malformed_json")
    assert_v2_error(http.post(CHAT, json=[1, 2], headers=bearer(ALICE)), 400, "malformed_json")
    error = assert_v2_error(http.post(CHAT, json={"messages": []}, headers=bearer(ALICE)), 400, "invalid_argument")
    assert "model" in error["message"]
    huge = {**QUESTION, "messages": [{"role": "user", "content": "x" * (gateway.config.max_body_bytes + 10)}]}
    error = assert_v2_error(http.post(CHAT, json=huge, headers=bearer(ALICE)), 413, "request_too_large")
    assert "max_body_bytes" in error["message"]
    assert upstream_auth(emu) == []


def test_the_upstreams_own_errors_pass_through_redacted(http, emu):
    emu.inject("error", path="/v2/", code="invalid_argument", status=400, message=f"bad thing for {TEACHER_KEY}")
    answer = http.post(CHAT, json=QUESTION, headers=bearer(ALICE))
    assert answer.status_code == 400 and answer.json()["error"]["code"] == "invalid_argument"
    assert TEACHER_KEY not in answer.text and "***" in answer.text


def test_models_are_listed_through_the_gateway(http, emu):
    listing = http.get("/v2/models", headers=bearer(ALICE))
    assert listing.status_code == 200
    ids = {m["id"] for m in listing.json()["data"]}
    assert "ernie-speed-8k" in ids and "ernie-4.5-turbo-32k" in ids


def test_an_upstream_that_is_down_is_502(tmp_path):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    with running_gateway(tmp_path, dead) as server, httpx.Client(base_url=server.base_url, timeout=10) as c:
        error = assert_v2_error(c.post(CHAT, json=QUESTION, headers=bearer(ALICE)), 502, "upstream_unavailable")
        assert "try again" in error["message"]
        assert_v2_error(c.post(CHAT, json={**QUESTION, "stream": True}, headers=bearer(ALICE)), 502,
                        "upstream_unavailable")


def test_the_openai_sdk_works_through_the_gateway(gateway, emu):
    with openai.OpenAI(base_url=gateway.base_url + "/v2", api_key=ALICE, max_retries=0, timeout=10) as sdk:
        answer = sdk.chat.completions.create(**QUESTION)
        assert answer.choices[0].message.content
        pieces = [c.choices[0].delta.content or "" for c in sdk.chat.completions.create(**QUESTION, stream=True)
                  if c.choices]
        assert "".join(pieces)
        with pytest.raises(openai.AuthenticationError):
            openai.OpenAI(base_url=gateway.base_url + "/v2", api_key="tok-wrong", max_retries=0).models.list()


def test_the_qianfan_client_streams_through_the_gateway(gateway, emu):
    async def ask() -> str:
        async with QianfanClient(bearer_token=ALICE, base_url=gateway.base_url) as client:
            stream = client.stream_chat(model="ernie-speed-8k", messages=QUESTION["messages"])
            return "".join([chunk.text or "" async for chunk in stream])

    assert asyncio.run(ask())


def test_a_session_with_a_student_token_streams_an_answer(gateway, emu, session_factory):
    session = session_factory(environ={"QIANFAN_API_KEY": ALICE, "QIANFAN_BASE_URL": gateway.base_url},
                              offline=False)
    seen = []
    reply = session.ask("介绍下故宫", model="ernie-speed-8k", on_delta=lambda reply, text: seen.append(text))
    assert reply.text and reply.error is None and len(seen) > 1
    assert upstream_auth(emu) == ["Bearer ***"]


def test_the_admin_token_is_not_a_student_token(http, emu):
    assert_v2_error(http.post(CHAT, json=QUESTION, headers=bearer(ADMIN_TOKEN)), 401, "invalid_iam_token")
