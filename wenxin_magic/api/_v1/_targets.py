"""Where a v1 request goes: the path below the wenxinworkshop prefix and the rules it is checked against.

A registry model is served at its own path; a deployed endpoint at ``chat/<name>`` or ``completions/<name>``,
with the rules of the model named, of the registry model there, or of any model of its kind.
"""

from __future__ import annotations

from dataclasses import dataclass

from .._errors import InvalidRequestError
from ._models import (CHAT, COMPLETION, CUSTOM_CHAT, CUSTOM_COMPLETION, DEFAULT_MODEL, ModelSpec, find_model,
                      model_for_endpoint, unknown_model_error)
from ._rules import check_endpoint_name

_FOLDERS = {CHAT: "chat", COMPLETION: "completions"}


@dataclass(frozen=True)
class V1Target:
    """``spec`` the rules, ``path`` below the prefix, ``label`` the model an answer names (the endpoint of a
    deployed service), ``as_chat`` whether a chat model answers a completion's prompt."""

    spec: ModelSpec
    path: str
    label: str
    as_chat: bool = False


def v1_target(kind: str, model: str | None, endpoint: str | None) -> V1Target:
    if endpoint is not None:
        spec = _endpoint_spec(kind, model, endpoint)
        label = endpoint if spec in (CUSTOM_CHAT, CUSTOM_COMPLETION) else spec.name
        return V1Target(spec, f"{_FOLDERS[kind]}/{endpoint}", label)
    spec = _registry_model(kind, model)
    return V1Target(spec, spec.path, spec.name, kind == COMPLETION and spec.kind == CHAT)


def _endpoint_spec(kind: str, model: str | None, endpoint: str) -> ModelSpec:
    """The rules for a deployed endpoint: the model named, the registry's model there, or any of its kind."""
    check_endpoint_name(endpoint)
    spec = find_model(model) if model else model_for_endpoint(kind, endpoint)
    if spec is None and model:
        raise unknown_model_error(model)
    return spec or (CUSTOM_CHAT if kind == CHAT else CUSTOM_COMPLETION)


def _registry_model(kind: str, model: str | None) -> ModelSpec:
    if model is None:
        if kind == COMPLETION:
            raise InvalidRequestError("A completion needs `endpoint=` (the API address of your deployed service) "
                                      "or `model=` (e.g. SQLCoder-7B).", field="endpoint")
        model = DEFAULT_MODEL
    spec = find_model(model)
    if spec is None:
        raise unknown_model_error(model)
    if spec.endpoint is None:
        raise InvalidRequestError(f"{spec.name} runs only on a service you deploy yourself: give that service's "
                                  "API address as the endpoint.", field="endpoint", model=spec.name)
    if kind == CHAT and spec.kind == COMPLETION:
        raise InvalidRequestError(f"{spec.name} continues text rather than chatting: use complete(model=..., "
                                  "prompt=...).", field="model", model=spec.name)
    return spec
