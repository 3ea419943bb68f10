"""Conversations written out: Markdown for people, JSON for programs."""

from __future__ import annotations

import json
import os
from pathlib import Path

from ..api import InvalidRequestError
from ..sanitize import code_span, fenced, safe_markdown
from ._conversation import Conversation
from ._pictures import message_text, shown_request

SUFFIXES = (".md", ".markdown", ".json")


def markdown(conv: Conversation, default_model: str) -> str:
    """A conversation as a Markdown transcript: its settings, then each turn with its notes.

    Everything in it came from outside but the headings, so each piece goes through ``safe_markdown``
    (prose) or ``code_span`` / ``fenced`` (code): a reader of the file renders no tag from it.
    """
    lines = [f"# Conversation: {safe_markdown(conv.name)}", "", f"- model: {safe_markdown(conv.label(default_model))}"]
    if conv.system:
        lines.append(f"- system: {safe_markdown(' '.join(conv.system.splitlines()))}")
    totals = conv.totals
    lines += [f"- turns: {totals['turns']}, tokens: {totals['total_tokens']}", ""]
    for turn in conv.turns:
        who = "Function result" if turn.request.get("role") == "function" else "User"
        lines += [f"**{who}:**", "", safe_markdown(message_text(turn.request)), ""]
        reply = turn.reply
        for step in reply.rounds:
            lines += _calls_markdown(step)
        lines += [f"**{safe_markdown(reply.label)}:**", ""]
        if reply.reasoning:
            lines += ["<details><summary>Reasoning</summary>", "", safe_markdown(reply.reasoning), "", "</details>", ""]
        lines += [safe_markdown(reply.text or ""), ""]
        if reply.calls:
            lines += _calls_markdown(reply)
        elif reply.function_call:
            lines += [f"_function call:_ {code_span(json.dumps(reply.function_call, ensure_ascii=False))}", ""]
        if reply.tool_stop:
            lines += [f"_{safe_markdown(reply.tool_stop)}_", ""]
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
        lines += [f"**Tool call** {code_span(f'{call.name}({call.arguments})')} ({safe_markdown(call.status)}{took}):",
                  "", fenced(sent), ""]
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
        "turns": [{"request": shown_request(t.request), "reply": t.reply.to_dict()} for t in c.turns],
        "removed_turns": [{"request": shown_request(t.request), "reply": t.reply.to_dict()} for t in c.removed],
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
