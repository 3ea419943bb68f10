"""The session's side of the conversation log: a turn as a row when it ends, and rows as turns again.

The log must never cost the user a turn: any failure becomes one warning, and the
conversation goes on in memory. Nothing secret is written: rows hold what the user
asked and what came back, never credentials, headers or URLs.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any, Callable

from ._conversation import Conversation, Reply, Turn
from ._pictures import for_log, from_log, logged_hashes, message_text

# The store (``_log``, and sqlite3 with it) and datetime are imported at first use: loading stays light.

log = logging.getLogger(__name__)


class LogNotice:
    """Something a view should say once: ``where`` the log is (first write, or again after a failure), or why
    it ``failed``."""

    __slots__ = ("kind", "text")

    def __init__(self, kind: str, text: str):
        self.kind, self.text = kind, text

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return f"LogNotice({self.kind!r}, {self.text!r})"


def turn_row(request: dict, reply: Reply, conv: Conversation | None, kind: str) -> dict:
    """What the log keeps of a finished turn: searchable columns, and the whole turn to resume it (its pictures
    as they were sent: ``turn_images`` parts them out to be stored once each)."""
    replies = reply.rounds + [reply]
    usage = [r.usage for r in replies if r.usage is not None]
    return {
        "run_id": conv.run_id if conv is not None else None,
        "chat": conv.name if conv is not None else None,
        "kind": kind,
        "question": message_text(request) or reply.prompt,
        "answer": reply.text,
        "reasoning": "\n\n".join(r.reasoning for r in replies if r.reasoning),
        "model": reply.model, "endpoint": reply.endpoint, "api": reply.api,
        "system": conv.system if conv is not None else None,
        "params": reply.params,
        "tool_calls": [call.to_dict() for call in reply.all_calls],
        "prompt_tokens": sum(u.prompt_tokens for u in usage),
        "completion_tokens": sum(u.completion_tokens for u in usage),
        "total_tokens": sum(u.total_tokens for u in usage),
        "latency": sum(r.latency or 0.0 for r in replies),
        "finish_reason": reply.finish_reason,
        "error": str(reply.error) if reply.error is not None else None,
        "retries": sum(r.retries for r in replies),
        "interrupted": int(reply.interrupted),
        "created": replies[0].created,
        "notebook": os.environ.get("JPY_SESSION_NAME"),
        "turn": {"request": request, "reply": reply.to_dict()},
    }


def row_turn(row: dict) -> Turn:
    """A logged row as a Turn (``log_id``, ``run_id``, ``notebook`` set from the row)."""
    data = row.get("turn") if isinstance(row.get("turn"), dict) else {}
    request = data.get("request") or {"role": "user", "content": row.get("question") or ""}
    reply = Reply.from_dict(data["reply"]) if isinstance(data.get("reply"), dict) else _reply_from_columns(row)
    return Turn(request, reply, log_id=row.get("id"), run_id=row.get("run_id"), notebook=row.get("notebook"))


def _reply_from_columns(row: dict) -> Reply:
    return Reply.from_dict({"prompt": row.get("question"), "text": row.get("answer"), "model": row.get("model"),
                            "api": row.get("api"), "chat": row.get("chat"), "created": row.get("created"),
                            "finish_reason": row.get("finish_reason"), "error": row.get("error")})


MAX_AGE_DAYS = 36_500  # a century: older than any log, and an age the clock can still be wound back by
_AGE_UNITS = {"d": 86400, "h": 3600, "m": 60}


def parse_since(text) -> float | None:
    """A time to search from: a datetime, a unix time, an ISO date or time, or an age such as 7d, 12h, 30m."""
    from datetime import datetime

    if text is None:
        return None
    if isinstance(text, (int, float, datetime)):
        return _unix_time(text)
    value = str(text).strip()
    if len(value) >= 2 and value[-1] in _AGE_UNITS and value[:-1].isascii() and value[:-1].isdigit():
        return time.time() - _age_seconds(value)
    if value.lower() in ("today", "yesterday"):
        midnight = datetime.now().replace(hour=0, minute=0, second=0, microsecond=0).timestamp()
        return midnight - (86400 if value.lower() == "yesterday" else 0)
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"--since {_shown(value)}: give a date (2026-11-01), a date and time (2026-11-01 09:30), "
                         "today, yesterday, or an age such as 7d, 12h or 30m.") from None
    try:
        return when.timestamp()
    except (ValueError, OverflowError, OSError):  # year 1, say: before what the platform's local time can hold
        raise ValueError(f"--since {_shown(value)}: that date is too far in the past or future for this computer's "
                         "clock; give a later one, or an age such as 7d, 12h or 30m.") from None


def _age_seconds(value: str) -> int:
    digits, unit = value[:-1].lstrip("0") or "0", value[-1]
    most = MAX_AGE_DAYS * _AGE_UNITS["d"]
    # digits counted first: int() refuses thousands of them with a message of its own
    if len(digits) > len(str(most)) or int(digits) * _AGE_UNITS[unit] > most:
        raise ValueError(f"--since {_shown(value)}: an age is a whole number with a unit, d, h or m (7d, 12h, "
                         f"30m), of at most {MAX_AGE_DAYS:,} days.")
    return int(digits) * _AGE_UNITS[unit]


def _unix_time(when) -> float:
    try:
        return float(when) if isinstance(when, (int, float)) else when.timestamp()
    except (OverflowError, ValueError, OSError):
        raise ValueError(f"since: {type(when).__name__} out of range; give a unix time in seconds, a datetime, "
                         "a date (2026-11-01), or an age such as 7d, 12h or 30m.") from None


def _shown(value: str) -> str:
    """``value`` quoted for a message; a very long one cut, so the message stays readable."""
    return repr(value) if len(value) <= 40 else f"{value[:20]!r}... ({len(value):,} characters)"


OFF_WORDS = ("0", "off", "false", "no")


class SessionLog:
    """Where the session's turns are written when they end, and searched and resumed from."""

    def __init__(self, resume: Callable[[Conversation], Conversation], environ=os.environ):
        self._environ = environ
        self._restore = resume
        self.enabled = self._environ.get("WENXIN_MAGIC_LOG", "").strip().lower() not in OFF_WORDS
        self._path: Path | None = None
        self._store = None  # the ConversationLog, once opened
        self._announced = False
        self._failing = False  # the last write failed and the user was told; the next turn tries again
        self.busy_timeout = 5.0  # seconds a write waits for another connection's lock; read when the store opens
        self.notices: list[LogNotice] = []  # for a view to show once: where the log is, or why it stopped
        self.keep_images = True  # pictures are logged (each once, by hash); off, each is noted by its size alone

    def __repr__(self) -> str:
        return f"SessionLog({str(self.path)!r}, {'on' if self.enabled else 'off'})"

    @property
    def path(self) -> Path:
        from ._log import default_log_path

        if self._path is not None:
            return self._path
        if self._environ.get("WENXIN_MAGIC_LOG", "").strip().lower() in OFF_WORDS:  # "off" says whether, not where
            return default_log_path({})
        return default_log_path(self._environ)

    def use(self, path: str | os.PathLike | None) -> None:
        """Log to ``path`` from now on (None: the default place); a warning given before may come again."""
        self.close()
        self._path = Path(path).expanduser() if path else None
        self._announced = self._failing = False

    def turn(self, on: bool) -> None:
        """Log from the next turn on, or not; turning it on forgets a failure, so a new one is said again."""
        self.enabled = on
        if on:
            self._failing = False

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None

    # -- writing ------------------------------------------------------------------------------
    def record(self, request: dict, reply: Reply, conv: Conversation | None, kind: str) -> None:
        """Write a finished turn; never raises. A failure becomes one notice, however many turns it lasts; every
        turn tries again, so the log resumes by itself once the file can be written."""
        if not self.enabled:
            return
        from ._log import LogUnavailable

        try:
            request, images = for_log(request, self.keep_images)  # each picture once, by its hash
            self._opened().write(turn_row(request, reply, conv, kind), images)
        except LogUnavailable as err:
            self._failed(str(err))
            return
        except Exception as err:  # a log bug must not cost the user the turn
            if not self._failing:
                log.exception("conversation log failed")
            self._failed(f"The conversation log at {self.path} failed ({type(err).__name__}).")
            return
        if self._failing:
            self._failing = False
            self._announced = True
            self.notices.append(LogNotice("where", f"Conversations are logged to {self.path} again."))
        elif not self._announced:
            self._announced = True
            self.notices.append(LogNotice("where", f"Conversations are logged to {self.path}."))

    def _failed(self, text: str) -> None:
        if self._failing:
            log.debug("conversation log still failing: %s", text)
            return
        self._failing = True
        self.notices.append(LogNotice("failed", f"{text} This kernel keeps its conversations in memory."))

    def _opened(self):
        """The store (a ``_log.ConversationLog``), opened on first use."""
        from ._log import ConversationLog

        if self._store is None:
            self._store = ConversationLog(self.path, busy_timeout=self.busy_timeout)
        return self._store

    def _existing(self):
        """The store to read from; None when there is no log file yet (reading creates none)."""
        if self._store is None and not self.path.exists():
            return None
        return self._opened()

    # -- reading ------------------------------------------------------------------------------
    def search(self, text: str | None = None, *, chat: str | None = None, model: str | None = None,
               since: Any = None, kind: str | None = None, limit: int = 20, as_frame: bool = False):
        """Logged turns, newest first: full-text ``text`` over questions and answers, and filters.

        ``since``: a datetime, unix time, ISO date or an age like ``7d``. ``as_frame=True``: a pandas DataFrame.
        """
        since = parse_since(since)
        store = self._existing()
        rows = store.search(text, chat=chat, model=model, since=since, kind=kind, limit=limit) if store else []
        return frame(rows) if as_frame else [row_turn(row) for row in rows]

    def runs(self, chat: str) -> list[dict]:
        """The logged runs of a conversation name, newest first."""
        store = self._existing()
        return store.runs(chat) if store else []

    def conversation(self, chat: str, run_id: str | None = None) -> Conversation | None:
        """A logged run of ``chat`` rebuilt (its latest, or ``run_id``), without putting it in the session."""
        store = self._existing()
        if store and run_id:  # the table shows a run's first 8 characters: a unique beginning will do
            matching = [run["run_id"] for run in store.runs(chat) if str(run["run_id"]).startswith(run_id)]
            run_id = matching[0] if len(matching) == 1 else run_id
        rows = store.run_rows(chat, run_id) if store else []
        if not rows:
            return None
        last = rows[-1]
        conv = Conversation(chat, model=last.get("model"), endpoint=last.get("endpoint"))
        conv.system = last.get("system")
        conv.run_id = last.get("run_id") or conv.run_id
        turns = [row_turn(row) for row in rows]
        hashes = [sha for turn in turns for sha in logged_hashes(turn.request)]
        pictures = store.images(hashes) if hashes else {}
        for turn in turns:  # the same rules as when they were asked: failed turns and cleared rounds drop out
            conv.record(from_log(turn.request, pictures), turn.reply)
        return conv

    def resume(self, chat: str, run_id: str | None = None) -> Conversation:
        """Restore a logged conversation into the session: the next turn in ``chat`` continues it."""
        conv = self.conversation(chat, run_id)
        if conv is None:
            which = f"run {run_id!r} of " if run_id else ""
            raise LookupError(f"The log at {self.path} has no {which}conversation {chat!r}.")
        return self._restore(conv)


def frame(rows: list[dict]):
    """Rows as a pandas DataFrame, one row per turn."""
    try:
        import pandas as pd
    except ImportError:
        raise ImportError("as_frame=True needs pandas: pip install pandas") from None
    columns = ["id", "created", "chat", "run_id", "model", "api", "question", "answer", "total_tokens", "latency",
               "finish_reason", "error", "notebook"]
    table = pd.DataFrame([{name: row.get(name) for name in columns} for row in rows], columns=columns)
    table["created"] = pd.to_datetime(table["created"], unit="s")
    return table
