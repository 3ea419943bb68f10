"""The conversation log from the session's side (``session.log``): no kernel, the real emulator over HTTP.

Every turn becomes one row when it ends (answered, interrupted or failed); search finds it again; a new Session on
the same file resumes a conversation exactly as it was (tool calls included, failed and cleared turns left out)
and continues its run; the log says once where it is, and once why it stopped; and it never holds a credential.
Each test logs to its own file in its tmp_path.
"""

from __future__ import annotations

import json
import sqlite3
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from _fakes import FAKE, assert_history_valid, assert_tool_history_valid, fake_keys, model_requests
from wenxin_magic.api import InvalidRequestError, QianfanError
from wenxin_magic.session import Session

V1 = "ERNIE-Speed-8K"
V1_TOOLS = "ERNIE-3.5-8K"
V2 = "ernie-3.5-8k"
LITE = "ERNIE-Lite-8K"
LONG = "write 600 characters about the Great Wall"
KEYS = FAKE.SESSION  # IAM keys reach both APIs, so one online session can ask v1 and v2 models


def get_current_weather(location: str) -> dict:
    """Get the current weather for a city"""
    return {"location": location, "temperature": 25, "weather": "sunny"}


# -- helpers ---------------------------------------------------------------------------------------

@pytest.fixture
def log_path(tmp_path, monkeypatch) -> Path:
    """This test's own log file: sessions made after this fixture log there."""
    path = tmp_path / "logs.db"
    monkeypatch.setenv("WENXIN_MAGIC_LOG", str(path))
    return path


@pytest.fixture
def online(session_factory, emu, log_path):
    """``make(**kwargs)``: a Session online against ``emu`` with IAM keys, logging to ``log_path``."""
    def make(**kwargs) -> Session:
        kwargs.setdefault("environ", KEYS.iam_env(emu.base_url))
        return session_factory(against=emu, **kwargs)
    return make


def rows_of(path: Path) -> list[dict]:
    """Every row of the log file, oldest first, its JSON columns decoded; read with a connection of our own."""
    conn = sqlite3.connect(path)
    try:
        conn.row_factory = sqlite3.Row
        rows = [dict(r) for r in conn.execute("SELECT * FROM turns ORDER BY id")]
    finally:
        conn.close()
    for row in rows:
        for name in ("params", "tool_calls", "turn"):
            if row[name] is not None:
                row[name] = json.loads(row[name])
    return rows


def sent_messages(emu) -> list[dict]:
    return model_requests(emu)[-1]["json"]["messages"]


# -- one turn, one row -----------------------------------------------------------------------------

def test_a_turn_writes_one_row_with_its_columns(online, log_path, monkeypatch):
    monkeypatch.setenv("JPY_SESSION_NAME", "/home/me/trips/beijing.ipynb")
    s = online()
    reply = s.ask("介绍一下北京的故宫", chat="trip", model=V1)
    [row] = rows_of(log_path)
    assert (row["question"], row["answer"], row["model"], row["api"]) == ("介绍一下北京的故宫", reply.text, V1, "v1")
    assert reply.text.strip()
    assert (row["chat"], row["kind"], row["run_id"]) == ("trip", "chat", s.conversation("trip").run_id)
    assert (row["prompt_tokens"], row["completion_tokens"], row["total_tokens"]) == (
        reply.usage.prompt_tokens, reply.usage.completion_tokens, reply.usage.total_tokens)
    assert row["total_tokens"] > 0
    assert row["interrupted"] == 0 and row["error"] is None and row["finish_reason"] == "normal"
    assert row["retries"] == 0 and row["tool_calls"] == []
    assert row["notebook"] == "/home/me/trips/beijing.ipynb"
    assert row["turn"]["request"] == {"role": "user", "content": "介绍一下北京的故宫"}
    assert row["turn"]["reply"]["text"] == reply.text
    assert abs(row["created"] - reply.created) < 1e-6

    s.set_system("你是导游", chat="trip")
    second = s.ask("那颐和园呢", chat="trip", model=V2, temperature=0.3)
    rows = rows_of(log_path)
    assert len(rows) == 2
    assert rows[1]["api"] == "v2" and rows[1]["model"] == V2 and rows[1]["answer"] == second.text
    assert rows[1]["system"] == "你是导游" and rows[1]["params"]["temperature"] == 0.3
    assert rows[1]["run_id"] == rows[0]["run_id"]


def test_a_tool_turn_is_one_row_with_its_calls_and_the_tokens_of_every_round(online, log_path):
    s = online()
    reply = s.ask("What's the weather in Beijing?", tools=[get_current_weather], model=V1_TOOLS, chat="tools")
    assert len(reply.rounds) == 1 and reply.error is None
    [row] = rows_of(log_path)  # the round that asked for the call is not a row of its own
    [call] = row["tool_calls"]
    assert call["name"] == "get_current_weather" and json.loads(call["arguments"]) == {"location": "Beijing"}
    assert call["status"] == "ok" and json.loads(call["result"]) == get_current_weather("Beijing")
    replies = reply.rounds + [reply]
    for name in ("prompt_tokens", "completion_tokens", "total_tokens"):
        assert row[name] == sum(getattr(r.usage, name) for r in replies)
    assert row["total_tokens"] > reply.usage.total_tokens  # summed, not the last round's
    assert row["answer"] == reply.text and "25" in row["answer"]
    assert row["question"] == "What's the weather in Beijing?"


def test_a_compare_writes_one_row_per_model_outside_any_conversation(online, log_path):
    s = online()
    replies = s.compare("介绍下故宫", [V1, LITE, V2])
    assert all(r.error is None for r in replies)
    rows = rows_of(log_path)
    assert len(rows) == 3
    assert {r["kind"] for r in rows} == {"compare"}
    assert {r["chat"] for r in rows} == {None}
    assert sorted(r["model"] for r in rows) == sorted([V1, LITE, V2])
    assert {r["question"] for r in rows} == {"介绍下故宫"}
    assert {r["model"]: r["answer"] for r in rows} == {r.model: r.text for r in replies}
    assert s.log.runs("default") == [] and s.log.search(kind="chat") == []


def test_a_completion_writes_a_completion_row(online, log_path):
    s = online()
    reply = s.ask("def fib(n):", completion=True, model="SQLCoder-7B")
    [row] = rows_of(log_path)
    assert row["kind"] == "completion" and row["question"] == "def fib(n):" and row["answer"] == reply.text
    assert row["model"] == "SQLCoder-7B" and row["total_tokens"] == reply.usage.total_tokens
    assert s.log.runs("default") == []  # a continuation joins no conversation, and resumes none


def test_an_interrupted_stream_is_a_row_with_its_partial_answer(online, log_path, emu):
    s = online()
    s.ask("你好", chat="cut", model=V1)
    emu.inject("drop_stream", after=3)
    with pytest.raises(QianfanError):
        s.ask(LONG, chat="cut")
    partial = s.last_reply
    assert partial.interrupted and partial.text.strip()
    rows = rows_of(log_path)
    assert len(rows) == 2
    row = rows[1]
    assert row["interrupted"] == 1 and row["answer"] == partial.text and row["question"] == LONG
    assert row["error"] and row["finish_reason"] is None
    assert len(row["answer"]) < 300  # the half answer (three deltas), not the whole one of about 600 characters
    # kept in memory marked, so a resume keeps it too
    s2 = online()
    s2.resume("cut")
    assert s2.history("cut") == s.history("cut") and s2.history("cut")[-1]["content"] == partial.text
    assert s2.conversation("cut").turns[-1].reply.interrupted


def test_a_failed_turn_is_a_row_with_its_error_and_is_not_resumed(online, log_path, emu):
    s = online()
    s.ask("我叫小明", chat="fail", model=V1)
    emu.inject("error", code=336003, message="bad parameter")
    with pytest.raises(InvalidRequestError):
        s.ask("this one fails", chat="fail")
    s.ask("我叫什么名字", chat="fail")
    rows = rows_of(log_path)
    assert [r["question"] for r in rows] == ["我叫小明", "this one fails", "我叫什么名字"]
    failed = rows[1]
    assert "336003" in failed["error"] and failed["answer"] == "" and failed["interrupted"] == 0
    assert len({r["run_id"] for r in rows}) == 1

    s2 = online()
    conv = s2.resume("fail")
    assert len(conv.turns) == 2
    assert s2.history("fail") == s.history("fail")
    assert "this one fails" not in json.dumps(s2.history("fail"), ensure_ascii=False)
    assert_history_valid(s2.history("fail"))


def test_turns_the_service_asked_to_clear_are_not_resumed(online, log_path):
    s = online()
    s.ask("我叫小明", chat="clear", model=V1)
    flagged = s.ask("敏感测试", chat="clear")
    assert flagged.need_clear_history
    s.ask("介绍下故宫", chat="clear")
    assert len(rows_of(log_path)) == 3  # the flagged turn is logged
    s2 = online()
    s2.resume("clear")
    assert s2.history("clear") == s.history("clear")
    assert [m["content"] for m in s2.history("clear")[::2]] == ["我叫小明", "介绍下故宫"]


# -- search ----------------------------------------------------------------------------------------

@pytest.fixture
def searchable(online, log_path):
    """Five turns in two conversations and two models, and a compare."""
    s = online()
    s.ask("介绍下故宫的历史", chat="beijing", model=V1)
    s.ask("Tell me about the Great Wall", chat="beijing")
    s.ask("介绍下西湖", chat="hangzhou", model=LITE)
    s.ask("What is Longjing tea?", chat="hangzhou")
    s.compare("北京烤鸭好吃吗", [V1, LITE])
    return s


def questions(turns) -> list[str]:
    return [t.request["content"] for t in turns]


def test_search_by_words_chinese_and_english_newest_first(searchable):
    s = searchable
    assert questions(s.log.search("故宫的历史")) == ["介绍下故宫的历史"]
    assert questions(s.log.search("Great Wall")) == ["Tell me about the Great Wall"]
    assert questions(s.log.search("西湖")) == ["介绍下西湖"]  # two characters: shorter than a trigram
    assert questions(s.log.search("烤鸭")) == ["北京烤鸭好吃吗"] * 2
    assert questions(s.log.search("Longjing")) == ["What is Longjing tea?"]
    assert s.log.search("nothing-like-this-was-said") == []
    everything = s.log.search()
    assert len(everything) == 6
    ids = [t.log_id for t in everything]
    assert ids == sorted(ids, reverse=True)  # newest first
    assert questions(everything)[-1] == "介绍下故宫的历史"


def test_search_finds_words_of_the_answer_too(searchable):
    turn = searchable.log.search("Tell me about the Great Wall")[0]
    word = next(w for w in turn.reply.text.split() if len(w) >= 6 and w.isalpha() and w not in turn.request["content"])
    assert turn.log_id in [t.log_id for t in searchable.log.search(word)]


def test_search_filters_chat_model_kind_and_limit(searchable):
    s = searchable
    assert questions(s.log.search(chat="beijing")) == ["Tell me about the Great Wall", "介绍下故宫的历史"]
    assert questions(s.log.search(chat="hangzhou", model=LITE)) == ["What is Longjing tea?", "介绍下西湖"]
    assert {t.reply.model for t in s.log.search(model=V1)} == {V1}
    assert len(s.log.search(model=V1)) == 3  # two beijing turns and one compare column
    compared = s.log.search(kind="compare")
    assert questions(compared) == ["北京烤鸭好吃吗"] * 2 and {t.reply.model for t in compared} == {V1, LITE}
    assert questions(s.log.search(kind="chat", limit=1)) == ["What is Longjing tea?"]
    assert questions(s.log.search(limit=1)) == ["北京烤鸭好吃吗"]
    assert questions(s.log.search(chat="beijing", limit=1)) == ["Tell me about the Great Wall"]
    assert s.log.search("故宫", chat="hangzhou") == []


def test_search_returns_turns_with_their_log_run_and_reply(searchable):
    s = searchable
    [turn] = s.log.search("Great Wall")
    assert turn.run_id == s.conversation("beijing").run_id
    assert turn.log_id == rows_of(s.log.path)[1]["id"]
    live = s.conversation("beijing").turns[1].reply
    assert turn.reply.text == live.text and turn.reply.model == live.model
    assert turn.reply.usage.total_tokens == live.usage.total_tokens
    assert turn.request == {"role": "user", "content": "Tell me about the Great Wall"}


def test_search_since(searchable, log_path):
    s = searchable
    # make the oldest turn three days old, without waiting
    conn = sqlite3.connect(log_path)
    with conn:
        conn.execute("UPDATE turns SET created = created - 3 * 86400 WHERE id = (SELECT MIN(id) FROM turns)")
    conn.close()
    assert len(s.log.search(since="7d")) == 6
    assert "介绍下故宫的历史" not in questions(s.log.search(since="1d"))
    assert len(s.log.search(since="1d")) == 5
    assert len(s.log.search(since="48h")) == 5 and len(s.log.search(since="600m")) == 5
    assert len(s.log.search(since=datetime.now() - timedelta(days=4))) == 6
    assert len(s.log.search(since=time.time() - 2 * 86400)) == 5
    assert len(s.log.search(since="yesterday")) == 5 and len(s.log.search(since="today")) == 5
    tomorrow = (datetime.now() + timedelta(days=1)).date().isoformat()
    assert s.log.search(since=tomorrow) == []
    assert s.log.search(since=f"{tomorrow} 09:30") == []
    four_days_ago = (datetime.now() - timedelta(days=4)).date().isoformat()
    assert len(s.log.search(since=four_days_ago)) == 6
    with pytest.raises(ValueError, match="7d"):
        s.log.search(since="nonsense")


def test_search_as_a_frame_needs_pandas(searchable):
    try:
        import pandas  # noqa: F401
    except ImportError:
        with pytest.raises(ImportError, match="pip install pandas"):
            searchable.log.search(as_frame=True)
    else:
        table = searchable.log.search(as_frame=True)
        assert len(table) == 6 and list(table["question"])[-1] == "介绍下故宫的历史"


# -- resume ----------------------------------------------------------------------------------------

def test_resume_in_a_new_session_restores_the_conversation_and_the_next_turn_sends_it(online, log_path, emu):
    s = online()
    s.set_system("你是导游，回答要简短", chat="trip")
    s.ask("我想去北京玩三天", chat="trip", model=V1)
    s.ask("第一天去哪里", chat="trip", temperature=0.5)
    old = s.history("trip")
    old_run = s.conversation("trip").run_id

    s2 = online()
    assert not s2.has_conversation("trip")
    conv = s2.resume("trip")
    assert s2.conversation("trip") is conv and len(conv.turns) == 2
    assert s2.history("trip") == old
    assert_history_valid(s2.history("trip"))
    assert (conv.model, conv.system, conv.run_id) == (V1, "你是导游，回答要简短", old_run)

    emu.clear()
    follow = s2.ask("第二天呢", chat="trip")
    assert follow.error is None and follow.model == V1
    body = model_requests(emu)[-1]["json"]
    assert body["messages"] == old + [{"role": "user", "content": "第二天呢"}]
    assert body["system"] == "你是导游，回答要简短"
    assert "ernie_speed" in model_requests(emu)[-1]["path"]
    rows = rows_of(log_path)
    assert len(rows) == 3 and rows[-1]["run_id"] == old_run  # the same run, continued


def test_resume_a_v2_conversation_with_reasoning(online, emu):
    s = online()
    s.ask("9.11 和 9.9 哪个大？", chat="r1", model="deepseek-r1")
    s.ask("为什么？", chat="r1")
    old = s.history("r1")
    s2 = online()
    s2.resume("r1")
    assert s2.history("r1") == old
    assert_history_valid(s2.history("r1"))
    assert s2.conversation("r1").turns[0].reply.reasoning == s.conversation("r1").turns[0].reply.reasoning
    emu.clear()
    s2.ask("再想想", chat="r1")
    request = model_requests(emu)[-1]
    assert request["path"] == "/v2/chat/completions" and request["json"]["model"] == "deepseek-r1"
    assert request["json"]["messages"][:-1] == old
    assert all("reasoning_content" not in m for m in request["json"]["messages"])


@pytest.mark.parametrize("api,model", [("v1", V1_TOOLS), ("v2", V2)])
def test_resume_a_tool_calling_conversation(online, emu, api, model):
    s = online()
    s.ask("What's the weather in Beijing and Shanghai?", tools=[get_current_weather], model=model, chat="tools")
    s.ask("Thanks. Which one is warmer?", chat="tools")
    old = s.history("tools")
    assert any(m.get("function_call") or m.get("tool_calls") for m in old)  # there are calls to restore
    assert_tool_history_valid(old, api)

    s2 = online()
    s2.resume("tools")
    restored = s2.history("tools")
    assert restored == old
    assert_tool_history_valid(restored, api)
    calls = s2.conversation("tools").turns[0].reply.all_calls
    assert [c.name for c in calls] == [c.name for c in s.conversation("tools").turns[0].reply.all_calls]
    emu.clear()
    follow = s2.ask("And tomorrow?", chat="tools")
    assert follow.error is None and follow.text.strip()  # the emulator checks the history's shape strictly
    assert sent_messages(emu)[:-1] == old
    assert_tool_history_valid(s2.history("tools"), api)


def test_reset_starts_a_new_run_and_resume_picks_a_run(online, log_path):
    s = online()
    s.ask("first run, first question", chat="runs", model=V1)
    s.ask("first run, second question", chat="runs")
    first_history, first_run = s.history("runs"), s.conversation("runs").run_id
    s.reset("runs")
    s.ask("second run, only question", chat="runs")
    second_history, second_run = s.history("runs"), s.conversation("runs").run_id
    assert second_run != first_run
    rows = rows_of(log_path)
    assert [r["run_id"] for r in rows] == [first_run, first_run, second_run]

    runs = s.log.runs("runs")
    assert [r["run_id"] for r in runs] == [second_run, first_run]  # newest first
    assert [r["turns"] for r in runs] == [1, 2] and runs[0]["model"] == V1

    latest = online()
    latest.resume("runs")
    assert latest.history("runs") == second_history
    older = online()
    older.log.resume("runs", run_id=first_run)  # the log's own resume does the same
    assert older.history("runs") == first_history
    by_prefix = online()
    by_prefix.resume("runs", run_id=first_run[:8])  # as `%wenxin log` shows it
    assert by_prefix.history("runs") == first_history and by_prefix.conversation("runs").run_id == first_run
    assert older.conversation("runs").run_id == first_run
    older.ask("first run, third question", chat="runs")
    assert rows_of(log_path)[-1]["run_id"] == first_run

    # --new starts a new run too
    older.ask("a fresh start", chat="runs", new=True)
    assert rows_of(log_path)[-1]["run_id"] not in (first_run, second_run)
    with pytest.raises(LookupError, match="runs"):
        online().resume("runs", run_id="no-such-run")


def test_resume_a_conversation_with_a_deployed_endpoint(online, emu):
    s = online()
    s.ask("你好", chat="ep", endpoint="my_chat_service")
    s.ask("再说一次", chat="ep")
    s2 = online()
    conv = s2.resume("ep")
    assert conv.endpoint == "my_chat_service" and s2.history("ep") == s.history("ep")
    emu.clear()
    s2.ask("第三个问题", chat="ep")
    request = model_requests(emu)[-1]
    assert request["path"].endswith("/chat/my_chat_service")
    assert request["json"]["messages"][:-1] == s.history("ep")


def test_conversation_rebuilds_a_run_without_adding_it(online):
    s = online()
    s.ask("只是看看", chat="peek", model=V1)
    s2 = online()
    conv = s2.log.conversation("peek")
    assert conv.messages() == s.history("peek") and conv.model == V1
    assert not s2.has_conversation("peek")
    assert s2.log.conversation("never-logged") is None


def test_resume_is_refused_when_the_kernel_has_other_turns_under_that_name(online):
    s2 = online()
    s2.ask("a turn of this session", chat="taken", model=V1)
    mine, my_run = s2.history("taken"), s2.conversation("taken").run_id
    s = online()
    s.ask("the logged question", chat="taken", model=V1)  # the log's newest run of "taken" is now s's
    for run_id in (None, s.conversation("taken").run_id):
        with pytest.raises(InvalidRequestError) as caught:
            s2.resume("taken", run_id)
        assert caught.value.field == "resume"
        assert "taken" in str(caught.value) and "reset" in str(caught.value)
        assert s2.history("taken") == mine and s2.conversation("taken").run_id == my_run  # nothing changed
    s2.resume("taken", my_run)  # its own run: nothing to lose
    assert s2.history("taken") == mine
    # after a reset there is nothing to lose, and resume goes ahead
    s2.reset("taken")
    s2.resume("taken")
    assert s2.history("taken") == s.history("taken")


def test_resume_of_an_unknown_name_is_a_lookup_error(online):
    s = online()
    s.ask("something", chat="known", model=V1)
    with pytest.raises(LookupError, match="nothere"):
        s.resume("nothere")
    assert not s.has_conversation("nothere")


# -- notices ---------------------------------------------------------------------------------------

def test_the_first_write_says_where_the_log_is_once(online, log_path):
    s = online()
    assert s.take_notices() == []  # nothing before a write
    s.ask("你好", model=V1)
    notices = s.take_notices()
    assert len(notices) == 1
    assert notices[0].kind == "where" and notices[0].text == f"Conversations are logged to {log_path}."
    s.ask("再说一遍")
    s.compare("你好", [V1, LITE])
    assert s.take_notices() == []


@pytest.mark.parametrize("broken", ["parent is a file", "garbage bytes"])
def test_a_log_that_cannot_be_used_says_so_once_and_the_conversation_goes_on(session_factory, emu, tmp_path,
                                                                              monkeypatch, broken):
    if broken == "parent is a file":
        (tmp_path / "not-a-folder").write_text("a regular file")
        path = tmp_path / "not-a-folder" / "logs.db"
    else:
        path = tmp_path / "logs.db"
        path.write_bytes(b"this is not a database " * 200)
    before = path.read_bytes() if path.exists() else None
    monkeypatch.setenv("WENXIN_MAGIC_LOG", str(path))
    s = session_factory(against=emu, environ=KEYS.iam_env(emu.base_url))
    first = s.ask("你好", chat="mem", model=V1)
    assert first.error is None and first.text.strip()
    [notice] = s.take_notices()
    assert notice.kind == "failed" and str(path) in notice.text
    assert "WENXIN_MAGIC_LOG" in notice.text and "memory" in notice.text
    for prompt in ("介绍下故宫", "再说一遍"):
        reply = s.ask(prompt, chat="mem")
        assert reply.error is None and reply.text.strip()
    assert s.take_notices() == []  # one notice, not one per turn
    assert len(s.history("mem")) == 6
    assert_history_valid(s.history("mem"))
    if before is not None:
        assert path.read_bytes() == before  # the user's file is left as it was
    else:
        assert (tmp_path / "not-a-folder").read_text() == "a regular file"


def test_log_off_in_the_environment_writes_nothing(session_factory, emu, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("WENXIN_MAGIC_LOG", "off")
    s = session_factory(against=emu, environ=KEYS.iam_env(emu.base_url))
    s.ask("你好", model=V1)
    s.compare("你好", [V1, LITE])
    assert s.take_notices() == []
    assert list(tmp_path.iterdir()) == []
    assert not s.log.enabled


def test_reading_the_log_when_it_is_off_creates_no_file_named_off(session_factory, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("WENXIN_MAGIC_LOG", "off")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    s = session_factory()
    assert s.log.search() == []
    assert not (tmp_path / "off").exists() and not (tmp_path / "data").exists()  # reading creates no file


def test_turning_the_log_on_when_the_environment_said_off_does_not_log_to_a_file_named_off(
        session_factory, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("WENXIN_MAGIC_LOG", "off")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    s = session_factory()
    s.log.turn(True)
    s.ask("你好")
    assert not (tmp_path / "off").exists()
    assert s.log.path.name == "logs.db"


def test_without_the_variable_the_log_is_in_the_user_data_folder(session_factory, tmp_path, monkeypatch):
    monkeypatch.delenv("WENXIN_MAGIC_LOG")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))  # platformdirs' user data folder on Linux
    s = session_factory()
    s.ask("where does this go?")
    expected = tmp_path / "data" / "wenxin-magic" / "logs.db"
    assert s.log.path == expected
    assert [r["question"] for r in rows_of(expected)] == ["where does this go?"]
    [notice] = s.take_notices()
    assert notice.text == f"Conversations are logged to {expected}."


def test_turning_the_log_off_and_on(online, log_path):
    s = online()
    s.ask("logged one", model=V1, chat="sw")
    s.log.turn(False)
    s.ask("not logged", chat="sw")
    s.log.turn(True)
    s.ask("logged two", chat="sw")
    assert [r["question"] for r in rows_of(log_path)] == ["logged one", "logged two"]
    assert len(s.history("sw")) == 6  # the conversation itself kept all three


def test_use_moves_the_log(online, log_path, tmp_path):
    s = online()
    s.ask("in the first file", model=V1)
    other = tmp_path / "elsewhere" / "other.db"
    s.log.use(other)
    assert s.log.path == other
    s.take_notices()
    s.ask("in the second file")
    assert [r["question"] for r in rows_of(log_path)] == ["in the first file"]
    assert [r["question"] for r in rows_of(other)] == ["in the second file"]
    [notice] = s.take_notices()
    assert notice.kind == "where" and str(other) in notice.text


# -- no credential in the file ---------------------------------------------------------------------

LOG_KEYS = fake_keys("conversation_log")  # distinctive: found in the file only if something leaked it
V2_KEY = "bce-v3/ALTAK-logTEST5a1c/" + LOG_KEYS.sk.encode().hex()[:40]


@pytest.fixture
def locked_emulator(emulator_factory):
    return emulator_factory(credentials={LOG_KEYS.ak: LOG_KEYS.sk}, iam_credentials={LOG_KEYS.iak: LOG_KEYS.isk},
                            v2_keys=[V2_KEY])


def secrets_of(server) -> set[str]:
    state = server.state()
    with state.lock:
        issued = set(state.tokens) | set(state.seen_secrets) | set(state.bearer_tokens)
    assert len(issued) >= 3, issued  # tokens were issued: there is something that could leak
    return LOG_KEYS.all | {V2_KEY} | issued


def test_the_log_file_holds_no_credential(session_factory, locked_emulator, log_path):
    server = locked_emulator
    oauth = session_factory(against=server, keys=LOG_KEYS)
    oauth.ask("你好", chat="keys", model=V1)
    server.expire_tokens()
    oauth.ask("介绍下故宫", chat="keys")  # a refreshed token
    server.inject("invalid_token")
    oauth.ask("再说一遍", chat="keys")
    server.inject("drop_stream", after=2)
    with pytest.raises(QianfanError):
        oauth.ask(LONG, chat="keys")
    server.inject("error", code=336003, message="bad parameter")
    with pytest.raises(QianfanError):
        oauth.ask("this one fails", chat="keys")
    oauth.compare("你好", [V1, LITE])
    oauth.login(LOG_KEYS.wrong_ak, LOG_KEYS.sk)
    with pytest.raises(QianfanError):
        oauth.ask("wrong keys", chat="keys")

    iam = session_factory(against=server, environ=LOG_KEYS.iam_env(server.base_url))
    iam.ask("9.11 和 9.9 哪个大？", chat="iam", model="deepseek-r1")
    iam.ask("What's the weather in Beijing?", tools=[get_current_weather], chat="iam", model=V2)
    bad_iam = session_factory(against=server, environ={"QIANFAN_ACCESS_KEY": LOG_KEYS.iak,
                                                        "QIANFAN_SECRET_KEY": LOG_KEYS.wrong_isk,
                                                        "QIANFAN_BASE_URL": server.base_url})
    with pytest.raises(QianfanError):
        bad_iam.ask("signed wrong", chat="iam", model=V1)

    v2 = session_factory(against=server, environ={"QIANFAN_API_KEY": V2_KEY, "QIANFAN_BASE_URL": server.base_url})
    v2.ask("用一句话介绍杭州", chat="v2", model=V2)

    rows = rows_of(log_path)
    assert len(rows) >= 12 and any(r["error"] for r in rows) and any(r["interrupted"] for r in rows)
    assert any("signed wrong" == r["question"] and r["error"] for r in rows)
    secrets = secrets_of(server)

    def scan(when: str) -> None:
        files = [p for p in (log_path, Path(f"{log_path}-wal"), Path(f"{log_path}-shm")) if p.exists()]
        data = b"".join(p.read_bytes() for p in files)
        assert b"\xe6\x95\x85\xe5\xae\xab" in data  # 故宫: the scan reads what was logged
        found = sorted(s for s in secrets if s.encode() in data)
        assert not found, f"the log ({when}) holds credentials: {found}"
        lowered = data.lower()
        for needle in (b"access_token=", b"bce-auth-v1/", b"bearer ", b"authorization:", b"client_secret"):
            assert needle not in lowered, f"the log ({when}) holds {needle!r}"

    scan("open")
    for s in (oauth, iam, bad_iam, v2):
        s.close()
    scan("closed")
