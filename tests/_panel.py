"""Driving a ChatPanel in-process: its bubbles, and sending a question and waiting for the turn's end."""

from __future__ import annotations

import asyncio

from _fakes import text_of, words_of  # noqa: F401 - the panel tests take them from here too


def shown(bubble) -> str:
    """The HTML a bubble displays."""
    return bubble.outputs[0]["data"]["text/html"] if bubble.outputs else ""


def bubbles(panel, kind):
    return [c for c in panel.transcript.children if f"wenxin-{kind}" in c._dom_classes]


async def finished(panel):
    """The panel's answer once its turn has really ended (also after Stop)."""
    assert panel._task is not None
    assert await asyncio.to_thread(panel._task.finished.wait, 30)
    return panel.last_reply


async def send(panel, text):
    panel.input.value = text
    panel.send.click()
    return await finished(panel)
