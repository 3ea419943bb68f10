"""The gateway's configuration: one TOML file (``class.toml``), read once at start.

Every key, in one table (docs/classroom.md carries the same table):

| section | key | default | meaning |
|---|---|---|---|
| `[upstream]` | `base_url` | `https://qianfan.baidubce.com` | where requests are forwarded (the emulator's URL in tests) |
| `[upstream]` | `key_env` | `QIANFAN_API_KEY` | the environment variable holding the teacher's v2 key; never the file |
| `[upstream]` | `timeout` | `120` | seconds to wait for the upstream's answer |
| `[redis]` | `url` | (none) | `redis://host:port/db`: quota, ledger and pause shared by every replica; omit: one process, in memory |
| `[redis]` | `prefix` | `wenxin-gateway:` | the prefix of every Redis key |
| `[quota]` | `rpm` | `300` | the key's requests per minute, shared by every student and replica |
| `[quota]` | `tpm` | `300000` | the key's tokens per minute, shared likewise |
| `[quota]` | `wait_timeout` | `60` | seconds a request may wait for quota before a 429 `quota_wait_timeout` |
| `[policy]` | `models` | (every model) | the allowlist of v2 model ids |
| `[policy]` | `max_output_tokens` | (none) | the cap on output tokens: a larger or missing `max_completion_tokens` is clamped to it |
| `[policy]` | `daily_tokens` | (none) | tokens per student per day (UTC) |
| `[policy]` | `daily_yuan` | (none) | ¥ per student per day (UTC), from the catalog's prices |
| `[policy]` | `max_body_bytes` | `8000000` | a larger request body gets 413 |
| `[students]` | `roster` | `roster.csv` | `name,token[,group]`, relative to the config file |
| `[ledger]` | `path` | `ledger.json` | without Redis: the file the ledger is kept in, relative to the config file |
| `[admin]` | `token_env` | `WENXIN_GATEWAY_ADMIN` | the environment variable holding the admin token (pause, resume) |
| `[admin]` | `url` | (none) | the running gateway's base URL, for `wenxin-gateway pause` / `resume` |
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_UPSTREAM = "https://qianfan.baidubce.com"

# section -> key -> (type check, default); the one list of what the file may say
_KEYS: dict[str, dict[str, tuple[type | tuple[type, ...], object]]] = {
    "upstream": {"base_url": (str, DEFAULT_UPSTREAM), "key_env": (str, "QIANFAN_API_KEY"),
                 "timeout": ((int, float), 120)},
    "redis": {"url": (str, None), "prefix": (str, "wenxin-gateway:")},
    "quota": {"rpm": (int, 300), "tpm": (int, 300000), "wait_timeout": ((int, float), 60)},
    "policy": {"models": (list, None), "max_output_tokens": (int, None), "daily_tokens": (int, None),
               "daily_yuan": ((int, float), None), "max_body_bytes": (int, 8_000_000)},
    "students": {"roster": (str, "roster.csv")},
    "ledger": {"path": (str, "ledger.json")},
    "admin": {"token_env": (str, "WENXIN_GATEWAY_ADMIN"), "url": (str, None)},
}


class ConfigError(ValueError):
    """The configuration file is missing, unreadable or says something the gateway does not take."""


@dataclass(frozen=True)
class GatewayConfig:
    """The configuration, read by ``load_config``; paths are absolute."""

    upstream_url: str = DEFAULT_UPSTREAM
    key_env: str = "QIANFAN_API_KEY"
    upstream_timeout: float = 120.0
    redis_url: str | None = None
    redis_prefix: str = "wenxin-gateway:"
    rpm: int = 300
    tpm: int = 300000
    wait_timeout: float = 60.0
    models: tuple[str, ...] | None = None
    max_output_tokens: int | None = None
    daily_tokens: int | None = None
    daily_yuan: float | None = None
    max_body_bytes: int = 8_000_000
    roster: Path = field(default_factory=lambda: Path("roster.csv"))
    ledger_path: Path = field(default_factory=lambda: Path("ledger.json"))
    admin_token_env: str = "WENXIN_GATEWAY_ADMIN"
    admin_url: str | None = None
    source: Path | None = None

    def allows(self, model: str) -> bool:
        return self.models is None or model.strip().lower() in self.models


def _read_toml(path: Path) -> dict:
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        try:
            import tomli as tomllib
        except ModuleNotFoundError:
            raise ConfigError("Reading TOML on Python 3.10 needs the tomli package: pip install tomli") from None
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError(f"No configuration file at {path}.") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from None


def _checked(data: dict, path: Path) -> dict[str, dict]:
    values: dict[str, dict] = {}
    for section, table in data.items():
        if section not in _KEYS:
            raise ConfigError(f"{path}: unknown section [{section}]; the sections are "
                              f"{', '.join(f'[{s}]' for s in _KEYS)}.")
        if not isinstance(table, dict):
            raise ConfigError(f"{path}: [{section}] must be a table.")
        for key, value in table.items():
            if key not in _KEYS[section]:
                raise ConfigError(f"{path}: unknown key {key!r} in [{section}]; it takes "
                                  f"{', '.join(_KEYS[section])}.")
            kind = _KEYS[section][key][0]
            if isinstance(value, bool) or not isinstance(value, kind):
                names = " or ".join(k.__name__ for k in (kind if isinstance(kind, tuple) else (kind,)))
                raise ConfigError(f"{path}: [{section}] {key} must be {names}, not {value!r}.")
            values.setdefault(section, {})[key] = value
    return values


def _get(values: dict, section: str, key: str):
    return values.get(section, {}).get(key, _KEYS[section][key][1])


def _positive(value, what: str, path: Path):
    if value is not None and (value <= 0 or (isinstance(value, float) and not math.isfinite(value))):
        raise ConfigError(f"{path}: {what} must be a positive number, not {value!r}.")
    return value


def load_config(path: str | Path) -> GatewayConfig:
    """Read and check ``class.toml``; every error names the key and what it takes."""
    path = Path(path).expanduser().resolve()
    values = _checked(_read_toml(path), path)
    models = _get(values, "policy", "models")
    if models is not None:
        if not models or not all(isinstance(m, str) and m.strip() for m in models):
            raise ConfigError(f"{path}: [policy] models must be a non-empty list of model ids, like "
                              '["ernie-speed-8k"]; omit it to allow every model.')
        models = tuple(m.strip().lower() for m in models)
    for section, key in (("quota", "rpm"), ("quota", "tpm"), ("quota", "wait_timeout"),
                         ("policy", "max_output_tokens"), ("policy", "daily_tokens"), ("policy", "daily_yuan"),
                         ("policy", "max_body_bytes"), ("upstream", "timeout")):
        _positive(_get(values, section, key), f"[{section}] {key}", path)
    base_url = _get(values, "upstream", "base_url").rstrip("/")
    if not base_url.startswith(("http://", "https://")):
        raise ConfigError(f"{path}: [upstream] base_url must start with http:// or https://, not {base_url!r}.")
    return GatewayConfig(
        upstream_url=base_url, key_env=_get(values, "upstream", "key_env"),
        upstream_timeout=float(_get(values, "upstream", "timeout")),
        redis_url=_get(values, "redis", "url"), redis_prefix=_get(values, "redis", "prefix"),
        rpm=_get(values, "quota", "rpm"), tpm=_get(values, "quota", "tpm"),
        wait_timeout=float(_get(values, "quota", "wait_timeout")), models=models,
        max_output_tokens=_get(values, "policy", "max_output_tokens"),
        daily_tokens=_get(values, "policy", "daily_tokens"), daily_yuan=_get(values, "policy", "daily_yuan"),
        max_body_bytes=_get(values, "policy", "max_body_bytes"),
        roster=path.parent / _get(values, "students", "roster"),
        ledger_path=path.parent / _get(values, "ledger", "path"),
        admin_token_env=_get(values, "admin", "token_env"), admin_url=_get(values, "admin", "url"),
        source=path)
