"""Lessons: what replaying a recorded answer adds to the emulator's time to first token, and what finding a
question costs in a lesson of 10,000 recorded turns.

    python benchmarks/lesson.py

1. Time to first token over HTTP (a streamed v2 request, the emulator with no delays of its own, the lesson at
   ``lesson_speed`` 0 so the recorded pace is left out): a question the 10,000-turn lesson holds, beside the
   emulator composing its own answer of the same length with no lesson loaded.
2. Loading the lesson file (reading, parsing, indexing), beside ``json.loads`` of the same file; and finding one
   question in it, the tenth of a conversation, beside a scan of every turn.

A benchmark, not a test: it prints figures and never fails on time.
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time
from pathlib import Path

from common import median_ms, row

TURNS = 10_000
PER_CONVERSATION = 10
REQUESTS = 200
MODEL = "ernie-4.5-turbo-128k"
KEY = "bce-v3/ALTAK-bench/0000"


def lesson_file(folder: Path) -> Path:
    """A lesson of 1,000 conversations of 10 turns, each answer 600 characters."""
    conversations = []
    for c in range(TURNS // PER_CONVERSATION):
        turns = [{"question": f"第 {c} 课的第 {t} 个问题：长城在第 {t} 段有多长？", "model": MODEL, "api": "v2",
                  "steps": [{"text": f"回答 {c}.{t}：" + "长城是中国古代的防御工程。" * 46, "ttft": 0.8, "seconds": 3.0}]}
                 for t in range(PER_CONVERSATION)]
        conversations.append({"name": f"class-{c}", "turns": turns})
    path = folder / "lesson.json"
    path.write_text(json.dumps({"format": "wenxin-magic lesson", "version": 1, "name": "bench",
                                "conversations": conversations}, ensure_ascii=False), encoding="utf-8")
    return path


def _first_token_ms(client, messages: list[dict]) -> float:
    began = time.perf_counter()
    with client.stream("POST", "/v2/chat/completions", json={"model": MODEL, "messages": messages, "stream": True},
                       headers={"Authorization": f"Bearer {KEY}"}) as response:
        elapsed = None
        for line in response.iter_lines():  # read to the end, so the connection is free for the next request
            if elapsed is None and '"content":"' in line:
                elapsed = (time.perf_counter() - began) * 1000
    if elapsed is None:
        raise RuntimeError("no content in the stream")
    return elapsed


def _conversation(c: int, upto: int) -> list[dict]:
    messages = []
    for t in range(upto + 1):
        messages.append({"role": "user", "content": f"第 {c} 课的第 {t} 个问题：长城在第 {t} 段有多长？"})
        if t < upto:
            messages.append({"role": "assistant", "content": "…"})
    return messages


def bench_lesson() -> None:
    import httpx

    from wenxin_magic.emulator import Emulator, Lesson, normalise_question

    with tempfile.TemporaryDirectory() as folder:
        path = lesson_file(Path(folder))
        size = path.stat().st_size
        lesson = Lesson.load(path)
        held = [_conversation(c, PER_CONVERSATION - 1) for c in range(0, TURNS // PER_CONVERSATION, 5)]
        recorded = len(lesson.conversations[0][1][0].steps[-1].text)
        # the emulator's own answers as long as the recorded ones, so the two differ by where the answer comes from
        with Emulator(ttft=0, chunk_delay=0, rpm=10**6, tpm=10**9, answer_chars=recorded) as emulator, \
                httpx.Client(base_url=emulator.base_url) as client:
            _first_token_ms(client, held[0])  # the connection, the answer composer's first use
            own = [_first_token_ms(client, messages) for messages in held[:REQUESTS]]
            emulator.lesson, emulator.lesson_speed = lesson, 0
            replayed = [_first_token_ms(client, messages) for messages in held[:REQUESTS]]
        assert lesson.hits == len(replayed)
        print(f"time to first token over HTTP, a streamed v2 request, median of {len(own)} (the tenth question of a "
              f"conversation; the lesson holds {TURNS:,} turns, lesson_speed 0)")
        row("from the lesson", statistics.median(replayed), statistics.median(own), "ms", "goal: within 1 ms",
            "the emulator's own answer")

        print(f"the lesson file: {TURNS:,} turns, {size / 1e6:.1f} MB")
        text = path.read_text(encoding="utf-8")
        row("loading it (read, parse, index)", median_ms(lambda: Lesson.load(path), 5),
            median_ms(lambda: json.loads(text), 5), "ms", "", "json.loads alone")
        questions = [m["content"] for m in held[-1] if m["role"] == "user"]

        def find_many():
            for _ in range(1000):
                lesson.find(MODEL, questions)

        def scan_many():
            wanted = normalise_question(questions[-1])
            for _ in range(10):
                next(turn for _, turns in lesson.conversations for turn in turns
                     if normalise_question(turn.question) == wanted)
        print("finding a question (median of 7 runs)")
        row("Lesson.find, per question", median_ms(find_many, 7), median_ms(scan_many, 7) * 100, "µs", "",
            "a scan of every turn")


if __name__ == "__main__":
    bench_lesson()
