"""The classroom, as a class meets it: thirty student processes on two gateway replicas that share one Redis, over the
emulator set to the key's quota of RPM 120, for a timed run of about ninety seconds.

Real parts only: ``redis-server`` (tests/_redis.py), two ``python -m wenxin_magic.gateway`` processes, and thirty
processes each running the openai SDK (tests/_class_student.py), one of them a batch of four loops at once. The TPM
(1,000,000) does not bind: the RPM is the quota's bound. During the run the teacher pauses the class and resumes it
with the CLI, and one replica is killed (SIGKILL) and started again on its port. One student has already used
nearly all of the day's token budget (a ledger row for another model, written before the run) and runs out.

What each student saw is in their JSON lines; what the upstream served is the emulator's own count, taken as it
admits each request (the attempt's id is written into the question, so each served answer is named). Then:
no 429 but the spent budget reaches a student; upstream 429s at most 1 %; the throughput within 10 % of the bound;
Jain's index over the students who kept asking at least 0.9; the budget; the pause; the kill; the ledger.
"""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

import _redis
from _gateway import ENVIRON, write_class

pytestmark = pytest.mark.load

redis_server_module, redis_server = _redis.redis_server_module, _redis.redis_server

CHECKOUT = Path(__file__).resolve().parents[1]
STUDENT = Path(__file__).with_name("_class_student.py")
CHAT = "/v2/chat/completions"
MODEL, EARLIER_MODEL = "ernie-speed-8k", "ernie-4.5-turbo-32k"

RPM, TPM = 120, 1_000_000          # the TPM does not bind: a long answer is ~450 tokens, a reservation ~2,100
STUDENTS = 30                      # student00 runs a batch, student01 has spent nearly all of today's budget
BATCH_LANES = 4
DAILY_TOKENS = 200_000
BUDGET_LEFT = 120                  # what student01 has left when the run starts: two short answers' worth
READY_TIMEOUT = 60                 # thirty processes load the openai SDK on two cores before the run begins
LOAD_SECONDS = 90
PAUSE_AT, PAUSE_FOR = 20, 6        # seconds into the run
KILL_AT, DOWN_FOR = 48, 3
# a student's fair turn comes about every STUDENTS / (RPM / 60) = 15 s; the batch's four requests at once wait four
# turns (60 s), the default wait_timeout: a class that runs batches sets it higher, as this one does
WAIT_TIMEOUT = 120


def jain_index(values: list[float]) -> float:
    return sum(values) ** 2 / (len(values) * sum(v * v for v in values))


def test_jain_index_is_one_for_equal_shares_and_one_over_n_for_one_taker():
    assert jain_index([5, 5, 5]) == 1.0
    assert jain_index([9, 0, 0]) == pytest.approx(1 / 3)


class ServedCount:
    """The emulator's own count of what it served: each admitted chat request, named by the attempt id in its
    question, with when it arrived and the tokens the emulator counted (input at admission, output as answered)."""

    def __init__(self, state):
        self.served: dict[str, dict] = {}
        self.arrivals: list[float] = []
        self._attempt_of: dict[asyncio.Task, str] = {}
        self._long: set[str] = set()
        log, admit, add_tokens = state.log, state.admit, state.add_tokens

        def counted_log(request, body):
            entry = log(request, body)
            if request.url.path == CHAT:
                found = re.search(rb"\[([\w.]+)\]", body or b"")
                attempt = found.group(1).decode() if found else "?"
                self._attempt_of[asyncio.current_task()] = attempt
                if b"Write 3000 characters" in (body or b""):
                    self._long.add(attempt)
                self.arrivals.append(time.time())
            return entry

        def counted_admit(key, prompt_tokens):
            tripped, entry = admit(key, prompt_tokens)
            if entry is not None:
                attempt = self._attempt_of.get(asyncio.current_task(), "?")
                self.served[attempt] = {"arrived": time.time(), "prompt": prompt_tokens, "completion": 0,
                                        "long": attempt in self._long}
            return tripped, entry

        def counted_tokens(entry, tokens):
            add_tokens(entry, tokens)
            attempt = self._attempt_of.pop(asyncio.current_task(), "?")
            self.served[attempt]["completion"] += tokens

        state.log, state.admit, state.add_tokens = counted_log, counted_admit, counted_tokens


def start_replica(config: Path, port: int, log: Path) -> tuple[subprocess.Popen, str]:
    env = {**os.environ, **ENVIRON, "PYTHONPATH": str(CHECKOUT)}
    process = subprocess.Popen([sys.executable, "-m", "wenxin_magic.gateway", "--config", str(config),
                                "--port", str(port)], stdout=subprocess.PIPE, stderr=open(log, "ab"), text=True,
                               env=env, cwd=CHECKOUT)
    url = process.stdout.readline().strip()
    assert url == f"http://127.0.0.1:{port}", f"the replica printed {url!r}; see {log}"
    return process, url


def switch(config: Path, url: str, verb: str) -> None:
    env = {**os.environ, **ENVIRON, "PYTHONPATH": str(CHECKOUT)}
    done = subprocess.run([sys.executable, "-m", "wenxin_magic.gateway", verb, "--config", str(config), "--url", url],
                          capture_output=True, text=True, timeout=30, env=env, cwd=CHECKOUT)
    assert done.returncode == 0 and f"the class: {verb}d" in done.stdout, done.stderr


def sleep_until(moment: float) -> None:
    time.sleep(max(0.0, moment - time.time()))


def seed_earlier_use(redis_url: str, name: str, tokens: int) -> None:
    from wenxin_magic.gateway._redis_state import RedisState

    async def seed():
        state = RedisState(redis_url, rpm=RPM, tpm=TPM)
        try:
            await state.add_usage(name, EARLIER_MODEL, dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d"),
                                  input_tokens=tokens)
        finally:
            await state.close()

    asyncio.run(seed())


def test_a_class_of_thirty_on_two_replicas_over_rpm_120(redis_server, emulator_factory, tmp_path):
    emu = emulator_factory(ttft=0.1, chunk_delay=0.03, request_log_size=50_000)
    emu.set_limits(rpm=RPM, tpm=TPM)
    served = ServedCount(emu.state())
    names = [f"student{i:02d}" for i in range(STUDENTS)]
    batch, spender = names[0], names[1]
    tokens = {name: f"tok-{name}-{i:04d}-classroom" for i, name in enumerate(names)}
    config = write_class(tmp_path / "class", emu.base_url, quota={"rpm": RPM, "tpm": TPM, "wait_timeout": WAIT_TIMEOUT},
                         redis={"url": redis_server.url},
                         policy={"models": [MODEL, EARLIER_MODEL], "max_output_tokens": 2048,
                                 "daily_tokens": DAILY_TOKENS},
                         admin={"token_env": "WENXIN_GATEWAY_ADMIN"})
    with open(config.parent / "roster.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["name", "token", "group"])
        writer.writerows([name, tokens[name], "a" if i % 2 else "b"] for i, name in enumerate(names))
    seed_earlier_use(redis_server.url, spender, DAILY_TOKENS - BUDGET_LEFT)
    ports = [_redis.free_port(), _redis.free_port()]
    logs = [tmp_path / "replica-a.log", tmp_path / "replica-b.log"]
    replicas = [start_replica(config, port, log) for port, log in zip(ports, logs, strict=True)]
    urls = [url for _, url in replicas]
    b_students = {name for i, name in enumerate(names) if i % 2 and name not in (batch, spender)}  # B first

    records = tmp_path / "students"
    records.mkdir()
    students = []
    try:
        for i, name in enumerate(names):
            own = urls[i % 2], urls[1 - i % 2]
            command = [sys.executable, str(STUDENT), name, tokens[name], ",".join(own), str(records)]
            if name == batch:
                command += ["--batch", str(BATCH_LANES)]
            students.append(subprocess.Popen(command, env={**os.environ, "PYTHONPATH": str(CHECKOUT)}, cwd=CHECKOUT,
                                             stderr=open(tmp_path / f"{name}.err", "w")))
        loading = time.time()
        while len(list(records.glob("*.ready"))) < STUDENTS:
            assert time.time() - loading < READY_TIMEOUT, "the students did not load"
            assert all(student.poll() is None for student in students)
            time.sleep(0.1)
        start_at = time.time() + 0.5
        stop_at = start_at + LOAD_SECONDS
        (records / "go.tmp").write_text(json.dumps([start_at, stop_at]))
        (records / "go.tmp").rename(records / "go")

        # the exam switch, through replica A: every replica must hold it
        sleep_until(start_at + PAUSE_AT)
        pause_begin = time.time()
        switch(config, urls[0], "pause")
        pause_done = time.time()
        sleep_until(start_at + PAUSE_AT + PAUSE_FOR)
        resume_begin = time.time()
        switch(config, urls[0], "resume")
        resume_done = time.time()

        # replica B killed mid-run, while it relays a long answer (~2 s of stream) to one of its own students, and
        # started again on its port
        sleep_until(start_at + KILL_AT)
        caught_streaming = None
        while caught_streaming is None and time.time() < start_at + KILL_AT + 20:
            time.sleep(0.05)
            caught_streaming = next((attempt for attempt, a in list(served.served.items())
                                     if a["long"] and 0.5 <= time.time() - a["arrived"] < 1.2 and attempt.endswith(".1")
                                     and attempt.split(".")[0] in b_students), None)
        replicas[1][0].send_signal(signal.SIGKILL)
        killed_at = time.time()
        replicas[1][0].wait(10)
        time.sleep(DOWN_FOR)
        replicas[1] = start_replica(config, ports[1], logs[1])
        restarted_at = time.time()

        for student in students:
            student.wait(timeout=stop_at + WAIT_TIMEOUT + 10 - time.time())
        time.sleep(1.5)  # the replicas settle the last answers' usage in the ledger
    finally:
        for process in students + [process for process, _ in replicas]:
            if process.poll() is None:
                process.kill()
                process.wait(10)
    for name in names:
        assert (tmp_path / f"{name}.err").read_text() == "", name

    seen = [json.loads(line) for name in names for line in (records / f"{name}.jsonl").read_text().splitlines()]
    by_attempt = {r["attempt"]: r for r in seen}
    assert len(by_attempt) == len(seen)

    # -- no 429 reaches a student, but a spent budget (a 429 by design: daily_budget_exceeded), and only the spender's
    errors = [r for r in seen if r["outcome"] == "error"]

    # -- upstream 429s: at most 1 % of the chat requests the emulator received
    upstream = [r for r in emu.requests if r["path"] == CHAT]
    upstream_429 = sum(r["status"] == 429 for r in upstream)

    # -- throughput: what the emulator served during the run, against RPM 120 over the time the class was not paused
    paused_seconds = resume_done - pause_begin
    in_run = [a for a in served.served.values() if start_at <= a["arrived"] <= stop_at]
    bound = RPM / 60 * (LOAD_SECONDS - paused_seconds)
    throughput = len(in_run) / bound
    # the quota's own ceiling: no 60-second window of the run holds more than RPM requests
    arrivals = sorted(a["arrived"] for a in served.served.values())
    busiest = max(sum(1 for t in arrivals if first <= t < first + 60) for first in arrivals)

    # -- fairness: Jain's index over the served counts of the students who kept asking (the spender stopped being
    # served when the budget ran out); the batch's four loops are one student
    answered = {name: 0 for name in names}
    for r in seen:
        if r["outcome"] == "ok":
            answered[r["student"]] += 1
    fairness = jain_index([answered[name] for name in names if name != spender])
    figures = {"served": len(served.served), "served_in_run": len(in_run), "bound": round(bound, 1),
               "throughput_vs_bound": round(throughput, 3), "busiest_60s": busiest, "jain": round(fairness, 3),
               "upstream_requests": len(upstream), "upstream_429": upstream_429,
               "paused_seconds": round(paused_seconds, 2), "run_seconds": LOAD_SECONDS,
               "answered": sorted(answered.values()),
               "student_outcomes": sorted(Counter((r["outcome"], r.get("code")) for r in seen).items(), key=str)}
    print("classroom figures:", json.dumps(figures))

    assert {(r["status"], r["code"]) for r in errors} <= {(403, "gateway_paused"), (429, "daily_budget_exceeded")}
    assert {r["student"] for r in errors if r["code"] == "daily_budget_exceeded"} == {spender}
    assert upstream_429 <= 0.01 * len(upstream), figures
    assert {r["status"] for r in upstream} <= {200, 429}

    # -- the budget: the spender is refused from the first refusal on, while the others go on being answered
    spender_records = sorted((r for r in seen if r["student"] == spender), key=lambda r: r["began"])
    first_refusal = min(r["ended"] for r in spender_records if r.get("code") == "daily_budget_exceeded")
    assert not [r for r in spender_records if r["outcome"] == "ok" and r["began"] > first_refusal]
    assert sum(1 for r in spender_records if r["outcome"] == "ok") >= 1
    answered_after = {r["student"] for r in seen if r["outcome"] == "ok" and r["began"] > first_refusal}
    assert answered_after >= set(names) - {spender}

    # -- the pause: students who asked (or whose turn came) while it held met it, only then, and nothing reached the
    # upstream meanwhile; requests still waiting for their turn when it was lifted went on
    paused = [r for r in seen if r.get("code") == "gateway_paused"]
    assert len({r["student"] for r in paused}) >= 5
    assert all(r["ended"] >= pause_begin and r["began"] <= resume_done for r in paused)
    sent_while_paused = [t for t in served.arrivals if pause_done + 0.5 < t < resume_begin]
    assert sent_while_paused == []
    assert any(r["outcome"] == "ok" and r["began"] > resume_done for r in seen)

    # -- the kill: an answer the emulator served reached its student whole, unless replica B was relaying it when
    # it was killed; every other attempt that failed there was not sent and was asked again
    lost = {attempt: by_attempt.get(attempt) for attempt, a in served.served.items()
            if by_attempt.get(attempt, {}).get("outcome") != "ok"}
    for attempt, record in lost.items():
        assert record is not None, f"{attempt} was served upstream and no student asked it"
        assert record["replica"] == urls[1] and record["outcome"] in ("interrupted", "unreachable"), record
        assert record["began"] <= killed_at <= record["ended"] + 0.5, (record, killed_at)
    broken = [r for r in seen if r["outcome"] in ("interrupted", "unreachable")]
    assert all(r["replica"] == urls[1] and killed_at - 0.5 <= r["ended"] <= restarted_at + 2 for r in broken), broken
    retried = [r for r in broken if r["outcome"] == "unreachable"]
    for r in retried:  # the same question, asked again as the next attempt
        student, lane, number, attempt = r["attempt"].split(".")
        assert f"{student}.{lane}.{number}.{int(attempt) + 1}" in by_attempt or r["ended"] >= stop_at - 1
    assert any(r["replica"] == urls[1] and r["outcome"] == "ok" and r["began"] > restarted_at for r in seen)

    # -- the ledger: its totals are the emulator's count of what it served; the answers B was relaying when it died
    # are counted with their input (counted when sent) and no output (never settled)
    from wenxin_magic.gateway import report

    ledger = report(config)
    ours = ledger[ledger["model"] == MODEL]
    earlier = ledger[ledger["model"] == EARLIER_MODEL]
    assert list(earlier["student"]) == [spender] and int(earlier["input_tokens"].sum()) == DAILY_TOKENS - BUDGET_LEFT
    unsettled_output = sum(served.served[attempt]["completion"] for attempt in lost)
    print("classroom figures: lost at the kill", len(lost), "unsettled output tokens", unsettled_output)
    assert caught_streaming is not None and caught_streaming in lost
    assert by_attempt[caught_streaming]["outcome"] == "interrupted"
    assert int(ours["requests"].sum()) == len(served.served)
    assert int(ours["input_tokens"].sum()) == sum(a["prompt"] for a in served.served.values())
    assert int(ours["output_tokens"].sum()) == sum(a["completion"] for a in served.served.values()) - unsettled_output
    assert int(ours["errors"].sum()) == 0
    assert set(ours["student"]) == set(names)

    assert busiest <= RPM
    assert abs(throughput - 1) <= 0.10, figures
    assert fairness >= 0.9, figures
