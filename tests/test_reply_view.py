"""ReplyView: the one rendering of a reply, for cells, the grid, the panel and the terminal."""

from __future__ import annotations

import io

from wenxin_magic.api import Usage
from wenxin_magic.display import ReplyView, TerminalReply, footer
from wenxin_magic.session import Reply


def reply(text="", reasoning="", **fields) -> Reply:
    r = Reply(prompt="9.11 和 9.9 哪个大？", model="deepseek-r1", endpoint=None, chat="think")
    r.text, r.reasoning = text, reasoning
    for name, value in fields.items():
        setattr(r, name, value)
    return r


def test_thinking_streams_collapsed_and_then_says_how_long():
    r = reply(reasoning="先比较整数部分……", reasoning_started=10.0)
    streaming = ReplyView(r).html(streaming=True)
    assert streaming.startswith("<details><summary>Thinking…</summary>") and "先比较整数部分" in streaming
    assert "<details open" not in streaming  # collapsed
    assert "thinking…" in footer(r, streaming=True)
    r.text, r.reasoning_ended, r.done = "9.9 更大。", 12.5, True
    final = ReplyView(r).html()
    assert "<summary>Thought for 2.5 s</summary>" in final
    assert final.index("</details>") < final.index("9.9 更大。") < final.index("<sub")


def test_reasoning_is_escaped_and_an_open_fence_stays_inside_the_block():
    r = reply(reasoning="<script>x</script> \n```python\nprint(1)", done=True, text="ok")
    shown = ReplyView(r).html()
    assert "<script>" not in shown and "&lt;script&gt;" in shown
    inside = shown[shown.index("<summary>"):shown.index("</details>")]
    assert "<pre><code" in inside and "print(1)" in inside  # the open fence is a code block, ended with it
    assert shown.index("</details>") < shown.index("ok") < shown.index("<sub")


def test_references_are_numbered_links_matching_the_marks():
    results = [{"index": 1, "url": "https://example.com/a", "title": "A [report]"},
               {"index": 2, "url": "javascript:alert(1)", "title": "not a link"}]
    r = reply(text="答案^[1]^^[2]^", done=True, search_results=results)
    shown = ReplyView(r).html()
    assert "<strong>References</strong>" in shown
    assert '[1] <a href="https://example.com/a">A [report]</a>' in shown
    assert "[2] not a link" in shown and "javascript:" not in shown
    assert "References:\n[1] A [report] https://example.com/a" in ReplyView(r).plain()


def test_the_footer_counts_reasoning_tokens_and_v2_stop_is_normal():
    r = reply(text="x", done=True, finish_reason="stop", latency=1.0, api="v2")
    r.usage = Usage({"prompt_tokens": 10, "completion_tokens": 50, "total_tokens": 60,
                     "completion_tokens_details": {"reasoning_tokens": 30}})
    text = footer(r)
    assert "10 + 50 tokens (30 reasoning)" in text and "finish" not in text
    r.finish_reason = "length"
    assert "finish: length" in footer(r)


def test_plain_text_marks_the_reasoning_before_the_answer():
    r = reply(text="9.9 更大。", reasoning="比较小数部分", done=True)
    plain = ReplyView(r).plain()
    assert plain.startswith("[thinking]\n比较小数部分\n[/thinking]") and plain.index("[/thinking]") < plain.index("9.9")


def test_a_reply_without_reasoning_renders_as_before():
    r = reply(text="你好", done=True)
    shown = ReplyView(r).html()
    assert "<details>" not in shown and shown.startswith("<p>你好</p>") and "References" not in shown


def test_the_terminal_prints_reasoning_marked_then_the_answer():
    out = io.StringIO()
    r = reply()
    view = TerminalReply(r, stream=out)
    r.reasoning = "想一想"
    view.changed()
    r.reasoning += "，再想"
    view.changed()
    r.text = "答案"
    view.changed()
    r.done = True
    view.finish()
    text = out.getvalue()
    assert text.startswith("[thinking]\n想一想，再想\n[/thinking]\n\n答案")
    assert "\x1b[" not in text  # not a terminal: marked, not coloured
    assert text.rstrip().endswith("]") and "deepseek-r1" in text.splitlines()[-1]


def test_a_terminal_gets_the_reasoning_dimmed():
    class Tty(io.StringIO):
        def isatty(self):
            return True

    out = Tty()
    r = reply(reasoning="想", text="答")
    view = TerminalReply(r, stream=out)
    view.changed()
    view.finish()
    assert "\x1b[2m想" in out.getvalue() and "\x1b[0m" in out.getvalue()


def test_on_v1_stop_means_a_stop_text_ended_the_answer():
    r = reply(text="x", done=True, finish_reason="stop", api="v1")
    assert "finish: stop" in footer(r)
