"""What the gateway tests share: a distinctive fake teacher key, a class on disk (config and roster), and a
gateway started over a running emulator."""

from __future__ import annotations

import contextlib
import hashlib
from pathlib import Path

_DIGEST = hashlib.sha256(b"gateway-teacher").hexdigest()
TEACHER_KEY = f"bce-v3/ALTAK-FAKETEACHER{_DIGEST[:8]}/{_DIGEST[8:48]}"
ADMIN_TOKEN = "admin-FAKE-GATEWAY-" + _DIGEST[48:60]
STUDENTS = {"alice": ("tok-alice-" + _DIGEST[:10], "a"), "bob": ("tok-bob-" + _DIGEST[10:20], "b"),
            "carol": ("tok-carol-" + _DIGEST[20:30], "")}
ENVIRON = {"QIANFAN_API_KEY": TEACHER_KEY, "WENXIN_GATEWAY_ADMIN": ADMIN_TOKEN}


def write_class(directory: Path, upstream: str, **sections) -> Path:
    """class.toml and roster.csv in ``directory``; ``sections`` add or replace TOML tables (name -> dict)."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "roster.csv").write_text(
        "name,token,group\n" + "".join(f"{name},{token},{group}\n" for name, (token, group) in STUDENTS.items()),
        encoding="utf-8")
    tables = {"upstream": {"base_url": upstream}, "quota": {"rpm": 300, "tpm": 300000, "wait_timeout": 5},
              "students": {"roster": "roster.csv"}, **sections}
    lines = []
    for name, table in tables.items():
        lines.append(f"[{name}]")
        for key, value in table.items():
            if isinstance(value, str):
                lines.append(f'{key} = "{value}"')
            elif isinstance(value, (list, tuple)):
                lines.append(f"{key} = [{', '.join(repr(v).replace(chr(39), chr(34)) for v in value)}]")
            else:
                lines.append(f"{key} = {value}")
    path = directory / "class.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@contextlib.contextmanager
def running_gateway(directory: Path, upstream: str, state=None, **sections):
    from wenxin_magic.gateway import GatewayServer, load_config

    config = load_config(write_class(directory, upstream, **sections))
    with GatewayServer(config, environ=dict(ENVIRON), state=state) as server:
        yield server
