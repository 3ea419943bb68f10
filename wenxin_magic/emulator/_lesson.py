"""Lessons: conversations recorded with a key, answered again offline by the emulator.

A lesson file is JSON (``LESSON_FORMAT``, version ``LESSON_VERSION``)::

    {"format": "wenxin-magic lesson", "version": 1, "name": "…", "saved": "2026-…Z",
     "conversations": [{"name": "class", "system": "…", "turns": [
         {"question": "…", "model": "ernie-4.5-turbo-128k", "api": "v2", "images": ["<sha256>", …],
          "steps": [{"text": "", "reasoning": "…", "calls": [{"id", "name", "arguments", "result"}, …],
                     "ttft": 0.8, "seconds": 1.1},
                    {"text": "the answer", "reasoning": "", "references": […], "ttft": 0.6, "seconds": 3.2}]}]}]}

A turn's ``steps`` are its replies in order: every one but the last asked for tool calls, the last is the answer.

A request matches a recorded turn when it asks the same model, in the same conversation so far: the same questions,
in order, ending with this one, each compared after whitespace and full-width punctuation are normalised. Which
step answers is the number of tool-call rounds the request already carries since its question.
"""

from __future__ import annotations

import json
import threading
import unicodedata
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

__all__ = ["Lesson", "LessonError", "LessonTurn", "LESSON_FORMAT", "LESSON_VERSION", "LESSON_ID_PREFIX",
           "normalise_question", "question_text", "answered_from_lesson"]

LESSON_FORMAT = "wenxin-magic lesson"
LESSON_VERSION = 1
LESSON_ID_PREFIX = "as-lesson-"  # the response id of an answer from a lesson, so a client can label it


def answered_from_lesson(response_id: str | None) -> bool:
    """Whether the emulator answered this response from its lesson (its id says so)."""
    return bool(response_id) and str(response_id).startswith(LESSON_ID_PREFIX)

# NFKC turns full-width letters, digits and most punctuation (？！，：；（）) into their ASCII forms; these it keeps
_PUNCTUATION = str.maketrans({"。": ".", "、": ",", "“": '"', "”": '"', "‘": "'", "’": "'", "「": '"', "」": '"',
                              "『": '"', "』": '"', "《": "<", "》": ">", "【": "[", "】": "]", "～": "~"})


def question_text(content) -> str:
    """A message's words as the lesson keeps them: its text, or a question with pictures' text parts (the pictures
    are kept apart, by hash). Recording and replay both read questions through this."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(part["text"] for part in content
                         if isinstance(part, dict) and part.get("type") == "text" and isinstance(part.get("text"), str))
    return ""


def normalise_question(text: str) -> str:
    """A question as lessons compare it: full-width forms as ASCII, whitespace runs as one space, trimmed."""
    text = unicodedata.normalize("NFKC", str(text or "")).translate(_PUNCTUATION)
    return " ".join(text.split())


class LessonError(ValueError):
    """A lesson file that cannot be used; ``str()`` says what is wrong, where, and what a lesson file is."""


@dataclass
class LessonStep:
    """One reply of a recorded turn: tool calls it asked for, or the answer, and how fast it streamed."""

    text: str = ""
    reasoning: str = ""
    calls: list[dict] = field(default_factory=list)
    references: list[dict] = field(default_factory=list)
    ttft: float = 0.0
    seconds: float = 0.0


@dataclass
class LessonTurn:
    conversation: str
    number: int  # 1-based, within its conversation
    question: str
    model: str
    recorded_steps: list[dict]  # as in the file; read into LessonSteps when first replayed
    api: str | None = None
    images: list[str] = field(default_factory=list)
    hits: int = 0

    @cached_property
    def steps(self) -> list[LessonStep]:
        """Its replies in order, the answer last (read when first needed: loading a big lesson stays quick)."""
        return [_step(step) for step in self.recorded_steps]


class Lesson:
    """A loaded lesson: its turns, indexed for lookup, and how often each answered."""

    def __init__(self, data: dict, *, path: str | Path | None = None):
        self.path = Path(path) if path is not None else None
        where = str(path) if path is not None else "the lesson"
        if not isinstance(data, dict) or data.get("format") != LESSON_FORMAT:
            raise LessonError(f"{where} is not a lesson file: its JSON has no \"format\": \"{LESSON_FORMAT}\". "
                              "A lesson is written by `%wenxin lesson save PATH`.")
        version = data.get("version")
        if not isinstance(version, int) or version > LESSON_VERSION:
            raise LessonError(f"{where} is a lesson of version {version!r}; this wenxin-magic reads versions up to "
                              f"{LESSON_VERSION}. Upgrade wenxin-magic to read it.")
        conversations = data.get("conversations")
        if not isinstance(conversations, list):
            raise LessonError(f"{where} has no list of \"conversations\".")
        self.name = str(data.get("name") or (self.path.stem if self.path else "lesson"))
        self.conversations: list[tuple[str, list[LessonTurn]]] = []
        self._index: dict[tuple, LessonTurn] = {}
        self._lock = threading.Lock()
        for c, conv in enumerate(conversations, 1):
            if not isinstance(conv, dict) or not isinstance(conv.get("turns"), list):
                raise LessonError(f"{where}: conversation {c} has no list of \"turns\".")
            name = str(conv.get("name") or f"conversation {c}")
            turns, asked = [], []
            for t, raw in enumerate(conv["turns"], 1):
                turn = _turn(raw, name, t, where)
                turns.append(turn)
                asked.append(normalise_question(turn.question))
                # the first recording of a question in a conversation so far is the one replayed
                self._index.setdefault((turn.model.lower(), tuple(asked)), turn)
            self.conversations.append((name, turns))

    @classmethod
    def load(cls, path: str | Path) -> "Lesson":
        path = Path(path).expanduser()
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise LessonError(f"No lesson file at {path}.") from None
        except (OSError, UnicodeDecodeError) as err:
            raise LessonError(f"The lesson file {path} cannot be read ({type(err).__name__}: "
                              f"{getattr(err, 'strerror', None) or err}).") from None
        try:
            data = json.loads(text)
        except ValueError as err:
            raise LessonError(f"The lesson file {path} is not valid JSON (line {getattr(err, 'lineno', '?')}).") \
                from None
        return cls(data, path=path)

    def __repr__(self) -> str:
        return f"Lesson({self.name!r}, conversations={len(self.conversations)}, turns={len(self)})"

    def __len__(self) -> int:
        return sum(len(turns) for _, turns in self.conversations)

    @property
    def hits(self) -> int:
        return sum(turn.hits for _, turns in self.conversations for turn in turns)

    def find(self, model: str, questions: list[str]) -> LessonTurn | None:
        """The recorded turn for ``model`` asked ``questions`` (the conversation's so far, this one last)."""
        return self._index.get((str(model or "").lower(), tuple(normalise_question(q) for q in questions)))

    def holds(self, questions: list[str]) -> list[str]:
        """The models the lesson holds this conversation so far for (to say so when another model is asked)."""
        asked = tuple(normalise_question(q) for q in questions)
        return sorted({turn.model for key, turn in self._index.items() if key[1] == asked})

    def hit(self, turn: LessonTurn) -> None:
        with self._lock:
            turn.hits += 1


def _turn(raw, conversation: str, number: int, where: str) -> LessonTurn:
    place = f"{where}: turn {number} of conversation {conversation!r}"
    if not isinstance(raw, dict) or not isinstance(raw.get("question"), str) or not isinstance(raw.get("model"), str):
        raise LessonError(f"{place} needs a \"question\" and a \"model\", both text.")
    steps = raw.get("steps")
    if not isinstance(steps, list) or not steps or not all(isinstance(s, dict) for s in steps):
        raise LessonError(f"{place} needs \"steps\": its replies, the answer last.")
    return LessonTurn(conversation=conversation, number=number, question=raw["question"], model=raw["model"],
                      api=raw.get("api") if isinstance(raw.get("api"), str) else None,
                      images=[str(h) for h in raw.get("images") or [] if isinstance(h, str)],
                      recorded_steps=steps)


def _step(raw: dict) -> LessonStep:
    calls = [call for call in raw.get("calls") or [] if isinstance(call, dict) and isinstance(call.get("name"), str)]
    references = [ref for ref in raw.get("references") or [] if isinstance(ref, dict)]
    return LessonStep(text=_text(raw.get("text")), reasoning=_text(raw.get("reasoning")), calls=calls,
                      references=references, ttft=_seconds(raw.get("ttft")), seconds=_seconds(raw.get("seconds")))


def _text(value) -> str:
    return value if isinstance(value, str) else ""


def _seconds(value) -> float:
    """A recorded duration; anything odd counts as none, and no pause is longer than a minute."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value or value < 0:
        return 0.0
    return min(float(value), 60.0)
