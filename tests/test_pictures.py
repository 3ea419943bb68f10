"""Pictures in questions without a kernel: the --image option and {name} collection, the session's content array and
vision check against the emulator, what the emulator says of a picture (with and without Pillow), the label that
stands for a picture, the log's images table and its migration, and the image outputs behind {Out[n]}."""

from __future__ import annotations

import base64
import io
import json
import random
import sqlite3
import sys

import matplotlib
import pytest

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
from PIL import Image  # noqa: E402

from wenxin_magic.api import InvalidRequestError  # noqa: E402
from wenxin_magic.display import footer  # noqa: E402
from wenxin_magic.context import ImageOutputs, missing_history, notebook_namespace, ErrorLog  # noqa: E402
from wenxin_magic.emulator.answers import compose_v2  # noqa: E402
from wenxin_magic.emulator.answers.pictures import colours, describe, looks_like_chart  # noqa: E402
from wenxin_magic.images import ImageError, picture_of  # noqa: E402
from wenxin_magic.parsers import PictureCollector, UsageError, interpolate, parse_cell_args  # noqa: E402
from wenxin_magic.session import message_text  # noqa: E402
from wenxin_magic.session._log import SCHEMA_VERSION, ConversationLog, _migrate  # noqa: E402
from wenxin_magic.session._pictures import for_log, from_log, logged_hashes  # noqa: E402

VL = "ernie-4.5-turbo-vl"


def png(width: int, height: int, color=(200, 30, 30)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buffer, format="PNG")
    return buffer.getvalue()


def noise(width: int, height: int) -> bytes:
    rng = random.Random(3)
    buffer = io.BytesIO()
    Image.frombytes("RGB", (width, height), bytes(rng.getrandbits(8) for _ in range(width * height * 3))).save(
        buffer, format="PNG")
    return buffer.getvalue()


def part(data: bytes) -> dict:
    return picture_of(data).part()


@pytest.fixture
def figure():
    fig, ax = plt.subplots(figsize=(3.2, 2.4), dpi=100)
    ax.plot([1, 2, 3], [3, 1, 2])
    yield fig
    plt.close(fig)


# -- the options line and interpolation ---------------------------------------------------------------

def test_image_is_repeatable_and_refused_where_only_text_goes():
    args = parse_cell_args("-m ernie-4.5-turbo-vl --image a.png --image last")
    assert args.image == ["a.png", "last"]
    for line, option in (("--image a.png --batch items", "--batch"), ("--image a.png --compare a,b", "--compare"),
                         ("--image a.png --completion", "--completion")):
        with pytest.raises(UsageError, match=f"--image goes with one question to a vision model; {option}"):
            parse_cell_args(line)


def test_a_picture_in_braces_becomes_an_image_part_and_a_marker(figure):
    collector = PictureCollector()
    text = interpolate("Compare {fig} with {pic} for {who}", {"fig": figure, "pic": Image.new("RGB", (20, 10)),
                                                               "who": "me"}, collector)
    assert text == "Compare [image 1] with [image 2] for me"
    assert [(p.width, p.height) for p in collector.pictures] == [(320, 240), (20, 10)]
    with pytest.raises(ImageError, match="shortest side"):
        interpolate("{tiny}", {"tiny": Image.new("RGB", (2, 30))}, PictureCollector())


# -- the session ----------------------------------------------------------------------------------------

def test_the_question_is_a_content_array_and_the_reply_describes_the_picture(session, figure):
    reply = session.ask("What is this?", model=VL, images=figure)
    assert reply.error is None and "PNG image of 320×240 pixels" in reply.text
    assert " · 1 image" in footer(reply) and "downscaled" not in footer(reply)
    sent = [r["json"] for r in session.backend.emulator.requests if r["path"] == "/v2/chat/completions"][-1]
    text, image = sent["messages"][-1]["content"]
    assert text == {"type": "text", "text": "What is this?"}
    assert image["type"] == "image_url" and image["image_url"]["url"].startswith("data:image/png;base64,")
    assert message_text(session.conversation().turns[0].request) == "What is this?\n[image 320×240]"


def test_text_and_v1_models_are_refused_before_anything_is_sent(session, figure):
    for model, reason in (("ernie-4.5-turbo-32k", "its catalog row lists no image input"),
                          ("ERNIE-Speed-8K", "a v1 model reads text only")):
        with pytest.raises(InvalidRequestError) as caught:
            session.ask("What is this?", model=model, images=[figure])
        assert reason in str(caught.value) and VL in str(caught.value) and caught.value.field == "images"
    assert session.backend.emulator is None or not session.backend.emulator.requests
    assert session.conversation().model is None
    with pytest.raises(InvalidRequestError, match="completion"):
        session.ask("Once upon", completion=True, images=[figure])


def test_a_model_the_catalog_does_not_know_is_left_to_the_service(session, figure):
    reply = session.ask("What is this?", model="some-new-vl-model", images=[figure], raise_on_error=False)
    assert reply.error is None or "cannot see images" not in str(reply.error)


def test_a_downscaled_picture_is_noted_with_the_reply(session):
    picture = picture_of(noise(300, 200), max_bytes=60_000)
    assert picture.downscaled
    reply = session.ask("What is this?", model=VL, images=[picture])
    assert any("downscaled from 300×200" in note for note in reply.notes)
    assert "1 image, 1 downscaled to fit" in footer(reply)
    assert f"{picture.width}×{picture.height} pixels" in reply.text


def test_a_url_image_is_sent_as_its_address_and_shown_by_it(session):
    url = "https://example.com/chart.png"
    reply = session.ask("What is this?", model=VL, images=[url])
    assert "does not download" in reply.text and url in reply.text
    assert message_text(session.conversation().turns[0].request) == f"What is this?\n[image {url}]"


# -- the emulator -----------------------------------------------------------------------------------------

def test_a_chart_and_a_photo_are_told_apart(figure):
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    chart = colours(buffer.getvalue())
    assert chart[0][0] == "white" and looks_like_chart(chart)
    assert not looks_like_chart(colours(noise(64, 64)))
    assert colours(png(30, 30, (20, 20, 200))) == [("blue", 1.0)]


def test_without_pillow_format_and_size_only(monkeypatch):
    picture = part(png(41, 17))
    monkeypatch.setitem(sys.modules, "PIL", None)  # import PIL now fails, as where Pillow is not installed
    said = describe(picture, zh=False)
    assert said == "a PNG image of 41×17 pixels."


def test_a_chinese_question_gets_a_chinese_description():
    answer = compose_v2(VL, {"messages": [{"role": "user", "content": [
        {"type": "text", "text": "这张图是什么？"}, part(png(50, 40, (255, 255, 255)))]}]})
    assert "50×40 像素的 PNG 图片" in answer.text and "白色" in answer.text


def test_several_pictures_are_each_described():
    answer = compose_v2(VL, {"messages": [{"role": "user", "content": [
        {"type": "text", "text": "Compare"}, part(png(10, 10)), part(png(20, 30, (20, 160, 40)))]}]})
    assert "2 images" in answer.text and "10×10" in answer.text and "20×30" in answer.text
    assert "green (100%)" in answer.text


# -- the log ------------------------------------------------------------------------------------------------

def test_for_log_stores_each_picture_once_and_from_log_restores_it():
    data = png(12, 8)
    request = {"role": "user", "content": [{"type": "text", "text": "q"}, part(data), part(data)]}
    logged, images = for_log(request, keep=True)
    assert "base64" not in json.dumps(logged) and len({sha for sha, *_ in images}) == 1
    assert message_text(logged) == "q\n[image 12×8]\n[image 12×8]"
    restored = from_log(logged, {sha: (form, blob) for sha, form, _, _, blob in images})
    assert restored == request
    missing = from_log(logged, {})
    assert message_text(missing) == "q\n[image 12×8] (not in the log)\n[image 12×8] (not in the log)"
    kept_out, none = for_log(request, keep=False)
    assert none == [] and message_text(kept_out) == "q\n[image 12×8] (not logged)\n[image 12×8] (not logged)"
    plain = {"role": "user", "content": "no pictures"}
    assert for_log(plain, keep=True) == (plain, [])


def test_the_store_keeps_one_row_per_picture(tmp_path):
    data = png(16, 16)
    logged, images = for_log({"role": "user", "content": [{"type": "text", "text": "q"}, part(data)]}, keep=True)
    with ConversationLog(tmp_path / "log.db") as log:
        for _ in range(3):
            log.write({"question": "q", "turn": {"request": logged}}, images)
        assert log.count() == 3 and log.image_bytes() == len(data)
        [sha] = logged_hashes(logged)
        assert log.images([sha]) == {sha: ("png", data)} and log.images([]) == {}


def test_migration_from_version_2_adds_the_images_table_and_keeps_rows(tmp_path):
    path = tmp_path / "v2.db"
    conn = sqlite3.connect(path, isolation_level=None)
    assert _migrate(conn, up_to=2) == 2
    conn.execute("INSERT INTO turns (run_id, chat, question, answer, created, kind) VALUES (?, ?, ?, ?, ?, ?)",
                 ("r-old", "default", "an old question", "old answer", 5.0, "chat"))
    assert "images" not in {row[0] for row in conn.execute("SELECT name FROM sqlite_schema")}
    conn.close()
    data = png(9, 9)
    logged, images = for_log({"role": "user", "content": [{"type": "text", "text": "new"}, part(data)]}, keep=True)
    with ConversationLog(path) as log:
        [old] = log.search("old question")
        assert old["answer"] == "old answer"
        log.write({"question": "new", "chat": "default", "run_id": "r-new", "turn": {"request": logged}}, images)
        assert log.image_bytes() == len(data)
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 3
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()


# -- image outputs: {Out[n]} and --image last ----------------------------------------------------------------

def test_out_n_is_the_picture_a_cell_showed_and_last_the_newest():
    outputs = ImageOutputs(limit=2)
    assert outputs.last() is None
    outputs.shown(b"first")
    assert outputs.last() == b"first"  # while the cell runs
    outputs.cell_ended(3)
    outputs.cell_ended(4)  # showed nothing
    outputs.cell_ended(5, returned="a figure")
    namespace = notebook_namespace({"Out": {4: "text", 5: "value"}}, ErrorLog(), outputs)
    assert namespace["Out"][3] == b"first" and namespace["Out"][4] == "text" and namespace["Out"][5] == "a figure"
    assert outputs.last() == "a figure"
    assert missing_history("{Out[3]} {Out[9]}", {"Out": {}}, ErrorLog(), outputs) == ["{Out[9]}"]
    outputs.cell_ended(6, returned="newer")
    assert 3 not in outputs and len(outputs) == 2  # the oldest is dropped past the limit


def test_the_hook_notes_a_shown_png_and_passes_every_message_on():
    outputs = ImageOutputs()
    hook = outputs.display_hook()
    data = png(6, 6)
    message = {"content": {"data": {"image/png": base64.b64encode(data).decode(), "text/plain": "<Figure>"}}}
    assert hook(message) is message and outputs.last() == data
    other = {"content": {"data": {"text/plain": "hi"}}}
    assert hook(other) is other and outputs.last() == data


def test_a_bad_picture_says_what_is_allowed(tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    for value, words in ((str(tmp_path / "nope.png"), "There is no file"), (str(text), "is not a PNG or JPEG"),
                         (str(tmp_path), "is not a file")):
        with pytest.raises(ImageError, match=words):
            picture_of(value)


def test_a_shell_follows_returned_pictures_and_unloading_stops_it(session):
    from IPython.core.interactiveshell import InteractiveShell
    from IPython.utils.capture import capture_output

    from wenxin_magic.session import set_session

    previous = set_session(session)
    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "wenxin_magic")
    try:
        with capture_output() as captured:
            ip.run_cell("from PIL import Image as PILImage\nPILImage.new('RGB', (30, 20), (250, 250, 250))",
                        store_history=True)
            ip.run_cell(f"%%wenxin -m {VL} --image last\nWhat is it?", store_history=True)
        assert "Traceback" not in captured.stdout + captured.stderr
        assert "PNG image of 30×20 pixels" in session.last_reply.text
    finally:
        ip.run_line_magic("unload_ext", "wenxin_magic")
        set_session(previous)
    names = [getattr(c, "__name__", "") for c in ip.events.callbacks.get("post_run_cell", [])]
    assert "note_picture" not in names and "note_error" not in names


def test_a_conversation_goes_on_with_a_text_model_after_a_picture(session, figure):
    session.ask("What is this?", model=VL, images=[figure])
    reply = session.ask("Summarise what we said", model="ernie-4.5-turbo-32k")
    assert reply.error is None
    sent = [r["json"] for r in session.backend.emulator.requests if r["path"] == "/v2/chat/completions"][-1]
    assert sent["messages"][0]["content"] == "What is this?\n[image 320×240]"
    v1 = session.ask("And in one line?", model="ERNIE-Speed-8K")
    assert v1.error is None
    assert isinstance(session.conversation().turns[0].request["content"], list)  # kept whole for a vision model
