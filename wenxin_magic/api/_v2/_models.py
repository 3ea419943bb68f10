"""The v2 model table: lower-case ids, their limits and the features each one has.

v2 (``POST /v2/chat/completions``) takes any model id the service knows; this table
is for limits and features, not a gate. An id it does not know is sent as it is and
checked against ``UNKNOWN_V2``'s general rules.
"""

from __future__ import annotations

from dataclasses import dataclass

# What a feature lets a request carry.
FEATURE_PARAMS: dict[str, tuple[str, ...]] = {
    "penalty": ("penalty_score", "frequency_penalty", "presence_penalty"),
    "stop": ("stop",),
    "tools": ("tools", "tool_choice", "parallel_tool_calls"),
    "web_search": ("web_search",),
    "response_format": ("response_format",),
}
FEATURES = frozenset(FEATURE_PARAMS)
# What every v2 model takes.
EVERY_V2_MODEL = ("model", "messages", "stream", "stream_options", "temperature", "top_p", "max_completion_tokens",
                  "user", "seed")
THINKING_PARAM = "enable_thinking"
# Every parameter name v2 has; anything else in a body is unknown.
V2_PARAMETERS = frozenset(EVERY_V2_MODEL).union(*FEATURE_PARAMS.values(), {THINKING_PARAM})


@dataclass(frozen=True)
class V2ModelSpec:
    """One v2 model: input and output limits, whether it reasons first, and its features.

    ``features`` is a subset of {"tools", "web_search", "response_format", "penalty", "stop"};
    ``v1_twin`` names the same model in the v1 registry, if it has one there.
    """

    id: str
    max_input_tokens: int
    max_input_chars: int
    max_output_tokens: int
    reasoning: bool = False
    thinking_switch: bool = False
    features: frozenset = frozenset()
    v1_twin: str | None = None
    blurb: str = ""

    def __post_init__(self):
        unknown = set(self.features) - FEATURES
        if unknown:
            raise ValueError(f"unknown features {sorted(unknown)} for {self.id}")

    @property
    def params(self) -> frozenset[str]:
        """The body parameters this model accepts."""
        names = set(EVERY_V2_MODEL)
        for feature in self.features:
            names.update(FEATURE_PARAMS[feature])
        if self.thinking_switch:
            names.add(THINKING_PARAM)
        return frozenset(names)

    def accepts(self, name: str) -> bool:
        return name in self.params


def _model(id, tokens, chars, output, *features, reasoning=False, thinking_switch=False, twin=None, blurb=""):
    return V2ModelSpec(id, tokens, chars, output, reasoning, thinking_switch, frozenset(features), twin, blurb)


_BASIC = ("penalty", "stop")

V2_MODELS: tuple[V2ModelSpec, ...] = (
    _model("ernie-4.5-turbo-32k", 30720, 122880, 12288, "web_search", "response_format", *_BASIC,
           blurb="ERNIE 4.5 Turbo: Baidu's current general model, with web search"),
    _model("ernie-4.5-turbo-128k", 126976, 507904, 12288, "web_search", "response_format", *_BASIC,
           blurb="ERNIE 4.5 Turbo with a 128K context"),
    _model("ernie-x1-turbo-32k", 24576, 98304, 16384, "web_search", *_BASIC, reasoning=True,
           blurb="ERNIE X1 Turbo: thinks first (reasoning), then answers; web search"),
    _model("ernie-speed-8k", 6144, 24000, 2048, *_BASIC, twin="ERNIE-Speed-8K",
           blurb="Baidu's fast general model; free to call"),
    _model("ernie-speed-pro-128k", 126976, 516096, 4096, "tools", *_BASIC, twin="ERNIE-Speed-Pro-128K",
           blurb="ERNIE Speed Pro with a 128K context and function calling"),
    _model("ernie-lite-8k", 7168, 11200, 2048, *_BASIC, twin="ERNIE-Lite-8K",
           blurb="Baidu's light model; free to call"),
    _model("ernie-lite-pro-128k", 126976, 516096, 4096, "tools", *_BASIC,
           blurb="ERNIE Lite Pro with a 128K context and function calling"),
    _model("ernie-3.5-8k", 5120, 20000, 2048, "tools", "response_format", *_BASIC, twin="ERNIE-3.5-8K",
           blurb="ERNIE 3.5, with function calling"),
    _model("ernie-3.5-128k", 126976, 516096, 4096, "tools", "response_format", *_BASIC, twin="ERNIE-3.5-128K",
           blurb="ERNIE 3.5 with a 128K context"),
    _model("ernie-4.0-turbo-8k", 5120, 20000, 2048, "tools", "response_format", *_BASIC, twin="ERNIE-4.0-Turbo-8K",
           blurb="ERNIE 4.0 tuned for speed, with function calling"),
    _model("ernie-4.0-turbo-128k", 126976, 516096, 4096, "tools", "response_format", *_BASIC,
           blurb="ERNIE 4.0 Turbo with a 128K context"),
    _model("deepseek-v3", 57344, 229376, 8192, "tools", "web_search", "response_format", *_BASIC,
           blurb="DeepSeek V3, with function calling and web search"),
    _model("deepseek-r1", 57344, 229376, 16384, "web_search", "stop", reasoning=True,
           blurb="DeepSeek R1: thinks first (reasoning), then answers"),
    _model("qwq-32b", 98304, 393216, 16384, "tools", "stop", reasoning=True,
           blurb="Qwen's QwQ reasoning model, with function calling"),
    _model("qwen3-235b-a22b", 98304, 393216, 16384, *_BASIC, reasoning=True, thinking_switch=True,
           blurb="Qwen3 235B (MoE): thinks first unless enable_thinking is false"),
)

# Ids the table does not know: general rules, generous limits, every parameter.
UNKNOWN_V2 = V2ModelSpec("", 1_000_000, 4_000_000, 65536, False, True, FEATURES, None,
                         "a v2 model this package does not know; the service judges it")

_BY_ID: dict[str, V2ModelSpec] = {spec.id: spec for spec in V2_MODELS}
_BY_TWIN: dict[str, V2ModelSpec] = {spec.v1_twin: spec for spec in V2_MODELS if spec.v1_twin}


def find_v2_model(model_id) -> V2ModelSpec | None:
    """The v2 model with this id (any case), or None."""
    if not isinstance(model_id, str):
        return None
    return _BY_ID.get(model_id.strip().lower())


def v2_twin_of(v1_name: str) -> V2ModelSpec | None:
    """The v2 model that is the v1 registry model ``v1_name``, or None."""
    return _BY_TWIN.get(v1_name)
