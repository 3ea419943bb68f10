"""The chat panel with tools: the tools box, approval buttons, a bubble per round; in process, against the emulator.

The panel looks the names up in the IPython shell's namespace, so the module runs with an InteractiveShell
(as ``test_bad_input`` does) and puts its functions there.
"""

from __future__ import annotations

import asyncio
import json

import pytest

from _fakes import assert_tool_history_valid, model_requests
from _panel import bubbles, finished, send, shown, text_of, words_of
from wenxin_magic.panel import ChatPanel

MODEL = "ERNIE-3.5-8K"
WEATHER = "What is the weather in Beijing?"


@pytest.fixture
def ran():
    return []


@pytest.fixture
def shell(ran):
    """An IPython shell whose namespace holds the notebook's functions; they are taken out afterwards."""
    from IPython.core.interactiveshell import InteractiveShell

    def get_current_weather(location: str) -> dict:
        """Get the current weather for a city"""
        ran.append(location)
        return {"location": location, "temperature": 25, "weather": "sunny"}

    ip = InteractiveShell.instance()
    added = {"get_current_weather": get_current_weather, "not_a_function": 42}
    ip.user_ns.update(added)
    yield ip
    for name in added:
        ip.user_ns.pop(name, None)


@pytest.fixture
def session(session_factory, emu):
    return session_factory(against=emu)



async def approval_box(panel, timeout: float = 20.0):
    """The approval HBox once it is in the transcript."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        boxes = bubbles(panel, "approval")
        if boxes and len(boxes[-1].children) == 3:
            return boxes[-1]
        await asyncio.sleep(0.01)
    raise AssertionError("no approval buttons appeared")


def button(box, label: str):
    [found] = [c for c in box.children if getattr(c, "description", None) == label]
    return found


async def test_the_panel_answers_with_the_function_in_a_bubble_per_round(shell, session, emu, ran):
    panel = ChatPanel(session, chat="panel-tools", model=MODEL)
    panel.tools.value = "get_current_weather"
    reply = await send(panel, WEATHER)
    assert reply.error is None and ran == ["Beijing"]
    assert "Today in Beijing" in reply.text and "25" in reply.text
    users, answers = bubbles(panel, "user"), bubbles(panel, "assistant")
    assert len(users) == 1 and WEATHER in users[0].value  # the round after the calls asks no new question
    assert len(answers) == 2
    assert "🔧" in shown(answers[0]) and "get_current_weather(location='Beijing')" in text_of(shown(answers[0]))
    assert words_of(reply.text) in words_of(text_of(shown(answers[1])))
    sent = [r["json"] for r in model_requests(emu)]
    assert len(sent) == 2 and all([f["name"] for f in body["functions"]] == ["get_current_weather"]
                                  for body in sent)
    assert_tool_history_valid(session.history("panel-tools"), "v1")
    panel._rebuild()  # switching back to the chat redraws the same bubbles from the history
    assert len(bubbles(panel, "user")) == 1 and len(bubbles(panel, "assistant")) == 2


async def test_declining_in_the_panel_tells_the_model(shell, session, emu, ran):
    panel = ChatPanel(session, chat="panel-decline", model=MODEL)
    panel.tools.value = "get_current_weather"
    panel.approve.value = True
    panel.input.value = WEATHER
    panel.send.click()
    box = await approval_box(panel)
    assert "get_current_weather(location=&#x27;Beijing&#x27;)" in box.children[0].value
    button(box, "Decline").click()
    reply = await finished(panel)
    assert ran == []
    assert [c.status for c in reply.all_calls] == ["declined"]
    assert "declined" in box.children[0].value and len(box.children) == 1  # the buttons are gone
    told = model_requests(emu)[-1]["json"]["messages"][-1]
    assert told["role"] == "function" and "declined" in json.loads(told["content"])["error"]
    assert "could not use get_current_weather" in reply.text
    assert "🚫" in shown(bubbles(panel, "assistant")[0])
    assert_tool_history_valid(session.history("panel-decline"), "v1")


async def test_allowing_in_the_panel_runs_the_function(shell, session, ran):
    panel = ChatPanel(session, chat="panel-allow", model=MODEL)
    panel.tools.value = "get_current_weather"
    panel.approve.value = True
    panel.input.value = WEATHER
    panel.send.click()
    box = await approval_box(panel)
    assert ran == []  # nothing runs before the click
    button(box, "Allow").click()
    reply = await finished(panel)
    assert ran == ["Beijing"] and [c.status for c in reply.all_calls] == ["ok"]
    assert "allowed" in box.children[0].value
    assert "Today in Beijing" in reply.text


@pytest.mark.parametrize("names, named", [("get_weather_typo", "get_weather_typo"),
                                          ("get_current_weather, not_a_function", "not_a_function")])
async def test_a_name_that_is_no_function_keeps_the_question(shell, session, emu, ran, names, named):
    panel = ChatPanel(session, chat="panel-bad", model=MODEL)
    panel.tools.value = names
    reply = await send(panel, WEATHER)
    assert reply is None and ran == []
    assert named in panel.status.value and "wenxin-error" in panel.status.value
    assert panel.input.value == WEATHER  # nothing typed is lost
    assert not panel.send.disabled and not panel.input.disabled
    assert model_requests(emu) == [] and session.history("panel-bad") == []


async def test_an_empty_tools_box_offers_no_tools(shell, session, emu, ran):
    panel = ChatPanel(session, chat="panel-none", model=MODEL)
    panel.tools.value = " , "
    reply = await send(panel, WEATHER)
    assert reply.error is None and ran == [] and reply.rounds == []
    assert "functions" not in model_requests(emu)[-1]["json"]
    assert len(bubbles(panel, "assistant")) == 1


async def test_stop_while_an_approval_waits(shell, session, emu, ran):
    panel = ChatPanel(session, chat="panel-stop", model=MODEL)
    panel.tools.value = "get_current_weather"
    panel.approve.value = True
    panel.input.value = WEATHER
    panel.send.click()
    box = await approval_box(panel)
    panel.stop.click()
    reply = await finished(panel)
    assert ran == []
    assert reply is not None and reply.interrupted
    assert [c.status for c in reply.all_calls] == ["not run"]
    assert len(box.children) == 1 and "declined" in box.children[0].value  # no buttons left to click
    assert panel.stop.disabled and not panel.send.disabled
    assert_tool_history_valid(session.history("panel-stop"), "v1")
    again = await send(panel, "Thanks, say it in one sentence.")  # the panel is usable again
    assert again.error is None and again.text
