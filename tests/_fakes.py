"""What the tests share besides fixtures: fake credentials, the emulator's request log, the history rule.

Fixtures live in conftest.py; test modules import these names directly (``from _fakes import FAKE``).
"""

from __future__ import annotations

import hashlib
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
