"""Every view renders untrusted text through the one sanitising function, and through nothing else.

The sanitising functions are wrapped so that what they return is marked ⟦…⟧. Every field of a reply and a
conversation is given an ``UNTRUSTED-…`` value; each view is rendered; and every such value in the output
must stand inside a mark. A view that escaped a string its own way, or not at all, leaves one outside.
"""

from __future__ import annotations

import io
import re
import types

import pytest

from wenxin_magic import display, panel, sanitize
from wenxin_magic.api import QianfanError
from wenxin_magic.session import ToolCall, _transcript

UNTRUSTED = re.compile(r"UNTRUSTED-[a-z-]+")


def marked(function):
    def wrapper(value, *args, **kwargs):
        return "⟦" + function(value, *args, **kwargs) + "⟧"
    return wrapper


@pytest.fixture
def through_marks(monkeypatch):
    for module in (display, panel):
        monkeypatch.setattr(module, "safe_html", marked(sanitize.safe_html))
    monkeypatch.setattr(display, "safe_terminal", marked(sanitize.safe_terminal))
    for name in ("safe_markdown", "code_span", "fenced"):
        monkeypatch.setattr(_transcript, name, marked(getattr(sanitize, name)))


def assert_all_marked(output: str, view: str) -> None:
    found = list(UNTRUSTED.finditer(output))
    assert found, f"{view}: no untrusted value reached the output at all"
    for match in found:
        before = output[:match.start()]
        depth = before.count("⟦") - before.count("⟧")
        assert depth > 0, f"{view}: {match.group()} is outside the sanitiser: …{output[max(0, match.start() - 80):match.end() + 40]}…"


@pytest.fixture
def hostile_turn(session):
    session.ask("UNTRUSTED-question", chat="UNTRUSTED-chat", system="UNTRUSTED-system")
    conv = session.conversation("UNTRUSTED-chat")
    reply = conv.turns[-1].reply
    reply.model = "UNTRUSTED-model"
    reply.text = "UNTRUSTED-answer **UNTRUSTED-bold**"
    reply.reasoning = "UNTRUSTED-reasoning"
    reply.notes = ["UNTRUSTED-note"]
    reply.search_results = [{"index": "UNTRUSTED-index", "title": "UNTRUSTED-title",
                             "url": "https://ok.example/UNTRUSTED-url"}]
    reply.tool_stop = "UNTRUSTED-stop"
    reply.error = QianfanError("UNTRUSTED-message", code="UNTRUSTED-code", request_id="UNTRUSTED-rid",
                               hint="UNTRUSTED-hint")
    call = ToolCall(name="UNTRUSTED-tool", arguments='{"q": "UNTRUSTED-argument"}', id="1", status="error",
                    error="UNTRUSTED-raised", user_frames="UNTRUSTED-frames", result="UNTRUSTED-result",
                    thoughts="UNTRUSTED-thoughts")
    reply.calls = [call]
    return session, conv, reply


def test_a_reply_in_a_cell_the_grid_and_the_panel(through_marks, hostile_turn):
    session, conv, reply = hostile_turn
    assert_all_marked(display.ReplyView(reply).html(), "cell")
    assert_all_marked(display.LiveGrid._grid(types.SimpleNamespace(replies=[reply]), False), "grid")
    bubble = panel._Bubble(reply, 0.05, 0.2)
    assert_all_marked(bubble.widget.outputs[0]["data"]["text/html"], "panel bubble")


def test_history_chats_usage_and_log_tables(through_marks, hostile_turn):
    session, conv, reply = hostile_turn
    assert_all_marked(display.transcript_html(conv, session.default_model), "history")
    assert_all_marked(display.table_html(["UNTRUSTED-header"], [[conv.name, conv.system]]), "chats/usage")
    logged = types.SimpleNamespace(reply=reply, replies=[reply], request={"content": "UNTRUSTED-question"},
                                   log_id=1, run_id="UNTRUSTED-run")
    fragment, _ = display.log_table([logged])
    assert_all_marked(fragment, "log")
    assert_all_marked(display.code_block_html("UNTRUSTED-help"), "help")


def test_the_markdown_export(through_marks, hostile_turn):
    session, conv, reply = hostile_turn
    assert_all_marked(_transcript.markdown(conv, session.default_model), "export")


def test_the_terminal(through_marks, hostile_turn):
    session, conv, reply = hostile_turn
    out = io.StringIO()
    view = display.TerminalReply(reply, stream=out)
    view.changed()
    view.finish()
    assert_all_marked(out.getvalue().replace("\n", " "), "terminal")


def test_the_panel_s_own_lines(through_marks, session):
    chat = panel.ChatPanel(session, chat="UNTRUSTED-panel-chat")
    try:
        assert_all_marked(chat._user_bubble("UNTRUSTED-prompt").value, "question bubble")
        assert_all_marked(chat._notice("UNTRUSTED-notice").value, "notice")
        chat._set_status("UNTRUSTED-status")
        assert_all_marked(chat.status.value, "status line")
    finally:
        chat.close()
