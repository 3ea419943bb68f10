"""Conversations and their turns, and the rules that keep a history valid to send."""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass
from typing import Any, Iterable

from ..api import QianfanError, Usage, input_size
from ._cost import reply_cost

NORMAL_FINISH = (None, "", "normal")
HIDE, WITHDRAW = 3, 4  # v2's flags: do not display this answer; withdraw what was already shown
FLAG_REASONS = {
    HIDE: "The service flagged this answer as not to be displayed (flag 3), so it is not shown",
    WITHDRAW: "The service withdrew this answer (flag 4): what was shown of it has been removed",
}


def part_flag(part) -> int:
    """A response's or chunk's safety flag: 0 when absent (v1 has none)."""
    flag = getattr(part, "flag", 0)
    return flag if isinstance(flag, int) and not isinstance(flag, bool) else 0


def model_label(model: str | None, endpoint: str | None = None, default: str | None = None) -> str:
    """What answers: ``model``, ``model @ endpoint``, the endpoint's name, or the default marked as such."""
    if endpoint:
        return f"{model} @ {endpoint}" if model else endpoint
    if model:
        return model
    return f"{default} (default)" if default else "?"


class Reply:
    """One answer: its text, the model, usage, latency and how it ended. ``str(reply)`` is the text."""

    def __init__(self, *, prompt: str, model: str | None, endpoint: str | None, chat: str | None,
                 kind: str = "chat"):
        self.prompt = prompt
        self.model = model
        self.endpoint = endpoint
        self.chat = chat
        self.kind = kind
        self.text = ""
        self.reasoning = ""  # what a reasoning model thought before answering; never sent back
        self.api: str | None = None  # "v1" or "v2", once routed
        self.usage: Usage | None = None
        self.cost_yuan: float | None = None  # estimated ¥ at the catalog's price: 0.0 free, None unknown
        self.latency: float | None = None
        self.time_to_first_token: float | None = None
        self.first_token_at: float | None = None  # wall clock, to line up with server-side logs
        self.finish_reason: str | None = None
        self.is_truncated = False
        self.id: str | None = None
        self.retries = 0
        self.interrupted = False
        self.emulated = False  # answered by the offline emulator, not a model: the footer says so
        self.lesson: str | None = None  # the lesson whose recorded answer the emulator replayed
        self.error: QianfanError | None = None
        self.need_clear_history = False
        self.ban_round: int | None = None
        self.flag = 0  # v2's safety flag: 3 hides the answer, 4 withdraws what was shown (see ``withheld``)
        self.withheld = 0  # characters of answer and reasoning dropped because of the flag
        self.status: str | None = None  # what the service says it is doing before the answer ("searching")
        self.function_call: dict | None = None
        self.tool_calls: list[dict] = []
        self.search_info: dict | None = None
        self.search_results: list[dict] = []
        self.rate_limit = None  # the quota the service reported with this answer (v1's X-Ratelimit-* headers)
        self.reasoning_started: float | None = None  # perf_counter times, for "thought for N s"
        self.reasoning_ended: float | None = None
        self.cleared_rounds: list[int] = []
        self.calls: list = []  # ToolCalls: the calls this reply asked for, and what became of them
        self.rounds: list[Reply] = []  # the turn's earlier replies, each of which asked for calls
        self.tool_stop = ""  # why the turn stopped with calls not run (the round limit)
        self.notes: list[str] = []  # what the user should know about how it was asked (e.g. untyped tools)
        self.context = ""  # how much of the notebook a view put into the prompt, for the footer
        self.pictures: list[str] = []  # "[image W×H]" for each picture sent with the prompt, for views
        self.downscaled = 0  # how many of them were shrunk to fit the service's limits
        self.params: dict[str, Any] = {}  # the request's parameters, as asked (not the messages)  # what the user should know about how this was asked (e.g. untyped tools)
        self.schema: str | None = None  # the name of the shape the answer was asked to have (answers as data)
        self.data: Any = None  # the answer's value once it passed the schema: a model instance, a dict, a list
        self.done = False
        self.created = time.time()

    @property
    def hidden(self) -> bool:
        """The service asked not to display this answer (flag 3), or to withdraw it (flag 4)."""
        return self.flag in FLAG_REASONS

    @property
    def flag_reason(self) -> str:
        return FLAG_REASONS.get(self.flag, "")

    def withhold(self) -> None:
        """Drop the answer the service flagged: nothing of it is shown, kept or sent back."""
        self.withheld += len(self.text) + len(self.reasoning)
        self.text = self.reasoning = ""

    @property
    def ok(self) -> bool:
        return self.error is None and not self.interrupted

    @property
    def ended_normally(self) -> bool:
        # v1 says "normal", and "stop" when a stop text ended the answer; v2 says "stop" for a normal end
        if self.calls and self.finish_reason in ("function_call", "tool_calls"):
            return True  # a round that asked for calls; they are shown, not the finish reason
        return self.finish_reason in NORMAL_FINISH or (self.api == "v2" and self.finish_reason == "stop")

    @property
    def round(self) -> int:
        """Which request of its turn this reply answers: 1, or more after tool calls."""
        return len(self.rounds) + 1

    @property
    def all_calls(self) -> list:
        """Every tool call of the turn so far, in order."""
        return [call for step in self.rounds + [self] for call in step.calls]

    @property
    def thinking(self) -> bool:
        """Reasoning has arrived and the answer has not begun."""
        return bool(self.reasoning) and not self.text and not self.done

    @property
    def thought_for(self) -> float | None:
        """Seconds from the first reasoning to the first answer text (or to the end)."""
        if self.reasoning_started is None or self.reasoning_ended is None:
            return None
        return max(0.0, self.reasoning_ended - self.reasoning_started)

    @property
    def label(self) -> str:
        """What answered: the model, or the deployed endpoint."""
        return model_label(self.model, self.endpoint)

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        text = self.text if len(self.text) <= 50 else self.text[:47] + "..."
        state = "interrupted" if self.interrupted else ("error" if self.error else self.finish_reason)
        return f"Reply(model={self.label!r}, text={text!r}, state={state!r}, usage={self.usage!r})"

    def to_dict(self) -> dict:
        usage = None if self.usage is None else {
            "prompt_tokens": self.usage.prompt_tokens, "completion_tokens": self.usage.completion_tokens,
            "total_tokens": self.usage.total_tokens,
            "completion_tokens_details": {"reasoning_tokens": self.usage.reasoning_tokens}}
        return {
            "prompt": self.prompt, "text": self.text, "reasoning": self.reasoning, "api": self.api,
            "model": self.model, "endpoint": self.endpoint,
            "chat": self.chat, "kind": self.kind, "id": self.id, "finish_reason": self.finish_reason,
            "is_truncated": self.is_truncated, "interrupted": self.interrupted,
            "error": str(self.error) if self.error else None, "usage": usage,
            "latency": self.latency, "time_to_first_token": self.time_to_first_token, "retries": self.retries,
            "function_call": self.function_call, "tool_calls": self.tool_calls, "search_info": self.search_info,
            "search_results": self.search_results, "calls": [call.to_dict() for call in self.calls],
            "rounds": [step.to_dict() for step in self.rounds], "tool_stop": self.tool_stop or None,
            "need_clear_history": self.need_clear_history, "ban_round": self.ban_round, "created": self.created,
            "flag": self.flag, "withheld": self.withheld,
            "params": self.params, "notes": self.notes, "cost_yuan": self.cost_yuan, "emulated": self.emulated,
            "lesson": self.lesson,
        }

    @classmethod
    def from_dict(cls, data: dict) -> "Reply":
        """A finished Reply again, from ``to_dict()`` (a logged turn, resumed after a restart)."""
        from ._tools import ToolCall

        reply = cls(prompt=data.get("prompt") or "", model=data.get("model"), endpoint=data.get("endpoint"),
                    chat=data.get("chat"), kind=data.get("kind") or "chat")
        for name in ("text", "reasoning", "api", "id", "finish_reason", "latency", "time_to_first_token",
                     "function_call", "search_info", "ban_round", "created", "lesson"):
            if data.get(name) is not None:
                setattr(reply, name, data[name])
        for name in ("is_truncated", "interrupted", "need_clear_history", "emulated"):
            setattr(reply, name, bool(data.get(name)))
        reply.retries = int(data.get("retries") or 0)
        flag = data.get("flag")
        reply.flag = flag if isinstance(flag, int) and not isinstance(flag, bool) else 0
        reply.withheld = int(data.get("withheld") or 0)
        reply.usage = Usage(data["usage"]) if isinstance(data.get("usage"), dict) else None
        reply.error = QianfanError(data["error"]) if data.get("error") else None
        reply.tool_calls = list(data.get("tool_calls") or [])
        reply.search_results = list(data.get("search_results") or [])
        reply.calls = [ToolCall.from_dict(call) for call in data.get("calls") or []]
        reply.rounds = [cls.from_dict(step) for step in data.get("rounds") or []]
        reply.tool_stop = data.get("tool_stop") or ""
        reply.params = dict(data.get("params") or {})
        reply.notes = list(data.get("notes") or [])
        # the estimate made when it was answered; a turn logged before costs were kept is priced now
        cost = data["cost_yuan"] if "cost_yuan" in data else reply_cost(reply)
        reply.cost_yuan = float(cost) if isinstance(cost, (int, float)) and not isinstance(cost, bool) else None
        reply.done = True
        return reply

    def absorb(self, part) -> None:
        """Take what a response, or one chunk of a stream, says about how the answer ends."""
        self.id = part.id or self.id
        if getattr(part, "rate_limit", None) is not None:
            self.rate_limit = part.rate_limit
        if part.final:
            self.usage = part.usage
            self.finish_reason = part.finish_reason
            self.is_truncated = part.is_truncated
        if part.function_call:
            self.function_call = part.function_call
        if part.search_info:
            self.search_info = part.search_info
        if part.search_results:
            self.search_results = list(part.search_results)
        if part.tool_calls:
            self.tool_calls = list(part.tool_calls)
        if part.need_clear_history:
            self.need_clear_history = True
            self.ban_round = part.ban_round
        flag = part_flag(part)
        if flag > self.flag:
            self.flag = flag
            if self.ban_round is None:
                self.ban_round = getattr(part, "ban_round", None)
        if self.hidden and (self.text or self.reasoning):
            self.withhold()


@dataclass
class Turn:
    """A request message (user, or a function's result) and the reply to it, with the tool rounds between."""

    request: dict
    reply: Reply
    log_id: int | None = None  # for a turn read from the conversation log: its row, run and notebook
    run_id: str | None = None
    notebook: str | None = None

    @property
    def replies(self) -> list[Reply]:
        return self.reply.rounds + [self.reply]

    def messages(self, api: str | None = None) -> list[dict]:
        """The turn as sent to ``api`` (default: the one that answered it), tool calls in that API's form."""
        api = api or self.reply.api or "v1"
        out = [self.request]
        for step in self.replies:
            out.extend(step_messages(step, api))
        if api == "v1" and out[-1]["role"] == "function":
            out.pop()  # v1 needs an answer after a result; a turn stopped there ends at the call
        return out


def step_messages(reply: Reply, api: str) -> list[dict]:
    """One reply of a turn as messages: its answer, or the calls it asked for and their results."""
    if not reply.calls:
        if not reply.text and not reply.function_call and reply.rounds:
            return []  # the request after the tool results failed: nothing answered it
        answer: dict[str, Any] = {"role": "assistant", "content": reply.text}
        if reply.function_call:
            answer["function_call"] = reply.function_call
        return [answer]
    if api == "v2":
        calls = [{"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
                 for c in reply.calls]
        return [{"role": "assistant", "content": reply.text, "tool_calls": calls}] + [
            {"role": "tool", "tool_call_id": c.id, "content": c.result} for c in reply.calls]
    out = []
    for index, call in enumerate(reply.calls):  # v1 takes one call a round
        asked = (reply.function_call if len(reply.calls) == 1 and reply.function_call else
                 {"name": call.name, "arguments": call.arguments})
        out += [{"role": "assistant", "content": reply.text if index == 0 else "", "function_call": asked},
                {"role": "function", "name": call.name, "content": call.result}]
    return out


@dataclass
class TurnEvent:
    """What observers hear: kind is start, delta, end, cleared or reset."""

    kind: str
    chat: str | None
    reply: Reply | None = None
    delta: str = ""
    message: str = ""


class Conversation:
    """A named conversation: its model (or endpoint), system prompt, default parameters and turns."""

    def __init__(self, name: str, model: str | None = None, endpoint: str | None = None):
        self.name = name
        self.model = model
        self.endpoint = endpoint
        self.system: str | None = None
        self.params: dict[str, Any] = {}
        self.turns: list[Turn] = []
        self.removed: list[Turn] = []  # turns cleared at the service's request, kept for export
        self.run_id = new_run_id()  # this conversation's run in the log: one life, continued when resumed
        self._lock: asyncio.Lock | None = None

    @property
    def lock(self) -> asyncio.Lock:
        # every turn runs on the session's loop, so one lock serves all writers
        if self._lock is None:
            self._lock = asyncio.Lock()
        return self._lock

    def label(self, default_model: str) -> str:
        return model_label(self.model, self.endpoint, default_model)

    def messages(self, api: str | None = None) -> list[dict]:
        out: list[dict] = []
        for turn in self.turns:
            out.extend(turn.messages(api))
        return out

    @property
    def totals(self) -> dict:
        out = totals(reply for turn in self.turns for reply in turn.replies)
        out["turns"] = len(self.turns)
        return out

    def settings(self) -> tuple:
        return self.model, self.endpoint, self.system

    def restore(self, settings: tuple) -> None:
        self.model, self.endpoint, self.system = settings

    def fit(self, request: dict, spec, system: str | None, api: str | None = None) -> list[dict]:
        """The newest turns that fit ``spec``'s input limits, then ``request``: the oldest whole turns dropped."""
        for first in range(len(self.turns) + 1):
            messages = [m for turn in self.turns[first:] for m in turn.messages(api)] + [request]
            chars, tokens = input_size({"messages": messages, "system": system})
            if chars <= spec.max_input_chars and (spec.max_input_tokens is None or tokens <= spec.max_input_tokens):
                break
        return messages

    def record(self, request: dict, reply: Reply) -> str | None:
        """Keep a finished turn so the history stays a valid alternation; a message if rounds were cleared."""
        if reply.need_clear_history or reply.hidden:
            return self._clear_flagged(request, reply)
        if reply.text.strip() or reply.function_call or reply.calls or reply.rounds:
            self.turns.append(Turn(request, reply))  # an interrupted answer is kept, marked
        return None

    def _clear_flagged(self, request: dict, reply: Reply) -> str:
        # Drop the flagged round and everything after it, as the service asks;
        # -1 means the question just asked. Earlier rounds stay.
        rounds = len(self.turns) + 1
        first = rounds if reply.ban_round in (None, -1) else max(1, min(int(reply.ban_round), rounds))
        reply.cleared_rounds = list(range(first, rounds + 1))
        self.removed.extend(self.turns[first - 1:])
        del self.turns[first - 1:]
        self.removed.append(Turn(request, reply))
        if reply.hidden:
            return (f"{reply.flag_reason}; the round was removed from the conversation "
                    f"({len(reply.cleared_rounds)} round(s) removed, {first - 1} kept).")
        return (f"The service flagged round {first if first < rounds else 'just asked'} as unsafe and asked "
                f"to clear the conversation: {len(reply.cleared_rounds)} round(s) removed, {first - 1} kept.")

    def __repr__(self) -> str:
        return f"Conversation({self.name!r}, model={self.model!r}, turns={len(self.turns)})"


def new_run_id() -> str:
    return os.urandom(8).hex()


def totals(replies: Iterable[Reply]) -> dict:
    """Turns, tokens, latency and estimated ¥ added up; ``unpriced`` counts answers whose cost is not known."""
    out = {"turns": 0, "prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0, "latency": 0.0,
           "cost_yuan": 0.0, "unpriced": 0}
    for reply in replies:
        out["turns"] += 1
        if reply.cost_yuan is not None:
            out["cost_yuan"] += reply.cost_yuan
        elif reply.usage is not None:
            out["unpriced"] += 1
        if reply.usage is not None:
            out["prompt_tokens"] += reply.usage.prompt_tokens
            out["completion_tokens"] += reply.usage.completion_tokens
            out["total_tokens"] += reply.usage.total_tokens
        out["latency"] += reply.latency or 0.0
    return out
