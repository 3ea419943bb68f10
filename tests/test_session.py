"""The kernel-level Session against the emulator over loopback HTTP."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from _fakes import FAKE, assert_history_valid, chat_requests
from wenxin_magic.api import AuthenticationError, InvalidRequestError, ServerError, StreamInterruptedError
from wenxin_magic.magics import OFFLINE_NOTICE
from wenxin_magic.session import NO_CREDENTIALS, Reply, Turn, TurnEvent

LONG = "write 300 characters about the Great Wall"

pytestmark = pytest.mark.usefixtures("no_credentials_in_env")


@pytest.fixture
def session(session_factory, emu):
    """Online with fake keys against the module's emulator ``emu``, whose request log the tests read."""
    return session_factory(against=emu)


def last_body(emu) -> dict:
    return chat_requests(emu)[-1]["json"]


def assert_request_valid(messages: list[dict]) -> None:
    """Sent messages: an odd count alternating, ending with the question."""
    assert len(messages) % 2 == 1
    assert [m["role"] for m in messages] == ["user", "assistant"] * (len(messages) // 2) + ["user"]


# -- asking ------------------------------------------------------------------------------
def test_ask_from_plain_code_returns_a_reply(session, emu):
    reply = session.ask("你好")
    assert isinstance(reply, Reply)
    assert reply.text and str(reply) == reply.text
    assert reply.model == "ERNIE-Speed-8K"
    assert reply.usage.total_tokens == reply.usage.prompt_tokens + reply.usage.completion_tokens > 0
    assert reply.latency > 0 and reply.time_to_first_token <= reply.latency
    assert reply.finish_reason == "normal" and reply.is_truncated is False
    assert reply.id and reply.ok and reply.done and reply.error is None
    assert session.last_reply is reply
    body = last_body(emu)
    assert chat_requests(emu)[-1]["path"].endswith("/chat/ernie_speed")
    assert body["stream"] is True and body["messages"] == [{"role": "user", "content": "你好"}]


def test_ask_without_streaming(session, emu):
    streamed = session.ask("介绍下故宫", chat="a")
    whole = session.ask("介绍下故宫", chat="b", stream=False)
    assert last_body(emu)["stream"] is False
    assert whole.text == streamed.text and whole.usage.total_tokens > 0 and whole.finish_reason == "normal"


async def test_aask_inside_a_running_loop(session, emu):
    reply = await session.aask("你好")
    assert reply.text and reply.usage.total_tokens > 0
    assert session.history() == [{"role": "user", "content": "你好"}, {"role": "assistant", "content": reply.text}]


def test_sync_and_async_in_one_process(session, emu):
    first = session.ask("我叫小明")
    second = asyncio.run(session.aask("我叫什么名字"))  # another event loop, the same client
    third = session.ask("你好")
    assert "小明" in second.text and third.text
    assert len(session.history()) == 6
    assert len(last_body(emu)["messages"]) == 5 and last_body(emu)["messages"][1]["content"] == first.text


def test_empty_prompt_is_refused(session, emu):
    with pytest.raises(InvalidRequestError, match="empty"):
        session.ask("   ")
    assert chat_requests(emu) == []


# -- conversation memory ----------------------------------------------------------------
def test_second_request_carries_the_first_turn(session, emu):
    first = session.ask("我叫小明")
    second = session.ask("我叫什么名字")
    assert "小明" in second.text
    sent = last_body(emu)["messages"]
    assert sent == [{"role": "user", "content": "我叫小明"}, {"role": "assistant", "content": first.text},
                    {"role": "user", "content": "我叫什么名字"}]
    assert_request_valid(sent)
    assert_history_valid(session.history())
    assert session.history() == sent + [{"role": "assistant", "content": second.text}]


def test_named_conversations_are_independent(session, emu):
    session.ask("my name is Alice", chat="a")
    session.ask("my name is Bob", chat="b")
    reply_a = session.ask("what is my name", chat="a")
    assert "Alice" in reply_a.text and "Bob" not in reply_a.text
    assert [m["content"] for m in last_body(emu)["messages"][::2]] == ["my name is Alice", "what is my name"]
    reply_d = session.ask("what is my name")
    assert "Alice" not in reply_d.text and "Bob" not in reply_d.text
    assert len(last_body(emu)["messages"]) == 1
    assert {c.name for c in session.chats()} == {"a", "b", "default"}
    assert len(session.history("a")) == 4 and len(session.history("b")) == 2


def test_reset_and_new_start_afresh(session, emu):
    session.ask("我叫小明")
    events = []
    session.subscribe(events.append)
    session.reset()
    assert session.history() == [] and [e.kind for e in events] == ["reset"]
    assert "小明" not in session.ask("我叫什么名字").text
    assert len(last_body(emu)["messages"]) == 1

    session.ask("我叫小红", chat="n")
    reply = session.ask("我叫什么名字", chat="n", new=True)
    assert "小红" not in reply.text and len(last_body(emu)["messages"]) == 1
    assert len(session.history("n")) == 2


# -- system prompt and parameters ---------------------------------------------------------
def test_system_sticks_and_params_do_not(session, emu):
    session.ask("你好", chat="s", system="你是一个诗人", temperature=0.3, top_p=0.5)
    body = last_body(emu)
    assert body["system"] == "你是一个诗人" and body["temperature"] == 0.3 and body["top_p"] == 0.5
    assert all(m["role"] != "system" for m in body["messages"])
    session.ask("再来一首", chat="s")
    body = last_body(emu)
    assert body["system"] == "你是一个诗人"
    assert "temperature" not in body and "top_p" not in body
    assert session.conversation("s").system == "你是一个诗人"
    session.ask("你好")
    assert "system" not in last_body(emu)  # another conversation has no system
    session.ask("换个风格", chat="s", system="")
    assert "system" not in last_body(emu)


def test_use_changes_the_endpoint(session, emu):
    session.use("BLOOMZ-7B")
    reply = session.ask("你好")
    assert chat_requests(emu)[-1]["path"].endswith("/chat/bloomz_7b1") and reply.model == "BLOOMZ-7B"
    session.use("ernie 4.0")  # aliases resolve to the registry name
    assert session.conversation().model == "ERNIE-4.0-8K"
    session.ask("你好")
    assert chat_requests(emu)[-1]["path"].endswith("/chat/completions_pro")
    with pytest.raises(InvalidRequestError, match="Unknown model"):
        session.use("No Such Model 9000")
    assert session.conversation().model == "ERNIE-4.0-8K"
    # a lower-case id the tables do not know may be a new v2 model: it is kept and sent as it is
    assert session.use("my-new-model-9000").model == "my-new-model-9000"


def test_conversation_without_a_model_follows_the_default(session, emu):
    session.use("BLOOMZ-7B", chat="pinned")
    session.default_model = "ERNIE-4.0-8K"
    session.ask("你好", chat="free")
    assert chat_requests(emu)[-1]["path"].endswith("/chat/completions_pro")
    session.ask("你好", chat="pinned")
    assert chat_requests(emu)[-1]["path"].endswith("/chat/bloomz_7b1")
    session.default_model = "ERNIE-Speed-8K"
    reply = session.ask("再说一次", chat="free")
    assert chat_requests(emu)[-1]["path"].endswith("/chat/ernie_speed") and reply.model == "ERNIE-Speed-8K"


def test_chat_endpoint_of_a_deployed_service(session, emu):
    reply = session.ask("你好", endpoint="my_chat_service")
    assert chat_requests(emu)[-1]["path"].endswith("/chat/my_chat_service")
    assert reply.endpoint == "my_chat_service" and reply.label == "my_chat_service"
    session.ask("再说一次")
    assert chat_requests(emu)[-1]["path"].endswith("/chat/my_chat_service")  # the endpoint sticks


# -- failures -----------------------------------------------------------------------------
def test_failed_turn_leaves_no_orphan(session, emu):
    session.ask("我叫小明")
    before = session.history()
    emu.inject("busy", times=3)
    with pytest.raises(ServerError) as info:
        session.ask("我叫什么名字")
    assert info.value.code == 336100 and info.value.retries == 2
    assert session.history() == before

    emu.inject("busy", times=3)
    reply = session.ask("我叫什么名字", raise_on_error=False)
    assert isinstance(reply.error, ServerError) and not reply.ok and reply.text == ""
    assert session.history() == before

    reply = session.ask("我叫什么名字")
    assert "小明" in reply.text and len(last_body(emu)["messages"]) == 3


def test_invalid_request_leaves_no_orphan_and_sends_nothing(session, emu):
    session.ask("你好")
    before, sent = session.history(), len(chat_requests(emu))
    with pytest.raises(InvalidRequestError) as info:
        session.ask("再说一次", temperature=5)
    assert "temperature" in str(info.value)
    reply = session.ask("再说一次", temperature=5, raise_on_error=False)
    assert isinstance(reply.error, InvalidRequestError) and reply.error.field == "temperature"
    assert session.history() == before and len(chat_requests(emu)) == sent


def test_interrupted_stream_is_kept_and_marked(session, emu):
    session.ask("我叫小明")
    emu.inject("drop_stream", after=3)
    deltas = []
    reply = session.ask(LONG, raise_on_error=False, on_delta=lambda r, d: deltas.append(d))
    assert reply.interrupted and not reply.ok
    assert isinstance(reply.error, StreamInterruptedError)
    assert reply.text and reply.text == "".join(deltas) == reply.error.partial_text and len(deltas) == 3
    history = session.history()
    assert_history_valid(history)
    assert len(history) == 4 and history[-1] == {"role": "assistant", "content": reply.text}
    assert session.conversation().turns[-1].reply.interrupted

    after = session.ask("我叫什么名字")
    assert "小明" in after.text
    sent = last_body(emu)["messages"]
    assert_request_valid(sent)
    assert sent[3] == {"role": "assistant", "content": reply.text}


def test_interrupted_stream_raises_by_default_but_keeps_the_partial(session, emu):
    emu.inject("drop_stream", after=2)
    with pytest.raises(StreamInterruptedError) as info:
        session.ask(LONG)
    assert session.history()[-1]["content"] == info.value.partial_text != ""
    assert session.last_reply.interrupted


async def test_cancelled_turn_keeps_the_partial_answer_marked(session, emu):
    emu.chunk_delay = 0.05
    try:
        first_delta = asyncio.Event()
        task = asyncio.create_task(session.aask(LONG, on_delta=lambda r, d: first_delta.set()))
        await asyncio.wait_for(first_delta.wait(), 5)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    finally:
        emu.chunk_delay = 0.0
    reply = session.last_reply
    assert reply.interrupted and reply.text and reply.done
    assert session.history() == [{"role": "user", "content": LONG}, {"role": "assistant", "content": reply.text}]
    after = await asyncio.wait_for(session.aask("你好"), 5)  # the conversation's lock was released
    assert after.ok and len(last_body(emu)["messages"]) == 3


def test_a_failing_delta_callback_marks_the_kept_answer_interrupted(session, emu):
    def on_delta(reply, delta):
        if len(reply.text) > 20:
            raise ValueError("display bug")

    emu.chunk_delay = 0.05  # the callback fails while the answer is still streaming
    try:
        with pytest.raises(ValueError, match="display bug"):
            session.ask(LONG, on_delta=on_delta)
    finally:
        emu.chunk_delay = 0.0
    turns = session.conversation().turns
    assert len(turns) == 1 and turns[0].reply.text and turns[0].reply.interrupted
    assert_history_valid(session.history())


# -- need_clear_history ----------------------------------------------------------------------
def test_need_clear_history_drops_the_question_just_asked(session, emu):
    events = []
    session.subscribe(events.append)
    session.ask("我叫小明")
    kept = session.history()
    reply = session.ask("敏感测试")
    assert reply.need_clear_history and reply.ban_round == -1
    assert reply.cleared_rounds == [2]
    assert session.history() == kept
    conv = session.conversation()
    assert [t.request["content"] for t in conv.removed] == ["敏感测试"]
    cleared = [e for e in events if e.kind == "cleared"]
    assert len(cleared) == 1 and cleared[0].reply is reply and "1 kept" in cleared[0].message
    assert [e.kind for e in events][-2:] == ["cleared", "end"]

    after = session.ask("我叫什么名字")
    assert "小明" in after.text and len(last_body(emu)["messages"]) == 3


def test_need_clear_history_of_an_earlier_round(session, emu):
    for prompt in ("我叫小明", "你好", "介绍下故宫"):
        session.ask(prompt)
    conv = session.conversation()
    # An earlier round flagged by the service: plant a trigger in round 2.
    conv.turns[1].request["content"] = "unsafe-demo"
    events = []
    session.subscribe(events.append)
    reply = session.ask("今天天气怎么样")
    assert reply.need_clear_history and reply.ban_round == 2
    assert reply.cleared_rounds == [2, 3, 4]
    assert [m["content"] for m in session.history()[::2]] == ["我叫小明"]
    assert [t.request["content"] for t in conv.removed] == ["unsafe-demo", "介绍下故宫", "今天天气怎么样"]
    assert any(e.kind == "cleared" and "2 " in e.message for e in events)
    assert "小明" in session.ask("我叫什么名字").text


# -- observers ------------------------------------------------------------------------------
def test_observers_hear_start_deltas_end(session, emu):
    events: list[TurnEvent] = []
    unsubscribe = session.subscribe(events.append)
    reply = session.ask(LONG, chat="obs")
    kinds = [e.kind for e in events]
    assert kinds[0] == "start" and kinds[-1] == "end" and kinds.count("delta") >= 2
    assert set(kinds[1:-1]) == {"delta"}
    assert "".join(e.delta for e in events if e.kind == "delta") == reply.text
    assert all(e.chat == "obs" and e.reply is reply for e in events)

    unsubscribe()
    count = len(events)
    session.ask("你好", chat="obs")
    assert len(events) == count
    unsubscribe()  # twice is harmless


def test_a_failing_observer_does_not_break_the_turn(session, emu, caplog):
    def broken(event):
        raise RuntimeError("observer bug")

    heard = []
    session.subscribe(broken)
    session.subscribe(heard.append)
    reply = session.ask("你好")
    assert reply.ok and reply.text and session.history()[-1]["content"] == reply.text
    assert [e.kind for e in heard][-1] == "end"
    assert "observer" in caplog.text


# -- concurrency ------------------------------------------------------------------------------
async def test_concurrent_asks_on_one_conversation_do_not_interleave(session, emu):
    first, second = await asyncio.gather(session.aask("我叫小明", chat="L"), session.aask("我叫什么名字", chat="L"))
    history = session.history("L")
    assert_history_valid(history)
    assert [m["content"] for m in history] == ["我叫小明", first.text, "我叫什么名字", second.text]
    bodies = [r["json"] for r in chat_requests(emu)]
    assert len(bodies) == 2 and len(bodies[0]["messages"]) == 1 and len(bodies[1]["messages"]) == 3
    assert "小明" in second.text


async def test_different_conversations_run_concurrently(session, emu):
    replies = await asyncio.gather(*(session.aask("你好", chat=f"c{i}") for i in range(4)))
    assert all(r.ok for r in replies)
    assert all(len(session.history(f"c{i}")) == 2 for i in range(4))


# -- compare ------------------------------------------------------------------------------------
COMPARED = ["BLOOMZ-7B", "ERNIE-Speed-8K", "ERNIE-3.5-8K-Preemptible"]


def test_compare_three_models(session, emu):
    replies = session.compare("介绍下故宫", models=COMPARED)
    assert [r.model for r in replies] == COMPARED
    assert all(r.ok and r.text and r.usage.total_tokens > 0 for r in replies)
    assert len({r.text for r in replies}) == 3
    paths = sorted(r["path"].rsplit("/", 1)[1] for r in chat_requests(emu))
    assert paths == sorted(["bloomz_7b1", "ernie_speed", "completions_preemptible"])
    assert session.history() == []  # comparing changes no conversation


def test_compare_runs_the_models_at_once(session, emu):
    session.ask("warm up", model="BLOOMZ-7B", chat="warm")  # opens the client and fetches a token
    emu.ttft = 0.4  # from here on every answer starts 0.4 s late (``emu`` puts it back)
    s = session
    started = time.perf_counter()
    replies = s.compare("介绍下故宫", models=COMPARED)
    wall = time.perf_counter() - started
    assert all(r.ok for r in replies)
    assert all(r.latency >= 0.35 for r in replies)
    # Run one after the other they would take the sum of their latencies.
    assert wall < 0.7 * sum(r.latency for r in replies)


def test_compare_keeps_an_error_in_its_own_reply(session, emu):
    replies = session.compare("介绍下故宫", models=["BLOOMZ-7B", "No-Such-Model-1B", "ERNIE-Speed-8K"])
    assert replies[0].ok and replies[2].ok
    assert isinstance(replies[1].error, InvalidRequestError) and "No-Such-Model-1B" in str(replies[1].error)
    assert replies[1].text == ""


def test_compare_observers_see_every_reply_end(session, emu):
    events = []
    session.subscribe(events.append)
    replies = session.compare("你好", models=COMPARED[:2])
    ends = [e.reply for e in events if e.kind == "end"]
    starts = [e.reply for e in events if e.kind == "start"]
    assert sorted(map(id, starts)) == sorted(map(id, replies)) == sorted(map(id, ends))


def test_compare_needs_models(session):
    with pytest.raises(InvalidRequestError):
        session.compare("你好", models=[])


# -- completion -----------------------------------------------------------------------------------
def test_completion_on_a_deployed_endpoint(session, emu):
    session.ask("我叫小明")
    before = session.history()
    reply = session.ask("Introduce the city Beijing", completion=True, endpoint="my_yi_34b")
    request = chat_requests(emu)[-1]
    assert request["path"].endswith("/completions/my_yi_34b")
    assert request["json"]["prompt"] == "Introduce the city Beijing" and "messages" not in request["json"]
    assert reply.text and reply.kind == "completion" and reply.endpoint == "my_yi_34b"
    assert session.history() == before
    assert session.conversation().endpoint is None  # a completion does not move the conversation


def test_completion_needs_an_endpoint_or_model(session, emu):
    with pytest.raises(InvalidRequestError, match="endpoint"):
        session.ask("Once upon a time", completion=True)
    assert chat_requests(emu) == []


# -- export -------------------------------------------------------------------------------------------
@pytest.fixture
def keyed_session(session_factory, emu):
    s = session_factory(against=emu, keys=FAKE.EXPORT)
    assert s.mode == "online"
    return s, (FAKE.EXPORT.ak, FAKE.EXPORT.sk)


def test_export_markdown_and_json(keyed_session, emu, tmp_path):
    s, secrets = keyed_session
    s.ask("我叫小明", system="你是助手")
    answer = s.ask("我叫什么名字").text
    s.ask("介绍下故宫", chat="other", model="BLOOMZ-7B")

    md = s.export(tmp_path / "chat.md").read_text(encoding="utf-8")
    assert "我叫小明" in md and "我叫什么名字" in md and answer in md
    assert "ERNIE-Speed-8K" in md and "BLOOMZ-7B" in md and "你是助手" in md
    assert "# Conversation: default" in md and "# Conversation: other" in md

    data = json.loads(s.export(tmp_path / "sub" / "chat.json").read_text(encoding="utf-8"))
    convs = {c["name"]: c for c in data["conversations"]}
    assert set(convs) == {"default", "other"}
    turns = convs["default"]["turns"]
    assert [t["request"]["content"] for t in turns] == ["我叫小明", "我叫什么名字"]
    assert turns[1]["reply"]["text"] == answer and turns[1]["reply"]["model"] == "ERNIE-Speed-8K"
    assert convs["default"]["system"] == "你是助手"
    assert convs["other"]["turns"][0]["reply"]["model"] == "BLOOMZ-7B"

    only = json.loads(s.export(tmp_path / "one.json", chat="other").read_text(encoding="utf-8"))
    assert [c["name"] for c in only["conversations"]] == ["other"]

    for path in tmp_path.rglob("*"):
        if path.is_file():
            text = path.read_text(encoding="utf-8")
            for secret in secrets:
                assert secret not in text
            assert "access_token" not in text


def test_export_refuses_other_formats(session, tmp_path):
    with pytest.raises(InvalidRequestError) as info:
        session.export(tmp_path / "chat.txt")
    assert ".md" in str(info.value) and ".json" in str(info.value) and "chat.txt" in str(info.value)
    assert not (tmp_path / "chat.txt").exists()


# -- usage -----------------------------------------------------------------------------------------------
def test_usage_per_model_and_per_conversation(session, emu):
    a1 = session.ask("你好", chat="a")
    a2 = session.ask("介绍下故宫", chat="a", model="BLOOMZ-7B")
    b1 = session.ask("你好", chat="b")
    usage = session.usage()

    speed = usage["models"]["ERNIE-Speed-8K"]
    assert speed["turns"] == 2
    assert speed["total_tokens"] == a1.usage.total_tokens + b1.usage.total_tokens
    assert speed["prompt_tokens"] == a1.usage.prompt_tokens + b1.usage.prompt_tokens
    assert usage["models"]["BLOOMZ-7B"]["completion_tokens"] == a2.usage.completion_tokens
    assert usage["chats"]["a"]["total_tokens"] == a1.usage.total_tokens + a2.usage.total_tokens
    assert usage["chats"]["a"]["turns"] == 2 and usage["chats"]["b"]["turns"] == 1
    assert usage["chats"]["a"]["latency"] == pytest.approx(a1.latency + a2.latency)
    total = sum(r.usage.total_tokens for r in (a1, a2, b1))
    assert usage["total"]["total_tokens"] == total > 0
    assert session.conversation("a").totals == usage["chats"]["a"]


# -- input limit -------------------------------------------------------------------------------------------
def _plant(session, chat, n_turns, user_chars, answer_chars, model="BLOOMZ-7B"):
    conv = session.use(model, chat=chat)
    for i in range(n_turns):
        reply = Reply(prompt=str(i) * user_chars, model=model, endpoint=None, chat=chat)
        reply.text = chr(ord("a") + i) * answer_chars
        conv.turns.append(Turn({"role": "user", "content": str(i) * user_chars}, reply))
    return conv


def test_over_the_input_limit_is_a_clear_error(session, emu):
    conv = _plant(session, "big", 3, 100, 1400)  # 4500 characters
    before = conv.messages()
    with pytest.raises(InvalidRequestError) as info:
        session.ask("x" * 500, chat="big")
    assert "4800" in str(info.value) and info.value.code == 336007
    assert conv.messages() == before and chat_requests(emu) == []


def test_trim_history_drops_the_oldest_turns(session, emu):
    session.trim_history = True
    _plant(session, "big", 3, 100, 1400)
    reply = session.ask("x" * 500, chat="big")
    assert reply.ok
    sent = last_body(emu)["messages"]
    assert_request_valid(sent)
    assert sum(len(m["content"]) for m in sent) <= 4800
    assert [m["content"][0] for m in sent] == ["1", "b", "2", "c", "x"]  # round 1 dropped, the rest kept in order


# -- connection and credentials ------------------------------------------------------------------------------------
def test_no_credentials_means_offline_with_one_notice(session_factory):
    s = session_factory(offline=None)  # the Session decides: no credentials, so offline
    assert s.offline and s.mode == "offline" and s.auth_method == "emulator"
    assert s.notices == [NO_CREDENTIALS]
    notice = OFFLINE_NOTICE  # the magics say it; the session only records why it is offline
    assert "\n" not in notice and "%wenxin login" in notice and "QIANFAN_AK" in notice
    with pytest.raises(InvalidRequestError) as info:
        s.go_online()
    assert "QIANFAN_AK" in str(info.value) and "login" in str(info.value)
    assert s.offline


def test_the_offline_default_answers_from_the_embedded_emulator(session_factory):
    s = session_factory(offline=None, emulator_options={"ttft": 0, "chunk_delay": 0})
    try:
        reply = s.ask("我叫小明")
        assert reply.ok and reply.text
        assert "小明" in s.ask("我叫什么名字").text
        assert any("/chat/ernie_speed" in r["path"] for r in s.backend.emulator.requests)
    finally:
        s.close()
    assert s.backend.emulator is None


def test_the_offline_clients_own_keys_never_mask_words_of_an_answer(session_factory):
    # the client masks its credentials in whatever it reads, a whole answer included: keys made of plain words
    # ("offline") would cut them out of the emulator's honest reply
    s = session_factory(offline=None, emulator_options={"ttft": 0, "chunk_delay": 0})
    try:
        for model in ("ERNIE-Speed-8K", "ernie-4.5-turbo-32k"):
            whole = s.ask("What is the capital of France?", model=model, chat=model, stream=False).text
            assert "offline emulator" in whole and "***" not in whole, whole
    finally:
        s.close()


def test_credentials_in_the_environment_mean_online(session_factory):
    s = session_factory(environ=FAKE.ENVIRONMENT.oauth_env(), offline=None)
    assert not s.offline and s.mode == "online" and s.auth_method == "oauth" and s.notices == []
    assert s.go_offline().startswith("Offline") and s.offline and s.notices == []


def test_explicit_offline_has_no_notice(session_factory):
    assert session_factory(offline=True, environ={}).notices == []


def test_login_goes_online(session_factory):
    s = session_factory(offline=None)
    ak, sk = FAKE.LOGIN.ak, FAKE.LOGIN.sk
    message = s.login(f"  {ak} ", sk)
    assert not s.offline and s.auth_method == "oauth" and "Online" in message
    assert ak not in message and sk not in message
    with pytest.raises(InvalidRequestError):
        s.login("", "sk")


def test_secrets_never_leak(session_factory, emulator_factory, tmp_path):
    ak, sk = FAKE.LEAKCHECK.ak, FAKE.LEAKCHECK.sk
    locked = emulator_factory(credentials={FAKE.LOCKED.ak: FAKE.LOCKED.sk})  # refuses the keys below
    s = session_factory(against=locked, keys=FAKE.LEAKCHECK)
    assert set(s.secrets) == {ak, sk}
    with pytest.raises(AuthenticationError) as info:
        s.ask("你好")
    reply = s.ask("你好", raise_on_error=False)
    texts = [str(info.value), repr(info.value), repr(s), str(s), repr(reply), json.dumps(reply.to_dict()),
             repr(s.backend), repr(s.backend.client), repr(s.backend._credentials),
             repr(s.conversation())]
    s.export(tmp_path / "out.json")
    texts.append((tmp_path / "out.json").read_text(encoding="utf-8"))
    for text in texts:
        assert ak not in text and sk not in text
    assert s.history() == []


def test_a_turn_that_fails_outright_leaves_the_settings_as_they_were(session):
    s = session  # online against the module's emulator
    s.ask("你好", chat="keep", system="你是导游")
    conv = s.conversation("keep")
    before = (conv.model, conv.endpoint, conv.system)
    reply = s.ask("再说一遍", chat="keep", model="BLOOMZ-7B", raise_on_error=False)  # no system on BLOOMZ
    assert reply.error is not None and reply.error.field == "system"
    assert (conv.model, conv.endpoint, conv.system) == before
    with pytest.raises(InvalidRequestError, match="not a valid API address"):
        s.ask("你好", chat="keep", model="BLOOMZ-7B", endpoint="a/b")
    assert (conv.model, conv.endpoint, conv.system) == before
    assert s.ask("好的", chat="keep").text  # the conversation still works as before


def test_the_footer_says_emulator_when_the_emulator_answered(session_factory, emulator):
    from wenxin_magic.display import footer

    offline = session_factory().ask("介绍下故宫")
    assert offline.emulated and footer(offline).startswith("ERNIE-Speed-8K · emulator · ")
    online = session_factory(against=emulator).ask("介绍下故宫")  # the service's answer, as far as a session knows
    assert not online.emulated and " emulator" not in footer(online)
    again = type(offline).from_dict(offline.to_dict())  # a resumed turn keeps its label
    assert again.emulated and footer(again).startswith("ERNIE-Speed-8K · emulator · ")
