"""What the tests share besides fixtures: fake credentials, the emulator's request log, the history rule.

Fixtures live in conftest.py; test modules import these names directly (``from _fakes import FAKE``).
"""

from __future__ import annotations

import hashlib
import html
import re
from dataclasses import dataclass

CREDENTIAL_VARS = ("QIANFAN_AK", "QIANFAN_SK", "QIANFAN_ACCESS_KEY", "QIANFAN_SECRET_KEY", "QIANFAN_ACCESS_TOKEN",
                   "QIANFAN_BASE_URL")


# -- fake credentials ------------------------------------------------------------------------------

@dataclass(frozen=True)
class FakeKeys:
    """One purpose's fake credentials: an application key pair, an IAM pair, and wrong ones to try.

    Every value reads ``<kind>-FAKE-<PURPOSE>-<hex>`` and is derived from the purpose, so it appears in
    no source file and in nothing a test did not put it into: a leak check can search for it anywhere.
    """

    purpose: str
    ak: str
    sk: str
    iak: str
    isk: str
    wrong_ak: str
    wrong_sk: str
    wrong_isk: str

    @property
    def all(self) -> set[str]:
        """Every value, for leak checks."""
        return {self.ak, self.sk, self.iak, self.isk, self.wrong_ak, self.wrong_sk, self.wrong_isk}

    def oauth_env(self, base_url: str | None = None) -> dict[str, str]:
        """QIANFAN_AK / QIANFAN_SK (and QIANFAN_BASE_URL if given), as a Session's or a kernel's environment."""
        env = {"QIANFAN_AK": self.ak, "QIANFAN_SK": self.sk}
        if base_url is not None:
            env["QIANFAN_BASE_URL"] = base_url
        return env

    def iam_env(self, base_url: str | None = None) -> dict[str, str]:
        """QIANFAN_ACCESS_KEY / QIANFAN_SECRET_KEY (and QIANFAN_BASE_URL if given)."""
        env = {"QIANFAN_ACCESS_KEY": self.iak, "QIANFAN_SECRET_KEY": self.isk}
        if base_url is not None:
            env["QIANFAN_BASE_URL"] = base_url
        return env


def fake_keys(purpose: str) -> FakeKeys:
    """The fake credentials for ``purpose``: the same on every run, different for every purpose."""
    tag = purpose.upper().replace("_", "-")

    def value(kind: str) -> str:
        digest = hashlib.sha256(f"{purpose}/{kind}".encode()).hexdigest()[:12]
        return f"{kind}-FAKE-{tag}-{digest}"

    return FakeKeys(purpose, ak=value("ak"), sk=value("sk"), iak=value("iak"), isk=value("isk"),
                    wrong_ak=value("ak-wrong"), wrong_sk=value("sk-wrong"), wrong_isk=value("isk-wrong"))


class FAKE:
    """The fake credentials of the test suite, one set per purpose so a leak points at its test."""

    SESSION = fake_keys("session")  # the online Session of test_session.py
    ENVIRONMENT = fake_keys("environment")  # credentials read from the environment
    LOGIN = fake_keys("login")  # keys typed at %wenxin login / Session.login
    EXPORT = fake_keys("export")  # must not reach an exported transcript
    LEAKCHECK = fake_keys("leakcheck")  # must not reach an error, a repr or an export
    LOCKED = fake_keys("locked")  # the only keys a locked emulator accepts
    PANEL = fake_keys("panel")  # must not reach a widget's state
    NOTEBOOK = fake_keys("notebook")  # must not reach a saved notebook's outputs
    MATRIX = fake_keys("matrix")  # the fault matrix's kernel
    HYGIENE = fake_keys("hygiene")  # the secret-hygiene scan


# -- what a display shows ----------------------------------------------------------------------------

def text_of(fragment: str) -> str:
    """What HTML shows as text: tags dropped, entities read, white space folded."""
    return " ".join(html.unescape(re.sub(r"<[^>]*>", "", fragment)).split())


def words_of(markdown_text: str) -> str:
    """The words of Markdown source as its rendering shows them: emphasis, list numbers and heading marks dropped."""
    return " ".join(re.sub(r"\*\*|__|^[ \t]*\d+\.[ \t]+|^#+[ \t]+", "", markdown_text, flags=re.M).split())


def shows(markdown_text: str, fragment: str) -> bool:
    """Whether the HTML ``fragment`` shows the words of ``markdown_text`` (an answer's source), in order."""
    return words_of(markdown_text) in words_of(text_of(fragment))


# -- the emulator's request log ----------------------------------------------------------------------

def chat_requests(emu) -> list[dict]:
    """The chat and completion requests the emulator received, oldest first."""
    return [r for r in emu.requests if "/wenxinworkshop/" in r["path"]]


def token_requests(emu) -> list[dict]:
    """The OAuth access-token requests the emulator received, oldest first."""
    return [r for r in emu.requests if r["path"] == "/oauth/2.0/token"]


# -- the history rule --------------------------------------------------------------------------------

def assert_history_valid(messages: list[dict]) -> None:
    """A stored history, as it will be sent: whole turns, each a question (user or function) then its answer.

    Even length; at odd positions (1st, 3rd, ...) "user" or "function", at even ones "assistant"; every
    content a string, and none empty or blank unless it is an assistant message carrying a function_call.
    """
    assert len(messages) % 2 == 0, f"not whole turns: {messages!r}"
    for i, message in enumerate(messages):
        expected = ("assistant",) if i % 2 else ("user", "function")
        assert message["role"] in expected, f"message {i + 1} is {message['role']!r}, not {expected}: {messages!r}"
        content = message.get("content")
        assert isinstance(content, str), f"message {i + 1} has no string content: {messages!r}"
        if not content.strip():
            assert message["role"] == "assistant" and message.get("function_call"), \
                f"an empty turn was kept (message {i + 1}): {messages!r}"


# -- tool calls --------------------------------------------------------------------------------------

def model_requests(emu) -> list[dict]:
    """The chat requests of both APIs (v1 wenxinworkshop routes and v2 /v2/chat/completions), oldest first."""
    return [r for r in emu.requests if "/wenxinworkshop/" in r["path"] or r["path"] == "/v2/chat/completions"]


def assert_tool_history_valid(messages: list[dict], api: str) -> None:
    """A stored history with tool calls, as it will be sent to ``api`` ("v1" or "v2").

    v1: user, then assistant; an assistant with a ``function_call`` (content a string, may be empty) is followed
    by a ``function`` message naming that function, itself followed by an assistant (or, for a turn the round
    limit stopped, by the next question or nothing: the unanswered result is dropped); the history ends with an
    assistant message. v2: user, then assistant; an assistant with ``tool_calls`` is followed by exactly one
    ``tool`` message per call, with its ``tool_call_id``, in the calls' order, then an assistant (or, for a
    turn the round limit stopped, the next question or the end of the history). Either way every content is a
    string, and an assistant message that asks for no call has non-blank content.
    """
    assert api in ("v1", "v2"), api
    assert messages, "an empty history"
    assert messages[0]["role"] == "user", f"the history does not start with a question: {messages!r}"
    assert messages[-1]["role"] in (("assistant",) if api == "v1" else ("assistant", "tool")), \
        f"the history does not end with an answer (or, v2, a turn's last results): {messages!r}"
    i = 0
    while i < len(messages):
        message = messages[i]
        role = message["role"]
        content = message.get("content")
        where = f"message {i + 1} ({role})"
        assert isinstance(content, str), f"{where} has no string content: {messages!r}"
        if role == "user":
            assert i + 1 < len(messages) and messages[i + 1]["role"] == "assistant", \
                f"{where} is not followed by an assistant: {messages!r}"
            i += 1
            continue
        assert role == "assistant", f"{where}: unexpected role here: {messages!r}"
        if api == "v1":
            assert "tool_calls" not in message, f"{where} carries v2 tool_calls in a v1 history: {messages!r}"
            call = message.get("function_call")
            if not call:
                assert content.strip(), f"{where}: an empty answer was kept: {messages!r}"
                i += 1
                continue
            assert isinstance(call, dict) and call.get("name"), f"{where}: a function_call without a name"
            if i + 1 == len(messages) or messages[i + 1]["role"] == "user":
                i += 1  # a turn stopped at a call (the round limit): its result was dropped, alternation kept
                continue
            result = messages[i + 1]
            assert result["role"] == "function", f"message {i + 2} does not answer {where}'s call: {messages!r}"
            assert result.get("name") == call["name"], f"message {i + 2} answers another function: {messages!r}"
            assert isinstance(result.get("content"), str), f"message {i + 2} has no string content"
            assert i + 2 < len(messages) and messages[i + 2]["role"] == "assistant", \
                f"message {i + 2} (a function result) is not followed by an assistant: {messages!r}"
            i += 2
        else:
            assert "function_call" not in message, f"{where} carries a v1 function_call in a v2 history"
            calls = message.get("tool_calls")
            if not calls:
                assert content.strip(), f"{where}: an empty answer was kept: {messages!r}"
                i += 1
                continue
            ids = [c["id"] for c in calls]
            assert len(set(ids)) == len(ids) and all(ids), f"{where}: tool call ids missing or repeated: {ids}"
            for c in calls:
                assert c.get("type") == "function" and c["function"].get("name"), f"{where}: a malformed call {c!r}"
                assert isinstance(c["function"].get("arguments"), str), f"{where}: arguments not JSON text {c!r}"
            results = messages[i + 1:i + 1 + len(calls)]
            assert [m["role"] for m in results] == ["tool"] * len(calls), \
                f"{where}'s {len(calls)} call(s) are not followed by one tool message each: {messages!r}"
            assert [m.get("tool_call_id") for m in results] == ids, \
                f"{where}: the tool messages do not answer its calls in order: {messages!r}"
            assert all(isinstance(m.get("content"), str) for m in results), f"{where}: a tool result is not text"
            after = i + 1 + len(calls)
            # an answer follows; or, when the turn stopped there (the round limit), the next question or nothing
            assert after == len(messages) or messages[after]["role"] in ("assistant", "user"), \
                f"{where}'s tool results are followed by {messages[after]['role']!r}: {messages!r}"
            i = after
