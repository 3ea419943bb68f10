"""Which API serves a model name: v1 (the wenxinworkshop registry) or v2 (lower-case ids), decided once.

A name that is a v2 id goes to v2, a v1 registry name to v1; when the credentials
reach only the other API, the same model's twin there is used. ``target`` is where
the client asks: a request's model name goes no further than here and the model tables.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ._errors import AuthenticationError
from ._v1._models import CHAT, DEFAULT_MODEL, MODELS, ModelSpec, find_model, suggest_models, unknown_model_error
from ._v1._targets import v1_target
from ._v2._models import UNKNOWN_V2, V2ModelSpec, find_v2_model, v2_twin_of

V1 = "v1"
V2 = "v2"

_V2_ID = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
# Names spelt exactly as the v1 registry spells them (or an alias) stay on v1, whatever their case folds to.
_V1_SPELLINGS = frozenset(name for spec in MODELS for name in (spec.name, *spec.aliases))


@dataclass(frozen=True)
class Route:
    """Where a request goes: ``api`` "v1" or "v2", ``model`` the name to send, ``spec`` its rules.

    ``twin_of`` is the name asked for when the same model on the other API was chosen, else None.
    """

    api: str
    model: str
    spec: ModelSpec | V2ModelSpec | None
    twin_of: str | None = None


def _natural(name: str) -> Route:
    """The API a name belongs to, before looking at credentials."""
    if name not in _V1_SPELLINGS:
        v2 = find_v2_model(name)
        if v2 is not None:
            return Route(V2, v2.id, v2)
    v1 = find_model(name)
    if v1 is not None:
        return Route(V1, v1.name, v1)
    if _V2_ID.match(name):
        return Route(V2, name, UNKNOWN_V2)
    raise unknown_model_error(name)


def _twin(natural: Route, asked: str) -> Route | None:
    """The same model on the other API, or None."""
    if natural.api == V1:
        v2 = v2_twin_of(natural.model)
        return Route(V2, v2.id, v2, twin_of=asked) if v2 else None
    twin = natural.spec.v1_twin if isinstance(natural.spec, V2ModelSpec) else None
    v1 = find_model(twin) if twin else None
    return Route(V1, v1.name, v1, twin_of=asked) if v1 else None


def route(model: str | None, apis: frozenset[str]) -> Route:
    """The API and model name for ``model`` given the APIs the credentials reach (empty: no credentials).

    InvalidRequestError for a name no API has; AuthenticationError when the credentials reach
    neither the model's API nor a twin of it.
    """
    asked = DEFAULT_MODEL if model is None else model
    natural = _natural(asked)
    if not apis or natural.api in apis:
        return natural
    twin = _twin(natural, asked)
    if twin is not None and twin.api in apis:
        return twin
    raise unreachable_error(natural.model, natural.api, unknown=natural.spec is UNKNOWN_V2)


@dataclass(frozen=True)
class Target:
    """Where one request goes: ``api``, ``model`` the v2 id to send or the v1 name (or endpoint) answers carry,
    ``spec`` the rules to check, ``path`` (v1) below the wenxinworkshop prefix, ``as_chat`` (v1) a chat model
    answering a completion's prompt."""

    api: str
    model: str
    spec: ModelSpec | V2ModelSpec | None
    path: str | None = None
    as_chat: bool = False


def target(kind: str, model: str | None, endpoint: str | None, apis: frozenset[str]) -> Target:
    """Where a chat (``kind`` CHAT) or completion goes; a deployed ``endpoint`` and completions are v1's."""
    if kind == CHAT and endpoint is None:
        routed = route(model, apis)
        if routed.api == V2:
            return Target(V2, routed.model, routed.spec)
        # the name as given (so errors read as before), or the twin chosen for it
        model = routed.model if routed.twin_of is not None else model
    v1 = v1_target(kind, model, endpoint)
    return Target(V1, v1.label, v1.spec, v1.path, v1.as_chat)


def unreachable_error(model: str, api: str, *, unknown: bool = False) -> AuthenticationError:
    """The model is served only by ``api``, which the credentials set do not reach.

    ``unknown``: a v2 id the table does not know, which may be a misspelt v1 name: close v1 names are offered.
    """
    close = suggest_models(model) if unknown else []
    if close:
        text = (f"{model} is not a v1 model name (did you mean {', '.join(close)}?). As a v2 id it would be served "
                "only by Qianfan's v2 API, and the credentials set reach v1 only. Set QIANFAN_API_KEY to a v2 API "
                "Key (bce-v3/…), or IAM keys QIANFAN_ACCESS_KEY/QIANFAN_SECRET_KEY, which reach both.")
    elif api == V2:
        text = (f"{model} is served only by Qianfan's v2 API, and the credentials set reach v1 only. "
                "Set QIANFAN_API_KEY to a v2 API Key (bce-v3/…), or IAM keys QIANFAN_ACCESS_KEY/QIANFAN_SECRET_KEY, "
                "which reach both.")
    else:
        text = (f"{model} is served only by Qianfan's v1 API; a v2 API Key cannot reach it. "
                "Set QIANFAN_AK/QIANFAN_SK (an application's keys) or IAM keys QIANFAN_ACCESS_KEY/QIANFAN_SECRET_KEY, "
                "which reach both.")
    return AuthenticationError(text, field="credentials", model=model)
