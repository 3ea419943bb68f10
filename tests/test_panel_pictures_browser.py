"""The panel's pictures in a real browser (JupyterLab on loopback, Debian's Chromium through Playwright): a file
chosen in the Attach control and the notebook's last figure reach a vision model of the emulator, which describes
them at their real size; the panel shows [image W×H], never the picture's base64."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from _lab import chromium, jupyterlab, open_notebook, write_notebook

pytestmark = pytest.mark.browser

SETUP = ("%load_ext wenxin_magic\nimport wenxin_magic\nsession = wenxin_magic.get_session()\n"
         "session.backend.emulator_options.update(ttft=0.0, chunk_delay=0.01)\n%matplotlib inline\n"
         "import matplotlib.pyplot as plt")
PLOT = "plt.figure(figsize=(3.0, 2.0), dpi=100)\nplt.plot([1, 2, 3], [2, 1, 3])\nplt.show()"
WAIT = 60000  # ms


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    root = tmp_path_factory.mktemp("lab")
    write_notebook(root / "pictures.ipynb", [SETUP, PLOT, "%wenxin panel -c pics -m ernie-4.5-turbo-vl"])
    buffer = io.BytesIO()
    Image.new("RGB", (160, 90), (31, 119, 180)).save(buffer, format="PNG")
    (root / "blue.png").write_bytes(buffer.getvalue())
    with jupyterlab(root, tmp_path_factory.mktemp("lab-state")) as base:
        yield base, root


def _ask(page, text: str) -> None:
    page.locator(".wenxin-panel .wenxin-input input").fill(text)
    page.locator(".wenxin-panel button.wenxin-send").click()


def _answer_with(page, words: str):
    from playwright.sync_api import expect

    answer = page.locator(".wenxin-panel .wenxin-assistant", has_text=words).last
    expect(answer).to_contain_text("tokens", timeout=WAIT)
    return answer


def test_attach_a_file_and_the_last_figure(lab, tmp_path_factory):
    from playwright.sync_api import expect

    base, root = lab
    with chromium(tmp_path_factory.mktemp("chromium-profile")) as page:
        open_notebook(page, base, "pictures.ipynb")
        page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
        page.wait_for_selector(".wenxin-panel .wenxin-input input")
        plot = page.locator(".jp-OutputArea-output img").first
        expect(plot).to_be_visible(timeout=WAIT)
        width, height = plot.evaluate("img => [img.naturalWidth, img.naturalHeight]")

        # 1. the last figure: the plot the notebook showed, at the size the browser shows it
        page.locator(".wenxin-panel button.wenxin-attach_figure").click()
        attached = page.locator(".wenxin-panel .wenxin-attached")
        expect(attached).to_have_text(f"[image {width}×{height}]", timeout=WAIT)
        _ask(page, "What does the plot show?")
        answer = _answer_with(page, f"PNG image of {width}×{height} pixels")
        expect(answer).to_contain_text("looks like a chart")
        expect(page.locator(".wenxin-panel .wenxin-user").last).to_contain_text(f"[image {width}×{height}]")
        expect(attached).to_have_text("")

        # 2. a file chosen in the Attach control
        with page.expect_file_chooser() as chooser:  # the control opens the browser's own file dialog
            page.locator(".wenxin-panel .wenxin-attach").click()
        chooser.value.set_files(str(root / "blue.png"))
        expect(attached).to_have_text("[image 160×90]", timeout=WAIT)
        thumbnail = page.locator(".wenxin-panel .wenxin-thumbnails img")
        expect(thumbnail).to_be_visible()
        assert thumbnail.evaluate("img => [img.naturalWidth, img.naturalHeight]") == [160, 90]
        _ask(page, "And this one?")
        answer = _answer_with(page, "PNG image of 160×90 pixels")
        expect(answer).to_contain_text("blue (100%)")
        panel_html = page.locator(".wenxin-panel").inner_html()
        assert "base64" not in panel_html
