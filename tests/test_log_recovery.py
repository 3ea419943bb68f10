"""The conversation log after a failure, and the log subcommand's bounds.

A write that fails (the file locked by another connection past the busy timeout, a damaged file) is said once
per failure; every later turn tries again, so the log resumes by itself once the file can be written, and
``turn(True)`` starts afresh. The locks are real: a second sqlite3 connection holds ``BEGIN EXCLUSIVE``.
Out-of-range ``-n`` and ``--since`` values are refused with a message that says what is allowed.
"""

from __future__ import annotations

import contextlib
import sqlite3
from datetime import datetime
from pathlib import Path

import pytest

from wenxin_magic.parsers import SUBCOMMANDS, UsageError
from wenxin_magic.session import Session
from wenxin_magic.session._session_log import MAX_AGE_DAYS, parse_since

BUSY_TIMEOUT = 0.1  # seconds; a locked write gives up quickly, and the tests stay fast


@pytest.fixture
def log_path(tmp_path, monkeypatch) -> Path:
    path = tmp_path / "logs.db"
    monkeypatch.setenv("WENXIN_MAGIC_LOG", str(path))
    return path


@pytest.fixture
def logged(session_factory, log_path) -> Session:
    """An offline Session logging to ``log_path``, whose writes wait at most BUSY_TIMEOUT for a lock."""
    s = session_factory()
    s.log.busy_timeout = BUSY_TIMEOUT  # before the first write opens the store
    return s


@contextlib.contextmanager
def locked(path: Path):
    """``path`` held by another connection's exclusive lock until the block ends."""
    holder = sqlite3.connect(path, isolation_level=None)
    try:
        holder.execute("BEGIN EXCLUSIVE")
        yield
    finally:
        if holder.in_transaction:
            holder.execute("ROLLBACK")
        holder.close()


def questions_in(path: Path) -> list[str]:
    conn = sqlite3.connect(path)
    try:
        return [question for (question,) in conn.execute("SELECT question FROM turns ORDER BY id")]
    finally:
        conn.close()


def ask(s: Session, prompt: str) -> None:
    reply = s.ask(prompt, chat="c")
    assert reply.error is None and reply.text.strip()  # the log never costs the turn


# -- recovery ------------------------------------------------------------------------------------------

def test_a_lock_is_said_once_and_the_turn_after_its_release_is_logged(logged, log_path):
    ask(logged, "before")
    [where] = logged.take_notices()
    assert where.kind == "where"
    with locked(log_path):
        ask(logged, "locked one")
        ask(logged, "locked two")
        [failed] = logged.take_notices()  # one notice for the whole failure, not one per turn
        assert failed.kind == "failed" and "locked by another connection" in failed.text
        assert str(log_path) in failed.text and "memory" in failed.text
    ask(logged, "after")
    assert questions_in(log_path) == ["before", "after"]
    [again] = logged.take_notices()
    assert again.kind == "where" and again.text == f"Conversations are logged to {log_path} again."
    ask(logged, "later")
    assert logged.take_notices() == []
    assert questions_in(log_path) == ["before", "after", "later"]
    assert len(logged.history("c")) == 10  # the conversation kept every turn, logged or not


def test_a_log_locked_from_its_first_write_starts_once_the_lock_is_gone(logged, log_path):
    sqlite3.connect(log_path).close()  # an empty database file, for the other connection to lock
    with locked(log_path):
        ask(logged, "while locked")
        assert [n.kind for n in logged.take_notices()] == ["failed"]
    ask(logged, "first logged")
    assert questions_in(log_path) == ["first logged"]
    assert [n.kind for n in logged.take_notices()] == ["where"]


def test_log_off_and_on_after_a_failure_logs_again(logged, log_path):
    ask(logged, "before")
    with locked(log_path):
        ask(logged, "locked")
    logged.take_notices()
    logged.log.turn(False)
    ask(logged, "while off")
    logged.log.turn(True)
    ask(logged, "on again")
    ask(logged, "and again")
    assert questions_in(log_path) == ["before", "on again", "and again"]


def test_turning_the_log_on_again_makes_a_failure_news_again(logged, log_path):
    ask(logged, "before")
    logged.take_notices()
    with locked(log_path):
        ask(logged, "locked")
        logged.log.turn(False)
        logged.log.turn(True)
        ask(logged, "still locked")
        assert [n.kind for n in logged.take_notices()] == ["failed", "failed"]
    ask(logged, "after")
    assert questions_in(log_path) == ["before", "after"]


def test_moving_a_damaged_file_aside_is_enough(logged, log_path):
    log_path.write_bytes(b"this is not a database " * 200)
    ask(logged, "into a damaged file")
    [failed] = logged.take_notices()
    assert failed.kind == "failed" and "not a readable SQLite database" in failed.text
    log_path.rename(log_path.with_suffix(".damaged"))
    ask(logged, "into a new file")
    assert questions_in(log_path) == ["into a new file"]


# -- -n and --since bounds -----------------------------------------------------------------------------

def log_usage_error(rest: str) -> str:
    with pytest.raises(UsageError) as caught:
        SUBCOMMANDS["log"].parse(rest)
    return str(caught.value)


@pytest.mark.parametrize("value", ["9223372036854775808", "1000001", "0", "-3", "ten", "9" * 5000],
                         ids=["2**63", "1000001", "0", "-3", "ten", "5000 digits"])
def test_log_n_out_of_range_says_what_is_allowed(value):
    message = log_usage_error(f"-n {value}")
    assert "-n takes a whole number from 1 to 1,000,000" in message
    assert len(message) < 400  # a long value is cut, not echoed whole


def test_log_n_within_range():
    assert SUBCOMMANDS["log"].parse("-n 1000000").limit == 1_000_000
    assert SUBCOMMANDS["log"].parse("-n 1").limit == 1
    assert SUBCOMMANDS["log"].parse("").limit == 20


@pytest.mark.parametrize("age", ["1" * 400 + "d", f"{MAX_AGE_DAYS + 1}d", f"{MAX_AGE_DAYS * 24 + 1}h",
                                 f"{MAX_AGE_DAYS * 1440 + 1}m", "9" * 5000 + "m"],
                         ids=["400 digits d", "a day too many", "an hour too many", "a minute too many",
                              "5000 digits m"])
def test_since_an_age_too_long_says_what_is_allowed(age):
    with pytest.raises(ValueError) as caught:
        parse_since(age)
    message = str(caught.value)
    assert message.startswith("--since ") and "7d, 12h" in message and f"at most {MAX_AGE_DAYS:,} days" in message
    assert len(message) < 300


def test_since_the_longest_age_and_leading_zeros_are_accepted():
    assert parse_since(f"{MAX_AGE_DAYS}d") == pytest.approx(parse_since(f"{MAX_AGE_DAYS * 24}h"), abs=5)
    assert parse_since("0007d") == pytest.approx(parse_since("7d"), abs=5)


@pytest.mark.parametrize("value", ["²d", "0001-01-01", "nonsense"], ids=["superscript digit", "year 1", "words"])
def test_since_other_bad_text_is_a_clear_value_error(value):
    with pytest.raises(ValueError, match=r"^--since .*7d, 12h or 30m\.$"):
        parse_since(value)


@pytest.mark.parametrize("value", [10**400, datetime.min], ids=["10**400", "datetime.min"])
def test_since_a_python_value_out_of_range_is_a_clear_value_error(value):
    with pytest.raises(ValueError, match="out of range; give a unix time"):
        parse_since(value)


def test_search_with_an_age_too_long_is_a_value_error_and_creates_no_file(logged, log_path):
    with pytest.raises(ValueError, match="at most"):
        logged.log.search(since="1" * 400 + "d")
    assert not log_path.exists()
