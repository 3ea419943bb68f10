"""The chat panel when the service flags an answer: flag 3 hides it, flag 4 withdraws it; the panel says why and
the round leaves the transcript, as the history drops it. Against a small v2 server on 127.0.0.1."""

from __future__ import annotations

import pytest

from _panel import bubbles, send
from _v2_shapes import HIDDEN_ANSWER, V2_TEST_KEY, ShapeServer
from wenxin_magic.panel import ChatPanel

pytestmark = pytest.mark.usefixtures("no_credentials_in_env")


@pytest.fixture(scope="module")
def shapes():
    with ShapeServer() as server:
        yield server


def transcript_text(panel) -> str:
    parts = []
    for child in panel.transcript.children:
        value = getattr(child, "value", None)
        if isinstance(value, str):
            parts.append(value)
        for output in getattr(child, "outputs", ()):
            parts.append(output["data"].get("text/html", ""))
    return "\n".join(parts)


@pytest.mark.parametrize("question, why", [
    ("hide-me", "not to be displayed (flag 3)"),
    ("withdraw-me", "withdrew this answer (flag 4)"),
])
async def test_the_panel_says_why_and_drops_the_round(session_factory, shapes, question, why):
    session = session_factory(environ={"QIANFAN_API_KEY": V2_TEST_KEY, "QIANFAN_BASE_URL": shapes.base_url},
                              offline=False)
    panel = ChatPanel(session, chat="flags", model="ernie-4.5-turbo-32k")
    try:
        first = await send(panel, "a first question")
        assert first.error is None and first.text
        reply = await send(panel, question)
        assert reply.hidden
        text = transcript_text(panel)
        assert why in text and HIDDEN_ANSWER not in text and "streamed before" not in text
        assert len(bubbles(panel, "assistant")) == 1  # the flagged round left the transcript
        assert len(session.history("flags")) == 2
    finally:
        panel.close()


async def test_the_params_box_sends_extra_fields(session_factory, shapes):
    session = session_factory(environ={"QIANFAN_API_KEY": V2_TEST_KEY, "QIANFAN_BASE_URL": shapes.base_url},
                              offline=False)
    panel = ChatPanel(session, chat="params", model="ernie-4.5-turbo-32k")
    try:
        panel.params.value = 'seed=42 user=alice \'stop=["END"]\''
        reply = await send(panel, "hello")
        assert reply.error is None and reply.text
        body = shapes.requests[-1]
        assert (body["seed"], body["user"], body["stop"]) == (42, "alice", ["END"])
        assert reply.params["seed"] == 42
        sent = len(shapes.requests)
        panel.params.value = "model=ernie-5.1"
        assert await send(panel, "again") is None
        assert len(shapes.requests) == sent  # nothing went out
        assert "params:" in panel.status.value and "-m/--model" in panel.status.value
        assert panel.input.value == "again"  # the question is back in the box
    finally:
        panel.close()
