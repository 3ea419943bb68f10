"""No credential anywhere: a representative run of the fault matrix with distinctive fake credentials, then a
search of the saved notebook, the exported transcripts and lesson files, the captured logs, the conversation log's database (its
raw bytes, -wal and -shm files included), every error text and repr, and the emulator's request log for any key,
secret or access token (the ones the emulator issued included).
"""

from __future__ import annotations

import json
import logging
import sqlite3
from pathlib import Path

import nbformat
import pytest

from _fakes import FAKE
from _kernel import ONLINE_SETUP, Kernel

pytestmark = pytest.mark.kernel

KEYS = FAKE.HYGIENE
AK, SK, IAK, ISK = KEYS.ak, KEYS.sk, KEYS.iak, KEYS.isk
WRONG_AK, WRONG_SK, WRONG_ISK = KEYS.wrong_ak, KEYS.wrong_sk, KEYS.wrong_isk

LOGGING = """
import logging
_handler = logging.FileHandler({path!r}, encoding="utf-8")
_handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
logging.basicConfig(level=logging.DEBUG, handlers=[_handler], force=True)
for _name in ("httpx", "httpcore", "asyncio", "wenxin_magic"):
    logging.getLogger(_name).setLevel(logging.DEBUG)
"""

SETUP = ONLINE_SETUP

REPRS = """
_errors = [r.error for r in session.replies if r.error is not None]
print(repr(session), repr(session.backend), repr(session.backend.client), repr(session.backend._credentials),
      repr(session.backend.client._tokens))
print(repr(session.last_reply), session.last_reply.to_dict())
for _e in _errors:
    print(str(_e), repr(_e), _e.args, getattr(_e, "partial_text", ""), getattr(_e, "hint", ""))
print(session.usage())
print([repr(c) for c in session.chats()])
print(len(_errors))
"""


class Notebook:
    """Cells run in a kernel, saved the way Jupyter saves them."""

    def __init__(self, kernel: Kernel):
        self.kernel = kernel
        self.nb = nbformat.v4.new_notebook()
        self.runs = []

    def run(self, source: str, **kw):
        run = self.kernel.run(source, **kw)
        cell = nbformat.v4.new_code_cell(source)
        by_id: dict[str, list[dict]] = {}
        for msg in run.messages:
            kind = msg["msg_type"]
            display_id = msg["content"].get("transient", {}).get("display_id")
            if kind == "update_display_data":
                for output in by_id.get(display_id, []):
                    output["data"] = nbformat.from_dict(msg["content"]["data"])
                    output["metadata"] = nbformat.from_dict(msg["content"].get("metadata", {}))
                continue
            if kind not in ("stream", "display_data", "execute_result", "error"):
                continue
            output = nbformat.v4.output_from_msg(msg)
            cell.outputs.append(output)
            if display_id:
                by_id.setdefault(display_id, []).append(output)
        self.nb.cells.append(cell)
        self.runs.append(run)
        return run

    def start(self, *setup: str) -> None:
        """The notebook's setup cells, each of which must run without an error."""
        for source in setup:
            run = self.run(source)
            assert run.error is None, run.text

    def save(self, path: Path) -> str:
        nbformat.validate(self.nb)
        nbformat.write(self.nb, str(path))
        return path.read_text(encoding="utf-8")


def conversation_log(work: Path) -> Path:
    """Where the notebooks' kernels write the conversation log: a file of this test's own."""
    return work / "conversations.db"


def log_bytes(path: Path) -> str:
    """The conversation log's raw bytes, with its -wal and -shm files if present, as text to search (latin-1 keeps
    every byte, so an ASCII credential is found wherever it lies, even inside a binary page)."""
    files = [p for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")) if p.exists()]
    assert path in files, f"no conversation log at {path}"
    return b"".join(p.read_bytes() for p in files).decode("latin-1")


def secrets_of(emu) -> set[str]:
    state = emu._st()
    with state.lock:
        issued = set(state.tokens) | set(state.seen_secrets)
    assert len(state.tokens) >= 3  # the run fetched (and refreshed) tokens: there is something to leak
    return KEYS.all | issued


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory, emulator_factory, module_kernel_factory):
    """Run the representative scenarios once; every test below searches one kind of artifact."""
    work = tmp_path_factory.mktemp("hygiene")
    test_log = work / "test-process.log"
    handler = logging.FileHandler(test_log, encoding="utf-8")
    handler.setLevel(logging.DEBUG)
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    texts: dict[str, str] = {}
    try:
        emu = emulator_factory(credentials={AK: SK}, iam_credentials={IAK: ISK}, rpm=100000, tpm=10 ** 9,
                               chunk_delay=0.002)
        texts.update(_oauth_notebook(emu, work, module_kernel_factory))
        texts.update(_iam_notebook(emu, work, module_kernel_factory))
        texts["emulator request log"] = json.dumps(emu.requests, ensure_ascii=False, default=str)
        secrets = secrets_of(emu)
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
        handler.close()
    texts["test-process log"] = test_log.read_text(encoding="utf-8")
    texts["conversation log"] = log_bytes(conversation_log(work))  # after the kernels ended
    conn = sqlite3.connect(conversation_log(work))
    try:
        logged = [q for (q,) in conn.execute("SELECT question FROM turns")]
        failed = conn.execute("SELECT COUNT(*) FROM turns WHERE error IS NOT NULL").fetchone()[0]
    finally:
        conn.close()
    # both notebooks' turns were logged, the failed ones too: the scan searched real rows
    assert "介绍下故宫" in logged and "write 600 characters about the Great Wall" in logged and failed >= 5
    return texts, secrets


def _oauth_notebook(emu, work: Path, start_kernel) -> dict[str, str]:
    # no setup cell: the notebook records its own, checked by start()
    k = start_kernel(None, env={**KEYS.oauth_env(emu.base_url), "WENXIN_MAGIC_LOG": str(conversation_log(work))},
                     cwd=work)
    nb = Notebook(k)
    log = work / "kernel-oauth.log"
    try:
        nb.start(LOGGING.format(path=str(log)), SETUP)
        config = nb.run("%wenxin config")
        nb.run("%%wenxin\n你好")
        emu.expire_tokens()
        nb.run("%%wenxin\n介绍下故宫")
        emu.inject("invalid_token")
        nb.run("%%wenxin\nwrite 600 characters about the Great Wall")
        emu.inject("qps", times=3)
        nb.run("%%wenxin\n再说一遍")
        emu.inject("drop_stream", after=3)
        nb.run("%%wenxin\nwrite 600 characters about the Summer Palace")
        emu.inject("stream_error", after=2, code=336100)
        nb.run("%%wenxin -c second\nwrite 600 characters about the Temple of Heaven")
        emu.inject("http_500", times=3)
        nb.run("%%wenxin --no-stream\n我在北京周末可以去哪里玩")
        emu.inject("rpm", times=3)
        nb.run("%wenxin 给我推荐一些自驾游路线")
        nb.run("%%wenxin\n敏感测试")
        nb.run("%%wenxin --compare BLOOMZ-7B,ERNIE-Speed-8K,ERNIE-Lite-8K --top-k 3\n介绍下故宫")
        nb.run("%config WenxinMagics.timeout = 1")
        emu.inject("slow_first_byte", delay=2, times=3)
        nb.run("%%wenxin\n你好")
        nb.run("%config WenxinMagics.timeout = 5")
        wrong = nb.run("%wenxin login", stdin=["", WRONG_AK, SK])
        nb.run("%%wenxin -c keys\n你好")
        nb.run("%wenxin login", stdin=["", AK, WRONG_SK])
        nb.run("%%wenxin -c keys\n你好")
        login = nb.run("%wenxin login", stdin=["", AK, SK])
        nb.run("%%wenxin -c keys\n你好")
        nb.run("session.ask('你好', model='NoSuchModel')")  # an exception that reaches the notebook
        emu.inject("busy", times=3)
        nb.run("session.ask('再说一遍')")
        nb.run("%xmode Verbose")
        emu.inject("busy", times=3)
        nb.run("session.ask('再说一遍')")
        nb.run("%xmode Context")
        nb.run("%wenxin history")
        nb.run("%wenxin chats")
        nb.run("%wenxin usage")
        nb.run("%wenxin export transcript.md")
        nb.run("%wenxin export transcript.json")
        nb.run("%wenxin lesson save lesson.json")
        reprs = nb.run(REPRS)
        assert int(reprs.stdout.strip().splitlines()[-1]) >= 8  # the errors above were all reached
        config_again = nb.run("%wenxin config")
        text = nb.save(work / "oauth.ipynb")
        open_log = log_bytes(conversation_log(work))  # while the kernel holds it open: the WAL not yet merged
    finally:
        k.close()
    # what the scenarios must have shown, so the scan below searched real outputs
    assert "set (hidden)" in config.text and "set (hidden)" in config_again.text
    # three prompts each: the v2 key (left empty), the API Key, the Secret Key
    prompts = [m for m in login.messages + wrong.messages if m["msg_type"] == "input_request"]
    assert len(prompts) == 6 and all(p["content"]["password"] for p in prompts)
    assert "Online" in login.stdout
    for needle in ("Error [18]", "Error [336100]", "HTTP 500", "Error [336501]", "interrupted", "invalid_client",
                   "QIANFAN_SK", "QIANFAN_AK", "within 1 s", "ban_round -1", "NoSuchModel", "Exported"):
        assert needle in text, needle
    return {"oauth notebook": text, "kernel log (oauth)": log.read_text(encoding="utf-8"),
            "conversation log (oauth kernel running)": open_log,
            "transcript.md": (work / "transcript.md").read_text(encoding="utf-8"),
            "transcript.json": (work / "transcript.json").read_text(encoding="utf-8"),
            "lesson.json": (work / "lesson.json").read_text(encoding="utf-8"),
            "reprs": reprs.text}


def _iam_notebook(emu, work: Path, start_kernel) -> dict[str, str]:
    env = {**KEYS.iam_env(emu.base_url),
           "HYGIENE_WRONG_SECRET": WRONG_ISK,  # so the wrong secret is not in a cell's source either
           "WENXIN_MAGIC_LOG": str(conversation_log(work))}
    k = start_kernel(None, env=env, cwd=work)
    nb = Notebook(k)
    log = work / "kernel-iam.log"
    try:
        nb.start(LOGGING.format(path=str(log)), SETUP)
        config = nb.run("%wenxin config")
        nb.run("%%wenxin -c iam\n你好")
        emu.inject("busy", times=3)
        nb.run("%%wenxin -c iam\n再说一遍")
        nb.run("import os; from wenxin_magic.api import Credentials\n"
               "session.backend.reconfigure(credentials=Credentials(access_key=os.environ['QIANFAN_ACCESS_KEY'], "
               "secret_access_key=os.environ['HYGIENE_WRONG_SECRET']))")
        bad = nb.run("%%wenxin -c iam\n你好")
        nb.run("%wenxin export iam.json")
        nb.run("%wenxin lesson save iam-lesson.json -c iam")
        reprs = nb.run(REPRS)
        text = nb.save(work / "iam.ipynb")
        open_log = log_bytes(conversation_log(work))
    finally:
        k.close()
    assert "iam" in config.text and "set (hidden)" in config.text
    assert "QIANFAN_SECRET_KEY" in bad.final() and "signature" in bad.final()
    return {"iam notebook": text, "kernel log (iam)": log.read_text(encoding="utf-8"),
            "iam.json": (work / "iam.json").read_text(encoding="utf-8"), "reprs (iam)": reprs.text,
            "iam-lesson.json": (work / "iam-lesson.json").read_text(encoding="utf-8"),
            "conversation log (iam kernel running)": open_log}


SOURCES = ["oauth notebook", "iam notebook", "transcript.md", "transcript.json", "iam.json", "lesson.json",
           "iam-lesson.json", "kernel log (oauth)",
           "kernel log (iam)", "test-process log", "reprs", "reprs (iam)", "emulator request log",
           "conversation log (oauth kernel running)", "conversation log (iam kernel running)", "conversation log"]


@pytest.mark.parametrize("source", SOURCES)
def test_no_credential_in(artifacts, source):
    texts, secrets = artifacts
    text = texts[source]
    assert text.strip()
    found = sorted(s for s in secrets if s in text)
    assert not found, f"{source} contains credentials: {found}"


def test_logs_were_captured(artifacts):
    """The scan above is only worth something if the logs saw the traffic."""
    texts, _ = artifacts
    assert "HTTP Request: POST" in texts["kernel log (oauth)"] and "access_token=***" in texts["kernel log (oauth)"]
    assert "httpcore" in texts["kernel log (oauth)"]
    assert "HTTP Request: POST" in texts["kernel log (iam)"]
    assert "/oauth/2.0/token" in texts["emulator request log"]
    # the conversation log saw the turns (its text is raw bytes: look for a question in UTF-8)
    for source in ("conversation log", "conversation log (oauth kernel running)"):
        assert "介绍下故宫".encode().decode("latin-1") in texts[source]
        assert "write 600 characters about the Great Wall" in texts[source]
    assert "再说一遍".encode().decode("latin-1") in texts["conversation log (iam kernel running)"]


def test_the_conversation_log_holds_no_header_or_signed_url(artifacts):
    """Nothing of a request's transport: no signed query, no Authorization header value."""
    texts, _ = artifacts
    for source in ("conversation log", "conversation log (oauth kernel running)",
                   "conversation log (iam kernel running)"):
        lowered = texts[source].lower()
        for needle in ("access_token=", "bce-auth-v1/", "bearer ", "authorization:", "client_secret"):
            assert needle not in lowered, f"{source} holds {needle!r}"
