"""The class's policy at the gateway: the allowlist, the output cap, daily budgets (tokens and ¥), the exam switch,
and a quota wait that times out; each refusal is a v2-form error and sends nothing upstream."""

from __future__ import annotations

import contextlib
import itertools
import time

import httpx
import pytest

from _gateway import ADMIN_TOKEN, STUDENTS, running_gateway
from test_gateway import CHAT, QUESTION, assert_v2_error, bearer, upstream_auth

ALICE, BOB, CAROL = (STUDENTS[name][0] for name in ("alice", "bob", "carol"))


@pytest.fixture
def start(emu, tmp_path):
    """``start(**sections)``: a gateway over the emulator with these config tables, and an httpx client to it."""
    numbers = itertools.count()
    with contextlib.ExitStack() as stack:
        def start_gateway(**sections):
            server = stack.enter_context(running_gateway(tmp_path / f"class{next(numbers)}", emu.base_url, **sections))
            return server, stack.enter_context(httpx.Client(base_url=server.base_url, timeout=20))

        yield start_gateway


def wait_for_ledger(server, requests: int, *, until=lambda rows: True) -> list[dict]:
    """The ledger once it counts ``requests`` (counted when sent) and ``until(rows)`` holds: output tokens and ¥
    are counted when an answer's usage settles, a moment after the client has its answer."""
    import asyncio

    deadline = time.monotonic() + 5
    while True:
        rows = asyncio.run(server.gateway.state.ledger())
        counted = sum(r["requests"] for r in rows) >= requests and until(rows)
        if counted or time.monotonic() > deadline:
            return rows
        time.sleep(0.02)


def test_a_model_outside_the_allowlist_is_403_naming_the_allowed_ones(start, emu):
    _, http = start(policy={"models": ["ernie-speed-8k", "ernie-4.5-turbo-32k"]})
    error = assert_v2_error(http.post(CHAT, json={**QUESTION, "model": "deepseek-r1"}, headers=bearer(ALICE)),
                            403, "model_not_allowed")
    assert "deepseek-r1" in error["message"] and "ernie-speed-8k, ernie-4.5-turbo-32k" in error["message"]
    assert upstream_auth(emu) == []
    assert http.post(CHAT, json={**QUESTION, "model": "ERNIE-Speed-8K"}, headers=bearer(ALICE)).status_code == 200
    ids = {m["id"] for m in http.get("/v2/models", headers=bearer(ALICE)).json()["data"]}
    assert ids == {"ernie-speed-8k", "ernie-4.5-turbo-32k"}


def test_the_output_cap_clamps_and_says_so(start, emu):
    _, http = start(policy={"max_output_tokens": 100})
    answer = http.post(CHAT, json={**QUESTION, "max_tokens": 5000}, headers=bearer(ALICE))
    assert answer.status_code == 200 and "cap of 100" in answer.headers["x-wenxin-gateway-note"]
    sent = [r["json"] for r in emu.requests if r["path"] == CHAT]
    assert sent[-1]["max_completion_tokens"] == 100 and "max_tokens" not in sent[-1]
    answer = http.post(CHAT, json={**QUESTION, "max_completion_tokens": 50}, headers=bearer(ALICE))
    assert "x-wenxin-gateway-note" not in answer.headers
    assert [r["json"] for r in emu.requests if r["path"] == CHAT][-1]["max_completion_tokens"] == 50


def test_a_spent_daily_token_budget_is_429_for_that_student_only(start, emu):
    server, http = start(policy={"daily_tokens": 20})
    assert http.post(CHAT, json=QUESTION, headers=bearer(ALICE)).status_code == 200
    wait_for_ledger(server, 1, until=lambda rows: sum(r["output_tokens"] for r in rows) > 0)
    error = assert_v2_error(http.post(CHAT, json=QUESTION, headers=bearer(ALICE)), 429, "daily_budget_exceeded")
    assert "20 tokens" in error["message"] and "resets at" in error["message"] and "UTC" in error["message"]
    assert len(upstream_auth(emu)) == 1
    assert http.post(CHAT, json=QUESTION, headers=bearer(BOB)).status_code == 200


def test_a_daily_yuan_budget_counts_the_catalogs_prices(start, emu):
    server, http = start(policy={"daily_yuan": 0.000001})
    question = {**QUESTION, "model": "ernie-4.5-turbo-32k"}
    assert http.post(CHAT, json=question, headers=bearer(ALICE)).status_code == 200
    rows = wait_for_ledger(server, 1, until=lambda rows: sum(r["yuan"] for r in rows) > 0)
    assert rows[0]["yuan"] > 0
    error = assert_v2_error(http.post(CHAT, json=question, headers=bearer(ALICE)), 429, "daily_budget_exceeded")
    assert "¥" in error["message"]


def test_pause_and_resume_the_class_and_a_group(start, emu):
    _, http = start(admin={"token_env": "WENXIN_GATEWAY_ADMIN"})
    assert_v2_error(http.post("/admin/pause", json={}, headers=bearer(ALICE)), 401, "invalid_admin_token")
    assert http.post("/admin/pause", json={}, headers=bearer(ADMIN_TOKEN)).json() == {"group": None, "paused": True}
    for token in (ALICE, BOB, CAROL):
        error = assert_v2_error(http.post(CHAT, json=QUESTION, headers=bearer(token)), 403, "gateway_paused")
        assert "paused by the teacher" in error["message"]
    assert upstream_auth(emu) == []
    http.post("/admin/resume", json={}, headers=bearer(ADMIN_TOKEN))
    assert http.post(CHAT, json=QUESTION, headers=bearer(ALICE)).status_code == 200
    http.post("/admin/pause", json={"group": "a"}, headers=bearer(ADMIN_TOKEN))
    assert_v2_error(http.post(CHAT, json=QUESTION, headers=bearer(ALICE)), 403, "gateway_paused")
    assert http.post(CHAT, json=QUESTION, headers=bearer(BOB)).status_code == 200
    http.post("/admin/resume", json={"group": "a"}, headers=bearer(ADMIN_TOKEN))
    assert http.post(CHAT, json=QUESTION, headers=bearer(ALICE)).status_code == 200


def test_a_request_waiting_for_the_quota_when_the_class_pauses_is_refused_and_not_sent(start, emu):
    import concurrent.futures

    # a TPM that holds one reservation (input + 1024 output): Bob waits until Alice's slow answer settles
    _, http = start(quota={"rpm": 100, "tpm": 1500, "wait_timeout": 20}, admin={"token_env": "WENXIN_GATEWAY_ADMIN"})
    emu.ttft = 1.5
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        first = pool.submit(http.post, CHAT, json=QUESTION, headers=bearer(ALICE))
        time.sleep(0.4)
        waiting = pool.submit(http.post, CHAT, json=QUESTION, headers=bearer(BOB))
        time.sleep(0.4)
        assert not waiting.done()
        http.post("/admin/pause", json={}, headers=bearer(ADMIN_TOKEN))
        assert first.result(timeout=20).status_code == 200  # sent before the pause: answered
        assert_v2_error(waiting.result(timeout=20), 403, "gateway_paused")
    assert len(upstream_auth(emu)) == 1  # the waiting request was not sent when its turn came during the pause


def test_a_quota_wait_longer_than_the_timeout_is_a_clear_429(start, emu):
    _, http = start(quota={"rpm": 1, "tpm": 100000, "wait_timeout": 0.3})
    assert http.post(CHAT, json=QUESTION, headers=bearer(ALICE)).status_code == 200
    began = time.monotonic()
    error = assert_v2_error(http.post(CHAT, json=QUESTION, headers=bearer(BOB)), 429, "quota_wait_timeout")
    assert time.monotonic() - began >= 0.3
    assert "shared quota" in error["message"] and "1 requests" in error["message"]
    assert len(upstream_auth(emu)) == 1  # the second was never forwarded to a certain 429


def test_the_ledger_counts_what_the_upstream_served(start, emu):
    import json

    server, http = start()
    usages = []
    for token in (ALICE, ALICE, BOB):
        answer = http.post(CHAT, json=QUESTION, headers=bearer(token))
        assert answer.status_code == 200
        usages.append(answer.json()["usage"])
    streamed = {**QUESTION, "stream": True, "stream_options": {"include_usage": True}}
    with http.stream("POST", CHAT, json=streamed, headers=bearer(BOB)) as answer:
        events = [json.loads(line[5:]) for line in answer.iter_lines()
                  if line.startswith("data:") and "[DONE]" not in line]
    usages.append([e["usage"] for e in events if e.get("usage")][-1])
    output = sum(u["completion_tokens"] for u in usages)
    rows = wait_for_ledger(server, 4, until=lambda rows: sum(r["output_tokens"] for r in rows) >= output)
    by_student = {row["student"]: row for row in rows}
    assert by_student["alice"]["requests"] == 2 and by_student["bob"]["requests"] == 2
    assert len([r for r in emu.requests if r["path"] == CHAT]) == 4
    assert sum(r["input_tokens"] for r in rows) == sum(u["prompt_tokens"] for u in usages)
    assert sum(r["output_tokens"] for r in rows) == sum(u["completion_tokens"] for u in usages) > 0
    assert all(row["errors"] == 0 for row in rows)


def test_an_upstream_429_is_retried_within_the_wait_and_reaches_no_student(start, emu):
    _, http = start()
    emu.inject("rpm", path="/v2/", retry_after=0.2)
    answer = http.post(CHAT, json=QUESTION, headers=bearer(ALICE))
    assert answer.status_code == 200 and answer.json()["choices"][0]["message"]["content"]
    assert len(upstream_auth(emu)) == 2


def test_a_stream_cut_upstream_reaches_the_student_interrupted_and_is_counted(start, emu):
    server, http = start()
    emu.inject("drop_stream", path="/v2/")
    with pytest.raises(httpx.HTTPError):
        with http.stream("POST", CHAT, json={**QUESTION, "stream": True}, headers=bearer(ALICE)) as answer:
            answer.read()
    rows = wait_for_ledger(server, 1, until=lambda rows: sum(r["errors"] for r in rows) > 0)
    assert rows[0]["requests"] == 1 and rows[0]["errors"] == 1 and rows[0]["input_tokens"] > 0


def test_a_failing_shared_state_refuses_rather_than_overspends(emu, tmp_path):
    from wenxin_magic.gateway import MemoryState

    class Unreachable(MemoryState):  # what a state whose server went away does: every call fails
        async def acquire(self, student, tokens, *, timeout):
            raise ConnectionError("connection refused")

        async def paused(self, group):
            raise ConnectionError("connection refused")

    with running_gateway(tmp_path, emu.base_url, state=Unreachable(rpm=10, tpm=1000)) as server, \
            httpx.Client(base_url=server.base_url, timeout=10) as http:
        error = assert_v2_error(http.post(CHAT, json=QUESTION, headers=bearer(ALICE)), 503,
                                "gateway_state_unavailable")
        assert "nothing was sent" in error["message"]
    assert upstream_auth(emu) == []


def test_a_request_is_in_the_ledger_while_it_is_answered(start, emu):
    import threading

    server, http = start()
    emu.ttft = 1.0  # the answer begins a second later: the entry must already be there
    worker = threading.Thread(target=lambda: http.post(CHAT, json={**QUESTION, "stream": True},
                                                      headers=bearer(ALICE)).read())
    worker.start()
    time.sleep(0.5)
    rows = wait_for_ledger(server, 1)
    assert rows and rows[0]["requests"] == 1 and rows[0]["input_tokens"] > 0 and rows[0]["output_tokens"] == 0
    worker.join(10)
    rows = wait_for_ledger(server, 1)
    deadline = time.monotonic() + 5
    while rows[0]["output_tokens"] == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
        rows = wait_for_ledger(server, 1)
    assert rows[0]["requests"] == 1 and rows[0]["output_tokens"] > 0


def test_the_policy_and_roster_are_read_again_when_their_files_change(emu, tmp_path):
    from _gateway import write_class

    with running_gateway(tmp_path, emu.base_url, policy={"models": ["ernie-speed-8k"]}) as server, \
            httpx.Client(base_url=server.base_url, timeout=10) as http:
        other = {**QUESTION, "model": "ernie-4.5-turbo-32k"}
        assert_v2_error(http.post(CHAT, json=other, headers=bearer(ALICE)), 403, "model_not_allowed")
        write_class(tmp_path, emu.base_url, policy={"models": ["ernie-speed-8k", "ernie-4.5-turbo-32k"]})
        with open(tmp_path / "roster.csv", "a", encoding="utf-8") as roster:
            roster.write("dave,tok-dave-new,b\n")
        time.sleep(1.1)  # the files are looked at once a second at most
        assert http.post(CHAT, json=other, headers=bearer(ALICE)).status_code == 200
        assert http.post(CHAT, json=QUESTION, headers=bearer("tok-dave-new")).status_code == 200
        (tmp_path / "class.toml").write_text("[policy]\nmodels = []\n", encoding="utf-8")  # a mistake: kept the last
        time.sleep(1.1)
        assert http.post(CHAT, json=other, headers=bearer(ALICE)).status_code == 200
