"""Rendering answers: streaming Markdown in one updatable output, the comparison grid, a terminal fallback.

A display update replaces the whole output, so sending the full text on every
chunk costs O(n^2) bytes. Updates here are throttled in time (at most one per
``min_interval``, at least one per ``max_interval`` while text arrives) and in
bytes: the streamed updates of an answer never total more than
``budget_factor`` (2) times its size plus a small floor, so with the final
output (Markdown and plain text, sent once) the traffic stays within about
five times the answer.
Long, slow answers therefore update less often as they grow.
"""

from __future__ import annotations

import asyncio
import html
import json
import re
import sys
import time
from typing import Callable

from .session import Reply


def can_update_display() -> bool:
    """True in a Jupyter kernel, where outputs can be replaced in place; False in a terminal."""
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython is a dependency
        return False
    shell = get_ipython()
    return shell is not None and type(shell).__name__ == "ZMQInteractiveShell"


def footer(reply: Reply, *, streaming: bool = False) -> str:
    """model · tokens · latency · anything unusual about how it ended."""
    parts = [reply.label]
    if streaming and not reply.done:
        parts.append("thinking…" if reply.thinking else f"{len(reply.text):,} characters so far…")
        return " · ".join(parts)
    if reply.usage is not None and reply.usage.total_tokens:
        tokens = f"{reply.usage.prompt_tokens} + {reply.usage.completion_tokens} tokens"
        reasoning = reply.usage.reasoning_tokens
        parts.append(tokens + (f" ({reasoning} reasoning)" if reasoning else ""))
    if reply.latency is not None:
        timing = f"{reply.latency:.2f} s"
        if reply.time_to_first_token is not None:
            timing += f" (first token {reply.time_to_first_token:.2f} s)"
        parts.append(timing)
    if reply.retries:
        parts.append(f"retried {reply.retries}×")
    if reply.context:
        parts.append(reply.context)
    if not reply.ended_normally:
        parts.append(f"finish: {reply.finish_reason}")
    if reply.is_truncated:
        parts.append("truncated")
    if reply.interrupted:
        parts.append("⏹ interrupted — partial answer" if reply.text else "⏹ interrupted")
    return " · ".join(parts)


def error_text(reply: Reply) -> str:
    err = reply.error
    if err is None:
        return ""
    # The texts are ours or the service's, written with Markdown in mind; only HTML is neutralised.
    code = f" [{err.code}]" if err.code is not None else ""
    lines = [f"**Error{code}:** {html.escape(err.message, quote=False)}"]
    if err.hint and err.hint != err.message:
        lines.append(html.escape(err.hint, quote=False))
    if err.request_id:
        lines.append(f"request id `{err.request_id}`")
    return "  \n".join(lines)


def md_escape(text: str) -> str:
    """``text`` with Markdown's special characters escaped, for table cells and labels."""
    return re.sub(r"([\\`*_\[\]<>#|])", r"\\\1", text)


def _close_fences(text: str) -> str:
    """A partial answer may stop inside a code fence; close it so the footer is not swallowed."""
    return text + "\n```" if text.count("```") % 2 else text


class ReplyView:
    """One reply rendered: Markdown for cells, grid columns and panel bubbles, plain text for terminals.

    ``compact`` (the panel's bubbles) names a requested function call instead of showing its JSON.
    """

    def __init__(self, reply: Reply, *, compact: bool = False):
        self.reply = reply
        self.compact = compact

    def markdown(self, *, streaming: bool = False) -> str:
        reply = self.reply
        body = _close_fences(reply.text) if reply.text else ("…" if streaming and not reply.reasoning else "")
        if reply.calls and not reply.text:
            body = ""  # a round that only asked for calls: its blocks say what happened
        # notes belong to the question, so they show with its first reply only
        parts = [f"> ℹ {html.escape(note, quote=False)}" for note in reply.notes] if not reply.rounds else []
        parts += [self._thinking_markdown()] if reply.reasoning else []
        parts += [body] if body else []
        if reply.search_results:
            parts.append(self._references_markdown())
        if reply.calls:
            parts.extend(call_markdown(call, compact=self.compact) for call in reply.calls)
        elif reply.function_call:
            parts.append(self._function_call_markdown())
        if reply.tool_stop:
            parts.append(f"> ⏸ {html.escape(reply.tool_stop, quote=False)}")
        if reply.error is not None:
            parts.append(error_text(reply))
        if reply.cleared_rounds:
            parts.append(f"> ⚠ The service flagged this conversation as unsafe (ban_round {reply.ban_round}) and "
                         f"asked to clear it: round(s) {', '.join(map(str, reply.cleared_rounds))} removed.")
        parts.append(f"<sub>{html.escape(footer(reply, streaming=streaming))}</sub>")
        return "\n\n".join(parts)

    def _thinking_markdown(self) -> str:
        """The reasoning, collapsed: 'Thinking…' while it streams, then how long it took."""
        reply = self.reply
        seconds = reply.thought_for
        if reply.thinking or seconds is None:
            summary = "Thinking…"
        else:
            summary = f"Thought for {seconds:.1f} s"
        # blank lines around the text let Markdown inside the HTML block render
        return (f"<details><summary>{summary}</summary>\n\n{_close_fences(html.escape(reply.reasoning, quote=False))}"
                "\n\n</details>")

    def _references_markdown(self) -> str:
        """Web search results as numbered links, matching the ^[n]^ marks in the answer."""
        lines = ["**References**", ""]
        for position, result in enumerate(self.reply.search_results, start=1):
            number = result.get("index", position)
            title = md_escape(str(result.get("title") or result.get("url") or "source"))
            url = str(result.get("url") or "")
            lines.append(f"{number}. [{title}]({url})" if url.startswith(("http://", "https://")) else
                         f"{number}. {title}")
        return "\n".join(lines)

    def _function_call_markdown(self) -> str:
        call = self.reply.function_call
        if self.compact:
            return f"*function call requested: `{call.get('name')}`*"
        return f"**Function call requested:**\n\n```json\n{json.dumps(call, ensure_ascii=False, indent=1)}\n```"

    def plain_notes(self) -> list[str]:
        """What follows the text in plain output: tool calls (or a requested function call), the error."""
        notes = [call_plain(call) for call in self.reply.calls]
        if self.reply.tool_stop:
            notes.append(self.reply.tool_stop)
        if self.reply.function_call and not self.reply.calls:
            notes.append("Function call requested: " + json.dumps(self.reply.function_call, ensure_ascii=False))
        if self.reply.error is not None:
            notes.append(f"Error: {self.reply.error}")
        return notes

    def plain_thinking(self) -> str:
        return f"[thinking]\n{self.reply.reasoning}\n[/thinking]" if self.reply.reasoning else ""

    def plain_references(self) -> list[str]:
        return [f"[{r.get('index', i)}] {r.get('title') or ''} {r.get('url') or ''}".strip()
                for i, r in enumerate(self.reply.search_results, start=1)]

    def plain(self) -> str:
        parts = [f"note: {note}" for note in self.reply.notes] if not self.reply.rounds else []
        parts += [self.plain_thinking()] if self.reply.reasoning else []
        parts += [self.reply.text] if self.reply.text else []
        if self.reply.search_results:
            parts.append("\n".join(["References:"] + self.plain_references()))
        return "\n\n".join(parts + self.plain_notes() + [f"[{footer(self.reply)}]"])


_CALL_ICONS = {"pending": "⏳", "running": "⏳", "ok": "🔧", "error": "❌", "invalid": "⚠️", "unknown": "⚠️",
               "declined": "🚫", "interrupted": "⏹", "not run": "⏸"}


def _call_outcome(call) -> str:
    """After the call's name: what came of it, in a few words."""
    if call.status in ("pending", "running"):
        return "running…" if call.status == "running" else "waiting…"
    if call.status == "ok":
        result = call.result if len(call.result) <= 60 else call.result[:59] + "…"
        outcome = f"→ {result}"
    elif call.status == "error":
        outcome = f"raised {call.error}"
    else:
        outcome = call.error
    return outcome + (f" · {call.duration:.2f} s" if call.duration is not None else "")


def _fenced(text: str, info: str = "") -> str:
    """``text`` in a code fence longer than any run of backticks inside it."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{info}\n{text}\n{fence}"


def call_markdown(call, *, compact: bool = False) -> str:
    """One tool call as a collapsed block: the call and its outcome; inside, the arguments and the result sent."""
    summary = (f"{_CALL_ICONS.get(call.status, '🔧')} <code>{html.escape(call.label(60 if compact else 100))}</code> "
               f"{html.escape(_call_outcome(call), quote=False)}")
    try:
        arguments = json.dumps(json.loads(call.arguments or "{}"), ensure_ascii=False, indent=1)
    except ValueError:
        arguments = call.arguments
    inside = [f"**arguments**\n\n{_fenced(arguments, 'json')}"]
    if call.thoughts:
        inside.insert(0, f"*{html.escape(call.thoughts, quote=False)}*")
    if call.user_frames:
        inside.append(f"**traceback** (your code)\n\n{_fenced(call.user_frames.rstrip())}")
    if call.result:
        inside.append(f"**sent to the model**\n\n{_fenced(call.result)}")
    # blank lines around the inside let its Markdown render within the HTML block
    return f"<details><summary>{summary}</summary>\n\n" + "\n\n".join(inside) + "\n\n</details>"


def call_plain(call) -> str:
    return f"[tool] {call.label(100)} {_call_outcome(call)}"


def _cell_text(text: str | None, limit: int) -> str:
    text = " ".join(str(text or "").split())
    return text if len(text) <= limit else text[:limit - 1] + "…"


def log_table(turns) -> tuple[str, str]:
    """Logged turns as a Markdown table and as plain text: when, conversation, model, question, answer, tokens."""
    from datetime import datetime

    rows = ["| id | when | chat | run | model | question | answer | tokens |", "|---|---|---|---|---|---|---|---|"]
    plain = []
    for turn in turns:
        reply = turn.reply
        when = datetime.fromtimestamp(reply.created).strftime("%Y-%m-%d %H:%M")
        tokens = sum(step.usage.total_tokens for step in turn.replies if step.usage is not None)
        answer = reply.text or (f"⚠ {reply.error}" if reply.error else "")
        cells = [str(turn.log_id), when, reply.chat or "—", (turn.run_id or "")[:8], reply.label,
                 _cell_text(turn.request.get("content"), 60), _cell_text(answer, 90), str(tokens)]
        rows.append("| " + " | ".join(md_escape(cell) for cell in cells) + " |")
        plain.append("  ".join(cells))
    return "\n".join(rows), "\n".join(plain)


def reply_markdown(reply: Reply, *, streaming: bool = False) -> str:
    return ReplyView(reply).markdown(streaming=streaming)


def reply_plain(reply: Reply) -> str:
    return ReplyView(reply).plain()


def _shown_bytes(reply: Reply) -> int:
    """How much of a reply a display shows: the answer and the reasoning above it."""
    return len(reply.text.encode()) + len(reply.reasoning.encode())


class Throttle:
    """Decides when an update may go out: time and byte budget, with a timer so nothing stalls."""

    def __init__(self, push: Callable[[], int], size: Callable[[], int], *, min_interval: float,
                 max_interval: float, budget_factor: float, budget_floor: int):
        self._push = push
        self._size = size
        self.min_interval = min_interval
        self.max_interval = max_interval
        self.budget_factor = budget_factor
        self.budget_floor = budget_floor
        self.sent_bytes = 0
        self.updates = 0
        self._last = 0.0
        self._timer = None
        self._dirty = False

    def allowed(self, size: int) -> bool:
        return self.sent_bytes + size <= self.budget_factor * size + self.budget_floor

    def poke(self, size: int) -> None:
        self._dirty = True
        now = time.monotonic()
        if now - self._last >= self.min_interval and self.allowed(size):
            self._fire(now)
        elif self._timer is None:
            self._schedule(max(self.min_interval - (now - self._last), 0.0) or self.max_interval)

    def _fire(self, now: float) -> None:
        self._cancel()
        self._dirty = False
        self._last = now
        self.sent_bytes += self._push()
        self.updates += 1

    def _schedule(self, delay: float) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        self._timer = loop.call_later(delay, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        if self._dirty:
            self._dirty = False
            self.poke(self._size())

    def _cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def close(self) -> None:
        self._cancel()


class _Live:
    """One output with a display id, re-rendered through a throttle."""

    def __init__(self, *, min_interval=0.05, max_interval=0.2, budget_factor=2.0, budget_floor=4096):
        from IPython.display import display

        self._display = display
        self._handle = None
        self._throttle = Throttle(self._push, self._size, min_interval=min_interval, max_interval=max_interval,
                                   budget_factor=budget_factor, budget_floor=budget_floor)

    # subclasses: the current bundle while streaming, the final bundle, and the answer size
    def _streaming_bundle(self) -> dict:
        raise NotImplementedError

    def _final_bundle(self) -> dict:
        raise NotImplementedError

    def _size(self) -> int:
        raise NotImplementedError

    @property
    def updates(self) -> int:
        return self._throttle.updates

    def start(self) -> None:
        self._handle = self._display(self._streaming_bundle(), raw=True, display_id=True)

    def _push(self) -> int:
        bundle = self._streaming_bundle()
        self._handle.update(bundle, raw=True)
        return sum(len(v.encode()) for v in bundle.values())

    def changed(self) -> None:
        self._throttle.poke(self._size())

    def finish(self) -> None:
        self._throttle.close()
        self._handle.update(self._final_bundle(), raw=True)


class LiveReply(_Live):
    """A single answer streaming into one Markdown output."""

    def __init__(self, reply: Reply, *, fmt: str = "markdown", **throttle):
        self.reply = reply
        self.fmt = fmt
        super().__init__(**throttle)

    def _size(self) -> int:
        return _shown_bytes(self.reply)

    def _streaming_bundle(self) -> dict:
        return {"text/markdown": reply_markdown(self.reply, streaming=True)}

    def _final_bundle(self) -> dict:
        reply = self.reply
        if self.fmt == "text":
            return {"text/plain": reply_plain(reply)}
        if self.fmt == "json":
            data = extract_json(reply.text)
            if data is not None and reply.error is None:
                return {"application/json": data, "text/plain": json.dumps(data, ensure_ascii=False, indent=2)}
        return {"text/markdown": reply_markdown(reply), "text/plain": reply_plain(reply)}


def _chain_markdown(reply: Reply, *, streaming: bool) -> str:
    """A reply after the turn's tool rounds: each earlier round's calls, then the reply."""
    calls = [call_markdown(call, compact=True) for step in reply.rounds for call in step.calls]
    return "\n\n".join(calls + [reply_markdown(reply, streaming=streaming)])


class LiveGrid(_Live):
    """Several answers side by side in one output: one column per model, each with its own footer."""

    def __init__(self, replies: list[Reply], **throttle):
        self.replies = replies
        super().__init__(**throttle)

    def _size(self) -> int:
        return sum(_shown_bytes(r) for r in self.replies)

    def _grid(self, streaming: bool) -> str:
        width = max(1, 100 // len(self.replies))
        head = "".join(f"<th>{html.escape(r.label)}</th>" for r in self.replies)
        cells = "".join(
            f'</td><td width="{width}%" valign="top" style="vertical-align: top">\n\n'
            f'{_chain_markdown(r, streaming=streaming and not r.done)}\n\n'
            for r in self.replies)
        return f"<table>\n<tr>{head}</tr>\n<tr><td>{cells}</td></tr>\n</table>".replace("<tr><td></td>", "<tr>", 1)

    def _plain(self) -> str:
        return "\n\n".join(f"=== {r.label} ===\n" + "\n\n".join(reply_plain(step) for step in r.rounds + [r])
                           for r in self.replies)

    def _streaming_bundle(self) -> dict:
        return {"text/markdown": self._grid(True)}

    def _final_bundle(self) -> dict:
        return {"text/markdown": self._grid(False), "text/plain": self._plain()}


class TerminalReply:
    """Terminal IPython or plain Python: print text as it arrives, then the footer."""

    def __init__(self, reply: Reply, stream=None):
        self.reply = reply
        self.stream = stream or sys.stdout
        self.updates = 0
        self._printed = 0
        self._thought = 0
        dim = getattr(self.stream, "isatty", lambda: False)()
        self._dim, self._undim = ("\x1b[2m", "\x1b[0m") if dim else ("", "")

    def start(self) -> None:
        pass

    def changed(self) -> None:
        self._write_reasoning()
        new = self.reply.text[self._printed:]
        if new:
            if self._thought and not self._printed:
                self.stream.write(f"{self._undim}\n[/thinking]\n\n")
            self.stream.write(new)
            self.stream.flush()
            self._printed += len(new)
            self.updates += 1

    def _write_reasoning(self) -> None:
        """Reasoning goes first, marked (and dim on a terminal), while no answer text has been printed."""
        new = self.reply.reasoning[self._thought:]
        if new and not self._printed:
            self.stream.write(("[thinking]\n" + self._dim if not self._thought else "") + new)
            self.stream.flush()
            self._thought += len(new)
            self.updates += 1

    def finish(self) -> None:
        self.changed()
        if self._thought and not self._printed:
            self.stream.write(f"{self._undim}\n[/thinking]\n")
        if self.reply.search_results:
            self.stream.write("\n" + "\n".join(["References:"] + ReplyView(self.reply).plain_references()) + "\n")
        notes = ReplyView(self.reply).plain_notes()
        tail = ("\n" if self._printed else "") + "".join(f"{n}\n" for n in notes) + f"[{footer(self.reply)}]\n"
        self.stream.write(tail)
        self.stream.flush()


class TerminalGrid:
    """Comparison in a terminal: each model's answer in turn, once all are done."""

    def __init__(self, replies: list[Reply], stream=None):
        self.replies = replies
        self.stream = stream or sys.stdout
        self.updates = 0

    def start(self) -> None:
        pass

    def changed(self) -> None:
        pass

    def finish(self) -> None:
        for reply in self.replies:
            self.stream.write(f"=== {reply.label} ===\n{reply_plain(reply)}\n\n")
        self.stream.flush()


def live_reply(reply: Reply, fmt: str = "markdown", **throttle):
    return LiveReply(reply, fmt=fmt, **throttle) if can_update_display() else TerminalReply(reply)


class WidgetBatchProgress:
    """A batch's progress in a notebook: one ipywidgets bar, and a line with done/total, failures, tokens and ETA."""

    def __init__(self):
        import ipywidgets as w
        from IPython.display import display

        self.bar = w.IntProgress(value=0, min=0, max=1, bar_style="info", layout=w.Layout(width="320px"))
        self.label = w.HTML("starting…")
        self.widget = w.HBox([self.bar, self.label])
        self.updates = 0
        display(self.widget)

    def update(self, progress) -> None:
        self.bar.max = max(1, progress.total)
        self.bar.value = progress.done + progress.failed
        self.label.value = html.escape(progress.summary())
        self.updates += 1

    def finish(self, progress, note: str = "") -> None:
        self.update(progress)
        self.bar.bar_style = "danger" if note else ("warning" if progress.failed else "success")
        if note:
            self.label.value += " · " + html.escape(note)


class TerminalBatchProgress:
    """The same as a text bar, rewritten in place on a terminal (a line per update elsewhere)."""

    width = 24

    def __init__(self, stream=None):
        self.stream = stream or sys.stderr
        self.updates = 0

    def line(self, progress) -> str:
        finished = progress.done + progress.failed
        filled = self.width * finished // max(1, progress.total)
        return f"[{'#' * filled}{'-' * (self.width - filled)}] {progress.summary()}"

    def update(self, progress) -> None:
        end = "\r" if self.stream.isatty() else "\n"
        self.stream.write(self.line(progress) + end)
        self.stream.flush()
        self.updates += 1

    def finish(self, progress, note: str = "") -> None:
        self.stream.write(self.line(progress) + (f" · {note}" if note else "") + "\n")
        self.stream.flush()


def batch_progress():
    return WidgetBatchProgress() if can_update_display() else TerminalBatchProgress()


def live_grid(replies: list[Reply], **throttle):
    return LiveGrid(replies, **throttle) if can_update_display() else TerminalGrid(replies)


_FENCE = re.compile(r"```[\w+-]*\n(.*?)```", re.S)


def extract_code(text: str) -> str:
    """The code blocks of an answer (all of them, in order), or the whole answer if it has none."""
    blocks = _FENCE.findall(text)
    return "\n\n".join(b.rstrip("\n") for b in blocks) if blocks else text.strip()


def extract_json(text: str):
    """The JSON value an answer holds (bare or in a fenced block), or None."""
    candidates = [text.strip()] + [b.strip() for b in _FENCE.findall(text)]
    for candidate in candidates:
        try:
            return json.loads(candidate)
        except ValueError:
            continue
    return None
