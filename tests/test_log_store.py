"""The conversation log's storage layer (``wenxin_magic.session._log``): no kernel, no network.

Writes and the ways back to them (full-text search in English and Chinese, filters, runs), the JSON columns,
the schema migration from version 1, several processes writing one file at once, a writer killed inside its
transaction, and every way the file can fail, each of which must say where and what to do, never what a row held.
"""

from __future__ import annotations

import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
import threading
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wenxin_magic.session._log import (
    COLUMNS,
    SCHEMA_VERSION,
    ConversationLog,
    LogUnavailable,
    _migrate,
    default_log_path,
)

ROOT = Path(__file__).resolve().parent.parent
SECRET = "SECRET-ROW-CONTENT-7f3a"  # a row value that must never reach an error message


@pytest.fixture
def log(tmp_path):
    with ConversationLog(tmp_path / "logs.db") as opened:
        yield opened


def turn(question: str = "q", answer: str = "a", **columns) -> dict:
    return {"run_id": "run-1", "chat": "default", "question": question, "answer": answer, **columns}


def run_python(code: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          cwd=ROOT, timeout=120, **kwargs)


def assert_helpful(error: LogUnavailable, path: Path, *phrases: str) -> None:
    message = str(error)
    assert str(path) in message
    assert "WENXIN_MAGIC_LOG" in message and "turn the conversation log off" in message
    for phrase in phrases:
        assert phrase in message, message
    assert SECRET not in message


# -- writing and searching --------------------------------------------------------------------------------

def test_text_search_finds_english_and_chinese_substrings(log):
    palace = log.write(turn("介绍一下北京故宫的历史", "故宫始建于明朝永乐四年。"))
    bridge = log.write(turn("Tell me about the Golden Gate Bridge", "It opened in 1937."))
    reasoned = log.write(turn("hmm", "ok", reasoning="thinking about suspension cables"))

    assert [r["id"] for r in log.search("故宫")] == [palace]  # two characters: the LIKE path
    assert [r["id"] for r in log.search("北京故宫")] == [palace]  # four: the trigram index
    assert [r["id"] for r in log.search("永乐四年")] == [palace]  # in the answer
    assert [r["id"] for r in log.search("golden GATE")] == [bridge]  # every word, any case
    assert [r["id"] for r in log.search("Gate 1937")] == [bridge]  # the words may be in different columns
    assert [r["id"] for r in log.search("suspension")] == [reasoned]
    assert log.search("golden 故宫") == []  # all words are required
    assert log.search("Gaté") == []


def test_words_shorter_than_a_trigram_are_still_required(log):
    first = log.write(turn("a bc", "xyz"))
    log.write(turn("nothing", "xyz"))
    assert [r["id"] for r in log.search("bc xyz")] == [first]
    assert [r["id"] for r in log.search("b")] == [first]
    assert log.search("%") == [] and log.search("_") == []  # LIKE wildcards are searched for literally
    percent = log.write(turn("100% sure", "yes"))
    assert [r["id"] for r in log.search("0%")] == [percent]


@pytest.mark.parametrize("query", ['"', '""', "'", "*", "a*", "-x", "x:y", "question:nothing", "AND", "OR NOT",
                                   "NEAR(a b)", "NEAR(", "(", ")", "^start", "+", "\\", "a\x00b", "\x00\x00\x00",
                                   "col:\"unterminated", "{question answer}:x", "\ud800surrogate"])
def test_fts_syntax_in_a_query_is_searched_for_literally(log, query):
    literal = log.write(turn(f"before {query} after"))
    log.write(turn("something else entirely"))
    found = log.search(query)
    assert isinstance(found, list)
    assert literal in [r["id"] for r in found]


def test_filters_limit_and_newest_first(log):
    ids = [log.write(turn(f"question {n}", chat=f"chat-{n % 2}", model=f"model-{n % 3}", created=1000.0 + n,
                          kind="compare" if n == 5 else "chat")) for n in range(9)]

    assert [r["id"] for r in log.search()] == ids[::-1]
    assert [r["id"] for r in log.search(limit=3)] == ids[:-4:-1]
    assert [r["id"] for r in log.search(chat="chat-1")] == [ids[7], ids[5], ids[3], ids[1]]
    assert [r["id"] for r in log.search(model="model-0")] == [ids[6], ids[3], ids[0]]
    assert [r["id"] for r in log.search(since=1006.0)] == [ids[8], ids[7], ids[6]]
    assert [r["id"] for r in log.search(kind="compare")] == [ids[5]]
    assert [r["id"] for r in log.search("question", chat="chat-0", model="model-2", since=1001)] == [ids[8], ids[2]]
    assert log.search(chat="nobody") == []


def test_json_columns_round_trip_and_missing_keys_are_null(log):
    full = {name: None for name in COLUMNS} | {
        "run_id": "r", "chat": "c", "kind": "completion", "question": "q", "answer": "答案", "reasoning": "r",
        "model": "ernie-4.0-8k", "endpoint": "completions_pro", "api": "v2", "system": "be brief",
        "params": {"temperature": 0.5, "stop": ["\n"], "名字": "值"},
        "tool_calls": [{"id": "call_1", "function": {"name": "f", "arguments": "{\"x\": 1}"}}],
        "prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7, "latency": 1.25, "finish_reason": "stop",
        "error": None, "retries": 2, "interrupted": 1, "created": 1234.5, "notebook": "a.ipynb",
        "turn": {"messages": [{"role": "user", "content": "q"}], "nested": {"list": [1, 2.5, None, True]}}}
    row_id = log.write(full)
    assert log.search()[0] == {"id": row_id, **full}

    bare = log.write({"question": "only this"})
    stored = log.search(limit=1)[0]
    assert stored["id"] == bare and stored["question"] == "only this" and stored["kind"] == "chat"
    assert all(stored[name] is None for name in COLUMNS if name not in ("question", "kind"))


def test_many_rows_in_one_transaction(log):
    assert log._write_many(turn(f"bulk {n}", "北京故宫") for n in range(3)) == 3
    assert [r["question"] for r in log.search("故宫 bulk")] == ["bulk 2", "bulk 1", "bulk 0"]
    with pytest.raises(ValueError):
        log._write_many([turn("fine"), {"nonsense": 1}])
    assert log.count() == 3

def test_an_unknown_column_is_refused_rather_than_dropped(log):
    with pytest.raises(ValueError, match="answr"):
        log.write({"question": "q", "answr": "typo"})
    assert log.count() == 0


def test_text_with_a_lone_surrogate_is_stored_without_it(log):
    row_id = log.write(turn("broken \ud800 text", "fine"))
    assert log.search("broken")[0]["id"] == row_id
    assert log.search("broken")[0]["question"] == "broken \ufffd text"


@pytest.fixture(scope="module")
def shared_log(tmp_path_factory):
    with ConversationLog(tmp_path_factory.mktemp("log") / "logs.db") as opened:
        opened.write(turn("介绍一下北京故宫的历史", "The Forbidden City"))
        yield opened


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(st.characters(blacklist_characters="\x00"), max_size=40))
def test_any_text_is_found_by_searching_for_itself(shared_log, text):
    # (not NUL: SQLite's LIKE and tokenizers stop reading a value at its first NUL)
    row_id = shared_log.write(turn(text, chat="hypothesis"))
    found = shared_log.search(text, chat="hypothesis", limit=1_000_000)
    assert isinstance(found, list)
    assert row_id in [r["id"] for r in found]


@settings(max_examples=150, deadline=None)
@given(text=st.text(alphabet=st.sampled_from('"*-:^+(){}ANDORNTEa 故宫\\%_\x00'), max_size=20))
def test_any_fts_syntax_is_safe(shared_log, text):
    assert isinstance(shared_log.search(text), list)


# -- runs -----------------------------------------------------------------------------------------------

def test_runs_and_run_rows_of_two_runs(log):
    old = [log.write(turn(f"old {n}", run_id="run-A", created=100.0 + n, model="m-old")) for n in range(3)]
    log.write(turn("elsewhere", chat="other", run_id="run-X", created=150.0))
    log.write(turn("a comparison", chat=None, kind="compare", run_id="run-B", created=160.0))
    new = [log.write(turn(f"new {n}", run_id="run-B", created=200.0 + n, model=f"m-{n}")) for n in range(2)]

    assert log.runs("default") == [
        {"run_id": "run-B", "chat": "default", "turns": 2, "first": 200.0, "last": 201.0, "model": "m-1"},
        {"run_id": "run-A", "chat": "default", "turns": 3, "first": 100.0, "last": 102.0, "model": "m-old"}]
    assert [r["id"] for r in log.run_rows("default")] == new  # the newest run, oldest row first
    assert [r["id"] for r in log.run_rows("default", "run-A")] == old
    assert [r["question"] for r in log.run_rows("default", "run-A")] == ["old 0", "old 1", "old 2"]
    assert log.run_rows("default", "run-Z") == [] and log.run_rows("nobody") == [] and log.runs("nobody") == []


def test_a_run_resumed_later_is_the_newest_again(log):
    log.write(turn("a1", run_id="A"))
    log.write(turn("b1", run_id="B"))
    log.write(turn("a2", run_id="A"))
    assert [r["run_id"] for r in log.runs("default")] == ["A", "B"]
    assert [r["question"] for r in log.run_rows("default")] == ["a1", "a2"]


# -- the file over time -----------------------------------------------------------------------------------

def test_closed_log_reopens_and_keeps_its_rows(tmp_path):
    path = tmp_path / "deep" / "er" / "logs.db"  # the folders are made on first use
    first = ConversationLog(path)
    assert not path.exists()  # nothing is opened before first use
    first.write(turn("kept"))
    first.close()
    with ConversationLog(path) as again:
        assert again.count() == 1 and again.search("kept")[0]["question"] == "kept"
        conn = again._connection()
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 3


def test_migration_from_version_1_keeps_rows_and_indexes_them(tmp_path):
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path, isolation_level=None)
    assert _migrate(conn, up_to=1) == 1
    conn.execute("INSERT INTO turns (run_id, chat, question, answer, params, created) VALUES (?, ?, ?, ?, ?, ?)",
                 ("r-old", "default", "介绍一下北京故宫的历史", "old answer", '{"temperature": 0.1}', 5.0))
    columns = {row[1] for row in conn.execute("PRAGMA table_info(turns)")}
    assert not {"kind", "notebook", "tool_calls"} & columns
    conn.close()

    with ConversationLog(path) as log:
        [old] = log.search("北京故宫")
        assert old["question"] == "介绍一下北京故宫的历史" and old["kind"] == "chat" and old["tool_calls"] is None
        assert old["params"] == {"temperature": 0.1}
        new = log.write(turn("a new question", tool_calls=[{"id": "t"}], notebook="n.ipynb"))
        assert [r["id"] for r in log.search("new question")] == [new]
        assert [r["run_id"] for r in log.runs("default")] == ["run-1", "r-old"]
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.execute("INSERT INTO turns_fts (turns_fts) VALUES ('integrity-check')")  # raises if the index is off
    conn.close()


def test_a_file_from_a_newer_version_is_refused_and_left_alone(tmp_path):
    path = tmp_path / "future.db"
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with ConversationLog(path) as log, pytest.raises(LogUnavailable) as caught:
        log.write(turn(SECRET))
    assert_helpful(caught.value, path, "newer wenxin-magic", "Upgrade wenxin-magic")
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION + 1
    assert conn.execute("SELECT COUNT(*) FROM sqlite_schema").fetchone()[0] == 0
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    conn.close()


# -- concurrency and crashes ------------------------------------------------------------------------------

WRITER = """
import sys
sys.path.insert(0, {root!r})
from wenxin_magic.session._log import ConversationLog
log = ConversationLog({path!r}, busy_timeout=60)
print("ready", flush=True)
sys.stdin.readline()  # all processes start writing together, to a file none of them has created yet
for n in range({count}):
    log.write({{"run_id": "p{process}", "question": "p{process} n%d" % n, "params": {{"process": {process}, "n": n}}}})
print("done", flush=True)
"""


def test_four_processes_writing_at_once_lose_and_duplicate_nothing(tmp_path):
    path, processes, count = tmp_path / "shared.db", 4, 250
    children = [subprocess.Popen([sys.executable, "-c", WRITER.format(root=str(ROOT), path=str(path), count=count,
                                                                        process=p)],
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                for p in range(processes)]
    try:
        assert [child.stdout.readline().strip() for child in children] == ["ready"] * processes
        for child in children:
            child.stdin.write("go\n")
            child.stdin.flush()
        for child in children:
            out, err = child.communicate(timeout=300)
            assert child.returncode == 0, err
            assert out.strip() == "done"
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
    with ConversationLog(path) as log:
        rows = log.search(limit=-1)
    pairs = [(r["params"]["process"], r["params"]["n"]) for r in rows]
    assert len(rows) == processes * count
    assert sorted(pairs) == [(p, n) for p in range(processes) for n in range(count)]


def test_threads_sharing_one_log(log):
    def write(name: str) -> None:
        for n in range(50):
            log.write(turn(f"{name} {n}"))
            log.search(name, limit=1)

    threads = [threading.Thread(target=write, args=(f"thread{i}",)) for i in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert log.count() == 150


KILLED_WRITER = """
import sys, time
sys.path.insert(0, {root!r})
from wenxin_magic.session._log import ConversationLog
log = ConversationLog({path!r})
for n in range(5):
    log.write({{"question": "row %d" % n}})

def stall():
    print("inside the transaction", flush=True)
    time.sleep(120)

log._after_insert = stall
# big enough that SQLite spills the uncommitted pages into the WAL file before the kill
log.write({{"question": "row 5", "answer": "x" * 8_000_000}})
"""


def test_a_writer_killed_inside_its_transaction_leaves_no_half_row(tmp_path):
    path = tmp_path / "crash.db"
    child = subprocess.Popen([sys.executable, "-c", KILLED_WRITER.format(root=str(ROOT), path=str(path))],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "inside the transaction", child.stderr.read()
        assert Path(f"{path}-wal").stat().st_size > 1_000_000  # the half row did reach the disk
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == -signal.SIGKILL
    with ConversationLog(path) as log:
        assert log.count() == 5
        assert [r["question"] for r in log.search(limit=10)] == [f"row {n}" for n in range(4, -1, -1)]
        log.write({"question": "row 5 again"})
        assert log.count() == 6
        conn = log._connection()
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        conn.execute("INSERT INTO turns_fts (turns_fts) VALUES ('integrity-check')")


# -- faults -----------------------------------------------------------------------------------------------

READ_ONLY_WRITER = """
import os, sqlite3, sys
sys.path.insert(0, {root!r})
from wenxin_magic.session._log import ConversationLog, LogUnavailable
if os.geteuid() == 0:
    # root writes through any file mode, so the writer becomes nobody once Python and sqlite3 are loaded
    os.setgid(65534)
    os.setuid(65534)
log = ConversationLog({path!r})
try:
    log.write({{"question": {secret!r}}})
except LogUnavailable as error:
    print(error)
else:
    print("written")
"""


def test_a_read_only_file_says_so():
    """A real read-only file: the product's own open and write, by a process that may not write the file.

    As root, file modes stop nothing, so the child process drops to ``nobody`` before using the log; the
    folder is then a fresh one outside pytest's private temporary tree, which nobody could not enter.
    """
    folder = Path(tempfile.mkdtemp(prefix="wenxin-log-ro-"))
    try:
        path = folder / "logs.db"
        with ConversationLog(path) as log:
            log.write(turn("written while writable"))
        path.chmod(0o444)
        folder.chmod(0o555)
        out = run_python(READ_ONLY_WRITER.format(root=str(ROOT), path=str(path), secret=SECRET))
        assert out.returncode == 0, out.stderr
        message = out.stdout.strip()
        assert message.startswith(f"The conversation log at {path} is read-only"), message
        assert "Make it writable" in message and "WENXIN_MAGIC_LOG" in message and SECRET not in message
    finally:
        folder.chmod(0o755)
        shutil.rmtree(folder)
    assert not folder.exists()


def test_locked_longer_than_the_busy_timeout(tmp_path):
    path = tmp_path / "logs.db"
    with ConversationLog(path, busy_timeout=0.2) as log:
        log.write(turn("before"))
        holder = sqlite3.connect(path, isolation_level=None)
        holder.execute("BEGIN EXCLUSIVE")
        try:
            with pytest.raises(LogUnavailable) as caught:
                log.write(turn(SECRET))
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        assert_helpful(caught.value, path, "locked by another connection for more than 0.2 s",
                       "Close the other notebook or program")
        log.write(turn("after"))  # the lock gone, the log works again
        assert [r["question"] for r in log.search()] == ["after", "before"]


def test_a_lock_released_within_the_busy_timeout_is_waited_for(tmp_path):
    path = tmp_path / "logs.db"
    with ConversationLog(path, busy_timeout=10) as log:
        log.write(turn("before"))
        holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        holder.execute("BEGIN EXCLUSIVE")
        release = threading.Timer(0.3, lambda: holder.execute("ROLLBACK"))
        release.start()
        log.write(turn("after"))
        release.join()
        holder.close()
        assert log.count() == 2


def test_busy_errors_that_return_at_once_are_retried_until_the_busy_timeout(tmp_path):
    """Some lock conflicts skip SQLite's own busy wait (a read transaction that wants to write, the switch to
    WAL); the log retries those itself, and gives up once busy_timeout has passed."""
    attempts = []

    def busy_twice(conn):
        attempts.append(conn)
        if len(attempts) < 3:
            raise sqlite3.OperationalError("database is locked")
        return "done"

    with ConversationLog(tmp_path / "logs.db", busy_timeout=30) as log:
        assert log._call(busy_twice) == "done" and len(attempts) == 3
        assert attempts[0] is attempts[2]  # a busy file keeps its connection

    def always_busy(conn):
        attempts.append(conn)
        raise sqlite3.OperationalError("database is locked")

    attempts.clear()
    with ConversationLog(tmp_path / "logs.db", busy_timeout=0.05) as log, pytest.raises(LogUnavailable) as caught:
        log._call(always_busy)
    assert len(attempts) > 1
    assert "locked by another connection for more than 0.05 s" in str(caught.value)

def test_a_full_disk_says_so_and_the_next_write_retries(tmp_path):
    path = tmp_path / "logs.db"
    with ConversationLog(path) as log:
        log.write(turn("small"))
        # a size limit on this connection gives SQLITE_FULL exactly as a full disk does
        conn = log._connection()
        conn.execute(f"PRAGMA max_page_count = {conn.execute('PRAGMA page_count').fetchone()[0]}")
        with pytest.raises(LogUnavailable) as caught:
            log.write(turn(SECRET, "x" * 200_000))
        assert_helpful(caught.value, path, "the disk is full", "Free some disk space")
        assert log.count() == 1  # a fresh connection, without the limit, as after space was freed
        log.write(turn("fits again"))
        assert log.count() == 2


def test_a_corrupt_file_fails_on_first_use(tmp_path):
    path = tmp_path / "logs.db"
    path.write_bytes(b"this is not a database at all. " * 300)
    log = ConversationLog(path)  # opening nothing yet
    with pytest.raises(LogUnavailable) as caught:
        log.write(turn(SECRET))
    assert_helpful(caught.value, path, "is not a readable SQLite database", "Move the file aside")
    with pytest.raises(LogUnavailable):
        log.search("anything")
    log.close()


def test_a_folder_that_cannot_be_made(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("in the way")
    path = blocker / "logs.db"
    with ConversationLog(path) as log, pytest.raises(LogUnavailable) as caught:
        log.write(turn(SECRET))
    assert_helpful(caught.value, path, "its folder cannot be made", "Create the folder")


def test_a_folder_in_place_of_the_file(tmp_path):
    path = tmp_path / "logs.db"
    path.mkdir()
    with ConversationLog(path) as log, pytest.raises(LogUnavailable) as caught:
        log.count()
    assert_helpful(caught.value, path, "cannot be opened")


# -- the module ---------------------------------------------------------------------------------------------

def test_importing_the_module_imports_neither_sqlite3_nor_platformdirs():
    out = run_python("""
        import sys
        import wenxin_magic.session._log
        print(sorted(m for m in ("sqlite3", "_sqlite3", "platformdirs") if m in sys.modules))
    """)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_default_log_path(monkeypatch, tmp_path):
    assert default_log_path({"WENXIN_MAGIC_LOG": "~/elsewhere/my.db"}) == Path.home() / "elsewhere" / "my.db"
    assert default_log_path({"WENXIN_MAGIC_LOG": str(tmp_path / "x.db")}) == tmp_path / "x.db"
    fallback = default_log_path({})
    assert fallback.parts[-2:] == ("wenxin-magic", "logs.db") and fallback.is_absolute()
    monkeypatch.setenv("WENXIN_MAGIC_LOG", str(tmp_path / "from-env.db"))
    assert default_log_path() == tmp_path / "from-env.db"
    assert default_log_path({"WENXIN_MAGIC_LOG": ""}) == fallback  # an empty value is unset


def test_the_error_pickles_with_its_parts():
    import pickle

    error = pickle.loads(pickle.dumps(LogUnavailable("/x/logs.db", "is read-only", "Do something.")))
    assert str(error) == "The conversation log at /x/logs.db is read-only. Do something."
    assert (error.path, error.problem, error.advice) == (Path("/x/logs.db"), "is read-only", "Do something.")

