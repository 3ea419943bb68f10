"""``wenxin-gateway`` as a teacher runs it: a served class in a subprocess (the URL on the first line), tokens filled
into a roster as hashes, pause and resume through the admin endpoint, and the report as csv, a table and a
DataFrame; the teacher's key appears in nothing a student or the report can see."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
import time

import httpx
import pytest

from _gateway import ADMIN_TOKEN, ENVIRON, STUDENTS, TEACHER_KEY, write_class
from test_gateway import CHAT, QUESTION, bearer
from wenxin_magic.gateway import read_roster, report
from wenxin_magic.gateway._tokens import token_matches

ALICE, BOB = STUDENTS["alice"][0], STUDENTS["bob"][0]


def cli(*args, env=None, check=True) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, "-m", "wenxin_magic.gateway", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=60)
    if check:
        assert done.returncode == 0, done.stderr
    return done


@pytest.fixture
def served(emu, tmp_path):
    """A gateway process serving a class over the emulator: (config path, base URL, the process)."""
    config = write_class(tmp_path, emu.base_url, admin={"token_env": "WENXIN_GATEWAY_ADMIN"})
    process = subprocess.Popen([sys.executable, "-m", "wenxin_magic.gateway", "--config", str(config)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env={**os.environ, **ENVIRON})
    url = process.stdout.readline().strip()
    assert url.startswith("http://127.0.0.1:"), process.stderr.read() if process.poll() is not None else url
    yield config, url, process
    process.terminate()
    process.wait(10)


def test_the_served_class_pauses_resumes_and_reports(served, emu):
    config, url, process = served
    with httpx.Client(base_url=url, timeout=20) as http:
        assert http.post(CHAT, json=QUESTION, headers=bearer(ALICE)).status_code == 200
        assert http.post(CHAT, json={**QUESTION, "stream": True}, headers=bearer(BOB)).status_code == 200
        refused = cli("pause", "--config", str(config), "--url", url, env={"WENXIN_GATEWAY_ADMIN": "wrong"},
                      check=False)
        assert refused.returncode == 1 and "admin token" in refused.stderr
        assert cli("pause", "--config", str(config), "--url", url, env=ENVIRON).stdout.strip() == "the class: paused"
        assert http.post(CHAT, json=QUESTION, headers=bearer(ALICE)).json()["error"]["code"] == "gateway_paused"
        cli("resume", "--config", str(config), "--url", url, env=ENVIRON)
        assert http.post(CHAT, json=QUESTION, headers=bearer(ALICE)).status_code == 200
    time.sleep(0.3)  # the last answer's accounting runs after it was sent
    table = cli("report", "--config", str(config), "--format", "table").stdout
    rows = list(csv.DictReader(io.StringIO(cli("report", "--config", str(config), "--since", "7d",
                                               "--format", "csv").stdout)))
    assert {row["student"]: int(row["requests"]) for row in rows} == {"alice": 2, "bob": 1}
    assert table.splitlines()[0].split() == ["student", "model", "day", "requests", "input_tokens", "output_tokens",
                                              "yuan", "errors"]
    frame = report(config)
    assert frame["requests"].sum() == 3 == len([r for r in emu.requests if r["path"] == CHAT])
    served_tokens = sum(int(row["input_tokens"]) + int(row["output_tokens"]) for row in rows)
    assert served_tokens == frame["input_tokens"].sum() + frame["output_tokens"].sum() > 0
    for text in (table, frame.to_csv(), config.read_text(), (config.parent / "roster.csv").read_text(),
                 (config.parent / "ledger.json").read_text()):
        assert TEACHER_KEY not in text and ADMIN_TOKEN not in text


def test_the_key_reaches_no_student_even_when_the_upstream_echoes_it(served, emu):
    _, url, process = served
    emu.inject("error", path="/v2/", code="internal_error", status=500, message=f"key {TEACHER_KEY} broke")
    with httpx.Client(base_url=url, timeout=20) as http:
        seen = [http.post(CHAT, json=QUESTION, headers=bearer(ALICE)).text,
                http.post(CHAT, json=QUESTION, headers=bearer("tok-wrong")).text,
                http.get("/v2/models", headers=bearer(ALICE)).text]
        with http.stream("POST", CHAT, json={**QUESTION, "stream": True}, headers=bearer(ALICE)) as answer:
            seen += [answer.read().decode(), str(answer.headers)]
    process.terminate()
    out, err = process.communicate(timeout=10)
    for text in seen + [out, err]:
        assert TEACHER_KEY not in text and TEACHER_KEY.split("/")[1] not in text


def test_tokens_fills_the_roster_with_hashes(tmp_path):
    roster = tmp_path / "roster.csv"
    roster.write_text("name,token,group\nalice,,a\nbob,tok-bob-own,b\ncarol\n", encoding="utf-8")
    done = cli("tokens", str(roster))
    issued = dict(line.split(",") for line in done.stdout.splitlines()[1:])
    assert set(issued) == {"alice", "carol"} and "only time" in done.stderr
    stored = roster.read_text(encoding="utf-8")
    assert all(token not in stored for token in issued.values()) and "tok-bob-own" in stored
    students = {s.name: s for s in read_roster(roster)}
    assert token_matches(issued["alice"], students["alice"].token_hash) and students["alice"].group == "a"
    assert "every student" in cli("tokens", str(roster)).stderr


def test_bad_config_and_missing_key_are_clear_errors(tmp_path, emu):
    config = write_class(tmp_path, emu.base_url, quota={"rpm": "many"})
    done = cli("--config", str(config), check=False)
    assert done.returncode == 2 and "[quota] rpm must be int" in done.stderr and "Traceback" not in done.stderr
    config = write_class(tmp_path, emu.base_url)
    env = {k: v for k, v in os.environ.items() if k != "QIANFAN_API_KEY"}
    done = subprocess.run([sys.executable, "-m", "wenxin_magic.gateway", "--config", str(config)],
                          capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 2 and "QIANFAN_API_KEY" in done.stderr and "Traceback" not in done.stderr
    done = cli("report", "--config", str(config), "--since", "lately", check=False)
    assert done.returncode == 2 and "7d" in done.stderr


def test_the_report_leaves_no_cell_able_to_act_in_a_terminal_or_a_spreadsheet():
    from wenxin_magic.gateway._report import format_rows

    # the model is what a student's request said: a terminal escape, or a spreadsheet formula
    row = {"student": "alice", "model": "\x1b]52;c;aGk=\x07ernie\x1b[2J", "day": "2026-12-07", "requests": 1,
           "input_tokens": 5, "output_tokens": 7, "yuan": 0.001, "errors": 0}
    table = format_rows([row], "table")
    assert "\x1b" not in table and "\x07" not in table and "ernie" in table
    formula = {**row, "model": '=HYPERLINK("http://x.example","ok")', "student": "+bob"}
    parsed = list(csv.DictReader(io.StringIO(format_rows([formula], "csv"))))[0]
    assert parsed["model"] == "'" + formula["model"] and parsed["student"] == "'+bob"
    assert parsed["requests"] == "1" and parsed["day"] == "2026-12-07"
