"""The chat panel through its widget objects: clicks and values, against the emulator."""

from __future__ import annotations

import asyncio
import json

import pytest

from _fakes import FAKE, assert_history_valid
from _panel import bubbles, finished, send, shown, text_of, words_of
from wenxin_magic.panel import NEW_CHAT, ChatPanel


@pytest.fixture
def session(session_factory, emu):
    """Online with fake keys against the module's fast emulator ``emu`` (conftest), which tests slow down,
    fault and read; sharing it saves each test starting and stopping an emulator of its own."""
    return session_factory(against=emu)



async def test_controls_reflect_the_session(session_factory):
    session = session_factory()  # offline (it starts no emulator until asked)
    panel = ChatPanel(session)
    assert "BLOOMZ-7B" in panel.model.options and "ERNIE-3.5-8K-Preemptible" in panel.model.options
    assert "Yi-34B" not in panel.model.options  # text continuation is not chat
    assert panel.model.value == session.default_model
    assert panel.chats.options == ("default", NEW_CHAT)
    assert panel.stop.disabled and not panel.send.disabled
    assert "offline" in panel.status.value


async def test_the_temperature_label_is_shown_whole(session_factory):
    panel = ChatPanel(session_factory())
    assert panel.temperature.description == "temperature"
    assert panel.temperature.style.description_width == "initial"  # the default width cut it to "temperat…"


async def test_send_streams_an_answer_into_a_bubble(session, emu):
    emu.chunk_delay = 0.02
    panel = ChatPanel(session, min_interval=0.01)
    states = []
    original = panel._on_event

    def spy(event):
        original(event)
        if event.kind == "delta":
            assistant = bubbles(panel, "assistant")[-1]
            states.append(shown(assistant))

    session._observers[-1] = spy
    reply = await send(panel, "介绍一下北京")
    assert reply.text and not reply.error
    users, answers = bubbles(panel, "user"), bubbles(panel, "assistant")
    assert len(users) == len(answers) == 1
    assert "介绍一下北京" in users[0].value
    final = shown(answers[0])
    assert words_of(reply.text) in words_of(text_of(final)) and "tokens" in final and "ERNIE-Speed-8K" in final
    intermediate = {s for s in states if s != final}
    assert len(intermediate) >= 2  # the answer grew in place before it was done
    assert panel.input.value == "" and not panel.input.disabled and panel.stop.disabled
    assert "1 turns" in panel.status.value
    assert session.history()[-1]["content"] == reply.text


async def test_enter_in_the_box_sends(session):
    panel = ChatPanel(session)
    panel.input._handle_custom_msg({"event": "edit", "text": "你"}, [])
    assert panel.input.value == "你"
    panel.input._handle_custom_msg({"event": "submit", "text": "你好"}, [])
    reply = await finished(panel)
    assert reply.text and len(session.history()) == 2
    # the text Enter carries is what is sent: the browser shows it, whatever edit the kernel heard of last
    assert session.history()[0]["content"] == "你好" and panel.input.value == ""


async def test_send_takes_the_edits_the_browser_told(session):
    panel = ChatPanel(session)
    for typed in ("介", "介绍", "介绍一下北京"):  # each keystroke's edit arrives before the click
        panel.input._handle_custom_msg({"event": "edit", "text": typed}, [])
    panel.send.click()
    reply = await finished(panel)
    assert reply.prompt == "介绍一下北京" and panel.input.value == ""


async def test_stop_keeps_the_partial_answer(session, emu):
    emu.chunk_delay = 0.03
    panel = ChatPanel(session)
    panel.input.value = "write 6000 characters about the Great Wall"
    panel.send.click()
    assert not panel.stop.disabled and panel.send.disabled and panel.input.disabled
    while not session.last_reply or len(session.last_reply.text) < 100:
        await asyncio.sleep(0.02)
    panel.stop.click()
    reply = await finished(panel)
    assert reply.interrupted and 100 <= len(reply.text) < 6000
    assert panel.stop.disabled and not panel.send.disabled
    assert "interrupted" in shown(bubbles(panel, "assistant")[-1])
    assert "Stopped" in panel.status.value
    history = session.history()
    assert_history_valid(history)
    assert [m["role"] for m in history] == ["user", "assistant"] and history[-1]["content"] == reply.text
    closed_by = asyncio.get_running_loop().time() + 0.3  # the emulator notices within 0.3 s, as before
    while not emu.requests[-1]["client_closed"] and asyncio.get_running_loop().time() < closed_by:
        await asyncio.sleep(0.01)
    assert emu.requests[-1]["client_closed"]
    reply = await send(panel, "继续")  # the panel is usable again
    assert reply.text


async def test_panel_and_other_writers_share_the_conversation(session, emu):
    panel = ChatPanel(session, chat="shared")
    other = ChatPanel(session, chat="shared")
    await session.aask("我叫小红", chat="shared")  # as a %%wenxin -c shared cell would
    for p in (panel, other):
        assert len(bubbles(p, "assistant")) == 1 and "我叫小红" in bubbles(p, "user")[0].value
    reply = await send(panel, "我叫什么名字")
    assert "小红" in reply.text  # the panel's message carried the earlier turn
    body = emu.requests[-1]["json"]
    assert [m["role"] for m in body["messages"]] == ["user", "assistant", "user"]
    assert len(bubbles(other, "assistant")) == 2


async def test_errors_show_in_words_and_keep_the_message(session, emu):
    panel = ChatPanel(session)
    emu.inject("busy", times=5)
    reply = await send(panel, "请帮我规划行程")
    assert reply.error is not None and reply.error.code == 336100
    assert "336100" in shown(bubbles(panel, "assistant")[-1])
    assert "Not sent" in panel.status.value and "wenxin-error" in panel.status.value
    assert panel.input.value == "请帮我规划行程"  # nothing typed is lost
    assert not panel.send.disabled and session.history() == []
    reply = await send(panel, panel.input.value)  # resend works
    assert reply.text and len(session.history()) == 2


async def test_bad_settings_are_reported_not_raised(session_factory):
    # Offline on its own emulator, which starts on the first turn. With a client already connected the turn
    # can fail before ChatPanel.submit() writes its own status line, which then hides "Not sent".
    session = session_factory()
    panel = ChatPanel(session, model="BLOOMZ-7B")
    panel.system.value = "你是导游"  # BLOOMZ-7B takes no system prompt
    reply = await send(panel, "介绍下故宫")
    assert reply.error is not None and "system" in str(reply.error)
    assert panel.input.value == "介绍下故宫" and "Not sent" in panel.status.value


async def test_need_clear_history_shows_a_notice(session):
    panel = ChatPanel(session)
    await send(panel, "你好")
    await send(panel, "敏感测试")
    notices = bubbles(panel, "notice")
    assert notices and "unsafe" in notices[0].value
    assert len(bubbles(panel, "assistant")) == 1  # the flagged round is gone, round 1 kept
    assert len(session.history()) == 2


async def test_settings_reach_the_session(session, emu, tmp_path):
    panel = ChatPanel(session)
    panel.model.value = "ERNIE-Lite-8K"
    panel.system.value = "你是一位诗人"
    panel.temperature.value = 0.3
    await send(panel, "写一首诗")
    request = emu.requests[-1]
    assert request["path"].endswith("/chat/ernie-lite-8k")
    assert request["json"]["system"] == "你是一位诗人" and request["json"]["temperature"] == 0.3
    path = panel.export_transcript(str(tmp_path / "t.md"))
    assert "写一首诗" in path.read_text()
    panel.clear.click()
    assert session.history() == [] and bubbles(panel, "assistant") == []


async def test_switching_and_new_conversations(session):
    panel = ChatPanel(session)
    await send(panel, "你好")
    panel.chats.value = NEW_CHAT
    assert panel.chat == "chat-1" and panel.chats.value == "chat-1"
    assert bubbles(panel, "assistant") == []
    await send(panel, "介绍一下北京")
    assert len(session.history("chat-1")) == 2 and len(session.history("default")) == 2
    panel.chats.value = "default"
    assert len(bubbles(panel, "assistant")) == 1 and "你好" in bubbles(panel, "user")[0].value


async def test_the_panel_holds_no_credentials(session_factory):
    s = session_factory(environ=FAKE.PANEL.oauth_env(), offline=None)  # online: the keys are in the session
    panel = ChatPanel(s)
    states = json.dumps([c.get_state() for c in _walk(panel.widget)], default=str)
    assert FAKE.PANEL.ak not in states and FAKE.PANEL.sk not in states
    assert "online" in panel.status.value


def _walk(widget):
    yield widget
    for child in getattr(widget, "children", ()):
        yield from _walk(child)
