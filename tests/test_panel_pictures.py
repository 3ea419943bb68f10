"""The chat panel's pictures through its widget objects: an uploaded file and the last figure go with the next
question to a vision model, a text model refuses them with the pictures kept, and a bad file is said plainly."""

from __future__ import annotations

import io
from datetime import datetime, timezone

from PIL import Image

from _panel import bubbles, send, shown
from wenxin_magic.panel import ChatPanel

VL = "ernie-4.5-turbo-vl"


def png(width: int, height: int, color=(250, 250, 250)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buffer, format="PNG")
    return buffer.getvalue()


def upload(panel, name: str, data: bytes) -> None:
    panel.attach.value = ({"name": name, "type": "image/png", "size": len(data), "content": memoryview(data),
                           "last_modified": datetime.now(timezone.utc)},)


async def test_an_uploaded_picture_goes_with_the_next_question_only(session_factory):
    session = session_factory()
    panel = ChatPanel(session, model=VL, min_interval=0.01)
    upload(panel, "chart.png", png(120, 90))
    assert panel.attach.value == () and len(panel.pictures) == 1  # read, and the control is ready for another
    assert panel.attached.value == "[image 120×90]" and not panel.detach.disabled
    [thumbnail] = panel.thumbnails.children
    assert thumbnail.value == panel.pictures[0].data and thumbnail.format == "png"
    reply = await send(panel, "What is in the picture?")
    assert "PNG image of 120×90 pixels" in reply.text
    assert "[image 120×90]" in bubbles(panel, "user")[-1].value and "base64" not in bubbles(panel, "user")[-1].value
    assert "base64" not in shown(bubbles(panel, "assistant")[-1])
    assert panel.pictures == [] and panel.attached.value == "" and panel.detach.disabled
    assert panel.thumbnails.children == ()
    second = await send(panel, "And now?")
    sent = [r["json"] for r in session.backend.emulator.requests if r["path"] == "/v2/chat/completions"]
    assert sent[-1]["messages"][-1]["content"] == "And now?" and "PNG image" not in second.text
    panel.close()


async def test_a_text_model_refuses_and_the_pictures_stay_attached(session_factory):
    session = session_factory()
    panel = ChatPanel(session, model="ernie-4.5-turbo-32k", min_interval=0.01)
    upload(panel, "chart.png", png(50, 40))
    reply = await send(panel, "What is it?")
    assert reply is None and "cannot see images" in panel.status.value and VL in panel.status.value
    assert panel.input.value == "What is it?" and len(panel.pictures) == 1  # nothing lost: switch models and send
    panel.model.value = VL
    reply = await send(panel, "What is it?")
    assert "50×40" in reply.text
    panel.close()


async def test_a_bad_file_and_no_figure_are_said_plainly(session_factory):
    session = session_factory()
    panel = ChatPanel(session, model=VL)
    upload(panel, "notes.png", b"not a picture at all")
    assert "notes.png" in panel.status.value and "PNG or JPEG" in panel.status.value and panel.pictures == []
    panel.detach.click()
    assert not panel.attach_last_figure()  # no kernel, no cell has shown one
    assert "No cell has shown a picture yet" in panel.status.value
    assert panel.attach_picture(png(30, 30), "direct") and panel.attached.value == "[image 30×30]"
    panel.detach.click()
    assert panel.pictures == [] and panel.attached.value == ""
    panel.close()
