"""The chat panel: an ipywidgets view over the kernel's Session.

Answers run as tasks on the kernel's event loop, so the panel's Stop button
and other cells work while one streams (a widget callback that blocked would
hold every click until it returned). The panel renders from the session's turn
events alone, so a %%wenxin cell on the same conversation shows up here as it
streams, and several panels stay in step.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import sys
import time
import types
from pathlib import Path

import ipywidgets as w

from .api import CHAT, MODELS, PARAMETERS, V2_MODELS
from .display import ReplyView, Throttle, html_bundle
from .interrupts import cancel_on_interrupt, main_thread_loop, note_tool_call, rewatch_if_lost
from .panel_widgets import QuestionBox, ScrollKeeper
from .sanitize import safe_html
from .session import Reply, Session, TurnEvent, get_session, message_text
from .tool_lookup import ParamError, ToolLookupError, find_tools, read_params, split_tool_names

NEW_CHAT = "＋ new conversation"

_CSS = """
<style>
.wenxin-panel { border: 1px solid var(--jp-border-color2, #ddd); border-radius: 8px; padding: 8px; }
/* the transcript scrolls inside the panel; ScrollKeeper keeps it at the newest message */
.wenxin-panel .wenxin-scroll { max-height: 480px; overflow-y: auto; display: flex; flex-direction: column; }
.wenxin-panel .wenxin-scroll > * { flex-shrink: 0; overflow: visible; }
.wenxin-panel .wenxin-transcript { padding: 4px; }
.wenxin-bubble { border-radius: 10px; padding: 2px 10px; margin: 4px 0; max-width: 85%; }
.wenxin-user { background: var(--jp-brand-color3, #dbeafe); align-self: flex-end; white-space: pre-wrap; }
.wenxin-assistant { background: var(--jp-layout-color2, #f3f4f6); align-self: flex-start; }
.wenxin-notice { color: var(--jp-warn-color1, #b45309); font-size: 90%; align-self: center; }
.wenxin-status { color: var(--jp-ui-font-color2, #666); font-size: 85%; }
.wenxin-error { color: var(--jp-error-color1, #b91c1c); }
.wenxin-attached { color: var(--jp-ui-font-color2, #666); font-size: 85%; align-self: center; }
.wenxin-approval { flex-shrink: 0; align-self: flex-start; border: 1px dashed var(--jp-warn-color1, #b45309); border-radius: 8px;
                   padding: 2px 8px; }
</style>
"""


def _slider(name: str, value: float, step: float = 0.01) -> w.FloatSlider:
    """A slider over a parameter's allowed range, as the parameter table states it."""
    rule = PARAMETERS[name]
    low = rule.low + step if rule.low_open else rule.low
    return w.FloatSlider(value=value, min=low, max=rule.high, step=step, description=name, readout_format=".2f",
                         tooltip=rule.doc, layout=w.Layout(width="340px"),
                         style={"description_width": "initial"})  # the whole name: "temperature", not "temperat…"


def _chat_models() -> list[str]:
    """The v1 chat models the service hosts, then the v2 models."""
    return [m.name for m in MODELS if m.kind == CHAT and m.endpoint is not None] + [m.id for m in V2_MODELS]


class _Bubble:
    """One assistant answer in the transcript: Markdown, re-rendered through a throttle."""

    def __init__(self, reply: Reply, min_interval: float, max_interval: float):
        self.reply = reply
        self.widget = w.Output(layout=w.Layout(align_self="flex-start", max_width="85%"))
        self.widget.add_class("wenxin-bubble")
        self.widget.add_class("wenxin-assistant")
        # widget state has no byte budget to keep, only a rate
        self._throttle = Throttle(self.render, lambda: 0, min_interval=min_interval, max_interval=max_interval,
                                   budget_factor=0.0, budget_floor=float("inf"))
        self.render()

    def render(self, final: bool = False) -> int:
        bundle = html_bundle(ReplyView(self.reply, compact=True).html(streaming=not final), self.reply.text)
        self.widget.outputs = ({"output_type": "display_data", "metadata": {}, "data": bundle},)
        return len(bundle["text/html"])

    def changed(self) -> None:
        self._throttle.poke(0)

    def finish(self) -> None:
        self._throttle.close()
        self.render(final=True)


class ChatPanel:
    """A chat UI for one conversation of a Session (switchable), updated live from its events."""

    def __init__(self, session: Session, chat: str | None = None, model: str | None = None, *,
                 resume: bool = False, min_interval: float = 0.05, max_interval: float = 0.2):
        self.session = session
        self.chat = chat or "default"
        self._intervals = (min_interval, max_interval)
        self._task: concurrent.futures.Future | None = None  # the answer, running on the session's loop
        self._answering = False
        self._main_loop = main_thread_loop()  # the kernel's: tools and the interrupt handler need its thread
        self.last_reply: Reply | None = None
        self._bubbles: dict[int, _Bubble] = {}
        resumed = self._resume_logged(self.chat) if resume else ""
        if model:
            session.use(model, chat=self.chat)
        self._build_controls(session.conversation(self.chat))
        self.widget = self._layout()
        self._connect()
        self._unsubscribe = session.subscribe(self._on_event)
        self._rebuild()
        self._set_status(resumed, error=resumed.startswith("Could not"))

    def _build_controls(self, conv) -> None:
        self.model = w.Dropdown(options=_chat_models(), value=self._model_name(), description="model",
                                layout=w.Layout(width="280px"))
        self.chats = w.Dropdown(options=self._chat_options(), value=self.chat, description="chat",
                                layout=w.Layout(width="240px"))
        self.temperature = _slider("temperature", conv.params.get("temperature", 0.8))
        self.system = w.Text(value=conv.system or "", placeholder="system prompt (persona), Enter to set",
                             description="system", continuous_update=False, layout=w.Layout(width="100%"))
        self.tools = w.Text(value="", placeholder="tools: the notebook's functions, e.g. get_weather, convert",
                            description="tools", tooltip="functions the model may call, separated by commas",
                            layout=w.Layout(width="100%"))
        self.params = w.Text(value="", placeholder="extra parameters: seed=42 think=true effort=low",
                             description="params", tooltip="request fields, NAME=VALUE separated by spaces; a "
                             "VALUE is JSON when it parses as JSON, else text", layout=w.Layout(width="100%"))
        self.approve = w.Checkbox(value=False, description="ask before each call", indent=False,
                                  layout=w.Layout(width="200px"))
        self.clear = w.Button(description="Clear", icon="trash", tooltip="forget this conversation's turns")
        self.export = w.Button(description="Export", icon="download", tooltip="write a Markdown transcript")
        self.transcript = w.VBox(layout=w.Layout(display="flex", flex_flow="column"))
        self.scroll = w.Box([self.transcript, ScrollKeeper()])
        self.input = QuestionBox(placeholder="Ask… (Enter sends)", layout=w.Layout(flex="1 1 auto"))
        self.send = w.Button(description="Send", button_style="primary", icon="paper-plane")
        self.stop = w.Button(description="Stop", button_style="warning", icon="stop", disabled=True)
        self.status = w.HTML()
        self.attach = w.FileUpload(accept="image/png,image/jpeg,.png,.jpg,.jpeg", multiple=True, description="Attach",
                                   tooltip="PNG or JPEG pictures to send with the next question (a vision model)")
        self.attach_figure = w.Button(description="Attach last figure", icon="image",
                                      tooltip="the last picture a cell showed, sent with the next question")
        self.attached = w.HTML()  # what goes with the next question: labels, never the picture's bytes in HTML
        self.thumbnails = w.HBox()  # and small previews, as image widgets (bytes the browser draws, not markup)
        self.detach = w.Button(icon="times", tooltip="remove the attached pictures", layout=w.Layout(width="36px"),
                               disabled=True)
        self.pictures: list = []  # images.Picture: sent with the next question, then cleared
        # the CSS, and the browser test, find the controls by these classes
        for name in ("model", "chats", "temperature", "system", "tools", "params", "approve", "clear", "export", "transcript",
                     "scroll", "input", "send", "stop", "status", "attach", "attach_figure", "attached", "thumbnails",
                     "detach"):
            getattr(self, name).add_class(f"wenxin-{name}")

    def _layout(self) -> w.VBox:
        panel = w.VBox([
            w.HTML(_CSS),
            w.HBox([self.model, self.chats, self.temperature]),
            w.HBox([self.system, self.clear, self.export]),
            w.HBox([self.tools, self.approve]),
            self.params,
            self.scroll,
            w.HBox([self.input, self.send, self.stop]),
            w.HBox([self.attach, self.attach_figure, self.thumbnails, self.attached, self.detach]),
            self.status,
        ])
        panel.add_class("wenxin-panel")
        return panel

    def _connect(self) -> None:
        self.send.on_click(lambda _: self.submit())
        self.input.on_submit(self.submit)
        self.stop.on_click(lambda _: self.cancel())
        self.clear.on_click(lambda _: self.session.reset(self.chat))
        self.export.on_click(lambda _: self.export_transcript())
        self.model.observe(self._on_model, "value")
        self.chats.observe(self._on_chat, "value")
        self.system.observe(self._on_system, "value")
        self.attach.observe(self._on_upload, "value")
        self.attach_figure.on_click(lambda _: self.attach_last_figure())
        self.detach.on_click(lambda _: self._set_pictures([]))

    # -- display ----------------------------------------------------------------------------
    def _repr_mimebundle_(self, **kwargs):
        bundle = self.widget._repr_mimebundle_(**kwargs)
        # the widget's own text is a dump of its children; say what it is instead
        bundle["text/plain"] = repr(self)
        return bundle

    def __repr__(self) -> str:
        where = "offline emulator" if self.session.offline else "Qianfan"
        return f"ChatPanel(chat={self.chat!r}, model={self.model.value!r}, {where})"

    def close(self) -> None:
        self._unsubscribe()
        self.widget.close()

    # -- state helpers ------------------------------------------------------------------------
    def _model_name(self) -> str:
        conv = self.session.conversation(self.chat)
        name = conv.model or self.session.default_model
        return name if name in _chat_models() else _chat_models()[0]

    def _chat_options(self) -> list[str]:
        return self._chat_options_with(self.chat)

    def _resume_logged(self, name: str) -> str:
        """The conversation's latest run from the log; what happened, in words for the status line."""
        try:
            conv = self.session.resume(name)
        except Exception as err:  # no such conversation, or the log is unusable: the panel works without it
            return f"Could not resume {name!r} from the log: {err}"
        return f"Resumed {name!r} from the log: {len(conv.turns)} turn(s)."

    def _set_status(self, message: str = "", error: bool = False) -> None:
        s = self.session
        mode = "offline (built-in emulator)" if s.offline else "online (Qianfan)"
        totals = s.conversation(self.chat).totals
        parts = [mode, f"{self.chat}: {totals['turns']} turns, {totals['total_tokens']} tokens"]
        if self._busy:
            parts.append("answering…")
        text = " · ".join(safe_html(p, markdown=False) for p in parts)
        if message:
            cls = "wenxin-error" if error else ""
            text += f' · <span class="{cls}">{safe_html(message, markdown=False)}</span>'
        self.status.value = text

    @property
    def _busy(self) -> bool:
        return self._answering

    # -- pictures --------------------------------------------------------------------------------
    def attach_picture(self, value, name: str = "") -> bool:
        """Send ``value`` (anything ``images.picture_of`` takes) with the next question; a bad one is said."""
        from .images import ImageError, picture_of

        try:
            picture = picture_of(value)
        except ImageError as err:
            self._set_status(f"{name + ': ' if name else ''}{err}", error=True)
            return False
        self._set_pictures(self.pictures + [picture])
        self._set_status(f"Attached {picture.describe()}; it goes with the next question (a vision model).")
        return True

    def attach_last_figure(self) -> bool:
        """The last picture a cell of this kernel showed (a plot, an image), as %%wenxin --image last finds it."""
        shown = _last_shown_picture()
        if shown is None:
            self._set_status("No cell has shown a picture yet: draw a plot, then attach it.", error=True)
            return False
        return self.attach_picture(shown, "last figure")

    def _on_upload(self, change) -> None:
        uploaded = change["new"] or ()
        if not uploaded:
            return
        for item in uploaded:  # ipywidgets 8: name, type, size, content (a memoryview)
            self.attach_picture(bytes(item["content"]), str(item.get("name") or "upload"))
        self.attach.value = ()  # the same file may be chosen again

    def _set_pictures(self, pictures: list) -> None:
        self.pictures = list(pictures)
        labels = [f"[image {p.width}×{p.height}]" if p.data is not None else f"[image {p.url}]" for p in pictures]
        self.attached.value = safe_html(" ".join(labels), markdown=False) if labels else ""
        self.thumbnails.children = tuple(w.Image(value=p.data, format=p.format, layout=w.Layout(height="48px"))
                                         for p in pictures if p.data is not None)
        self.detach.disabled = not pictures

    def _user_bubble(self, prompt: str) -> w.HTML:
        bubble = w.HTML(f"<div>{safe_html(prompt, markdown=False)}</div>", layout=w.Layout(align_self="flex-end",
                                                                              max_width="85%"))
        bubble.add_class("wenxin-bubble")
        bubble.add_class("wenxin-user")
        return bubble

    def _notice(self, text: str) -> w.HTML:
        notice = w.HTML(safe_html(text, markdown=False), layout=w.Layout(align_self="center"))
        notice.add_class("wenxin-notice")
        return notice

    def _rebuild(self, notice: str | None = None) -> None:
        """The transcript from the conversation's history (after a switch, reset or clear)."""
        children = []
        self._bubbles.clear()
        for turn in self.session.conversation(self.chat).turns:
            children.append(self._user_bubble(message_text(turn.request)))
            for reply in turn.replies:
                bubble = _Bubble(reply, *self._intervals)
                bubble.finish()
                children.append(bubble.widget)
        if notice:
            children.append(self._notice(notice))
        self.transcript.children = tuple(children)

    # -- user actions ---------------------------------------------------------------------------
    def submit(self, prompt: str | None = None):
        """Send the input box's text (or ``prompt``) as the next turn; returns its future."""
        text = (prompt if prompt is not None else self.input.value).strip()
        if not text:
            self._set_status("Type a question first.")
            return None
        if self._busy:
            self._set_status("Still answering: press Stop or wait.", error=True)
            return None
        self.input.value = ""
        self.input.disabled = self.send.disabled = True
        self.stop.disabled = False
        self._answering = True
        # A click may be handled on another of the kernel's threads (a subshell); only the main one's loop will do.
        self._main_loop = main_thread_loop() or self._main_loop
        self._set_status()  # before the turn starts: one that fails at once must not be written over
        self._task = self.session.runner.submit(self._ask(text))
        cancel_on_interrupt(self._task)
        return self._task

    def _named_tools(self) -> list:
        """The functions the tools box names, from the kernel's namespace, by the rule ``--tools`` follows."""
        names = split_tool_names(self.tools.value)
        if not names:
            return []
        from IPython import get_ipython

        shell = get_ipython()
        return find_tools(names, shell.user_ns if shell is not None else {})

    def _approval(self, call):
        """Yes/No buttons in the transcript; the future they settle says whether ``call`` may run."""
        decided = asyncio.get_running_loop().create_future()
        question = w.HTML(f"Allow <code>{safe_html(call.label(), markdown=False)}</code>?")
        allow = w.Button(description="Allow", button_style="success", icon="check")
        deny = w.Button(description="Decline", button_style="danger", icon="times")
        box = w.HBox([question, allow, deny])
        box.add_class("wenxin-approval")

        loop = asyncio.get_running_loop()

        def settle(answer: bool) -> None:
            if not decided.done():
                decided.set_result(answer)

        def shown(_) -> None:  # also when the turn is stopped while it waits
            answer = not decided.cancelled() and decided.result()
            question.value += " — allowed" if answer else " — declined"
            box.children = (question,)
        # the click may arrive on another of the kernel's threads; the future belongs to this loop
        allow.on_click(lambda _: loop.call_soon_threadsafe(settle, True))
        deny.on_click(lambda _: loop.call_soon_threadsafe(settle, False))
        decided.add_done_callback(shown)
        self.transcript.children = self.transcript.children + (box,)
        return decided

    async def _ask(self, prompt: str) -> Reply | None:
        reply = None
        try:
            tools = self._named_tools()
            extra = {"tools": tools, "approve": self._approval if self.approve.value else False,
                     "tools_loop": self._main_loop, "on_call": note_tool_call} if tools else {}
            params = {"temperature": round(self.temperature.value, 2), **read_params(self.params.value)}
            if self.pictures:
                extra["images"] = list(self.pictures)
            reply = await self.session.aask(prompt, chat=self.chat, raise_on_error=False, **params, **extra)
            if reply is not None and (reply.text or not reply.error):
                self._set_pictures([])  # sent: the next question starts without them
        except asyncio.CancelledError:
            reply = self.session.last_reply
        except ToolLookupError as err:  # the tools box names no function: said as --tools says it, the text kept
            self._not_sent(prompt, f"tools: {err}")
        except ParamError as err:  # the params box: said as --param says it, the text kept
            self._not_sent(prompt, f"params: {err}.")
        except Exception as err:  # a bad prompt or setting: said in words, the text kept
            self._not_sent(prompt, f"{type(err).__name__}: {err}")
        finally:
            self._answering = False
            self.input.disabled = self.send.disabled = False
            self.stop.disabled = True
        self.last_reply = reply
        notices = " ".join(str(notice) for notice in self.session.take_notices())
        if reply is not None:
            if reply.error is not None and not reply.text:
                self._restore_input(prompt)
                self._set_status(f"Not sent: {reply.error.message} (your message is back in the box)", error=True)
            elif reply.interrupted:
                self._set_status("Stopped: the partial answer is kept.")
            else:
                self._set_status(notices, error=notices.startswith("The conversation log"))
        return reply

    def _not_sent(self, prompt: str, message: str) -> None:
        self._restore_input(prompt)
        self._answering = False  # before the status line is written
        self._set_status(message, error=True)

    def _restore_input(self, prompt: str) -> None:
        if not self.input.value:
            self.input.value = prompt

    def cancel(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()  # thread-safe: the turn is cancelled on the session's loop

    def export_transcript(self, path: str | None = None) -> Path:
        target = Path(path or f"wenxin-{self.chat}-{time.strftime('%Y%m%d-%H%M%S')}.md")
        written = self.session.export(target, chat=self.chat)
        self._set_status(f"Exported to {written}")
        return written

    def _on_model(self, change) -> None:
        self.session.use(change["new"], chat=self.chat)

    def _on_system(self, change) -> None:
        self.session.set_system(change["new"] or None, chat=self.chat)
        self._set_status("System prompt set." if change["new"] else "System prompt cleared.")

    def _on_chat(self, change) -> None:
        name = change["new"]
        if name == self.chat or name is None:
            return
        if name == NEW_CHAT:
            existing = {c.name for c in self.session.chats()}
            n = 1
            while f"chat-{n}" in existing:
                n += 1
            name = f"chat-{n}"
            self.session.conversation(name)
            self.chats.options = self._chat_options_with(name)
            self.chats.value = name
            return
        self.chat = name
        conv = self.session.conversation(name)
        self.system.value = conv.system or ""
        self.model.value = self._model_name()
        self._rebuild()
        self._set_status()

    def _chat_options_with(self, name: str) -> list[str]:
        names = [c.name for c in self.session.chats()]
        if name not in names:
            names.append(name)
        return names + [NEW_CHAT]

    # -- session events ----------------------------------------------------------------------------
    def _on_event(self, event: TurnEvent) -> None:
        if event.chat is None:  # a comparison belongs to no conversation
            return
        if event.kind == "start" and event.chat not in self.chats.options:
            self.chats.options = self._chat_options_with(event.chat)
        if event.chat != self.chat:
            return
        reply = event.reply
        if event.kind == "start":
            bubble = _Bubble(reply, *self._intervals)
            self._bubbles[id(reply)] = bubble
            # a reply after tool calls answers the same question: no new question bubble
            asked = () if reply.rounds else (self._user_bubble("\n".join([reply.prompt, *reply.pictures])),)
            self.transcript.children = self.transcript.children + asked + (bubble.widget,)
            self._set_status()
        elif event.kind == "delta":
            if self._answering:
                rewatch_if_lost(self._main_loop)
            bubble = self._bubbles.get(id(reply))
            if bubble is not None:
                bubble.changed()
        elif event.kind == "end":
            bubble = self._bubbles.pop(id(reply), None)
            if bubble is not None:
                bubble.finish()
            self._set_status()
        elif event.kind == "call":  # a tool call started or ended: shown at once, before the function prints
            bubble = self._bubbles.get(id(reply))
            if bubble is not None:
                bubble.render()
        elif event.kind == "cleared":
            self._rebuild(notice=event.message)
            self._set_status(event.message)
        elif event.kind == "reset":
            self._rebuild()
            self._set_status("Conversation cleared.")


def _last_shown_picture():
    """The newest picture a cell showed, as the kernel's %wenxin magics noted it (None before one is shown)."""
    from IPython import get_ipython

    shell = get_ipython()
    magics = shell.magics_manager.registry.get("WenxinMagics") if shell is not None else None
    return magics.picture_outputs().last() if magics is not None else None


def open_panel(chat: str | None = None, model: str | None = None, session: Session | None = None, *,
               resume: bool = False) -> ChatPanel:
    """Display a chat panel over the kernel's session and return it; ``resume``: the conversation from the log."""
    from IPython.display import display

    panel = ChatPanel(session or get_session(), chat=chat, model=model, resume=resume)
    display(panel)
    return panel


class _CallableModule(types.ModuleType):
    """``wenxin_magic.panel()`` opens a panel while ``wenxin_magic.panel.ChatPanel`` stays reachable:
    importing this module binds the package attribute ``panel`` to the module itself."""

    def __call__(self, chat: str | None = None, model: str | None = None, *, resume: bool = False) -> ChatPanel:
        return open_panel(chat=chat, model=model, resume=resume)


sys.modules[__name__].__class__ = _CallableModule
