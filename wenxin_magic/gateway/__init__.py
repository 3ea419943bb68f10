"""The classroom gateway: one teacher's key, shared by a class through student tokens.

    python -m wenxin_magic.gateway --config class.toml      # or: wenxin-gateway --config class.toml

It serves Qianfan v2 (``/v2/chat/completions``, ``/v2/models``) to students, who set ``QIANFAN_BASE_URL`` to
it and ``QIANFAN_API_KEY`` to their own token, and forwards with the teacher's key, which never leaves it. It
holds the policy (allowlist, output cap, daily budgets, pause), waits for the key's quota fairly among
students, and keeps a ledger per student, model and day (``report``). See docs/classroom.md.

Starlette, uvicorn, httpx and pandas load only when used.
"""

from __future__ import annotations

from ._config import ConfigError, GatewayConfig, load_config
from ._state import Grant, MemoryState, QuotaTimeout, State
from ._tokens import RosterError, fill_tokens, read_roster

__all__ = ["GatewayConfig", "ConfigError", "load_config", "State", "Grant", "QuotaTimeout", "MemoryState",
           "RosterError", "read_roster", "fill_tokens", "GatewayServer", "report"]


def __getattr__(name):
    if name == "GatewayServer":
        from ._runner import GatewayServer

        return GatewayServer
    if name == "report":
        from ._report import report

        return report
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
