"""The chat panel in a real browser: JupyterLab on loopback, Debian's Chromium driven by Playwright.

Set WENXIN_SCREENSHOTS=DIR to keep the screenshots (the README's come from here).
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pytest

from _lab import chromium, jupyterlab, open_notebook, run_new_cell, write_notebook

pytestmark = pytest.mark.browser  # JupyterLab starts its own kernel: this is the browser tier, not the kernel one

SETUP = ("%load_ext wenxin_magic\nimport wenxin_magic\nsession = wenxin_magic.get_session()\n"
         "session.backend.emulator_options.update(ttft=0.3, chunk_delay=0.06)")

WEATHER_TOOL = '''def get_current_weather(location: str, unit: str = "摄氏度") -> dict:
    """获得指定地点的天气"""
    print(f"looking up {location}…")
    return {"location": location, "temperature": 25, "unit": unit, "description": "晴朗"}'''
WAIT = 60000  # ms: expect() waits 5 s unless told
# an element's text without the <sub> footer, whose token counts and timings could hold any digits
WITHOUT_FOOTER = ("el => { const c = el.cloneNode(true); c.querySelectorAll('sub').forEach(s => s.remove());"
                  " return c.textContent; }")
FOLLOWING_BUBBLE = "xpath=following-sibling::*[contains(concat(' ', @class, ' '), ' wenxin-assistant ')][1]"
PRECEDING_BUBBLE = "xpath=preceding-sibling::*[contains(concat(' ', @class, ' '), ' wenxin-assistant ')][1]"


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    root = tmp_path_factory.mktemp("lab")
    write_notebook(root / "panel.ipynb", [SETUP, "%wenxin panel -c demo"])
    with jupyterlab(root, tmp_path_factory.mktemp("lab-state")) as base:
        yield base, root


@pytest.fixture(scope="module")
def page(lab, tmp_path_factory):
    base, _ = lab
    with chromium(tmp_path_factory.mktemp("chromium-profile")) as page:
        open_notebook(page, base, "panel.ipynb")
        page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
        page.wait_for_selector(".wenxin-panel .wenxin-input input")
        yield page


def _screenshot_dir(tmp_path_factory) -> Path:
    target = os.environ.get("WENXIN_SCREENSHOTS")
    return Path(target) if target else tmp_path_factory.getbasetemp()


def _last_answer(page) -> str:
    return page.evaluate("() => { const a = document.querySelectorAll('.wenxin-panel .wenxin-assistant');"
                         " return a.length ? a[a.length - 1].innerText : ''; }")


def _answers(page) -> int:
    return page.evaluate("() => document.querySelectorAll('.wenxin-panel .wenxin-assistant').length")


def _ask(page, text: str) -> None:
    box = page.locator(".wenxin-panel .wenxin-input input")
    box.fill(text)
    page.locator(".wenxin-panel button.wenxin-send").click()


def test_panel_streams_stops_and_follows_cells(page, tmp_path_factory):
    shots = _screenshot_dir(tmp_path_factory)
    shots.mkdir(parents=True, exist_ok=True)

    # 1. an answer grows in place through intermediate states
    before = _answers(page)
    _ask(page, "介绍一下北京")
    states = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if _answers(page) > before:
            text = _last_answer(page)
            if not states or states[-1] != text:
                states.append(text)
            if "tokens" in text:
                break
        time.sleep(0.03)
    assert states and "tokens" in states[-1], states[-3:]
    intermediate = [s for s in states[:-1] if s.strip() and s.strip() != "…" and "characters so far" in s]
    assert len(intermediate) >= 2, states
    assert "北京" in states[-1]

    # 2. a long answer, stopped mid-way
    count = _answers(page)
    _ask(page, "write 5000 characters about the Great Wall")
    page.wait_for_function(f"() => document.querySelectorAll('.wenxin-panel .wenxin-assistant').length > {count}"
                           " && document.querySelectorAll('.wenxin-panel .wenxin-assistant')"
                           f"[{count}].innerText.length > 300")
    assert page.locator(".wenxin-panel button.wenxin-stop").is_enabled()
    page.locator(".wenxin-panel button.wenxin-stop").click()
    page.wait_for_function("() => { const a = document.querySelectorAll('.wenxin-panel .wenxin-assistant');"
                           " return a[a.length - 1].innerText.includes('interrupted'); }")
    page.wait_for_function("() => document.querySelector('.wenxin-panel .wenxin-status').innerText"
                           ".includes('Stopped')")
    stopped = _last_answer(page)
    assert len(stopped) < 5000 and "Great Wall" in stopped
    assert page.locator(".wenxin-panel button.wenxin-stop").is_disabled()
    page.locator(".wenxin-panel").screenshot(path=str(shots / "panel.png"))

    # 3. a %%wenxin cell on the panel's conversation appears in the panel as it streams
    count = _answers(page)
    run_new_cell(page, "%%wenxin -c demo\n我在北京周末可以去哪里玩")
    page.wait_for_function("() => Array.from(document.querySelectorAll('.wenxin-panel .wenxin-user'))"
                           ".some(u => u.innerText.includes('我在北京周末可以去哪里玩'))")
    page.wait_for_function(f"() => {{ const a = document.querySelectorAll('.wenxin-panel .wenxin-assistant');"
                           f" return a.length > {count} && a[a.length - 1].innerText.includes('tokens'); }}")
    assert "北京" in _last_answer(page)

    # 4. the side-by-side comparison, for the README
    run_new_cell(page, "%%wenxin --compare BLOOMZ-7B,ERNIE-Speed-8K,ERNIE-3.5-8K-Preemptible\n介绍下故宫")
    page.wait_for_function("() => { const t = document.querySelectorAll('.jp-OutputArea-output table');"
                           " return t.length && t[t.length - 1].innerText.split('tokens').length > 3; }")
    grid = page.locator(".jp-OutputArea-output table").last
    grid.scroll_into_view_if_needed()
    grid.screenshot(path=str(shots / "compare.png"))
    assert (shots / "panel.png").stat().st_size > 10000 and (shots / "compare.png").stat().st_size > 10000



def _approve_next_call(page, question: str, button: str):
    """Ask with approval on; answer the approval row that appears; return it."""
    from playwright.sync_api import expect

    rows = page.locator(".wenxin-panel .wenxin-approval")
    before = rows.count()
    _ask(page, question)
    expect(rows).to_have_count(before + 1, timeout=WAIT)
    row = rows.nth(before)
    expect(row).to_contain_text("get_current_weather", timeout=WAIT)
    clicked = row.get_by_role("button", name=button)
    expect(clicked).to_be_visible()
    # the row keeps its height in the transcript's scroll box, not squeezed under its own buttons
    row_box, button_box = row.bounding_box(), clicked.bounding_box()
    assert row_box["height"] >= button_box["height"], (row_box, button_box)
    clicked.click()
    expect(row, f"clicking {button} did not settle the approval").to_contain_text(
        "— allowed" if button == "Allow" else "— declined", timeout=WAIT)
    expect(row.get_by_role("button")).to_have_count(0)
    return row


def test_tools_in_cells_and_panel(page, tmp_path_factory):
    from playwright.sync_api import expect

    shots = _screenshot_dir(tmp_path_factory)
    shots.mkdir(parents=True, exist_ok=True)

    # 1. a %%wenxin cell with --tools: the call's block, what the function printed, then the answer
    run_new_cell(page, WEATHER_TOOL)
    run_new_cell(page, "%%wenxin -m ERNIE-3.5-8K --tools get_current_weather -c weather\n上海市今天天气如何？")
    cell = page.locator(".jp-Notebook .jp-CodeCell").filter(
        has=page.locator("summary", has_text="get_current_weather")).last
    outputs = cell.locator(".jp-OutputArea-output")
    # the last round: no call block, its footer (the turn is over)
    answer = cell.locator(".jp-OutputArea-output:not(:has(details))", has_text="tokens").last
    expect(answer).to_be_visible(timeout=WAIT)
    shown = outputs.evaluate_all("els => els.map(e => ({summary: e.querySelector('summary') ?"
                                 " e.querySelector('summary').textContent : '', text: e.textContent}))")
    blocks = [i for i, o in enumerate(shown) if "get_current_weather" in o["summary"]]
    printed = [i for i, o in enumerate(shown) if "looking up 上海市" in o["text"]]
    answers = [i for i, o in enumerate(shown) if not o["summary"] and "tokens" in o["text"]]
    assert blocks and printed and answers, shown
    assert blocks[0] < printed[0] < answers[-1], shown
    assert "25" in answer.evaluate(WITHOUT_FOOTER), shown
    block = cell.locator("details", has=page.locator("summary", has_text="get_current_weather")).first
    expect(block.locator("summary")).to_contain_text("25")  # the result, shortened, after the call
    sent = block.get_by_text("sent to the model")
    expect(sent).to_be_hidden()
    block.locator("summary").click()
    expect(sent).to_be_visible()
    expect(block).to_contain_text('"temperature": 25')
    area = cell.locator(".jp-OutputArea")
    area.scroll_into_view_if_needed()
    area.screenshot(path=str(shots / "tools.png"))

    # 2. the panel: the tools box names the function, each call asked first (ERNIE-Speed-8K takes no functions)
    page.locator(".wenxin-panel .wenxin-model select").select_option("ERNIE-3.5-8K")
    expect(page.locator(".wenxin-panel .wenxin-model select")).to_have_value("ERNIE-3.5-8K")
    page.locator(".wenxin-panel .wenxin-tools input").fill("get_current_weather")
    page.locator(".wenxin-panel .wenxin-approve input[type=checkbox]").check()
    expect(page.locator(".wenxin-panel .wenxin-approve input[type=checkbox]")).to_be_checked()

    allowed = _approve_next_call(page, "北京今天天气怎么样？", "Allow")
    asking = allowed.locator(PRECEDING_BUBBLE)  # the round that asked for the call: its own bubble, the block
    expect(asking.locator("summary")).to_contain_text("get_current_weather", timeout=WAIT)
    final = allowed.locator(FOLLOWING_BUBBLE)
    expect(final).to_contain_text("tokens", timeout=WAIT)
    expect(final.locator("details")).to_have_count(0)
    assert "25" in final.evaluate(WITHOUT_FOOTER), final.inner_text()
    expect(asking.locator("summary")).to_contain_text("25")  # the block shows what the function returned

    declined = _approve_next_call(page, "广州今天天气怎么样？", "Decline")
    asking = declined.locator(PRECEDING_BUBBLE)
    expect(asking.locator("summary")).to_contain_text("get_current_weather", timeout=WAIT)
    expect(asking.locator("summary")).to_contain_text("declined")
    final = declined.locator(FOLLOWING_BUBBLE)
    expect(final).to_contain_text("tokens", timeout=WAIT)
    said = final.evaluate(WITHOUT_FOOTER)
    assert "get_current_weather" in said, said
    assert re.search(r"declin|not allow|拒绝|不允许|未允许", said, re.IGNORECASE), said
    assert "25" not in said, said  # the function did not run: no temperature to report

    page.evaluate("() => { const t = document.querySelector('.wenxin-panel .wenxin-scroll');"
                  " t.scrollTop = t.scrollHeight; }")
    page.locator(".wenxin-panel").screenshot(path=str(shots / "tools-panel.png"))
    assert (shots / "tools.png").stat().st_size > 10000 and (shots / "tools-panel.png").stat().st_size > 10000
