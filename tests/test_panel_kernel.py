"""The panel in a real kernel, driven by comm messages as a browser sends them.

Fault-matrix scenarios that involve the panel: a kernel interrupt while the
panel streams (8), and a %%wenxin cell writing the panel's conversation at the
same time (10).
"""

from __future__ import annotations

import json
import time

import pytest

from _fakes import assert_history_valid

pytestmark = pytest.mark.kernel

SETUP = """
%load_ext wenxin_magic
import json, wenxin_magic
from wenxin_magic.panel import ChatPanel
session = wenxin_magic.get_session()
session.backend.emulator_options.update(ttft=0.0, chunk_delay=0.04)
p = ChatPanel(session, chat='class')
print(json.dumps({"input": p.input.model_id, "send": p.send.model_id, "stop": p.stop.model_id}))
"""


@pytest.fixture
def kernel(kernel_factory):
    k = kernel_factory(SETUP)
    k.ids = json.loads(k.setup_run.stdout.strip().splitlines()[-1])
    return k


def comm(kernel, widget: str, data: dict) -> None:
    msg = kernel.kc.session.msg("comm_msg", {"comm_id": kernel.ids[widget], "data": data})
    kernel.kc.shell_channel.send(msg)


def type_and_send(kernel, text: str) -> None:
    comm(kernel, "input", {"method": "update", "state": {"value": text}, "buffer_paths": []})
    comm(kernel, "send", {"method": "custom", "content": {"event": "click"}})


def wait_for(kernel, expression: str, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = kernel.value(expression)
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"never true: {expression}")


def roles(kernel, chat="class"):
    history = kernel.value(f"session.history({chat!r})")
    assert_history_valid(history)
    return [m["role"] for m in history]


def test_kernel_interrupt_stops_the_panel_answer(kernel):
    type_and_send(kernel, "write 8000 characters about the Great Wall")
    wait_for(kernel, "p._task is not None and session.last_reply is not None and len(session.last_reply.text) > 200")
    kernel.km.interrupt_kernel()
    wait_for(kernel, "p._task.done()")
    reply = kernel.value("session.last_reply.to_dict()")
    assert reply["interrupted"] and 200 < len(reply["text"]) < 8000
    assert roles(kernel) == ["user", "assistant"]  # the partial answer kept, history valid
    assert kernel.value("session.history('class')[-1]['content']") == reply["text"]
    assert wait_for(kernel, "session.backend.start_emulator().requests[-1]['client_closed']")
    assert kernel.value("[p.send.disabled, p.stop.disabled, 'Stopped' in p.status.value]") == [False, True, True]
    after = kernel.run("print('kernel alive')")
    assert after.error is None and "kernel alive" in after.stdout
    type_and_send(kernel, "你好")  # the panel still works
    wait_for(kernel, "p._task.done() and len(session.history('class')) == 4")


def test_a_cell_and_the_panel_on_one_conversation_are_serialized(kernel):
    type_and_send(kernel, "write 1200 characters about Beijing")
    wait_for(kernel, "p._task is not None and not p._task.done()")
    run = kernel.run("%%wenxin -c class\n介绍下故宫", timeout=60)  # waits for the panel's turn
    assert run.error is None and "故宫" in run.final()
    assert kernel.value("p._task.done()")
    history = kernel.value("session.history('class')")
    assert_history_valid(history)
    assert [m["role"] for m in history] == ["user", "assistant", "user", "assistant"]
    assert history[0]["content"] == "write 1200 characters about Beijing" and history[2]["content"] == "介绍下故宫"
    sent = kernel.value("[r['json']['messages'] for r in session.backend.start_emulator().requests"
                        " if 'wenxinworkshop' in r['path']]")
    assert len(sent[-1]) == 3 and sent[-1][0]["content"] == history[0]["content"]  # the cell saw the panel's turn
    shown = kernel.value("[c.value for c in p.transcript.children if 'wenxin-user' in c._dom_classes]")
    assert len(shown) == 2 and "介绍下故宫" in shown[1]  # and the panel shows the cell's turn
