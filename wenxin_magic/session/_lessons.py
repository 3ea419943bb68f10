"""Lessons written from conversations: questions, answers, reasoning, tool calls and their results, references,
pictures (by hash), the models, and how fast each answer streamed. The format, and replaying it, are the
emulator's (``wenxin_magic.emulator.Lesson``).

No credential goes in: every text is masked for the session's secrets and for anything shaped like a key
before the file is written, as the log is.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path

from ..api import InvalidRequestError, redact
from ..emulator import LESSON_FORMAT, LESSON_VERSION, question_text
from ._conversation import Conversation, Reply, Turn
from ._pictures import logged_hashes, shown_request

LESSON_SUFFIX = ".json"


def lesson_data(conversations: list[Conversation], *, name: str, secrets: tuple[str, ...] = ()) -> tuple[dict, int]:
    """The lesson of ``conversations`` (its JSON value), and how many turns were left out because they failed
    before any answer came."""
    kept, skipped = [], 0
    for conv in conversations:
        turns = []
        for turn in conv.turns:
            recorded = _turn(turn)
            if recorded is None:
                skipped += 1
            else:
                turns.append(recorded)
        if turns:
            kept.append({"name": conv.name, "system": conv.system, "turns": turns})
    data = {"format": LESSON_FORMAT, "version": LESSON_VERSION, "name": name,
            "saved": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "conversations": kept}
    return _without_secrets(data, secrets), skipped


def write_lesson(path: str | os.PathLike, data: dict) -> Path:
    """Write the lesson whole or not at all: a half-written file would fail to load in class."""
    path = Path(path).expanduser()
    if path.suffix.lower() != LESSON_SUFFIX:
        raise InvalidRequestError(f"A lesson file is JSON: give a path ending in {LESSON_SUFFIX} (not {path.name!r}).",
                                  field="path")
    if path.is_dir():
        raise InvalidRequestError(f"{path} is a folder: give a file name ending in {LESSON_SUFFIX}.", field="path")
    if not path.parent.is_dir():
        raise InvalidRequestError(f"No folder {path.parent} to write the lesson in.", field="path")
    text = json.dumps(data, ensure_ascii=False, indent=1)
    handle, temporary = tempfile.mkstemp(prefix=".lesson-", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as f:
            f.write(text + "\n")
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def _turn(turn: Turn) -> dict | None:
    reply = turn.reply
    if not reply.text and not reply.rounds and not reply.calls:
        return None  # it failed before answering: nothing to replay
    request = turn.request
    return {"question": question_text(request.get("content")), "model": reply.model or "", "api": reply.api,
            "images": _hashes(request), "steps": [_step(step) for step in reply.rounds + [reply]]}


def _hashes(request: dict) -> list[str]:
    shown = shown_request(request)
    content = shown.get("content") if isinstance(shown, dict) else None
    hashes = [part["sha256"] for part in content if isinstance(part, dict) and part.get("type") == "image"] \
        if isinstance(content, list) else []
    return hashes + logged_hashes(request)


def _step(reply: Reply) -> dict:
    step = {"text": reply.text, "reasoning": reply.reasoning or "",
            "ttft": _seconds(reply.time_to_first_token), "seconds": _seconds(reply.latency)}
    if reply.calls:
        step["calls"] = [{"id": call.id, "name": call.name, "arguments": call.arguments, "result": call.result,
                          **({"thoughts": call.thoughts} if call.thoughts else {})} for call in reply.calls]
    if reply.search_results:
        step["references"] = list(reply.search_results)
    return step


def _seconds(value) -> float:
    return round(float(value), 3) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0.0


def _without_secrets(value, secrets: tuple[str, ...]):
    if isinstance(value, dict):
        return {key: _without_secrets(item, secrets) for key, item in value.items()}
    if isinstance(value, list):
        return [_without_secrets(item, secrets) for item in value]
    if isinstance(value, str):
        return redact(value, secrets)
    return value
