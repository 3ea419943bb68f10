"""One set of reasoning controls for every model (``think``, ``thinking_budget``, ``effort``), mapped to what each
model's catalog row says it takes; and the one-line notes a reply carries about how its request was sent.

The service has two spellings of the thinking switch (``enable_thinking: bool`` and ``thinking: {"type":
"enabled"|"disabled"}``), plus ``thinking_budget`` and ``reasoning_effort``. A model that always thinks, or never
does, has no switch: nothing is sent for it, and a note says so, so nothing silently disappears.
"""

from __future__ import annotations

from .._controls import listed as _listed
from .._controls import shown as _shown
from .._errors import InvalidRequestError
from .._parameters import preview
from ._models import V2_PARAMETERS, V2ModelSpec, find_v2_model
from ._rules import INVALID_ARGUMENT, MIN_THINKING_BUDGET, SAMPLING

EFFORTS = ("low", "medium", "high")
# fields the client itself adds, or Baidu's own SDK sends, which are no user's typo
_NOT_NOTED = frozenset({"extra_parameters", "stream_options"})


def _bad_control(name: str, allowed: str, value) -> InvalidRequestError:
    return InvalidRequestError(f"`{name}` must be {allowed}, got {preview(value)}.", code=INVALID_ARGUMENT,
                               status=400, field=name, allowed=allowed, wire_message=f"invalid {name}")


def _check_controls(think, thinking_budget, effort) -> None:
    if think is not None and not isinstance(think, bool):
        raise _bad_control("think", "true or false", think)
    if thinking_budget is not None and (isinstance(thinking_budget, bool) or not isinstance(thinking_budget, int)
                                        or thinking_budget < MIN_THINKING_BUDGET):
        raise _bad_control("thinking_budget", f"an integer of at least {MIN_THINKING_BUDGET}", thinking_budget)
    if effort is not None and effort not in EFFORTS:
        raise _bad_control("effort", " | ".join(EFFORTS), effort)


def _switch(spec: V2ModelSpec, think: bool) -> tuple[str, object]:
    if spec.thinking_param == "thinking":
        return "thinking", {"type": "enabled" if think else "disabled"}
    return spec.thinking_param or "enable_thinking", think


def reasoning_params(spec_or_id, *, think=None, thinking_budget=None, effort=None) -> tuple[dict, list[str]]:
    """(the body fields, notes) for the reasoning controls on this model (a V2ModelSpec or an id).

    ``think`` (bool) becomes the model's switch; ``thinking_budget`` (int ≥ 100) and ``effort`` (low, medium,
    high → ``reasoning_effort``) are sent to models that reason, and to ids the catalog does not know (the service
    judges). A model without a switch, or one that never reasons, gets nothing for what it cannot take, and a note
    says why; so does ``think`` on an id the catalog does not know (which switch it has is not known). InvalidRequestError for a
    value of the wrong kind."""
    _check_controls(think, thinking_budget, effort)
    spec = spec_or_id if isinstance(spec_or_id, V2ModelSpec) else find_v2_model(spec_or_id)
    given = {name: value for name, value in (("think", think), ("thinking_budget", thinking_budget),
                                             ("effort", effort)) if value is not None}
    if not given:
        return {}, []
    model = spec.id if spec is not None and spec.id else str(spec_or_id if isinstance(spec_or_id, str) else "")
    known = spec is not None and bool(spec.id)
    if known and not spec.reasoning:
        return {}, [f"{_listed(given)}: {model} does not reason; not sent"]
    params: dict = {}
    notes: list[str] = []
    if think is not None and not known:
        notes.append(f"think={_shown(think)}: {model or 'this model'} is not in the catalog, so its thinking switch "
                     "is not known; not sent (send its own field, e.g. enable_thinking=true)")
    elif think is not None:
        if spec.always_thinks:
            notes.append(f"think={str(think).lower()}: {model} always thinks and has no switch; not sent"
                         + ("" if think else " (it will think anyway)"))
        else:
            name, value = _switch(spec, think)
            params[name] = value
            notes.append(f"think={str(think).lower()} sent as {name}={_shown(value)} ({model})")
    if thinking_budget is not None:
        params["thinking_budget"] = thinking_budget  # the service's own name: nothing to note
    if effort is not None:
        params["reasoning_effort"] = effort
        notes.append(f"effort={effort} sent as reasoning_effort={effort} ({model})")
    return params, notes


def _thinking_on(spec: V2ModelSpec, body: dict) -> bool:
    if spec.always_thinks:
        return True
    if not spec.thinking_switch:
        return False
    if "thinking" in body and isinstance(body["thinking"], dict):
        return body["thinking"].get("type") == "enabled"
    switch = body.get(spec.thinking_param or "enable_thinking")
    return switch if isinstance(switch, bool) else spec.thinking_default is True


def request_notes(body: dict, spec: V2ModelSpec) -> list[str]:
    """One-line notes about a v2 body as sent: fields this package does not know (sent as they are), and sampling
    parameters a thinking model accepts and ignores."""
    notes = [f"`{name}` is not a parameter this package knows; sent as it is" for name in body
             if name not in V2_PARAMETERS and name not in _NOT_NOTED]
    if spec.id and _thinking_on(spec, body):
        sampling = [name for name in SAMPLING if name in body]
        if sampling:
            names = ", ".join(f"`{name}`" for name in sampling)
            notes.append(f"{names}: {spec.id} reasons first; the service accepts sampling parameters on reasoning "
                         "and ignores them")
    return notes
