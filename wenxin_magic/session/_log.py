"""The conversation log's storage: one SQLite file of turns that outlives the kernel.

Every finished turn becomes one row of ``turns``. ``search`` finds rows again by their words (FTS5 with the
trigram tokenizer, so Chinese, which has no spaces, is found by any substring of three characters or more;
shorter queries scan with LIKE), and ``runs`` / ``run_rows`` give back one conversation's turns for a resume.
The pictures sent with questions are rows of ``images``, each stored once by its SHA-256 (``write(row, images)``);
a turn's request names them ``wenxin-image:<sha256>`` and ``images(hashes)`` gives them back.

Nothing is opened on import, and ``sqlite3`` and ``platformdirs`` are imported inside the functions that need
them: loading the extension must stay nearly free. The file is opened, created and migrated on first use.
Whatever goes wrong with the file (read-only, locked, full, corrupt, folder not creatable) surfaces as
``LogUnavailable``, whose message says what happened, where, and what to do, and never quotes a row.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    import sqlite3

__all__ = ["ConversationLog", "LogUnavailable", "SCHEMA_VERSION", "default_log_path", "ENV_VAR"]

ENV_VAR = "WENXIN_MAGIC_LOG"

T = TypeVar("T")


def default_log_path(environ: Mapping[str, str] = os.environ) -> Path:
    """``$WENXIN_MAGIC_LOG`` if set (``~`` expanded), else ``logs.db`` in the user's data folder for wenxin-magic."""
    configured = environ.get(ENV_VAR)
    if configured:
        return Path(configured).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir("wenxin-magic")) / "logs.db"


class LogUnavailable(Exception):
    """The log cannot be used. ``str()`` says what happened, where, and what to do; it never quotes a row.

    ``path``, ``problem`` and ``advice`` are the parts, so a layer that knows the magics can word its own advice.
    """

    def __init__(self, path: str | os.PathLike, problem: str, advice: str):
        self.path, self.problem, self.advice = Path(path), problem, advice
        super().__init__(f"The conversation log at {self.path} {problem}. {advice}")

    def __reduce__(self):
        return type(self), (self.path, self.problem, self.advice)


# -- the schema ----------------------------------------------------------------------------------------

COLUMNS = ("run_id", "chat", "kind", "question", "answer", "reasoning", "model", "endpoint", "api", "system",
           "params", "tool_calls", "prompt_tokens", "completion_tokens", "total_tokens", "latency", "finish_reason",
           "error", "retries", "interrupted", "created", "notebook", "turn")
JSON_COLUMNS = frozenset({"params", "tool_calls", "turn"})
DEFAULTS = {"kind": "chat"}  # as the column's DEFAULT, which an INSERT naming every column would bypass

_V1 = (
    """CREATE TABLE turns (
        id INTEGER PRIMARY KEY, run_id TEXT, chat TEXT, question TEXT, answer TEXT, reasoning TEXT, model TEXT,
        endpoint TEXT, api TEXT, system TEXT, params TEXT, prompt_tokens INTEGER, completion_tokens INTEGER,
        total_tokens INTEGER, latency REAL, finish_reason TEXT, error TEXT, retries INTEGER, interrupted INTEGER,
        created REAL, turn TEXT)""",
    "CREATE INDEX turns_chat_run ON turns (chat, run_id, id)",
    "CREATE INDEX turns_created ON turns (created)",
    "CREATE INDEX turns_model ON turns (model)",
)

_V2 = (
    "ALTER TABLE turns ADD COLUMN kind TEXT DEFAULT 'chat'",
    "ALTER TABLE turns ADD COLUMN notebook TEXT",
    "ALTER TABLE turns ADD COLUMN tool_calls TEXT",
    # external content: the words are stored once, in turns; the index holds only trigrams and rowids
    """CREATE VIRTUAL TABLE turns_fts USING fts5(
        question, answer, reasoning, content='turns', content_rowid='id', tokenize='trigram')""",
    """CREATE TRIGGER turns_fts_insert AFTER INSERT ON turns BEGIN
        INSERT INTO turns_fts (rowid, question, answer, reasoning)
        VALUES (new.id, new.question, new.answer, new.reasoning);
    END""",
    """CREATE TRIGGER turns_fts_delete AFTER DELETE ON turns BEGIN
        INSERT INTO turns_fts (turns_fts, rowid, question, answer, reasoning)
        VALUES ('delete', old.id, old.question, old.answer, old.reasoning);
    END""",
    """CREATE TRIGGER turns_fts_update AFTER UPDATE OF question, answer, reasoning ON turns BEGIN
        INSERT INTO turns_fts (turns_fts, rowid, question, answer, reasoning)
        VALUES ('delete', old.id, old.question, old.answer, old.reasoning);
        INSERT INTO turns_fts (rowid, question, answer, reasoning)
        VALUES (new.id, new.question, new.answer, new.reasoning);
    END""",
    "INSERT INTO turns_fts (turns_fts) VALUES ('rebuild')",
)

# the pictures sent with questions, each once by its hash; a turn's request names them ``wenxin-image:<sha256>``
_V3 = (
    """CREATE TABLE images (
        sha256 TEXT PRIMARY KEY, format TEXT NOT NULL, width INTEGER, height INTEGER, data BLOB NOT NULL,
        created REAL)""",
)

# MIGRATIONS[n - 1] takes a database from version n - 1 to n; append, never edit a released step
MIGRATIONS: tuple[tuple[str, ...], ...] = (_V1, _V2, _V3)
SCHEMA_VERSION = len(MIGRATIONS)


class _TooNew(Exception):
    def __init__(self, version: int):
        super().__init__(version)
        self.version = version


def _user_version(conn: sqlite3.Connection) -> int:
    return conn.execute("PRAGMA user_version").fetchone()[0]


def _migrate(conn: sqlite3.Connection, up_to: int = SCHEMA_VERSION) -> int:
    """Bring the database to version ``up_to``, one transaction per step; returns the version it is at.

    The version is read again inside each step's write lock, so processes opening a new file at once apply
    each step exactly once. Raises ``_TooNew`` for a file from a newer wenxin-magic, which is left untouched.
    """
    version = _user_version(conn)
    if version > SCHEMA_VERSION:
        raise _TooNew(version)
    for target in range(version + 1, up_to + 1):
        conn.execute("BEGIN IMMEDIATE")
        try:
            if _user_version(conn) < target:
                for statement in MIGRATIONS[target - 1]:
                    conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {target:d}")
            conn.execute("COMMIT")
        except BaseException:
            _rollback(conn)
            raise
    return max(version, up_to)


def _rollback(conn: sqlite3.Connection) -> None:
    if conn.in_transaction:
        try:
            conn.execute("ROLLBACK")
        except Exception:  # the failure being reported matters more; closing the connection rolls back anyway
            pass


_SELECT = f"SELECT id, {', '.join(COLUMNS)} FROM turns"
_INSERT_IMAGE = "INSERT OR IGNORE INTO images (sha256, format, width, height, data, created) VALUES (?, ?, ?, ?, ?, ?)"
_INSERT = f"INSERT INTO turns ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"
_WRITABLE = frozenset(COLUMNS)
_LIKE_ANY_TEXT = "(question LIKE ? ESCAPE '\\' OR answer LIKE ? ESCAPE '\\' OR reasoning LIKE ? ESCAPE '\\')"
_TRIGRAM = 3  # the trigram tokenizer finds nothing shorter than this


def _encode(row: Mapping[str, Any]) -> list:
    unknown = row.keys() - _WRITABLE
    if unknown:
        raise ValueError(f"not columns of the conversation log: {', '.join(sorted(unknown))}")
    values = []
    for name in COLUMNS:
        value = row.get(name, DEFAULTS.get(name))
        if value is not None and name in JSON_COLUMNS:
            value = json.dumps(value, ensure_ascii=False)
        values.append(value)
    return values


def _decode(names: tuple[str, ...], values: tuple) -> dict:
    row = dict(zip(names, values, strict=True))
    for name in JSON_COLUMNS:
        if row.get(name) is not None:
            row[name] = json.loads(row[name])
    return row


def _without_surrogates(value: T) -> T:
    """A lone surrogate (from a bad decode upstream) cannot be stored as UTF-8: it becomes U+FFFD."""
    if isinstance(value, str):
        # through UTF-16, a split pair joins up again and a lone half becomes one replacement character
        return value.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    return value


def _text_conditions(text: str | None) -> tuple[str | None, list[str]]:
    """The FTS5 MATCH expression and the LIKE patterns that together require every word of ``text``.

    Each word becomes a quoted FTS5 string, so the user's ", *, -, :, AND, NEAR... are searched for literally
    rather than parsed; words shorter than a trigram cannot be found by the index and become LIKE patterns.
    """
    if not text:
        return None, []
    words = _without_surrogates(text).replace("\x00", " ").split()  # FTS5 ends a string at NUL
    phrases = ['"' + word.replace('"', '""') + '"' for word in words if len(word) >= _TRIGRAM]
    patterns = ["%" + _escape_like(word) + "%" for word in words if len(word) < _TRIGRAM]
    return (" ".join(phrases) or None), patterns


def _insert(conn: sqlite3.Connection, values: list) -> int:
    try:
        return conn.execute(_INSERT, values).lastrowid
    except UnicodeEncodeError:
        return conn.execute(_INSERT, [_without_surrogates(value) for value in values]).lastrowid


def _escape_like(word: str) -> str:
    return word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


# -- errors --------------------------------------------------------------------------------------------

_BUSY, _LOCKED, _READONLY, _IOERR, _CORRUPT, _FULL, _CANTOPEN, _NOTADB = 5, 6, 8, 10, 11, 13, 14, 26

# before Python 3.11, sqlite3 errors carry only their message
_CODES_BY_MESSAGE = (("locked", _BUSY), ("readonly", _READONLY), ("full", _FULL), ("not a database", _NOTADB),
                     ("malformed", _CORRUPT), ("unable to open", _CANTOPEN), ("i/o error", _IOERR))


def _error_code(error: BaseException) -> int | None:
    code = getattr(error, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF  # the primary code, without the extended bits
    message = str(error).lower()
    return next((code for phrase, code in _CODES_BY_MESSAGE if phrase in message), None)


def _is_busy(error: BaseException) -> bool:
    return not isinstance(error, OSError) and _error_code(error) in (_BUSY, _LOCKED)


_ELSEWHERE = f"point {ENV_VAR} (or the WenxinMagics.log_path setting) at another file"
_TURN_OFF = "turn the conversation log off"


def _unavailable(path: Path, error: BaseException, busy_timeout: float) -> LogUnavailable:
    """What to tell the user about ``error``; built from error codes and our own words, never from row values."""
    if isinstance(error, _TooNew):
        return LogUnavailable(path, f"was written by a newer wenxin-magic (log format {error.version}; this "
                                    f"version reads up to {SCHEMA_VERSION})",
                              f"Upgrade wenxin-magic, {_ELSEWHERE}, or {_TURN_OFF}.")
    if isinstance(error, OSError):
        return LogUnavailable(path, f"cannot be created: its folder cannot be made ({error.strerror or error})",
                              f"Create the folder, {_ELSEWHERE}, or {_TURN_OFF}.")
    code = _error_code(error)
    if code == _READONLY:
        return LogUnavailable(path, "is read-only (the file or its folder cannot be written)",
                              f"Make it writable, {_ELSEWHERE}, or {_TURN_OFF}.")
    if code in (_BUSY, _LOCKED):
        return LogUnavailable(path, f"stayed locked by another connection for more than {busy_timeout:g} s",
                              f"Close the other notebook or program writing to it, {_ELSEWHERE}, or {_TURN_OFF}.")
    if code == _FULL:
        return LogUnavailable(path, "cannot grow: the disk is full (or the database reached its size limit)",
                              f"Free some disk space, {_ELSEWHERE}, or {_TURN_OFF}.")
    if code in (_CORRUPT, _NOTADB):
        return LogUnavailable(path, "is not a readable SQLite database (damaged, or another kind of file)",
                              f"Move the file aside (a new, empty log is then made in its place), {_ELSEWHERE}, "
                              f"or {_TURN_OFF}.")
    if code == _CANTOPEN:
        return LogUnavailable(path, "cannot be opened (is it a folder, or in a folder that cannot be written?)",
                              f"Check the path, {_ELSEWHERE}, or {_TURN_OFF}.")
    return LogUnavailable(path, f"cannot be used ({type(error).__name__}: {error})", f"{_ELSEWHERE.capitalize()}, "
                          f"or {_TURN_OFF}.")


# -- the log -------------------------------------------------------------------------------------------

class ConversationLog:
    """The turns of every conversation, in one SQLite file shared by all kernels of this user.

    One connection per instance, opened on first use and guarded by a lock: the session writes from its loop
    thread while readers call from the kernel's main thread. Every method raises ``LogUnavailable`` when the
    file cannot be used; a later call tries to open it again, so fixing the cause is enough.
    """

    def __init__(self, path: str | os.PathLike, *, busy_timeout: float = 5.0):
        self.path = Path(path).expanduser()
        self.busy_timeout = busy_timeout
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()
        # tests only: called inside write's transaction, after the INSERT and before the COMMIT
        self._after_insert: Callable[[], None] | None = None

    def __repr__(self) -> str:
        return f"ConversationLog({str(self.path)!r})"

    def __enter__(self) -> ConversationLog:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    # -- writing --

    def write(self, row: Mapping[str, Any], images: Iterable[tuple[str, str, int, int, bytes]] = ()) -> int:
        """Store one turn in one transaction, so a process killed mid-way leaves no half row; returns its id.

        ``row`` maps column names to values (missing ones are NULL; ``kind`` defaults to 'chat'); the JSON
        columns take Python objects. An unknown key is a ValueError: a typo would otherwise lose data silently.
        ``images`` are the turn's pictures, (sha256, format, width, height, bytes): one already stored is not
        stored again.
        """
        values = _encode(row)
        now = time.time()
        pictures = [(*image, now) for image in images]

        def insert(conn: sqlite3.Connection) -> int:
            if pictures:
                conn.executemany(_INSERT_IMAGE, pictures)
            return _insert(conn, values)

        return self._call(lambda conn: self._in_transaction(conn, lambda: insert(conn)))

    def images(self, hashes: Iterable[str]) -> dict[str, tuple[str, bytes]]:
        """The stored pictures with these hashes: sha256 -> (format, bytes)."""
        wanted = sorted(set(hashes))
        if not wanted:
            return {}
        sql = f"SELECT sha256, format, data FROM images WHERE sha256 IN ({', '.join('?' * len(wanted))})"
        return self._call(lambda conn: {sha: (form, bytes(data)) for sha, form, data in conn.execute(sql, wanted)})

    def image_bytes(self) -> int:
        """Bytes of pictures stored (their data alone)."""
        return self._call(lambda conn: conn.execute("SELECT COALESCE(SUM(LENGTH(data)), 0) FROM images").fetchone()[0])

    def _write_many(self, rows: Iterable[Mapping[str, Any]]) -> int:
        """Many rows in one transaction (benchmarks and imports); returns how many."""
        values = [_encode(row) for row in rows]
        return self._call(lambda conn: self._in_transaction(conn, lambda: conn.executemany(_INSERT, values).rowcount))

    def _in_transaction(self, conn: sqlite3.Connection, work: Callable[[], T]) -> T:
        # IMMEDIATE takes the write lock up front: a transaction that began as a reader could not wait for it
        conn.execute("BEGIN IMMEDIATE")
        try:
            result = work()
            if self._after_insert is not None:
                self._after_insert()
            conn.execute("COMMIT")
        except BaseException:
            _rollback(conn)
            raise
        return result

    # -- reading --

    def search(self, text: str | None = None, *, chat: str | None = None, model: str | None = None,
               since: float | None = None, kind: str | None = None, limit: int = 20) -> list[dict]:
        """Rows matching every given filter, newest first, at most ``limit``.

        ``text``: every whitespace-separated word must occur in the question, answer or reasoning, as a
        substring, case-insensitively (ASCII case only for words under three characters). Any text is safe.
        A stored value is searched up to its first NUL character, where SQLite's text functions stop.
        """
        match, patterns = _text_conditions(text)
        where: list[str] = []
        params: list[Any] = []
        if match is not None:
            where.append("id IN (SELECT rowid FROM turns_fts WHERE turns_fts MATCH ?)")
            params.append(match)
        for pattern in patterns:
            where.append(_LIKE_ANY_TEXT)
            params += [pattern] * 3
        for column, value in (("chat", chat), ("model", model), ("kind", kind)):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        if since is not None:
            where.append("created >= ?")
            params.append(since)
        sql = _SELECT + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY id DESC LIMIT ?"
        return self._rows(sql, [*params, limit])

    def runs(self, chat: str) -> list[dict]:
        """The runs of conversation ``chat`` (its chat turns), newest first, with the model of each one's last turn.

        Each is ``{"run_id", "chat", "turns", "first", "last", "model"}``; ``first``/``last`` are ``created`` times.
        """
        sql = """WITH r AS (SELECT run_id, COUNT(*) AS turns, MIN(created) AS first, MAX(created) AS last,
                                   MAX(id) AS last_id
                            FROM turns WHERE chat = ? AND kind = 'chat' GROUP BY run_id)
                 SELECT r.run_id, t.chat, r.turns, r.first, r.last, t.model
                 FROM r JOIN turns t ON t.id = r.last_id ORDER BY r.last_id DESC"""
        return self._rows(sql, [chat])

    def run_rows(self, chat: str, run_id: str | None = None) -> list[dict]:
        """The chat turns of one run of ``chat``, oldest first: ``run_id``, or else the run of its newest turn.

        Nothing matching is not an error: the answer is then ``[]``.
        """
        sql = (_SELECT + " WHERE chat = ? AND kind = 'chat' AND run_id = COALESCE(?, (SELECT run_id FROM turns"
               " WHERE chat = ? AND kind = 'chat' ORDER BY id DESC LIMIT 1)) ORDER BY id")
        return self._rows(sql, [chat, run_id, chat])

    def count(self) -> int:
        return self._call(lambda conn: conn.execute("SELECT COUNT(*) FROM turns").fetchone()[0])

    def _rows(self, sql: str, params: list) -> list[dict]:
        def query(conn: sqlite3.Connection) -> list[dict]:
            cursor = conn.execute(sql, params)
            names = tuple(column[0] for column in cursor.description)
            return [_decode(names, values) for values in cursor.fetchall()]

        return self._call(query)

    # -- the connection --

    def close(self) -> None:
        with self._lock:
            self._drop_connection()

    def _call(self, operation: Callable[[sqlite3.Connection], T]) -> T:
        """``operation(connection)``, retried while the file is busy, until ``busy_timeout`` has passed in all.

        SQLite's own busy handler waits inside one statement; some lock conflicts (a transaction that began
        reading, the switch to WAL) return at once instead, and those are what the retries absorb.
        """
        import sqlite3

        deadline = time.monotonic() + self.busy_timeout
        pause = 0.002
        with self._lock:
            while True:
                try:
                    return operation(self._connection())
                except (sqlite3.Error, OSError, _TooNew) as error:
                    if _is_busy(error) and time.monotonic() + pause < deadline:
                        time.sleep(pause)
                        pause = min(pause * 2, 0.05)
                        continue
                    # a fresh connection on the next call: the cause (space, permissions, the file) may be fixed
                    self._drop_connection()
                    raise _unavailable(self.path, error, self.busy_timeout) from error

    def _connection(self) -> sqlite3.Connection:
        """The open connection, opening, creating and migrating the file first if needed. Callers hold the lock
        (tests may call it directly to reach the connection)."""
        if self._conn is None:
            self._conn = self._open()
        return self._conn

    def _open(self) -> sqlite3.Connection:
        import sqlite3

        self.path.parent.mkdir(parents=True, exist_ok=True)
        # autocommit (isolation_level=None): every transaction here is an explicit BEGIN ... COMMIT
        conn = sqlite3.connect(self.path, timeout=self.busy_timeout, isolation_level=None, check_same_thread=False)
        try:
            version = _user_version(conn)
            if version > SCHEMA_VERSION:  # before anything below changes a newer program's file
                raise _TooNew(version)
            # WAL: readers never wait for the writer; NORMAL: a commit is not an fsync, and WAL stays consistent
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            _migrate(conn)
        except BaseException:
            conn.close()
            raise
        return conn

    def _drop_connection(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except Exception:  # closing a broken connection is best effort; it is discarded either way
                pass
            self._conn = None
