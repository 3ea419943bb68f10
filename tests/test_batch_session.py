"""``Session.batch`` against the emulator over HTTP: the table, templates over DataFrame rows, failures that stay in
their row, resuming, the emulator's RPM quota, completions, progress reports and the refusals before anything runs.

No kernel and no display: the magic's side is tests/test_batch_kernel.py; the core (templates, Pacer on a simulated
clock) is tests/test_batch_core.py.
"""

from __future__ import annotations

import threading
import time

import pandas as pd
import pytest

from _fakes import FAKE, chat_requests, model_requests
from wenxin_magic.api import InvalidRequestError, QianfanError
from wenxin_magic.session._batch import COLUMNS

KEYS = FAKE.SESSION
V1 = "ERNIE-Speed-8K"
V2 = "ernie-speed-8k"
ITEMS = ["长城", "故宫", "颐和园"]


@pytest.fixture
def s(session_factory, emu, no_credentials_in_env):
    """A session online against the module's emulator, with keys that reach both APIs (OAuth for v1, IAM for v2)."""
    return session_factory(against=emu, environ={**KEYS.oauth_env(emu.base_url), **KEYS.iam_env()})


def statuses(run) -> list[str]:
    return [row.status for row in run.rows]


# -- the table -----------------------------------------------------------------------------------

def test_items_times_two_models_make_an_item_major_table(s, emu):
    run = s.batch("用一句话介绍{item}", ITEMS, models=[V1, V2])
    table = run.frame()
    assert table.shape == (len(ITEMS) * 2, len(COLUMNS))
    assert list(table.columns) == ["i", "item", "model", "prompt", "answer", "reasoning", "finish_reason",
                                   "prompt_tokens", "completion_tokens", "latency_s", "retries", "error", "status"]
    assert table["i"].tolist() == [0, 0, 1, 1, 2, 2]  # item-major: every model's answer to an item together
    assert table["model"].tolist() == [V1, V2] * len(ITEMS)
    assert table["item"].tolist() == [item for item in ITEMS for _ in range(2)]
    assert table["prompt"].tolist() == [f"用一句话介绍{item}" for item in ITEMS for _ in range(2)]
    assert (table["status"] == "done").all(), table[["model", "error"]]
    assert table["error"].isna().all()
    assert all(isinstance(a, str) and a.strip() for a in table["answer"])
    assert (table["prompt_tokens"] > 0).all() and (table["completion_tokens"] > 0).all()
    assert [row.reply.api for row in run.rows] == ["v1", "v2"] * len(ITEMS)
    # each API got one request per item
    paths = [r["path"] for r in model_requests(emu)]
    assert sum("/wenxinworkshop/chat/ernie_speed" in p for p in paths) == len(ITEMS)
    assert paths.count("/v2/chat/completions") == len(ITEMS)
    progress = run.progress
    assert (progress.total, progress.done, progress.failed, progress.not_run) == (6, 6, 0, 0)
    assert progress.tokens == sum(r.reply.usage.total_tokens for r in run.rows) > 0
    assert len(run.replies()) == 6 and run.records() == table.to_dict("records")


def test_dataframe_rows_as_items_fill_their_columns(s, emu):
    cities = pd.DataFrame([{"city": "北京", "sight": "长城"}, {"city": "巴黎", "sight": "卢浮宫"}])
    run = s.batch("{item.city}的{item[sight]}（第{i}个）", cities, model=V1)
    assert statuses(run) == ["done", "done"], [r.error for r in run.rows]
    assert [row.prompt for row in run.rows] == ["北京的长城（第0个）", "巴黎的卢浮宫（第1个）"]
    sent = [r["json"]["messages"][-1]["content"] for r in chat_requests(emu)]
    assert sorted(sent) == sorted(["北京的长城（第0个）", "巴黎的卢浮宫（第1个）"])
    table = run.frame()
    assert table["item"].tolist() == [{"city": "北京", "sight": "长城"}, {"city": "巴黎", "sight": "卢浮宫"}]


def test_a_missing_field_fails_only_its_row_and_names_the_field(s, emu):
    items = [{"name": "长城", "year": 1987}, {"name": "故宫"}, {"name": "颐和园", "year": 1998}]
    run = s.batch("{item[name]}在{item[year]}年入选", items, model=V1)
    assert statuses(run) == ["done", "failed", "done"]
    failed = run.rows[1]
    assert "year" in failed.error and "name" in failed.error  # the field it lacks, and what it has
    assert failed.prompt is None and failed.reply is None
    assert len(chat_requests(emu)) == 2  # the failed row sent nothing
    table = run.frame()
    assert table["status"].tolist() == ["done", "failed", "done"]
    assert "year" in table["error"][1] and pd.isna(table["answer"][1])
    assert run.progress.failed == 1 and run.progress.done == 2


# -- no conversation, the log --------------------------------------------------------------------

def test_no_conversation_is_created_or_changed(s):
    s.ask("你好", chat="keep", model=V1)
    before = [c.name for c in s.chats()]
    kept = s.history("keep")
    run = s.batch("用一句话介绍{item}", ITEMS, models=[V1, V2])
    assert statuses(run) == ["done"] * 6
    assert [c.name for c in s.chats()] == before == ["keep"]
    assert s.history("keep") == kept and len(kept) == 2
    assert all(row.reply.chat is None for row in run.rows)


def test_rows_are_logged_as_kind_batch_and_never_as_chat(s):
    marker = f"batchlog{time.time_ns()}"
    since = time.time() - 1
    run = s.batch(marker + " {item}", ITEMS, models=[V1, V2])
    assert statuses(run) == ["done"] * 6
    logged = s.log.search(marker, since=since, limit=100)
    assert sorted(turn.reply.kind for turn in logged) == ["batch"] * 6
    assert len(s.log.search(marker, kind="batch", since=since, limit=100)) == 6
    assert s.log.search(marker, kind="chat", since=since, limit=100) == []
    assert sorted(turn.request["content"] for turn in logged) == sorted(f"{marker} {item}" for item in ITEMS
                                                                        for _ in range(2))
    assert sorted(turn.reply.model for turn in logged) == sorted([V1, V2] * len(ITEMS))
    assert all(turn.reply.chat is None for turn in logged)


# -- failures and resuming -----------------------------------------------------------------------

def test_a_non_retryable_error_fails_one_row_and_resume_runs_only_it(s, emu):
    emu.inject("error", code=336003, message="x")
    run = s.batch("用一句话介绍{item}", range(5), model=V1, concurrency=1)
    assert sorted(statuses(run)) == ["done"] * 4 + ["failed"]
    failed = [row for row in run.rows if row.status == "failed"]
    assert "336003" in failed[0].error
    assert all(row.reply.ok and row.reply.text for row in run.rows if row.status == "done")
    assert len(chat_requests(emu)) == 5  # not retried: 336003 is the caller's mistake

    before = len(chat_requests(emu))
    again = s.batch("用一句话介绍{item}", range(5), model=V1, concurrency=1, resume=run)
    assert statuses(again) == ["done"] * 5
    assert len(chat_requests(emu)) - before == 1
    assert chat_requests(emu)[-1]["json"]["messages"][-1]["content"] == failed[0].prompt
    assert again.resumed == 4
    kept = [row.index for row in run.rows if row.status == "done"]
    assert [again.rows[i].reply for i in kept] == [run.rows[i].reply for i in kept]  # the same answers, kept


def test_the_rpm_quota_is_learned_and_kept(s, emu):
    emu.set_limits(rpm=10)
    run = s.batch("用一句话介绍数字{item}", range(8), model=V1)
    assert statuses(run) == ["done"] * 8, [row.error for row in run.rows]
    assert all(row.reply.retries == 0 for row in run.rows)  # never refused for the rate, never retried
    assert len(chat_requests(emu)) == 8
    window = run.pacer.state(V1)
    assert window.limit_requests == 10
    assert window.peak_requests == 8 and window.pauses == 0


def test_an_interrupt_keeps_the_finished_rows_and_resume_runs_the_rest(s, emu):
    emu.ttft = 0.3  # one row at a time, each slow enough for a progress report of its own

    def interrupt(progress):
        if progress.done >= 2:
            raise KeyboardInterrupt  # as Ctrl-C would, in the thread that waits in session.batch

    with pytest.raises(KeyboardInterrupt):
        s.batch("用一句话介绍数字{item}", range(8), model=V1, concurrency=1, on_progress=interrupt)
    run = s.last_batch
    assert run is not None
    done = [row for row in run.rows if row.status == "done"]
    assert 2 <= len(done) < 8 and all(row.reply.ok and row.reply.text for row in done)
    assert {row.status for row in run.rows} == {"done", "not run"}
    assert all(row.reply is None and row.error is None for row in run.rows if row.status == "not run")
    assert run.progress.not_run == 8 - len(done) and run.pacer.in_flight == 0
    assert s.chats() == []

    emu.ttft = 0.0
    # the row asking when the interrupt came was cancelled in flight: its request may reach the log a moment later
    before = len(chat_requests(emu))
    while True:
        time.sleep(0.3)
        if len(chat_requests(emu)) == before:
            break
        before = len(chat_requests(emu))
    again = s.batch("用一句话介绍数字{item}", range(8), model=V1, resume=run)
    assert statuses(again) == ["done"] * 8
    resumed = [r["json"]["messages"][-1]["content"] for r in chat_requests(emu)[before:]]
    assert sorted(resumed) == sorted(row.prompt for row in run.rows if row.status == "not run")
    assert s.last_batch is again

# -- completions ---------------------------------------------------------------------------------

def test_a_completion_batch_on_an_endpoint(s, emu):
    run = s.batch("从前有一座{item}", ["山", "庙"], completion=True, endpoint="my_yi_34b", model="Yi-34B")
    assert statuses(run) == ["done", "done"], [row.error for row in run.rows]
    assert [r["path"] for r in chat_requests(emu)] == ["/rpc/2.0/ai_custom/v1/wenxinworkshop/completions/my_yi_34b"] * 2
    assert sorted(r["json"]["prompt"] for r in chat_requests(emu)) == ["从前有一座山", "从前有一座庙"]
    assert all(row.reply.text.strip() for row in run.rows)


def test_a_completion_batch_on_an_endpoint_without_a_model(s, emu):
    run = s.batch("从前有一座{item}", ["山", "庙"], completion=True, endpoint="my_yi_34b")
    assert statuses(run) == ["done", "done"], [row.error for row in run.rows]
    assert [r["path"] for r in chat_requests(emu)] == ["/rpc/2.0/ai_custom/v1/wenxinworkshop/completions/my_yi_34b"] * 2


def test_a_completion_batch_on_a_registry_completion_model(s, emu):
    run = s.batch("SELECT * FROM {item}", ["users", "orders"], completion=True, model="SQLCoder-7B")
    assert statuses(run) == ["done", "done"], [row.error for row in run.rows]
    assert all("/wenxinworkshop/completions/sqlcoder_7b" in r["path"] for r in chat_requests(emu))
    assert len(chat_requests(emu)) == 2


# -- progress ------------------------------------------------------------------------------------

def test_progress_is_reported_in_the_calling_thread_with_a_final_call(s):
    calls = []
    run = s.batch("用一句话介绍数字{item}", range(6), model=V1,
                  on_progress=lambda p: calls.append((threading.get_ident(), p)))
    assert statuses(run) == ["done"] * 6
    assert calls, "on_progress was never called"
    assert {thread for thread, _ in calls} == {threading.get_ident()}
    last = calls[-1][1]
    assert last.total == 6 and last.done == 6 and last.failed == 0 and last.not_run == 0
    assert calls[0][1].done == 0  # a first report before any answer
    assert [p.done for _, p in calls] == sorted(p.done for _, p in calls)


# -- refused before anything runs ----------------------------------------------------------------

@pytest.mark.parametrize("items, error, words", [
    ([], InvalidRequestError, ["items", "is empty"]),
    ((x for x in ()), InvalidRequestError, ["items", "is empty"]),
    (pd.DataFrame({"city": []}), InvalidRequestError, ["items", "is empty"]),
    ("长城 故宫", TypeError, ["items", "str"]),
    ({"a": 1}, TypeError, ["items", "dict"]),
    (5, TypeError, ["items", "int"]),
], ids=["empty-list", "empty-generator", "empty-frame", "str", "dict", "int"])
def test_bad_items_are_refused_before_anything_runs(s, emu, items, error, words):
    with pytest.raises(error) as caught:
        s.batch("用一句话介绍{item}", items, model=V1)
    for word in words:
        assert word in str(caught.value)
    assert model_requests(emu) == []
    assert s.last_batch is None


def test_the_items_name_is_used_in_messages(s):
    with pytest.raises(TypeError, match="cities is a str"):
        s.batch("{item}", "北京", model=V1, items_name="cities")
    with pytest.raises(InvalidRequestError, match="cities is empty"):
        s.batch("{item}", [], model=V1, items_name="cities")


def test_a_model_no_credentials_reach_is_refused_before_anything_runs(session_factory, emu, no_credentials_in_env):
    v1_only = session_factory(against=emu)  # OAuth keys only: no v2 model is reachable
    with pytest.raises(QianfanError) as caught:
        v1_only.batch("用一句话介绍{item}", ITEMS, models=[V1, "deepseek-v3"])
    assert "deepseek-v3" in str(caught.value)
    assert model_requests(emu) == []  # not even the reachable model's rows ran
    assert v1_only.last_batch is None


@pytest.mark.parametrize("concurrency", [0, -3, 1.5, True])
def test_a_concurrency_below_one_or_not_whole_is_refused(s, emu, concurrency):
    with pytest.raises(InvalidRequestError, match="concurrency"):
        s.batch("用一句话介绍{item}", ITEMS, model=V1, concurrency=concurrency)
    assert model_requests(emu) == []
