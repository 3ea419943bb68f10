"""The v2 model table: the catalog (``api/catalog.json``) read into ``V2ModelSpec`` rows on first use.

v2 (``POST /v2/chat/completions``) takes any model id the service knows; this table is for limits, features
and prices, not a gate. An id it does not know is sent as it is and checked against ``UNKNOWN_V2``'s general
rules. A null in the catalog means "not known": nothing is refused on it. The file is read when the table is
first used, not at import, so loading the extension stays cheap.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

CATALOG_PATH = Path(__file__).resolve().parent.parent / "catalog.json"

# What a feature lets a request carry.
FEATURE_PARAMS: dict[str, tuple[str, ...]] = {
    "penalty": ("penalty_score", "frequency_penalty", "presence_penalty", "repetition_penalty"),
    "stop": ("stop",),
    "tools": ("tools", "tool_choice", "parallel_tool_calls"),
    "web_search": ("web_search",),
    "response_format": ("response_format",),
}
FEATURES = frozenset(FEATURE_PARAMS)
# What every v2 model takes.
EVERY_V2_MODEL = ("model", "messages", "stream", "stream_options", "temperature", "top_p", "max_completion_tokens",
                  "max_tokens", "user", "seed", "metadata")
THINKING_PARAM = "enable_thinking"
REASONING_FIELDS = ("enable_thinking", "thinking", "thinking_budget", "thinking_strategy", "reasoning_effort")
# Every parameter name v2 documents (spec §1); anything else in a body is sent as it is, with a note.
V2_PARAMETERS = frozenset(EVERY_V2_MODEL).union(*FEATURE_PARAMS.values(), REASONING_FIELDS)

ALWAYS, SWITCH, NEVER = "always", "switch", "never"


@dataclass(frozen=True)
class Tier:
    """A price that holds while the input has at most ``up_to_input_tokens`` tokens."""

    up_to_input_tokens: int
    input: float
    output: float


@dataclass(frozen=True)
class Price:
    """What a model costs, in ¥ per million tokens, as of ``date`` according to ``source`` (an estimate: prices
    change). ``tiers``, when given, price by the size of the input."""

    input: float
    output: float
    cache_read: float | None = None
    tiers: tuple[Tier, ...] = ()
    date: str = ""
    source: str = ""

    @property
    def free(self) -> bool:
        return self.input == 0 and self.output == 0

    def rates(self, prompt_tokens: int) -> tuple[float, float]:
        """(input, output) ¥ per million tokens for an input of ``prompt_tokens``."""
        for tier in self.tiers:
            if prompt_tokens <= tier.up_to_input_tokens:
                return tier.input, tier.output
        if self.tiers:
            return self.tiers[-1].input, self.tiers[-1].output
        return self.input, self.output

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        """The estimated cost in ¥ of one answer (reasoning tokens count as output, as the batch usage does)."""
        input_rate, output_rate = self.rates(prompt_tokens)
        return (prompt_tokens * input_rate + completion_tokens * output_rate) / 1_000_000

    @classmethod
    def from_row(cls, row: dict | None) -> "Price | None":
        if not isinstance(row, dict):
            return None
        tiers = tuple(Tier(t["up_to_input_tokens"], t["input"], t["output"]) for t in row.get("tiers") or ())
        return cls(row["input"], row["output"], row.get("cache_read"), tiers, row.get("date", ""),
                   row.get("source", ""))


@dataclass(frozen=True)
class V2ModelSpec:
    """One v2 model: input and output limits (None: not known), whether it reasons first, its features, price.

    ``features`` is a subset of {"tools", "web_search", "response_format", "penalty", "stop"}; ``v1_twin`` names
    the same model in the v1 registry, if it has one there. ``reasoning``: it reasons at all; ``thinking_switch``:
    a request turns it on or off (through ``thinking_param``, default ``thinking_default``); ``always_thinks``: it
    cannot be turned off. ``json_schema`` and ``tools``: True, False, or None (not confirmed); only False is
    refused. ``ranges``: the sampling parameters whose documented range (``PARAMETERS``) is confirmed for this
    model; others are not checked.
    """

    id: str
    max_input_tokens: int | None
    max_input_chars: int | None
    max_output_tokens: int | None
    reasoning: bool = False
    thinking_switch: bool = False
    features: frozenset = frozenset()
    v1_twin: str | None = None
    blurb: str = ""
    family: str = ""
    thinking_param: str | None = None
    thinking_default: bool | None = None
    always_thinks: bool = False
    vision: frozenset = frozenset()
    json_schema: bool | None = None
    price: Price | None = None
    ranges: frozenset = frozenset()
    tools: bool | None = None

    def __post_init__(self):
        unknown = set(self.features) - FEATURES
        if unknown:
            raise ValueError(f"unknown features {sorted(unknown)} for {self.id}")

    @property
    def params(self) -> frozenset[str]:
        """The body parameters this model is documented to take (others are sent too, with a note)."""
        names = set(EVERY_V2_MODEL)
        for feature in self.features:
            names.update(FEATURE_PARAMS[feature])
        if self.reasoning:
            names.update(REASONING_FIELDS)
        return frozenset(names)

    def accepts(self, name: str) -> bool:
        return name in self.params


def spec_from_row(row: dict) -> V2ModelSpec:
    """One catalog row as a V2ModelSpec."""
    reasoning = row.get("reasoning") or NEVER
    features = {"penalty", "stop"}
    features.update(name for name in ("tools", "web_search") if row.get(name) is True)
    if row.get("json_schema") is not False:
        features.add("response_format")
    thinking_param = row.get("thinking_param")
    return V2ModelSpec(row["id"], row.get("context"), row.get("max_input_chars"), row.get("max_output"),
                       reasoning != NEVER, reasoning == SWITCH, frozenset(features), row.get("v1_twin"),
                       row.get("blurb", ""), row.get("family", ""),
                       thinking_param or (THINKING_PARAM if reasoning == SWITCH else None),
                       row.get("thinking_default"), reasoning == ALWAYS, frozenset(row.get("vision") or ()),
                       row.get("json_schema"), Price.from_row(row.get("price")), frozenset(row.get("ranges") or ()),
                       row.get("tools"))


class _Catalog:
    """The catalog file, read once on first use."""

    def __init__(self):
        self._data: dict | None = None
        self.models: tuple[V2ModelSpec, ...] = ()
        self.by_id: dict[str, V2ModelSpec] = {}
        self.by_twin: dict[str, V2ModelSpec] = {}

    def load(self) -> "_Catalog":
        if self._data is None:
            import json

            data = json.loads(CATALOG_PATH.read_text(encoding="utf-8"))
            self.models = tuple(spec_from_row(row) for row in data["models"] if row.get("api", "v2") == "v2")
            self.by_id = {spec.id: spec for spec in self.models}
            self.by_twin = {spec.v1_twin: spec for spec in self.models if spec.v1_twin}
            self._data = data
        return self

    @property
    def data(self) -> dict:
        return self.load()._data


_CATALOG = _Catalog()


class _LazyModels(Sequence):
    """``V2_MODELS``: a tuple-like view of the catalog's rows that reads the file on first use."""

    def __getitem__(self, index):
        return _CATALOG.load().models[index]

    def __len__(self) -> int:
        return len(_CATALOG.load().models)

    def __iter__(self):
        return iter(_CATALOG.load().models)

    def __contains__(self, item) -> bool:
        return item in _CATALOG.load().models

    def __eq__(self, other) -> bool:
        return tuple(self) == (tuple(other) if isinstance(other, (tuple, _LazyModels)) else other)

    __hash__ = None

    def __repr__(self) -> str:
        return f"V2_MODELS({len(self)} models from {CATALOG_PATH.name})"


V2_MODELS: Sequence[V2ModelSpec] = _LazyModels()


def catalog_data() -> dict:
    """The catalog file as read (``prices``, ``source``, ``models``)."""
    return _CATALOG.data


def catalog_date() -> str:
    """The date of the catalog's prices."""
    return str(catalog_data()["prices"].get("date", ""))


def catalog_source() -> str:
    """Where the catalog's prices and facts come from."""
    prices = catalog_data()["prices"]
    return str(prices.get("source", ""))


# Ids the table does not know: no limit known, every feature, the service judges.
UNKNOWN_V2 = V2ModelSpec("", None, None, None, True, True, FEATURES, None,
                         "a v2 model this package does not know; the service judges it",
                         vision=frozenset({"image", "video"}))


def find_v2_model(model_id) -> V2ModelSpec | None:
    """The v2 model with this id (any case), or None."""
    if not isinstance(model_id, str):
        return None
    return _CATALOG.load().by_id.get(model_id.strip().lower())


def v2_twin_of(v1_name: str) -> V2ModelSpec | None:
    """The v2 model that is the v1 registry model ``v1_name``, or None."""
    return _CATALOG.load().by_twin.get(v1_name)
