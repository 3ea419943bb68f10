"""The two pieces of the chat panel that need their own browser-side code: the question box and the transcript's
scroll keeper. Each script is a fixed constant: no data from the kernel, the model or the user is ever put into it;
the box's text travels as widget messages and state only.
"""

from __future__ import annotations

import anywidget
import traitlets

# ipywidgets' Text tells the kernel of Enter at once but holds its edits back while an earlier one is unanswered,
# so a question typed fast arrived without its last letters. Here every edit and Enter go as messages, in the
# order they happened, and in order with the Send button's click too: the kernel has the whole text by then.
_QUESTION_BOX_ESM = """
export default {
  render({ model, el }) {
    const box = document.createElement("input");
    box.type = "text";
    box.className = "widget-input";
    el.classList.add("jupyter-widgets", "widget-inline-hbox", "widget-text");
    const show = () => {
      if (box.value !== model.get("value")) box.value = model.get("value");
      box.placeholder = model.get("placeholder");
      box.disabled = model.get("disabled");
    };
    box.addEventListener("input", () => {
      model.set("value", box.value);  // not sent: so that the kernel's clearing the box is a change here too
      model.send({ event: "edit", text: box.value });
    });
    box.addEventListener("keydown", (event) => {
      event.stopPropagation();  // the notebook's shortcuts are not for the box
      // an Enter that picks an input method's candidate is not a send
      if (event.key === "Enter" && !event.isComposing && event.keyCode !== 229) {
        model.send({ event: "submit", text: box.value });
      }
    });
    box.addEventListener("keypress", (event) => event.stopPropagation());
    for (const name of ["value", "placeholder", "disabled"]) model.on(`change:${name}`, show);
    show();
    el.appendChild(box);
    return () => {
      for (const name of ["value", "placeholder", "disabled"]) model.off(`change:${name}`, show);
    };
  },
};
"""


class QuestionBox(anywidget.AnyWidget):
    """A one-line text box whose Enter carries the text the browser shows."""

    _esm = _QUESTION_BOX_ESM
    # the browser's edits arrive as messages: an echo of one could overwrite letters typed since
    value = traitlets.Unicode("").tag(sync=True, echo_update=False)
    placeholder = traitlets.Unicode("").tag(sync=True)
    disabled = traitlets.Bool(False).tag(sync=True)

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._submit_callbacks: list = []
        self.on_msg(self._on_browser_message)

    def on_submit(self, callback) -> None:
        """Call ``callback(text)`` with the box's text when Enter is pressed in it."""
        self._submit_callbacks.append(callback)

    def _on_browser_message(self, _widget, content, _buffers) -> None:
        text = content.get("text")
        if not isinstance(text, str):
            return
        self.set_state({"value": text})  # as the widget state's own sync would, without its hold
        if content.get("event") == "submit":
            for callback in self._submit_callbacks:
                callback(text)


# Sits at the end of the transcript's scroll box (``.wenxin-scroll``, whose ``.wenxin-transcript`` holds the
# messages). While the reader is at the bottom, each change scrolls to the new bottom; once they scroll up, it
# leaves the box alone, and since the transcript only grows at its end, what they read stays put. CSS alone could
# not do it: JupyterLab re-renders an answer by emptying it, measuring, then filling it again, and in that instant
# the shorter transcript pulls the scroll position down with it. So after each change the transcript's height is
# kept as its minimum, and the next re-render's empty instant shortens nothing.
_SCROLL_KEEPER_ESM = """
export default {
  render({ el }) {
    let box = null, transcript = null, frame = 0, stopped = false;
    let following = true, placed = null;  // placed: where this script last scrolled to
    const follow = () => {
      if (following) {
        box.scrollTop = box.scrollHeight;
        placed = box.scrollTop;
      }
    };
    const settle = () => {  // once a frame: the height the transcript has now is the one to keep
      frame = 0;
      transcript.style.minHeight = "";
      transcript.style.minHeight = `${transcript.getBoundingClientRect().height}px`;
      follow();
    };
    const changed = () => {
      follow();  // at once, before anything else can look: the kept height makes that safe mid-render
      if (!frame && !stopped) frame = requestAnimationFrame(settle);
    };
    const scrolled = () => {
      if (box.scrollTop === placed) return;  // this script's own scroll, told late: the reader did not move
      placed = null;
      following = box.scrollHeight - box.scrollTop - box.clientHeight < 2;
    };
    const mutations = new MutationObserver(changed);
    const sizes = new ResizeObserver(changed);  // a wider or narrower panel wraps the text anew
    const attach = () => {  // the box may not hold this element yet when it is first drawn
      if (stopped) return;
      box = el.closest(".wenxin-scroll");
      transcript = box && box.querySelector(".wenxin-transcript");
      if (!transcript) {
        requestAnimationFrame(attach);
        return;
      }
      box.addEventListener("scroll", scrolled, { passive: true });
      mutations.observe(transcript, { childList: true, subtree: true, characterData: true });
      sizes.observe(transcript);
      changed();
    };
    attach();
    return () => {
      stopped = true;
      mutations.disconnect();
      sizes.disconnect();
      if (box) box.removeEventListener("scroll", scrolled);
    };
  },
};
"""


class ScrollKeeper(anywidget.AnyWidget):
    """Keeps the panel's transcript at its newest message unless the reader has scrolled up; draws nothing."""

    _esm = _SCROLL_KEEPER_ESM
