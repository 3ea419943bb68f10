"""Speed of the conversation log, each figure beside a plain-sqlite3 peer measured in the same run.

    python benchmarks/log.py

A benchmark, not a test: it prints figures and goals and never fails on time. Everything runs in this
process against files in temporary folders, removed at the end.

- write: one typical turn (question 200 characters, answer 1,500, one tool call) per ``write``, 1,000 times;
  the peer is the same row's ``json.dumps`` plus a plain INSERT, in its own transaction, into the same table
  without the full-text index, on a connection with the same pragmas (WAL, synchronous=NORMAL).
- run_rows: the 1,000 turns of one run; the peer is the same SELECT with no JSON decoding.
- search: 100,000 shorter rows (question 100 characters, answer 400: the trigram index costs about 0.5 ms
  of CPU per 1,000 characters, so typical rows would take minutes to build); words in 1% and 0.01% of the rows, English (full-text index) and
  two-character Chinese (LIKE scan, newest first, which stops at ``limit`` matches); the peer is the plain
  ``LIKE '%word%'`` query over question, answer and reasoning with the same order and limit.
"""

from __future__ import annotations

import json
import os
import random
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path

from common import median_ms, row

from wenxin_magic.session._log import COLUMNS, JSON_COLUMNS, ConversationLog

WRITES = 1_000
SEARCH_ROWS = 100_000
POOL = 400  # distinct texts; rows draw from them, so building 100,000 rows costs little Python time
WORD_COMMON, WORD_RARE = "zebrafish", "quokkas"  # in 1% and 0.01% of the search rows
HANZI_COMMON, HANZI_RARE = "故宫", "熊猫"

_random = random.Random(20260101)
_SYLLABLES = ["ka", "lo", "mi", "ten", "ro", "sa", "vi", "qu", "an", "der", "pel", "os", "tri", "nu", "be", "gor"]
_WORDS = ["".join(_random.choices(_SYLLABLES, k=_random.randint(1, 4))) for _ in range(3000)]
_HANZI = [chr(c) for c in range(0x4E00, 0x4E00 + 3000)]  # a block without 故, 宫, 熊 or 猫


def _text(length: int) -> str:
    """Mixed English words and Chinese characters, about ``length`` characters."""
    parts, size = [], 0
    while size < length:
        part = " ".join(_random.choices(_WORDS, k=6)) if _random.random() < 0.6 else \
            "".join(_random.choices(_HANZI, k=12))
        parts.append(part)
        size += len(part) + 1
    return " ".join(parts)[:length]


QUESTIONS = [_text(200) for _ in range(POOL)]
ANSWERS = [_text(1500) for _ in range(POOL)]
SHORT_QUESTIONS = [_text(100) for _ in range(POOL)]
SHORT_ANSWERS = [_text(400) for _ in range(POOL)]
TOOL_CALL = [{"id": "call_1", "type": "function",
              "function": {"name": "get_weather", "arguments": json.dumps({"city": "北京", "unit": "celsius"})}}]


def typical_row(n: int, run_id: str = "run-1", chat: str = "bench") -> dict:
    return {"run_id": run_id, "chat": chat, "kind": "chat", "question": QUESTIONS[n % POOL],
            "answer": ANSWERS[n * 7 % POOL], "model": "ernie-4.0-8k", "endpoint": "completions_pro", "api": "v2",
            "params": {"temperature": 0.8, "top_p": 0.8}, "tool_calls": TOOL_CALL, "prompt_tokens": 120,
            "completion_tokens": 900, "total_tokens": 1020, "latency": 2.5, "finish_reason": "stop", "retries": 0,
            "interrupted": 0, "created": 1_790_000_000.0 + n, "notebook": "bench.ipynb",
            "turn": {"messages": [{"role": "user", "content": "..."}], "n": n}}


def search_row(n: int) -> dict:
    """A shorter row; every 100th answer holds the common words, every 10,000th the rare ones."""
    base = typical_row(n, run_id=f"run-{n // 50}", chat=f"chat-{n % 40}")
    base.update(question=SHORT_QUESTIONS[n % POOL], answer=SHORT_ANSWERS[n * 7 % POOL])
    extra = []
    if n % 100 == 37:
        extra += [WORD_COMMON, HANZI_COMMON + "的历史"]
    if n % 10_000 == 4_321:
        extra += [WORD_RARE, "大" + HANZI_RARE]
    if extra:
        base["answer"] = base["answer"][:200] + " " + " ".join(extra) + " " + base["answer"][200:]
    return base


def plain_connection(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute(f"CREATE TABLE turns (id INTEGER PRIMARY KEY, {', '.join(COLUMNS)})")
    return conn


def plain_write(conn: sqlite3.Connection, turn: dict) -> None:
    values = [json.dumps(turn[c], ensure_ascii=False) if c in JSON_COLUMNS and turn.get(c) is not None
              else turn.get(c) for c in COLUMNS]
    conn.execute("BEGIN IMMEDIATE")
    conn.execute(f"INSERT INTO turns ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})", values)
    conn.execute("COMMIT")


def bench_write_and_run_rows(folder: Path) -> None:
    print(f"write: {WRITES:,} typical turns (question 200 chars, answer 1,500, one tool call), median per write")
    log = ConversationLog(folder / "write.db")
    log.count()  # open and migrate outside the timing
    ours = statistics.median(median_ms(lambda n=n: log.write(typical_row(n)), 1) for n in range(WRITES))
    plain = plain_connection(folder / "plain.db")
    peer = statistics.median(median_ms(lambda n=n: plain_write(plain, typical_row(n)), 1) for n in range(WRITES))
    row("write one turn", ours, peer, "ms", "goal: < 2 ms", "json+INSERT")

    print(f"run_rows: the {WRITES:,} turns of one run, median of 20")
    assert len(log.run_rows("bench")) == WRITES
    ours = median_ms(lambda: log.run_rows("bench"), 20)
    select = "SELECT * FROM turns WHERE chat = 'bench' AND run_id = 'run-1' ORDER BY id"
    peer = median_ms(lambda: plain.execute(select).fetchall(), 20)
    row("run_rows (1,000 turns)", ours, peer, "ms", "goal: < 100 ms", "plain SELECT")
    log.close()
    plain.close()


def bench_search(folder: Path) -> None:
    path = folder / "search.db"
    log = ConversationLog(path)
    start = time.perf_counter()
    log._write_many(search_row(n) for n in range(SEARCH_ROWS))
    print(f"search: {SEARCH_ROWS:,} rows of 500 characters (built in one transaction in "
          f"{time.perf_counter() - start:.1f} s, "
          f"{path.stat().st_size / 1e6:,.0f} MB), limit 20, median of 10")
    plain = sqlite3.connect(path)
    like = ("SELECT * FROM turns WHERE question LIKE ?1 OR answer LIKE ?1 OR reasoning LIKE ?1 "
            "ORDER BY id DESC LIMIT 20")
    cases = [(WORD_COMMON, "1% of rows, FTS5"), (WORD_RARE, "0.01% of rows, FTS5"),
             (HANZI_COMMON, "1% of rows, 2 chars: LIKE"), (HANZI_RARE, "0.01% of rows, 2 chars: LIKE"),
             (HANZI_COMMON + "的历史", "1% of rows, 5 chars: FTS5")]
    for word, what in cases:
        found = log.search(word)
        peer_found = plain.execute(like, (f"%{word}%",)).fetchall()
        assert [r["id"] for r in found] == [r[0] for r in peer_found], word
        ours = median_ms(lambda word=word: log.search(word), 10)
        peer = median_ms(lambda word=word: plain.execute(like, (f"%{word}%",)).fetchall(), 10)
        row(f"search {word!r} ({what}), {len(found)} found", ours, peer, "ms", "goal: < 200 ms", "LIKE scan")
    log.close()
    plain.close()


def bench_resume(folder: Path) -> None:
    """``session.resume`` of a 1,000-turn conversation: rows read, turns rebuilt, the history checked."""
    from wenxin_magic.api import Usage
    from wenxin_magic.session import Conversation, Reply, Session
    from wenxin_magic.session._session_log import turn_row

    conv = Conversation("trip", model="ERNIE-Speed-8K")
    rows = []
    for n in range(WRITES):
        reply = Reply(prompt=QUESTIONS[n % POOL], model="ERNIE-Speed-8K", endpoint=None, chat="trip")
        reply.text, reply.api, reply.usage = ANSWERS[n * 7 % POOL], "v1", Usage({"prompt_tokens": 120,
                                                                                   "completion_tokens": 900})
        reply.latency, reply.finish_reason, reply.done = 2.5, "normal", True
        rows.append(turn_row({"role": "user", "content": reply.prompt}, reply, conv, "chat"))
    path = folder / "resume.db"
    ConversationLog(path)._write_many(rows)
    print(f"resume: a {WRITES:,}-turn conversation into a new session, median of 10")
    os.environ["WENXIN_MAGIC_LOG"] = str(path)
    session = Session(environ={})

    def resume():
        session.reset("trip")  # empty again, so it may be resumed again
        assert len(session.resume("trip").turns) == WRITES
    ours = median_ms(resume, 10)
    peer = median_ms(lambda: session.log._opened().run_rows("trip"), 10)
    row("session.resume (1,000 turns)", ours, peer, "ms", "goal: < 100 ms", "rows read alone")
    session.close()


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="wenxin-log-bench-") as folder:
        bench_write_and_run_rows(Path(folder))
        bench_resume(Path(folder))
    # the 100,000 rows are built in memory-backed files where there are some: the figure is then SQLite's
    # indexing and searching, not how fast this machine's disk absorbs a 300 MB transaction
    ram = "/dev/shm" if Path("/dev/shm").is_dir() and os.access("/dev/shm", os.W_OK) else None
    with tempfile.TemporaryDirectory(prefix="wenxin-log-bench-", dir=ram) as folder:
        bench_search(Path(folder))


if __name__ == "__main__":
    main()
