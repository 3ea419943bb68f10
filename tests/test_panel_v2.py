"""The chat panel with v2 models: the model selector offers them, and a reasoning model's bubble folds its thinking."""

from __future__ import annotations

import asyncio

from wenxin_magic.panel import ChatPanel


def shown(bubble) -> str:
    return bubble.outputs[0]["data"]["text/html"] if bubble.outputs else ""


def assistant_bubbles(panel):
    return [c for c in panel.transcript.children if "wenxin-assistant" in c._dom_classes]


async def test_a_reasoning_model_in_the_panel(session):
    session.backend.start_emulator().chunk_delay = 0.01
    panel = ChatPanel(session, chat="think", model="deepseek-r1")
    assert "deepseek-r1" in panel.model.options and "ERNIE-Speed-8K" in panel.model.options
    assert panel.model.value == "deepseek-r1"
    panel.input.value = "9.11 和 9.9 哪个大？"
    seen = []
    panel.send.click()
    while not panel._task.done():
        bubbles = assistant_bubbles(panel)
        if bubbles:
            seen.append(shown(bubbles[-1]))
        await asyncio.sleep(0.005)
    assert await asyncio.to_thread(panel._task.finished.wait, 30)
    assert any("<summary>Thinking…</summary>" in shown for shown in seen), "the thinking never showed"
    final = shown(assistant_bubbles(panel)[-1])
    assert "<details><summary>Thought for " in final and final.index("</details>") < final.index("<sub")
    assert panel.last_reply.api == "v2" and panel.last_reply.reasoning
    assert all("reasoning_content" not in m for m in session.history("think"))
    panel.close()
