"""The fault matrix: every failure users meet, through a real kernel that is online against a test-side emulator.

For each scenario four things are checked: what the user sees, the conversation history afterwards
(whole turns, nothing shown that was lost), that the kernel answers the next cell, and that no credential
(keys, secrets, the access tokens the emulator issued) appears anywhere in the cell's messages.
"""

from __future__ import annotations

import json
import socket
import time

import pytest

from _fakes import FAKE, assert_history_valid, chat_requests, shows, token_requests
from _kernel import ONLINE_SETUP, Kernel

pytestmark = pytest.mark.kernel

KEYS = FAKE.MATRIX
AK, SK, IAK, ISK = KEYS.ak, KEYS.sk, KEYS.iak, KEYS.isk
WRONG_AK, WRONG_SK, WRONG_ISK = KEYS.wrong_ak, KEYS.wrong_sk, KEYS.wrong_isk
LONG = "write 800 characters about the Great Wall"


@pytest.fixture(scope="module")
def emulator(emulator_factory):
    """Only the matrix's keys are accepted; the limits are out of reach unless a test sets them.

    conftest's ``emu`` empties its log, faults and windows and restores these settings around each test.
    """
    return emulator_factory(credentials={AK: SK}, iam_credentials={IAK: ISK}, rpm=100000, tpm=10 ** 9,
                            chunk_delay=0.002)


@pytest.fixture(scope="module")
def kernel(emulator, module_kernel_factory):
    return start_kernel(module_kernel_factory, KEYS.oauth_env(emulator.base_url))


def start_kernel(factory, env: dict, cwd=None) -> Kernel:
    k = factory(ONLINE_SETUP, env=env, cwd=cwd)
    assert "emulator" not in k.setup_run.stdout  # credentials present: online, no offline notice
    return k


def drop_faults(emu) -> None:
    state = emu._st()
    with state.lock:
        state.faults.clear()


def pending_faults(emu) -> list:
    state = emu._st()
    with state.lock:
        return [dict(f) for f in state.faults]


def secrets_of(emu) -> set[str]:
    """Every credential the scenario could leak: keys, secrets, wrong keys tried, issued tokens."""
    state = emu._st()
    with state.lock:
        issued = set(state.tokens) | set(state.seen_secrets)
    return KEYS.all | issued


def assert_no_secret(emu, run) -> None:
    text = json.dumps(run.messages, ensure_ascii=False, default=str) + run.text
    found = [s for s in secrets_of(emu) if s in text]
    assert not found, f"credential in the cell's output: {found}"


def settle(k: Kernel, emu, run, chat: str, *, faults_used: bool = True) -> list[dict]:
    """(a) no traceback, (b) a valid history, (d) no credential; then (c) the next cell answers."""
    assert run.error is None, run.error
    assert "Traceback" not in run.text
    assert_no_secret(emu, run)
    history = k.value(f"session.history({chat!r})")
    assert_history_valid(history)
    if faults_used:
        assert pending_faults(emu) == [], "the scenario did not use the faults it injected"
    drop_faults(emu)
    probe = k.run("%%wenxin -c probe --new\n你好", timeout=30)
    assert probe.error is None and "Error" not in probe.final(), probe.final()
    assert "tokens" in probe.final()
    assert_no_secret(emu, probe)
    return history


def ask(k: Kernel, chat: str, prompt: str = "你好", options: str = "", timeout: float = 30):
    return k.run(f"%%wenxin -c {chat} {options}\n{prompt}", timeout=timeout)


def assert_clean_answer(run) -> str:
    final = run.final()
    assert final and "Error" not in final and "interrupted" not in final, final
    assert "tokens" in final  # the footer of a finished answer
    return final


# -- 1. access token expiry ---------------------------------------------------------------------------------

def test_token_expires_between_turns(kernel, emu):
    ask(kernel, "expire", options="--new")
    fetched = len(token_requests(emu))
    emu.expire_tokens()
    run = ask(kernel, "expire", "再说一遍")
    assert_clean_answer(run)
    assert "retried" not in run.final()  # a refresh is not a retry the user needs to hear about
    assert len(token_requests(emu)) == fetched + 1
    assert [r["status"] for r in chat_requests(emu)[-2:]] == [200, 200]  # the 111 answer was a 200 + error body
    history = settle(kernel, emu, run, "expire")
    assert len(history) == 4


def test_token_rejected_when_the_stream_opens(kernel, emu):
    ask(kernel, "invalid", options="--new")
    fetched = len(token_requests(emu))
    emu.inject("invalid_token")
    run = ask(kernel, "invalid", LONG)
    assert_clean_answer(run)
    assert chat_requests(emu)[-1]["json"]["stream"] is True
    assert len(token_requests(emu)) == fetched + 1
    history = settle(kernel, emu, run, "invalid")
    assert len(history) == 4 and shows(history[-1]["content"].strip()[:100], run.final())  # the answer shown is kept


# -- 2./3. transient errors: retried, or beyond the budget a clear error --------------------------------------

@pytest.mark.parametrize("fault,stream", [("qps", True), ("busy", True), ("busy", False), ("unavailable", True)])
def test_transient_errors_are_retried(kernel, emu, fault, stream):
    chat = f"retry-{fault}-{stream}"
    ask(kernel, chat, options="--new")
    emu.inject(fault, times=2)
    run = ask(kernel, chat, "再介绍一下", "" if stream else "--no-stream")
    final = assert_clean_answer(run)
    assert "retried 2×" in final
    assert len(settle(kernel, emu, run, chat)) == 4


@pytest.mark.parametrize("fault,code", [("qps", 18), ("busy", 336100)])
def test_transient_errors_beyond_the_budget(kernel, emu, fault, code):
    chat = f"budget-{fault}"
    ask(kernel, chat, options="--new")
    before = kernel.value(f"session.history({chat!r})")
    emu.inject(fault, times=3)  # one try and max_retries = 2
    run = ask(kernel, chat, "再介绍一下")
    final = run.final()
    assert f"Error [{code}]" in final and ("retried" in final or "slow down" in final), final
    assert kernel.value(f"session.history({chat!r})") == before
    assert settle(kernel, emu, run, chat) == before
    again = ask(kernel, chat, "再介绍一下")  # the same cell, re-run
    assert_clean_answer(again)
    after = kernel.value(f"session.history({chat!r})")
    assert after[:2] == before and after[2]["content"] == "再介绍一下"


# -- 4. RPM / TPM ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("fault,code", [("rpm", 336501), ("tpm", 336502)])
def test_rate_limit_backs_off_then_answers(kernel, emu, fault, code):
    chat = f"limit-{fault}"
    emu.inject(fault)
    run = ask(kernel, chat, options="--new")
    final = assert_clean_answer(run)
    assert "retried 1×" in final
    assert len(settle(kernel, emu, run, chat)) == 2


@pytest.mark.parametrize("fault,code", [("rpm", 336501), ("tpm", 336502)])
def test_rate_limit_beyond_the_budget_says_when_to_retry(kernel, emu, fault, code):
    chat = f"limited-{fault}"
    emu.inject(fault, times=3)
    run = ask(kernel, chat, options="--new")
    final = run.final()
    assert f"Error [{code}]" in final and "60 seconds" in final and "refreshes" in final
    assert kernel.value("session.last_reply.error.retry_after") == 60
    assert settle(kernel, emu, run, chat) == []


def test_real_rpm_window_trips_and_recovers(kernel, emu):
    """The emulator's own RPM counter (not an injection), with its X-Ratelimit headers."""
    ask(kernel, "window", options="--new")
    emu.set_limits(rpm=1)
    try:
        run = ask(kernel, "window", "再说一遍")
        assert "Error [336501]" in run.final() and "60 seconds" in run.final()
        assert [r["status"] for r in chat_requests(emu)[-3:]] == [200, 200, 200]  # three tries, all refused
    finally:
        emu.set_limits(rpm=100000)
        emu.reset_limits()
    history = settle(kernel, emu, run, "window")
    assert len(history) == 2


# -- 5. unreachable, slow ----------------------------------------------------------------------------------

def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_server_unreachable(emu, kernel_factory):
    url = f"http://127.0.0.1:{closed_port()}"
    k = start_kernel(kernel_factory, KEYS.oauth_env(url))
    run = k.run("%%wenxin\n你好", timeout=30)  # the harness timeout is the hang detector
    assert run.error is None and "Traceback" not in run.text
    final = run.final()
    assert "Error" in final and "reach" in final and "QIANFAN_BASE_URL" in final, final
    assert "127.0.0.1" in final
    assert AK not in run.text and SK not in run.text
    assert k.value("session.history()") == []
    # pointing the session at a live server repairs it without a restart
    k.run(f"session.backend.reconfigure(base_url={emu.base_url!r})")
    assert_clean_answer(k.run("%%wenxin\n你好", timeout=30))
    assert len(k.value("session.history()")) == 2


def test_first_byte_slower_than_the_timeout(kernel, emu):
    ask(kernel, "slow", options="--new")
    before = kernel.value("session.history('slow')")
    kernel.run("%config WenxinMagics.timeout = 1")
    try:
        emu.inject("slow_first_byte", delay=3, times=3)
        started = time.monotonic()
        run = ask(kernel, "slow", "再说一遍", timeout=30)
        took = time.monotonic() - started
        final = run.final()
        assert "Error" in final and "within 1 s" in final and "timeout" in final, final
        assert took < 20
    finally:
        kernel.run("%config WenxinMagics.timeout = 5")
    assert settle(kernel, emu, run, "slow") == before


# -- 6. broken streams ------------------------------------------------------------------------------------

@pytest.mark.parametrize("fault,kw,code", [
    ("drop_stream", {"after": 3}, None),
    ("stream_error", {"after": 3, "code": 336100}, 336100),
])
def test_stream_broken_midway_keeps_the_partial_answer(kernel, emu, fault, kw, code):
    chat = f"broken-{fault}"
    ask(kernel, chat, options="--new")
    emu.inject(fault, **kw)
    run = ask(kernel, chat, LONG)
    final = run.final()
    reply = kernel.value("session.last_reply.to_dict()")
    assert reply["interrupted"] and reply["text"]
    assert shows(reply["text"].strip(), final)  # what was shown stays on screen
    assert "interrupted — partial answer" in final and "Error" in final
    if code:
        assert f"[{code}]" in final
    assert "ask again" in final
    assert len(reply["text"]) < 800
    history = settle(kernel, emu, run, chat)
    assert len(history) == 4 and history[-1]["content"] == reply["text"]  # kept as the assistant turn
    assert history[-2]["content"] == LONG


def test_stream_dropped_before_any_text_is_retried(kernel, emu):
    ask(kernel, "drop0", options="--new")
    emu.inject("drop_stream", after=0)
    run = ask(kernel, "drop0", LONG)
    assert "retried 1×" in assert_clean_answer(run)
    assert len(settle(kernel, emu, run, "drop0")) == 4


def test_http_500_with_html_body(kernel, emu):
    ask(kernel, "h500", options="--new")
    before = kernel.value("session.history('h500')")
    emu.inject("http_500")
    run = ask(kernel, "h500", "再说一遍")
    assert "retried 1×" in assert_clean_answer(run)  # a 500 is worth one more try
    assert len(settle(kernel, emu, run, "h500")) == 4
    emu.inject("http_500", times=3)
    run = ask(kernel, "h500", LONG)
    final = run.final()
    assert "HTTP 500" in final and "text/html" in final and "try again" in final
    assert "<html>" not in final and "nginx" not in final  # the HTML page itself is not shown
    history = settle(kernel, emu, run, "h500")
    assert len(history) == 4 and history[:2] == before  # nothing shown, the turn is dropped


# -- 7. need_clear_history ----------------------------------------------------------------------------------

def test_need_clear_history_current_round(kernel, emu):
    ask(kernel, "unsafe", options="--new")
    before = kernel.value("session.history('unsafe')")
    run = ask(kernel, "unsafe", "敏感测试")
    final = run.final()
    assert "flagged" in final and "ban_round -1" in final and "removed" in final
    assert "敏感测试" not in json.dumps(kernel.value("session.history('unsafe')"), ensure_ascii=False)
    assert settle(kernel, emu, run, "unsafe") == before  # round 1 kept


def test_need_clear_history_earlier_round(kernel, emu):
    for i, prompt in enumerate(["你好", "介绍下故宫", "我在北京周末可以去哪里玩"]):
        ask(kernel, "unsafe2", prompt, "--new" if i == 0 else "")
    before = kernel.value("session.history('unsafe2')")
    assert len(before) == 6
    emu.inject("need_clear_history", ban_round=2)
    run = ask(kernel, "unsafe2", "给我推荐一些自驾游路线")
    final = run.final()
    assert "ban_round 2" in final and "round(s) 2, 3, 4 removed" in final
    history = settle(kernel, emu, run, "unsafe2")
    assert history == before[:2]  # round 1 kept, the flagged round and everything after it gone
    assert kernel.value("len(session.conversation('unsafe2').removed)") == 3  # kept aside for the export


# -- 8. interrupt -------------------------------------------------------------------------------------

def test_kernel_interrupt_mid_stream(kernel, emu):
    ask(kernel, "stop", options="--new")
    emu.chunk_delay = 0.05
    prompt = "write 8000 characters about the Great Wall"
    kernel.interrupt_after(1.0)
    run = ask(kernel, "stop", prompt)
    assert run.error is None or run.error["ename"] == "KeyboardInterrupt"
    assert "interrupted — partial answer" in run.final()
    reply = kernel.value("session.last_reply.to_dict()")
    assert reply["interrupted"] and 0 < len(reply["text"]) < 8000
    assert shows(reply["text"].strip()[:200], run.final())
    for _ in range(60):  # the emulator notices the hang-up at its next chunk
        streamed = chat_requests(emu)[-1]
        if streamed["client_closed"]:
            break
        time.sleep(0.05)
    assert streamed["client_closed"] and streamed["chunks_sent"] < 100
    emu.chunk_delay = 0.002
    run.messages = [m for m in run.messages if m["msg_type"] != "error"]  # a KeyboardInterrupt is expected here
    history = settle(kernel, emu, run, "stop")
    assert len(history) == 4 and history[-1]["content"] == reply["text"]
    assert_clean_answer(ask(kernel, "stop", "继续"))


# -- 9. wrong credentials -----------------------------------------------------------------------------

@pytest.mark.parametrize("ak,sk,variable", [(WRONG_AK, SK, "QIANFAN_AK"), (AK, WRONG_SK, "QIANFAN_SK")])
def test_wrong_keys_name_the_variable(kernel, emu, ak, sk, variable):
    login = kernel.run("%wenxin login", stdin=["", ak, sk])  # no v2 key: the v1 keys are asked for
    assert "Online" in login.stdout
    assert_no_secret(emu, login)
    try:
        run = ask(kernel, "keys", options="--new")
        final = run.final()
        assert "Error" in final and variable in final and "invalid_client" in final, final
        assert ak not in run.text and sk not in run.text
        assert kernel.value("session.history('keys')") == []
    finally:
        kernel.run("%wenxin login", stdin=["", AK, SK])
    settle(kernel, emu, run, "keys")


def test_bad_iam_signature_names_the_variable(emu, kernel_factory):
    env = {**KEYS.iam_env(emu.base_url), "QIANFAN_SECRET_KEY": WRONG_ISK}
    k = start_kernel(kernel_factory, env)
    run = k.run("%%wenxin\n你好", timeout=30)
    assert run.error is None and "Traceback" not in run.text
    final = run.final()
    assert "Error" in final and "signature" in final and "QIANFAN_SECRET_KEY" in final, final
    assert_no_secret(emu, run)
    assert chat_requests(emu)[-1]["status"] == 401
    assert k.value("session.history()") == []
    assert "Error" in k.run("%%wenxin\n你好").final()  # not retried into success: the key is wrong
    k.close()  # one kernel at a time
    env["QIANFAN_SECRET_KEY"] = ISK  # the right secret: the same path answers
    k = start_kernel(kernel_factory, env)
    run = k.run("%%wenxin\n你好", timeout=30)
    assert_clean_answer(run)
    assert_no_secret(emu, run)
    assert chat_requests(emu)[-1]["headers"]["authorization"] == "bce-auth-v1/***"


# -- 11. many concurrent asks --------------------------------------------------------------------------

CONCURRENT = """
from wenxin_magic.api import StreamInterruptedError
for i in range(10):
    session.reset(f"c{i}")
replies = await asyncio.gather(*[
    session.aask(f"问题 {i}：介绍一下第 {i} 个城市", chat=f"c{i % 10}", stream=i % 3 != 0, raise_on_error=False)
    for i in range(100)])
pool = session.backend.client.http._transport._pool
outcome = {
    "replies": [{"prompt": r.prompt, "chat": r.chat, "text": r.text, "error": str(r.error) if r.error else None,
                 "interrupted": r.interrupted, "retries": r.retries} for r in replies],
    "histories": {f"c{i}": session.history(f"c{i}") for i in range(10)},
    "connections": len(pool.connections),
}
"""


def test_hundred_concurrent_asks_with_transient_faults(kernel, emu):
    emu.chunk_delay = 0.001
    emu.clear()
    emu.inject("busy", times=4)
    emu.inject("qps", times=1)
    run = kernel.run(CONCURRENT, timeout=120)
    assert run.error is None, run.error
    assert_no_secret(emu, run)
    outcome = kernel.value("outcome")
    replies = outcome["replies"]
    assert len(replies) == 100
    assert all(r["text"] or r["error"] for r in replies)  # every call answered or reported
    assert sum(r["retries"] for r in replies) >= 1 and pending_faults(emu) == []
    for i in range(10):
        chat = f"c{i}"
        history = outcome["histories"][chat]
        assert_history_valid(history)
        kept = [r for r in replies if r["chat"] == chat and r["text"].strip()]
        # exactly the turns that produced text, in the order they were asked, each with its own answer
        assert [m["content"] for m in history[0::2]] == [r["prompt"] for r in kept]
        assert [m["content"] for m in history[1::2]] == [r["text"] for r in kept]
    assert sum(1 for r in replies if r["text"] and not r["error"]) >= 95
    assert outcome["connections"] <= 20
    assert 100 <= len(chat_requests(emu)) <= 105
    assert_clean_answer(ask(kernel, "c0", "再来一个"))
