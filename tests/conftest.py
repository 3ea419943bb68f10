"""Shared fixtures: the emulator, sessions and real kernels.

Fake credentials and the shared checks (``assert_history_valid``, ``chat_requests``, ``token_requests``)
are plain functions in ``_fakes.py``; the kernel harness is ``_kernel.py``.

- ``emulator_factory`` (module): ``start(**options)`` a running Emulator, fast unless told otherwise,
  stopped at the end of the module.
- ``emulator`` (module): the module's fast Emulator (ttft 0, chunk_delay 0). A module that needs another
  one (credentials, limits) overrides ``emulator`` with one from ``emulator_factory``; ``emu`` then resets it.
- ``client`` / ``token`` (module): plain httpx to the module's emulator, and a v1 access token from it.
- ``emu``: ``emulator`` with an empty request log, no faults, empty RPM/TPM windows, and the ttft, chunk
  delay and RPM/TPM limits it was built with restored, before and after the test.
- ``session_factory`` / ``module_session_factory``: ``make(against=None, keys=FAKE.SESSION, **Session
  kwargs)``; offline on its own fast emulator with ``environ={}``, or online against the running emulator
  ``against``; quick retries; every session closed at the end of the test / module.
- ``session``: ``session_factory()``.
- ``kernel_factory`` / ``module_kernel_factory``: ``start(setup="%load_ext wenxin_magic", env=, cwd=)``
  a real kernel that ran ``setup`` without an error; each one closed at the end of the test / module.
- ``no_credentials_in_env``: no QIANFAN_* variable in this process's environment during the test.
"""

from __future__ import annotations

import contextlib
import sys
import weakref

import httpx
import pytest

from _fakes import CREDENTIAL_VARS, FAKE
from _kernel import KernelPool
from wenxin_magic.emulator import Emulator
from wenxin_magic.session import Session

# pytest rewrites the asserts of every test module as it imports it, after this file has run. Where
# PYTHONDONTWRITEBYTECODE is set (it is on our machines) nothing is cached, so every xdist worker re-parses
# ~90 modules on every run: about 10 s of the fast tier. The rewritten modules go to __pycache__, which git ignores.
sys.dont_write_bytecode = False

FAST_EMULATOR = {"ttft": 0.0, "chunk_delay": 0.0}
RETRY_BACKOFF = 0.01

# what each emulator the factory started was built with, so ``emu`` can put it back
_built_with: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


# -- the emulator --------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def emulator_factory():
    """``start(**options)``: a running Emulator (ttft and chunk_delay 0 unless given), stopped with the module."""
    with contextlib.ExitStack() as stack:
        def start(**options) -> Emulator:
            options = {**FAST_EMULATOR, **options}
            server = stack.enter_context(Emulator(**options))
            _built_with[server] = {name: options[name] for name in ("ttft", "chunk_delay", "rpm", "tpm")
                                   if name in options}
            return server

        yield start


@pytest.fixture(scope="module")
def emulator(emulator_factory) -> Emulator:
    return emulator_factory()


def reset_emulator(server: Emulator) -> None:
    """Forget requests and faults, empty the RPM/TPM windows, and restore the ttft, chunk delay and limits the
    factory built it with (limits it was not given are left alone)."""
    server.clear()
    server.reset_limits()
    built = _built_with.get(server, FAST_EMULATOR)
    if "rpm" in built or "tpm" in built:
        server.set_limits(rpm=built.get("rpm"), tpm=built.get("tpm"))
    server.ttft = built.get("ttft", FAST_EMULATOR["ttft"])
    server.chunk_delay = built.get("chunk_delay", FAST_EMULATOR["chunk_delay"])


@pytest.fixture
def emu(emulator) -> Emulator:
    reset_emulator(emulator)
    yield emulator
    reset_emulator(emulator)


@pytest.fixture(scope="module")
def client(emulator):
    """Plain HTTP to the module's emulator, for tests of the wire itself."""
    with httpx.Client(base_url=emulator.base_url, timeout=10) as c:
        yield c


@pytest.fixture(scope="module")
def token(client):
    """A v1 access token from the module's emulator, for ``client``'s requests."""
    r = client.post("/oauth/2.0/token", params={"grant_type": "client_credentials", "client_id": FAKE.SESSION.ak,
                                                "client_secret": FAKE.SESSION.sk})
    return r.json()["access_token"]


# -- sessions ------------------------------------------------------------------------------------------

class SessionPool:
    """Makes Sessions for tests and closes every one of them in ``close_all()``."""

    def __init__(self):
        self.sessions: list[Session] = []

    def make(self, *, against: Emulator | None = None, keys=FAKE.SESSION, **kwargs) -> Session:
        """A Session: offline on its own fast emulator with ``environ={}``, or online against ``against``.

        With ``against`` (a running Emulator) its ``environ`` holds ``keys`` and QIANFAN_BASE_URL; without,
        it is offline unless ``offline=`` says otherwise (None: the Session decides from ``environ``).
        Either way retries wait only 10 ms. Other keyword arguments go to ``Session``.
        """
        if against is not None:
            kwargs.setdefault("environ", keys.oauth_env(against.base_url))
        else:
            kwargs.setdefault("environ", {})
            kwargs.setdefault("offline", True)
        kwargs["emulator_options"] = {**FAST_EMULATOR, **(kwargs.get("emulator_options") or {})}
        s = Session(**kwargs)
        self.sessions.append(s)
        s.backend.reconfigure(retry_backoff=RETRY_BACKOFF)
        return s

    def close_all(self) -> None:
        for s in reversed(self.sessions):
            s.close()
        self.sessions.clear()


@pytest.fixture
def session_factory():
    """``make(against=None, keys=FAKE.SESSION, **kwargs)`` (see ``SessionPool.make``); closed after the test."""
    pool = SessionPool()
    yield pool.make
    pool.close_all()


@pytest.fixture(scope="module")
def module_session_factory():
    """As ``session_factory``, for module-scoped sessions; closed after the module."""
    pool = SessionPool()
    yield pool.make
    pool.close_all()


@pytest.fixture
def session(session_factory) -> Session:
    """An offline Session on its own fast emulator, ``environ={}``, quick retries."""
    return session_factory()


@pytest.fixture
def no_credentials_in_env(monkeypatch):
    for name in CREDENTIAL_VARS:
        monkeypatch.delenv(name, raising=False)


# -- real kernels --------------------------------------------------------------------------------------

@pytest.fixture
def kernel_factory(tmp_path):
    """``start(setup="%load_ext wenxin_magic", env=None, cwd=tmp_path)``: kernels closed after the test."""
    pool = KernelPool(default_cwd=lambda: tmp_path)
    yield pool.start
    pool.close_all()


@pytest.fixture(scope="module")
def module_kernel_factory(tmp_path_factory):
    """As ``kernel_factory``, for module-scoped kernels: each in a fresh folder, closed after the module."""
    pool = KernelPool(default_cwd=lambda: tmp_path_factory.mktemp("kernel"))
    yield pool.start
    pool.close_all()


