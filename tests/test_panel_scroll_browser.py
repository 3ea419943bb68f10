"""The panel in a real browser (JupyterLab on loopback, Debian's Chromium through Playwright): the transcript
follows the newest message as it streams unless the reader has scrolled up, and a question typed fast and sent
at once arrives whole.

Only positions, structure and the question's own text are checked: the emulator's wording is not.
"""

from __future__ import annotations

import time

import pytest

from _lab import chromium, jupyterlab, open_notebook, write_notebook

pytestmark = pytest.mark.browser

# answers of a fixed length, streamed slowly enough to be watched while they grow
SETUP = ("%load_ext wenxin_magic\nimport wenxin_magic\nsession = wenxin_magic.get_session()\n"
         "session.backend.emulator_options.update(ttft=0.2, chunk_delay=0.12, answer_chars=1000)")
WAIT = 60000  # ms
STREAM_SECONDS = 60
TOLERANCE = 2  # px: borders and sub-pixel layout

# The element that scrolls the transcript: the nearest ancestor of the bubbles that can scroll and does.
# Found by what it does rather than by a class, so the test holds for any way of building the scroll box.
SCROLLER = """(el) => {
    for (let e = el.parentElement; e; e = e.parentElement) {
        const overflow = getComputedStyle(e).overflowY;
        if ((overflow === 'auto' || overflow === 'scroll') && e.scrollHeight > e.clientHeight + 1) return e;
    }
    return null;
}"""
# where the newest answer and every bubble stand within the scroll box's visible area
POSITIONS = f"""() => {{
    const scrollerOf = {SCROLLER};
    const bubbles = Array.from(document.querySelectorAll('.wenxin-panel .wenxin-bubble'));
    const answers = Array.from(document.querySelectorAll('.wenxin-panel .wenxin-assistant'));
    const newest = answers[answers.length - 1];
    const box = newest ? scrollerOf(newest) : null;
    if (!box) return {{overflowing: false, answers: answers.length}};
    const view = box.getBoundingClientRect();
    const top = view.top + box.clientTop, bottom = top + box.clientHeight;
    const rect = newest.getBoundingClientRect();
    return {{overflowing: true, answers: answers.length, viewTop: top, viewBottom: bottom, scrollTop: box.scrollTop,
             newestTop: rect.top, newestBottom: rect.bottom,
             offsets: bubbles.map(b => b.getBoundingClientRect().top - top)}};
}}"""


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    root = tmp_path_factory.mktemp("lab")
    write_notebook(root / "scroll.ipynb", [SETUP, "%wenxin panel -c scroll"])
    with jupyterlab(root, tmp_path_factory.mktemp("lab-state")) as base:
        yield base


@pytest.fixture(scope="module")
def page(lab, tmp_path_factory):
    with chromium(tmp_path_factory.mktemp("chromium-profile")) as page:
        open_notebook(page, lab, "scroll.ipynb")
        page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
        page.wait_for_selector(".wenxin-panel .wenxin-input input")
        yield page


def _answers(page) -> int:
    return page.evaluate("() => document.querySelectorAll('.wenxin-panel .wenxin-assistant').length")


def _idle(page) -> None:
    """Wait until the panel takes a question again (the last turn is over)."""
    from playwright.sync_api import expect

    expect(page.locator(".wenxin-panel .wenxin-input input")).to_be_enabled(timeout=WAIT)
    expect(page.locator(".wenxin-panel button.wenxin-stop")).to_be_disabled(timeout=WAIT)


def _send(page, text: str) -> None:
    """Send ``text`` with the Send button and wait for its answer's bubble."""
    _idle(page)
    before = _answers(page)
    page.locator(".wenxin-panel .wenxin-input input").fill(text)
    page.locator(".wenxin-panel button.wenxin-send").click()
    page.wait_for_function(f"() => document.querySelectorAll('.wenxin-panel .wenxin-assistant').length > {before}")


def _watch(page) -> list[dict]:
    """The positions seen while the answer streams, the last one after it ended."""
    seen = []
    stop = page.locator(".wenxin-panel button.wenxin-stop")
    deadline = time.monotonic() + STREAM_SECONDS
    while stop.is_enabled() and time.monotonic() < deadline:
        seen.append({**page.evaluate(POSITIONS), "streaming": True})
        time.sleep(0.05)
    _idle(page)
    page.wait_for_timeout(300)  # the final render, after the turn's end
    seen.append({**page.evaluate(POSITIONS), "streaming": False})
    return seen


def _ask_and_watch(page, text: str) -> list[dict]:
    _send(page, text)
    return _watch(page)


def _newest_in_view(position: dict) -> bool:
    """The newest answer's end is inside the scroll box's visible area."""
    return (position["viewTop"] - TOLERANCE <= position["newestBottom"] <= position["viewBottom"] + TOLERANCE)


def _where(positions: list[dict]) -> list[dict]:
    """The positions that matter in a failure's message, rounded."""
    keys = ("streaming", "scrollTop", "viewTop", "viewBottom", "newestTop", "newestBottom")
    return [{k: round(p[k]) if isinstance(p.get(k), float) else p.get(k) for k in keys} for p in positions[:4]]


def _scroll(page, dy: float) -> dict:
    """Turn the mouse wheel over the transcript; where everything then stands."""
    box = page.locator(".wenxin-panel .wenxin-assistant").last.evaluate_handle(SCROLLER).as_element()
    box.scroll_into_view_if_needed()
    rect = box.bounding_box()
    page.mouse.move(rect["x"] + rect["width"] / 2, rect["y"] + rect["height"] / 2)
    page.mouse.wheel(0, dy)
    page.wait_for_timeout(500)
    return page.evaluate(POSITIONS)


def _assert_nothing_moved(reading: dict, watched: list[dict]) -> None:
    """What the reader had in view stays where it was, while and after the answer streams."""
    kept = len(reading["offsets"])  # the bubbles that were there when the reader scrolled up
    for position in watched:
        pairs = zip(reading["offsets"], position["offsets"][:kept], strict=True)
        moved = [round(after - before, 1) for before, after in pairs if abs(after - before) > TOLERANCE]
        assert not moved, (f"the transcript moved under the reader by {moved[:3]} px "
                           f"({'while' if position['streaming'] else 'after'} the answer streamed)")


def test_the_transcript_follows_the_newest_message_unless_the_reader_scrolled_up(page):
    # 1. enough questions that the transcript overflows: each answer stays in view as it streams and after
    watched = []
    for n in range(3):
        watched += _ask_and_watch(page, f"question {n + 1}: tell me about the Great Wall")
    overflowing = [p for p in watched if p["overflowing"]]
    assert overflowing and overflowing[-1] is watched[-1], "the transcript never overflowed its scroll box"
    assert sum(p["streaming"] for p in overflowing) >= 3, "no answer was seen streaming in an overflowing transcript"
    out_of_view = [p for p in overflowing if not _newest_in_view(p)]
    assert not out_of_view, _where(out_of_view)

    # 2. the reader scrolls up while an answer streams, to read its beginning: it goes on growing out of view
    _send(page, "question 4: and the Forbidden City?")
    page.wait_for_function("() => { const a = document.querySelectorAll('.wenxin-panel .wenxin-assistant');"
                           " return a[a.length - 1].getBoundingClientRect().height > 100; }")
    reading = _scroll(page, -120)
    watched = _watch(page)
    assert sum(p["streaming"] for p in watched) >= 3, "the answer ended before the reader scrolled up"
    _assert_nothing_moved(reading, watched)
    assert not _newest_in_view(watched[-1]), "the answer's end did not grow out of the reader's view"

    # 3. still scrolled up, the reader sends another question: nothing moves under them either
    reading = _scroll(page, -250)
    watched = _ask_and_watch(page, "question 5: and the Summer Palace?")
    _assert_nothing_moved(reading, watched)
    assert not [p for p in watched if _newest_in_view(p)], "the transcript jumped to the newest answer"

    # 4. back at the bottom, following resumes
    assert _newest_in_view(_scroll(page, 100000))
    watched = _ask_and_watch(page, "question 6: and the Temple of Heaven?")
    assert sum(p["streaming"] for p in watched) >= 3
    out_of_view = [p for p in watched if not _newest_in_view(p)]
    assert not out_of_view, _where(out_of_view)


FAST_QUESTIONS = ["How tall is Mount Everest, and who first climbed it",
                  "北京有哪些值得一去的博物馆和公园？请列出五个",
                  "List three rivers that flow through Beijing please"]


def _sent_questions(page) -> list[str]:
    """The question bubbles: each shows the prompt the kernel's session recorded for its turn."""
    return page.locator(".wenxin-panel .wenxin-user").all_inner_texts()


def _type_fast_and_send(page, text: str, by: str) -> str:
    """Type ``text`` at 5 ms a key and send it at once with Enter or the Send button; the question shown."""
    from playwright.sync_api import expect

    _idle(page)
    before = len(_sent_questions(page))
    box = page.locator(".wenxin-panel .wenxin-input input")
    box.click()
    page.keyboard.type(text, delay=5)
    if by == "Enter":
        page.keyboard.press("Enter")
    else:
        page.locator(".wenxin-panel button.wenxin-send").click()
    page.wait_for_function(f"() => document.querySelectorAll('.wenxin-panel .wenxin-user').length > {before}",
                           timeout=WAIT)
    _idle(page)
    expect(box).to_have_value("")  # sent, so cleared: no late edit of the box brings the text back
    return _sent_questions(page)[-1]


@pytest.mark.parametrize("by", ["Enter", "Send"])
def test_a_question_typed_fast_and_sent_at_once_arrives_whole(page, by):
    # the same question twice too: the box is emptied after each and must fill anew
    for text in [*FAST_QUESTIONS, FAST_QUESTIONS[-1]]:
        assert _type_fast_and_send(page, text, by) == text
