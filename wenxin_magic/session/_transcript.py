"""Conversations written out: Markdown for people, JSON for programs."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from ..api import InvalidRequestError
from ._conversation import Conversation

SUFFIXES = (".md", ".markdown", ".json")


def markdown(conv: Conversation, default_model: str) -> str:
    """A conversation as a Markdown transcript: its settings, then each turn with its notes."""
    lines = [f"# Conversation: {conv.name}", "", f"- model: {conv.label(default_model)}"]
    if conv.system:
        lines.append(f"- system: {conv.system}")
    totals = conv.totals
    lines += [f"- turns: {totals['turns']}, tokens: {totals['total_tokens']}", ""]
    for turn in conv.turns:
        who = "Function result" if turn.request.get("role") == "function" else "User"
        lines += [f"**{who}:**", "", str(turn.request.get("content") or ""), ""]
        reply = turn.reply
        for step in reply.rounds:
            lines += _calls_markdown(step)
        lines += [f"**{reply.label}:**", ""]
        if reply.reasoning:
            lines += ["<details><summary>Reasoning</summary>", "", reply.reasoning, "", "</details>", ""]
        lines += [reply.text or "", ""]
        if reply.calls:
            lines += _calls_markdown(reply)
        elif reply.function_call:
            lines += [f"_function call: `{json.dumps(reply.function_call, ensure_ascii=False)}`_", ""]
        if reply.tool_stop:
            lines += [f"_{reply.tool_stop}_", ""]
        notes = _turn_notes(reply)
        if notes:
            lines += [f"_{', '.join(notes)}_", ""]
    return "\n".join(lines)


def _calls_markdown(reply) -> list[str]:
    """The tool calls a reply asked for: each call, its outcome and what the model was sent."""
    lines = []
    for call in reply.calls:
        took = f", {call.duration:.2f} s" if call.duration is not None else ""
        sent = call.result or call.error
        fence = "`" * max(3, 1 + max((len(run) for run in re.findall(r"`+", sent)), default=0))
        lines += [f"**Tool call** `{call.name}({call.arguments})` ({call.status}{took}):", "", fence, sent, fence, ""]
    return lines


def _turn_notes(reply) -> list[str]:
    notes = []
    if reply.usage is not None:
        notes.append(f"{reply.usage.total_tokens} tokens")
    if reply.latency is not None:
        notes.append(f"{reply.latency:.2f} s")
    if reply.interrupted:
        notes.append("interrupted")
    return notes


def as_json(convs: list[Conversation]) -> str:
    data = {"conversations": [{
        "name": c.name, "model": c.model, "endpoint": c.endpoint, "system": c.system,
        "turns": [{"request": t.request, "reply": t.reply.to_dict()} for t in c.turns],
        "removed_turns": [{"request": t.request, "reply": t.reply.to_dict()} for t in c.removed],
        "totals": c.totals} for c in convs]}
    return json.dumps(data, ensure_ascii=False, indent=2)


def export(convs: list[Conversation], path: str | os.PathLike, default_model: str) -> Path:
    """Write ``convs`` to ``path``: Markdown for .md/.markdown, JSON for .json."""
    target = Path(path)
    suffix = target.suffix.lower()
    if suffix not in SUFFIXES:
        raise InvalidRequestError(f"Cannot export to {target.name!r}: use a .md (Markdown) or .json path.",
                                  field="path", allowed=", ".join(SUFFIXES))
    if suffix == ".json":
        text = as_json(convs)
    else:
        text = "\n".join(markdown(c, default_model) for c in convs)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")
    return target
