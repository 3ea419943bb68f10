"""The reasoning controls a request may carry in either API (``think``, ``thinking_budget``, ``effort``): which
keyword parameters they are, and how a note names them. v2's adapter maps them per model (``_v2/_reasoning.py``);
v1 has none, and says so."""

from __future__ import annotations

CONTROLS = ("think", "thinking_budget", "effort")


def split_controls(params: dict) -> tuple[dict, dict]:
    """(the reasoning controls given, the other params) of a request's keyword parameters."""
    if not any(name in params for name in CONTROLS):
        return {}, params
    controls = {name: params[name] for name in CONTROLS if params.get(name) is not None}
    return controls, {name: value for name, value in params.items() if name not in CONTROLS}


def shown(value) -> str:
    """A value as a note shows it: JSON's spelling of booleans and objects."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, dict):
        return "{" + ", ".join(f'"{key}": {shown(item) if not isinstance(item, str) else chr(34) + item + chr(34)}'
                               for key, item in value.items()) + "}"
    return str(value)


def listed(controls: dict) -> str:
    return ", ".join(f"{name}={shown(value)}" for name, value in controls.items())


def v1_control_notes(controls: dict, model: str) -> list[str]:
    """Reasoning controls asked of a v1 model: nothing is sent, and the note says so."""
    if not controls:
        return []
    return [f"{listed(controls)}: {model} is a v1 model, which has no reasoning controls; not sent"]
