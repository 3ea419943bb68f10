"""Rendering answers: streaming HTML in one updatable output, the comparison grid, a terminal fallback.

Answers are Markdown from outside, so they are rendered here, through ``sanitize.safe_html``, and sent as
HTML: JupyterLab would insert the HTML inside a trusted ``text/markdown`` output as it is.

A display update replaces the whole output, so sending the full text on every
chunk costs O(n^2) bytes. Updates here are throttled in time (at most one per
``min_interval``, at least one per ``max_interval`` while text arrives) and in
bytes: the streamed updates of an answer never total more than
``budget_factor`` (2) times its size plus a small floor, so with the final
output (HTML and plain text, sent once) the traffic stays within about
five times the answer.
Long, slow answers therefore update less often as they grow.
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
import time
from typing import Callable

from .sanitize import clean, safe_html, safe_terminal, safe_url
from .session import Reply, cost_label, message_text, plain_data


def can_update_display() -> bool:
    """True in a Jupyter kernel, where outputs can be replaced in place; False in a terminal."""
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython is a dependency
        return False
    shell = get_ipython()
    return shell is not None and type(shell).__name__ == "ZMQInteractiveShell"


def footer(reply: Reply, *, streaming: bool = False) -> str:
    """model · tokens · latency · anything unusual about how it ended; "emulator" when no model wrote it, "lesson"
    when the emulator replayed a lesson's recorded answer."""
    parts = [reply.label] + (["lesson"] if reply.lesson else ["emulator"] if reply.emulated else [])
    if streaming and not reply.done:
        if reply.hidden:
            parts.append("withdrawn" if reply.flag == 4 else "not shown")
        elif reply.status == "searching" and not reply.text:
            parts.append("searching…")
        else:
            parts.append("thinking…" if reply.thinking else f"{len(reply.text):,} characters so far…")
        return " · ".join(parts)
    if reply.usage is not None and reply.usage.total_tokens:
        tokens = f"{reply.usage.prompt_tokens} + {reply.usage.completion_tokens} tokens"
        reasoning = reply.usage.reasoning_tokens
        parts.append(tokens + (f" ({reasoning} reasoning)" if reasoning else ""))
    if reply.usage is not None and cost_label(reply):  # an estimate at the catalog's price, "free", or unknown
        parts.append(cost_label(reply))
    if reply.latency is not None:
        timing = f"{reply.latency:.2f} s"
        if reply.time_to_first_token is not None:
            timing += f" (first token {reply.time_to_first_token:.2f} s)"
        parts.append(timing)
    if reply.retries:
        parts.append(f"retried {reply.retries}×")
    if reply.context:
        parts.append(reply.context)
    if reply.pictures:  # sent with the question; one shrunk to the service's limits is said here
        shrunk = f", {reply.downscaled} downscaled to fit" if reply.downscaled else ""
        parts.append(f"{len(reply.pictures)} image{'s' if len(reply.pictures) > 1 else ''}{shrunk}")
    if not reply.ended_normally:
        parts.append(f"finish: {reply.finish_reason}")
    if reply.is_truncated:
        parts.append("truncated")
    if reply.hidden:
        parts.append(f"flag {reply.flag}: " + ("withdrawn" if reply.flag == 4 else "not shown"))
    if reply.interrupted:
        parts.append("⏹ interrupted — partial answer" if reply.text else "⏹ interrupted")
    return " · ".join(parts)


def error_html(reply: Reply) -> str:
    """The error of a reply: its code, the message, what to do and the request id, all as text."""
    err = reply.error
    if err is None:
        return ""
    code = f" [{safe_html(err.code, markdown=False)}]" if err.code is not None else ""
    lines = [f"<strong>Error{code}:</strong> {safe_html(err.message, markdown=False)}"]
    if err.hint and err.hint != err.message:
        lines.append(safe_html(err.hint, markdown=False))
    if err.request_id:
        lines.append(f"request id <code>{safe_html(err.request_id, markdown=False)}</code>")
    return "<p>" + "<br>\n".join(lines) + "</p>"


def _text(value) -> str:
    return safe_html(value, markdown=False)


def _quote(text: str) -> str:
    return f"<blockquote><p>{text}</p></blockquote>"


def code_block_html(text: str) -> str:
    """Untrusted text as a code block: escaped, so nothing in it can end the block."""
    return f"<pre><code>{_text(text)}</code></pre>"


class ReplyView:
    """One reply rendered: HTML for cells, grid columns and panel bubbles, plain text for terminals.

    Every string of the reply came from outside, so each goes through ``sanitize.safe_html``; the HTML
    assembled around them goes through ``sanitize.clean`` once more (``html_bundle``).
    ``compact`` (the panel's bubbles) names a requested function call instead of showing its JSON.
    """

    def __init__(self, reply: Reply, *, compact: bool = False):
        self.reply = reply
        self.compact = compact

    def html(self, *, streaming: bool = False) -> str:
        reply = self.reply
        body = safe_html(reply.text) if reply.text else ("<p>…</p>" if streaming and not reply.reasoning else "")
        if reply.schema and reply.text:  # answers as data: the value, or the raw JSON that did not pass
            body = data_html(reply.data) if reply.data is not None else code_block_html(reply.text)
        if (reply.calls and not reply.text) or reply.hidden:
            body = ""  # a round that only asked for calls: its blocks say what happened
        # notes belong to the question, so they show with its first reply only
        parts = [_quote(f"ℹ {_text(note)}") for note in reply.notes] if not reply.rounds else []
        parts += [self._thinking_html()] if reply.reasoning else []
        parts += [body] if body else []
        if reply.hidden:
            parts.append(_quote(f"⚠ {_text(reply.flag_reason)}."))
        if reply.search_results:
            parts.append(self._references_html())
        if reply.calls:
            parts.extend(call_html(call, compact=self.compact) for call in reply.calls)
        elif reply.function_call:
            parts.append(self._function_call_html())
        if reply.tool_stop:
            parts.append(_quote(f"⏸ {_text(reply.tool_stop)}"))
        if reply.error is not None:
            parts.append(error_html(reply))
        if reply.cleared_rounds and reply.hidden:
            rounds = ", ".join(str(int(n)) for n in reply.cleared_rounds)
            parts.append(_quote(f"⚠ Round(s) {rounds} removed from the conversation (ban_round "
                                f"{_text(reply.ban_round)})."))
        elif reply.cleared_rounds:
            rounds = ", ".join(str(int(n)) for n in reply.cleared_rounds)
            parts.append(_quote(f"⚠ The service flagged this conversation as unsafe (ban_round "
                                f"{_text(reply.ban_round)}) and asked to clear it: round(s) {rounds} removed."))
        parts.append(f'<sub class="wenxin-footer">{_text(footer(reply, streaming=streaming))}</sub>')
        return "\n".join(parts)

    def _thinking_html(self) -> str:
        """The reasoning, collapsed: 'Thinking…' while it streams, then how long it took."""
        reply = self.reply
        seconds = reply.thought_for
        summary = "Thinking…" if reply.thinking or seconds is None else f"Thought for {seconds:.1f} s"
        return f"<details><summary>{summary}</summary>\n{safe_html(reply.reasoning)}</details>"

    def _references_html(self) -> str:
        """Web search results as numbered links, matching the ^[n]^ marks in the answer."""
        items = []
        for position, result in enumerate(self.reply.search_results, start=1):
            number = result.get("index", position)
            number = number if isinstance(number, int) and not isinstance(number, bool) else position
            title = _text(result.get("title") or result.get("url") or "source")
            url = safe_url(str(result.get("url") or ""))
            link = f'<a href="{_text(url)}">{title}</a>' if url else title
            items.append(f"<li>[{number}] {link}</li>")
        return "<p><strong>References</strong></p>\n<ul>" + "".join(items) + "</ul>"

    def _function_call_html(self) -> str:
        call = self.reply.function_call
        if self.compact:
            return f"<p><em>function call requested: <code>{_text(call.get('name'))}</code></em></p>"
        return ("<p><strong>Function call requested:</strong></p>\n"
                + code_block_html(json.dumps(call, ensure_ascii=False, indent=1)))

    def plain_notes(self) -> list[str]:
        """What follows the text in plain output: tool calls (or a requested function call), the error."""
        notes = [call_plain(call) for call in self.reply.calls]
        if self.reply.tool_stop:
            notes.append(self.reply.tool_stop)
        if self.reply.function_call and not self.reply.calls:
            notes.append("Function call requested: " + json.dumps(self.reply.function_call, ensure_ascii=False))
        if self.reply.hidden:
            notes.append(f"{self.reply.flag_reason}.")
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
        parts += [self.reply.text] if self.reply.text and self.reply.data is None else []
        parts += [data_plain(self.reply.data)] if self.reply.data is not None else []
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


def call_html(call, *, compact: bool = False) -> str:
    """One tool call as a collapsed block: the call and its outcome; inside, the arguments and the result sent."""
    summary = (f"{_CALL_ICONS.get(call.status, '🔧')} <code>{_text(call.label(60 if compact else 100))}</code> "
               f"{_text(_call_outcome(call))}")
    try:
        arguments = json.dumps(json.loads(call.arguments or "{}"), ensure_ascii=False, indent=1)
    except ValueError:
        arguments = call.arguments
    inside = [f"<p><strong>arguments</strong></p>\n{code_block_html(arguments)}"]
    if call.thoughts:
        inside.insert(0, f"<p><em>{_text(call.thoughts)}</em></p>")
    if call.user_frames:
        inside.append(f"<p><strong>traceback</strong> (your code)</p>\n{code_block_html(call.user_frames.rstrip())}")
    if call.result:
        inside.append(f"<p><strong>sent to the model</strong></p>\n{code_block_html(call.result)}")
    return f"<details><summary>{summary}</summary>\n" + "\n".join(inside) + "\n</details>"


def call_plain(call) -> str:
    return f"[tool] {call.label(100)} {_call_outcome(call)}"


# Markdown's markers, which a one-line preview shows as clutter: emphasis, code ticks, headings, list numbers
_MARKERS = re.compile(r"\*\*|__|`+|^#+\s+|^\s*(?:\d+\.|[-*+])\s+", re.MULTILINE)


def one_line(text: str | None, limit: int) -> str:
    """A one-line preview of Markdown: its words, cut at ``limit`` characters."""
    text = " ".join(_MARKERS.sub("", str(text or "")).split())
    return text if len(text) <= limit else text[:limit - 1] + "…"


def table_html(header: list[str], rows: list[list]) -> str:
    """A table whose every cell is untrusted text."""
    head = "".join(f"<th>{_text(name)}</th>" for name in header)
    body = "".join("<tr>" + "".join(f"<td>{_text(cell)}</td>" for cell in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def data_html(value) -> str:
    """An answer's validated value: a list of objects as a table (a column per key), anything else as JSON."""
    data = plain_data(value)
    if isinstance(data, list) and data and all(isinstance(item, dict) for item in data):
        header = list(dict.fromkeys(key for item in data for key in item))
        return table_html(header, [[_data_cell(item.get(key)) for key in header] for item in data])
    return code_block_html(json.dumps(data, ensure_ascii=False, indent=2))


def _data_cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, list) and all(isinstance(v, (str, int, float)) for v in value):
        return ", ".join(str(v) for v in value)
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def data_plain(value) -> str:
    """An answer's validated value as indented JSON, for plain-text outputs."""
    return json.dumps(plain_data(value), ensure_ascii=False, indent=2)


def log_table(turns) -> tuple[str, str]:
    """Logged turns as an HTML table and as plain text: when, conversation, model, question, answer, tokens."""
    from datetime import datetime

    header = ["id", "when", "chat", "run", "model", "question", "answer", "tokens"]
    rows = []
    for turn in turns:
        reply = turn.reply
        when = datetime.fromtimestamp(reply.created).strftime("%Y-%m-%d %H:%M")
        tokens = sum(step.usage.total_tokens for step in turn.replies if step.usage is not None)
        answer = reply.text or (f"⚠ {reply.error}" if reply.error else "")
        rows.append([str(turn.log_id), when, reply.chat or "—", (turn.run_id or "")[:8], reply.label,
                     one_line(message_text(turn.request), 60), one_line(answer, 90), str(tokens)])
    plain = ["  ".join(header)] + ["  ".join(cells) for cells in rows]
    return table_html(header, rows), "\n".join(plain)


def transcript_html(conv, default_model: str) -> str:
    """A conversation for a cell (``%wenxin history``): its settings, then each question and its replies."""
    totals = conv.totals
    parts = [f"<h3>Conversation: {_text(conv.name)}</h3>",
             f"<ul><li>model: {_text(conv.label(default_model))}</li>"
             + (f"<li>system: {_text(conv.system)}</li>" if conv.system else "")
             + f"<li>turns: {totals['turns']}, tokens: {totals['total_tokens']}</li></ul>"]
    for turn in conv.turns:
        who = "Function result" if turn.request.get("role") == "function" else "User"
        parts.append(f"<p><strong>{who}:</strong></p>\n{safe_html(message_text(turn.request))}")
        for reply in turn.replies:
            parts.append(f"<p><strong>{_text(reply.label)}:</strong></p>\n{ReplyView(reply).html()}")
    return "\n".join(parts)


def html_bundle(fragment: str, plain: str) -> dict:
    """What a view displays: the HTML through the allowlist once more, and plain text beside it."""
    return {"text/html": clean(fragment), "text/plain": plain}


def reply_html(reply: Reply, *, streaming: bool = False) -> str:
    return ReplyView(reply).html(streaming=streaming)


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
        return {"text/html": clean(reply_html(self.reply, streaming=True))}

    def _final_bundle(self) -> dict:
        reply = self.reply
        if self.fmt == "text":
            return {"text/plain": reply_plain(reply)}
        if self.fmt == "json":
            data = extract_json(reply.text)
            if data is not None and reply.error is None:
                return {"application/json": data, "text/plain": json.dumps(data, ensure_ascii=False, indent=2)}
        return html_bundle(reply_html(reply), reply_plain(reply))


def _chain_html(reply: Reply, *, streaming: bool) -> str:
    """A reply after the turn's tool rounds: each earlier round's calls, then the reply."""
    calls = [call_html(call, compact=True) for step in reply.rounds for call in step.calls]
    return "\n".join(calls + [reply_html(reply, streaming=streaming)])


class LiveGrid(_Live):
    """Several answers side by side in one output: one column per model, each with its own footer."""

    def __init__(self, replies: list[Reply], **throttle):
        self.replies = replies
        super().__init__(**throttle)

    def _size(self) -> int:
        return sum(_shown_bytes(r) for r in self.replies)

    def _grid(self, streaming: bool) -> str:
        width = max(1, 100 // len(self.replies))
        head = "".join(f"<th>{_text(r.label)}</th>" for r in self.replies)
        cells = "".join(f'<td width="{width}%" valign="top" style="vertical-align: top">\n'
                        f'{_chain_html(r, streaming=streaming and not r.done)}\n</td>' for r in self.replies)
        return f'<table class="wenxin-grid">\n<tr>{head}</tr>\n<tr>{cells}</tr>\n</table>'

    def _plain(self) -> str:
        return "\n\n".join(f"=== {r.label} ===\n" + "\n\n".join(reply_plain(step) for step in r.rounds + [r])
                           for r in self.replies)

    def _streaming_bundle(self) -> dict:
        return {"text/html": clean(self._grid(True))}

    def _final_bundle(self) -> dict:
        return html_bundle(self._grid(False), self._plain())


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
            self.stream.write(safe_terminal(new))
            self.stream.flush()
            self._printed += len(new)
            self.updates += 1

    def _write_reasoning(self) -> None:
        """Reasoning goes first, marked (and dim on a terminal), while no answer text has been printed."""
        new = self.reply.reasoning[self._thought:]
        if new and not self._printed:
            self.stream.write(("[thinking]\n" + self._dim if not self._thought else "") + safe_terminal(new))
            self.stream.flush()
            self._thought += len(new)
            self.updates += 1

    def finish(self) -> None:
        self.changed()
        if self._thought and not self._printed:
            self.stream.write(f"{self._undim}\n[/thinking]\n")
        if self.reply.search_results:
            references = ReplyView(self.reply).plain_references()
            self.stream.write(safe_terminal("\n" + "\n".join(["References:"] + references) + "\n"))
        notes = ReplyView(self.reply).plain_notes()
        tail = ("\n" if self._printed else "") + "".join(f"{n}\n" for n in notes) + f"[{footer(self.reply)}]\n"
        tail = safe_terminal(tail)
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
            self.stream.write(safe_terminal(f"=== {reply.label} ===\n{reply_plain(reply)}") + "\n\n")
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
        self.label.value = _text(progress.summary())
        self.updates += 1

    def finish(self, progress, note: str = "") -> None:
        self.update(progress)
        self.bar.bar_style = "danger" if note else ("warning" if progress.failed else "success")
        if note:
            self.label.value += " · " + _text(note)


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


class BatchReplies(list):
    """A batch's answers, for notebooks without pandas: a list of Replies; ``.batch`` is the run itself."""

    def __init__(self, run):
        super().__init__(run.replies())
        self.batch = run

    def _repr_markdown_(self) -> str:
        return (f"{len(self)} answers: a list of Replies (`pip install pandas` gives a table: "
                "item, prompt, model, answer, tokens, latency, error).")


def batch_result(run):
    """The table of a batch (pandas); without pandas, its answers."""
    try:
        table = run.frame()
    except ImportError:
        return BatchReplies(run)
    return table


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
