"""Pictures as questions through a real kernel: a matplotlib figure, --image, --image last and {Out[n]} reach a
vision model of the emulator, which describes what it received; a text model is refused before anything is sent;
bad paths and files that are not pictures are said plainly; history and the log show a label, never base64."""

from __future__ import annotations

import base64
import json
import sqlite3

import pytest

from wenxin_magic.images import image_size

pytestmark = pytest.mark.kernel

OFFLINE = """
%load_ext wenxin_magic
import wenxin_magic
session = wenxin_magic.get_session()
session.backend.emulator_options.update(ttft=0.0, chunk_delay=0.0)
%config WenxinMagics.min_update_interval = 0.01
%matplotlib inline
import matplotlib.pyplot as plt
"""

VL = "ernie-4.5-turbo-vl"


@pytest.fixture(scope="module")
def kernel(module_kernel_factory):
    return module_kernel_factory(setup=OFFLINE)


def sent(kernel) -> list[dict]:
    return kernel.value("[r['json'] for r in session.backend.emulator.requests if r['path'] == '/v2/chat/completions']"
                        " if session.backend.emulator else []")


def shown_png_size(run) -> tuple[int, int]:
    """The pixel size of the PNG a cell showed, read from the bytes the kernel published."""
    for message in run.displays:
        data = message["content"]["data"].get("image/png")
        if data:
            _, width, height = image_size(base64.b64decode(data))
            return width, height
    raise AssertionError("the cell showed no PNG")


def test_last_image_before_any_is_shown_says_so(kernel_factory):
    fresh = kernel_factory(setup=OFFLINE)
    run = fresh.run(f"%%wenxin -m {VL} --image last\nWhat is in it?")
    assert run.error is None
    assert "--image last: no cell has shown an image" in run.stderr and "PNG or JPEG" in run.stderr
    assert fresh.value("session.backend.emulator is None or len(session.backend.emulator.requests) == 0")


def test_a_figure_in_a_variable_reaches_a_vision_model_at_its_real_size(kernel):
    kernel.run("fig, ax = plt.subplots(figsize=(4.2, 3.1), dpi=100)\nax.plot([1, 2, 3], [2, 4, 3])\nplt.close(fig)")
    # the figure's real size, measured by Pillow in the kernel from what savefig writes
    kernel.run("import io\nfrom PIL import Image as PILImage\nbuffer = io.BytesIO()\nfig.savefig(buffer, format='png')\n"
               "real = PILImage.open(buffer).size")
    real = kernel.value("real")
    run = kernel.run(f"%%wenxin -m {VL} -c plot\nWhat does {{fig}} show?")
    assert run.error is None and not run.stderr, run.stderr
    final = run.final()
    assert f"PNG image of {real[0]}×{real[1]} pixels" in final
    assert "looks like a chart" in final
    assert "base64" not in final
    message = sent(kernel)[-1]["messages"][-1]
    text, picture = message["content"]
    assert text == {"type": "text", "text": "What does [image 1] show?"}
    url = picture["image_url"]["url"]
    assert url.startswith("data:image/png;base64,")
    assert image_size(base64.b64decode(url.partition(",")[2]))[1:] == tuple(real)


def test_a_text_model_is_refused_and_nothing_is_sent(kernel):
    before = len(sent(kernel))
    requests = kernel.value("len(session.backend.emulator.requests)")
    run = kernel.run("%%wenxin -m ernie-4.5-turbo-32k -c refused\nExplain {fig}")
    assert run.error is None
    assert "ernie-4.5-turbo-32k cannot see images" in run.stderr and "nothing was sent" in run.stderr
    assert VL in run.stderr and "ernie-5.0" in run.stderr  # the vision models, named
    assert kernel.value("len(session.backend.emulator.requests)") == requests and len(sent(kernel)) == before
    assert kernel.value("session.conversation('refused').model") is None  # the refused cell changed nothing
    v1 = kernel.run("%%wenxin -m ERNIE-Speed-8K -c refused\nExplain {fig}")
    assert "ERNIE-Speed-8K cannot see images (a v1 model reads text only)" in v1.stderr
    assert kernel.value("len(session.backend.emulator.requests)") == requests


def test_image_last_is_the_plot_the_notebook_showed(kernel):
    shown = kernel.run("plt.figure(figsize=(2.5, 2.0))\nplt.bar(['a', 'b'], [3, 5])\nplt.show()")
    size = shown_png_size(shown)
    run = kernel.run(f"%%wenxin -m {VL} -c last --image last\nWhich bar is taller?")
    assert run.error is None and not run.stderr, run.stderr
    assert f"PNG image of {size[0]}×{size[1]} pixels" in run.final()


def test_out_n_is_the_picture_cell_n_showed(kernel):
    shown = kernel.run("plt.figure(figsize=(3.0, 1.5))\nplt.plot([0, 1], [1, 0])")
    size = shown_png_size(shown)
    count = shown.reply["content"]["execution_count"]
    kernel.run("plt.figure(figsize=(1.0, 1.0)); plt.show()")  # a later plot: Out[n] still names the first
    run = kernel.run(f"%%wenxin -m {VL} -c out\nExplain {{Out[{count}]}}")
    assert run.error is None and not run.stderr, run.stderr
    assert f"PNG image of {size[0]}×{size[1]} pixels" in run.final()


def test_image_files_and_bad_paths(kernel, tmp_path):
    kernel.run("from PIL import Image as PILImage\n"
               f"PILImage.new('RGB', (64, 48), (200, 30, 30)).save({str(tmp_path / 'red.png')!r})\n"
               f"PILImage.new('RGB', (80, 60), (20, 20, 200)).save({str(tmp_path / 'blue.jpg')!r})\n"
               f"open({str(tmp_path / 'notes.txt')!r}, 'w').write('not a picture')")
    both = kernel.run(f"%%wenxin -m {VL} -c files --image {tmp_path / 'red.png'} --image {tmp_path / 'blue.jpg'}\n"
                      "Compare them")
    final = both.final()
    assert "2 images" in final and "64×48" in final and "80×60" in final and "JPEG" in final
    assert "red (100%)" in final and "blue (100%)" in final and "does not look like a chart" in final
    requests = kernel.value("len(session.backend.emulator.requests)")
    missing = kernel.run(f"%%wenxin -m {VL} --image {tmp_path / 'nowhere.png'}\nWhat is it?")
    assert f"There is no file {str(tmp_path / 'nowhere.png')!r}" in missing.stderr and "Nothing was sent" in missing.stderr
    assert "Traceback" not in missing.text
    text = kernel.run(f"%%wenxin -m {VL} --image {tmp_path / 'notes.txt'}\nWhat is it?")
    assert "'notes.txt' is not a PNG or JPEG image" in text.stderr and "Traceback" not in text.text
    pil = kernel.run(f"tiny = PILImage.new('RGB', (3, 40))\n%wenxin -m {VL} look at {{tiny}}")
    assert "3×40 pixels" in pil.stderr and "at least 5 pixels" in pil.stderr
    grid = kernel.run(f"%%wenxin --compare {VL},ernie-5.0 --image {tmp_path / 'red.png'}\nCompare")
    assert "--image goes with one question" in grid.stderr
    assert kernel.value("len(session.backend.emulator.requests)") == requests


def test_history_and_exports_show_a_label_never_base64(kernel, tmp_path):
    history = kernel.run("%wenxin history -c plot")
    assert "[image " in history.final() and "base64" not in history.text
    kernel.run(f"session.export({str(tmp_path / 'plot.json')!r}, chat='plot')\n"
               f"session.export({str(tmp_path / 'plot.md')!r}, chat='plot')")
    exported = json.loads((tmp_path / "plot.json").read_text())
    part = exported["conversations"][0]["turns"][0]["request"]["content"][1]
    assert part["type"] == "image" and part["label"].startswith("[image ") and len(part["sha256"]) == 64
    markdown = (tmp_path / "plot.md").read_text()
    assert "[image " in markdown and "base64" not in markdown


def test_the_log_keeps_each_picture_once_and_resume_restores_it(kernel):
    path = kernel.value("str(session.log.path)")
    kernel.run(f"%%wenxin -m {VL} -c pictures-logged\nWhat does {{fig}} show?")
    kernel.run("%%wenxin -c pictures-logged\nAnd {fig} again?")
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT question, turn FROM turns WHERE chat = 'pictures-logged' ORDER BY id").fetchall()
        hashes = {json.loads(turn)["request"]["content"][1]["image_url"]["url"] for _, turn in rows}
        stored = conn.execute("SELECT COUNT(*) FROM images WHERE 'wenxin-image:' || sha256 IN ({})".format(
            ",".join("?" * len(hashes))), sorted(hashes)).fetchone()[0]
    assert len(rows) == 2 and all("[image " in question and "base64" not in turn for question, turn in rows)
    assert len(hashes) == 1 and stored == 1  # the same figure twice: one row of images
    kernel.run("%wenxin reset -c pictures-logged")
    resumed = kernel.run("%wenxin resume pictures-logged")
    assert resumed.error is None, resumed.text
    url = kernel.value("session.conversation('pictures-logged').turns[0].request['content'][1]['image_url']['url'][:22]")
    assert url == "data:image/png;base64,"
    run = kernel.run("%%wenxin -c pictures-logged\nAnd now?")
    assert run.error is None
    assert sent(kernel)[-1]["messages"][0]["content"][1]["image_url"]["url"].startswith("data:image/png;base64,")


def test_log_images_off_keeps_pictures_out_of_the_log(kernel):
    path = kernel.value("str(session.log.path)")
    kernel.run("%config WenxinMagics.log_images = False")
    try:
        run = kernel.run(f"%%wenxin -m {VL} -c unlogged\nWhat does {{fig}} show?")
        assert run.error is None
    finally:
        kernel.run("%config WenxinMagics.log_images = True")
    with sqlite3.connect(path) as conn:
        [(turn,)] = conn.execute("SELECT turn FROM turns WHERE chat = 'unlogged'").fetchall()
    part = json.loads(turn)["request"]["content"][1]
    assert part["type"] == "text" and part["text"].endswith("(not logged)") and "base64" not in turn
