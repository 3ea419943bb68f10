"""The v1 model table: which endpoint serves a model and what it accepts.

The emulator serves exactly this table and the client validates against it,
so a request the client lets through is one the emulator (and, as far as the
published limits go, the real service) accepts.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .._errors import InvalidRequestError
from .._parameters import ACCEPTED_BY, PARAMETERS

CHAT = "chat"
COMPLETION = "completion"

# Wire names (rules in PARAMETERS), grouped by what they let a caller do.
EVERY_MODEL = ("stream", "user_id", "temperature", "top_p")
SYSTEM = ("system",)
FUNCTION_CALLING = ("functions", "tool_choice")
TOOL_CHOICE = ("tool_choice",)  # alone, without functions: so the v1 table lists some models
REPETITION_PENALTY = ("penalty_score",)
TOKEN_PENALTIES = ("frequency_penalty", "presence_penalty")
TOP_K = ("top_k",)
STOP = ("stop",)
OUTPUT_LIMIT = ("max_output_tokens",)
OUTPUT_MINIMUM = ("min_output_tokens",)
SEARCH = ("disable_search", "enable_citation", "enable_trace")
JSON_OUTPUT = ("response_format",)
USER_SETTING = ("user_setting",)
MEMORY = ("enable_system_memory", "system_memory_id")

# A model's max_output_tokens range unless its page says otherwise.
OUTPUT_TOKENS = (PARAMETERS["max_output_tokens"].low, PARAMETERS["max_output_tokens"].high)


def _accepts(*groups: tuple[str, ...]) -> frozenset[str]:
    return frozenset(EVERY_MODEL).union(*groups)


@dataclass(frozen=True)
class ModelSpec:
    """One model: its endpoint, kind, input limits and accepted parameters."""

    name: str
    endpoint: str | None  # None: served only through a user-deployed endpoint
    kind: str
    max_input_chars: int
    max_input_tokens: int | None
    params: frozenset[str]
    aliases: tuple[str, ...] = ()
    max_output_tokens: tuple[int, int] | None = OUTPUT_TOKENS
    deprecated: bool = False
    blurb: str = ""
    family: str = field(default="open", compare=False)

    @property
    def path(self) -> str | None:
        """URL path below the wenxinworkshop prefix, e.g. ``chat/ernie_speed``."""
        if self.endpoint is None:
            return None
        return f"{'chat' if self.kind == CHAT else 'completions'}/{self.endpoint}"

    def accepts(self, param: str) -> bool:
        return param in self.params


# What each family of models accepts.
_ERNIE_4 = _accepts(SYSTEM, FUNCTION_CALLING, REPETITION_PENALTY, STOP, OUTPUT_LIMIT, SEARCH, JSON_OUTPUT, MEMORY)
_ERNIE_35 = _ERNIE_4 | frozenset(USER_SETTING)
_ERNIE_4_NO_FUNCTIONS = _ERNIE_4 - frozenset(FUNCTION_CALLING)
_ERNIE_NO_MEMORY = _ERNIE_4 - frozenset(MEMORY)
_ERNIE_SPEED = _accepts(SYSTEM, TOOL_CHOICE, REPETITION_PENALTY, TOKEN_PENALTIES, STOP, OUTPUT_LIMIT, OUTPUT_MINIMUM)
_ERNIE_SPEED_128K = _ERNIE_SPEED - frozenset(OUTPUT_MINIMUM)
_ERNIE_LITE = _ERNIE_SPEED - frozenset(TOOL_CHOICE)
_ERNIE_LITE_0922 = _accepts(SYSTEM, TOOL_CHOICE, REPETITION_PENALTY, STOP)
_ERNIE_CHARACTER = _accepts(SYSTEM, REPETITION_PENALTY, STOP, OUTPUT_LIMIT)
_OPEN = _accepts(TOOL_CHOICE, TOP_K, REPETITION_PENALTY, STOP)
_OPEN_COMPLETION = _accepts(TOP_K, REPETITION_PENALTY, STOP)
# The four models the project started from accept exactly what their model pages' HTTP body tables list.
_BLOOMZ_PAGE = _accepts(TOP_K, REPETITION_PENALTY, STOP)
_ERNIE_35_PREEMPTIBLE_PAGE = _accepts(SYSTEM, FUNCTION_CALLING, REPETITION_PENALTY, STOP, OUTPUT_LIMIT, SEARCH,
                                      JSON_OUTPUT)
_YI_34B_PAGE = _accepts(TOP_K, REPETITION_PENALTY, STOP)
_ERNIE_SPEED_PAGE = _accepts(SYSTEM, REPETITION_PENALTY, STOP, OUTPUT_LIMIT)


def _ernie(name, endpoint, chars, tokens, params, *aliases, blurb="", deprecated=False):
    out = OUTPUT_TOKENS if "max_output_tokens" in params else None
    return ModelSpec(name, endpoint, CHAT, chars, tokens, params, tuple(aliases), out, deprecated, blurb, "ernie")


def _open(name, endpoint, params=_OPEN, *aliases, chars=4800, kind=CHAT, blurb=""):
    return ModelSpec(name, endpoint, kind, chars, None, params, tuple(aliases), None, False, blurb, "open")


MODELS: tuple[ModelSpec, ...] = (
    # The four models the project started from, as their pages describe them.
    _open("BLOOMZ-7B", "bloomz_7b1", _BLOOMZ_PAGE, "bloomz", "bloomz_7b1",
          blurb="BigScience's open multilingual model: 46 languages, 13 programming languages; no system prompt"),
    _ernie("ERNIE-3.5-8K-Preemptible", "completions_preemptible", 20000, 5120, _ERNIE_35_PREEMPTIBLE_PAGE,
           "ERNIE-3.5-8K-preemptible", "ERNIE-3.5-preemptible", "completions_preemptible",
           blurb="ERNIE 3.5 on preemptible capacity: cheaper, may fail under load; functions, search, citations"),
    ModelSpec("Yi-34B", None, COMPLETION, 4800, None, _YI_34B_PAGE, ("yi_34b",), None, False,
              "01.AI's bilingual base model; text continuation on an endpoint you deploy", "open"),
    _ernie("ERNIE-Speed-8K", "ernie_speed", 24000, 6144, _ERNIE_SPEED_PAGE, "ERNIE-Speed", "ERNIE Speed", "ernie_speed",
           blurb="Baidu's fast general model, a good base for fine-tuning"),
    # Further models of the v1 table.
    _ernie("ERNIE-4.0-8K", "completions_pro", 20000, 5120, _ERNIE_4, "ERNIE-Bot-4", "ERNIE 4.0", "completions_pro",
           blurb="Baidu's flagship ERNIE 4.0"),
    _ernie("ERNIE-4.0-8K-Preview-0518", "completions_adv_pro", 20000, 5120, _ERNIE_4),
    _ernie("ERNIE-4.0-8K-0329", "ernie-4.0-8k-0329", 20000, 5120, _ERNIE_4),
    _ernie("ERNIE-4.0-8K-0104", "ernie-4.0-8k-0104", 20000, 5120, _ERNIE_4),
    _ernie("ERNIE-4.0-8K-Preview", "ernie-4.0-8k-preview", 20000, 5120, _ERNIE_4),
    _ernie("ERNIE-4.0-8K-0613", "ernie-4.0-8k-0613", 20000, 5120, _ERNIE_4_NO_FUNCTIONS),
    _ernie("ERNIE-4.0-8K-Latest", "ernie-4.0-8k-latest", 20000, 5120, _ERNIE_4_NO_FUNCTIONS),
    _ernie("ERNIE-4.0-Turbo-8K", "ernie-4.0-turbo-8k", 20000, 5120, _ERNIE_4_NO_FUNCTIONS,
           "ERNIE 4.0 Turbo", blurb="ERNIE 4.0 tuned for speed"),
    _ernie("ERNIE-4.0-Turbo-8K-Preview", "ernie-4.0-turbo-8k-preview", 20000, 5120, _ERNIE_4_NO_FUNCTIONS),
    _ernie("ERNIE-3.5-8K", "completions", 20000, 5120, _ERNIE_35, "ERNIE 3.5", "ERNIE-Bot", "completions",
           blurb="Baidu's general flagship ERNIE 3.5, with search and function calling"),
    _ernie("ERNIE-3.5-8K-Preview", "ernie-3.5-8k-preview", 20000, 5120, _ERNIE_35),
    _ernie("ERNIE-3.5-8K-0205", "ernie-3.5-8k-0205", 20000, 5120, _ERNIE_35),
    _ernie("ERNIE-3.5-8K-0613", "ernie-3.5-8k-0613", 20000, 5120, _ERNIE_4),
    _ernie("ERNIE-3.5-8K-0701", "ernie-3.5-8k-0701", 20000, 5120, _ERNIE_4),
    _ernie("ERNIE-3.5-8K-0329", "ernie-3.5-8k-0329", 8000, 2048, _ERNIE_35),
    _ernie("ERNIE-3.5-128K", "ernie-3.5-128k", 516096, 126976, _ERNIE_35, blurb="ERNIE 3.5 with a 128K context"),
    _ernie("ERNIE-4.0-8K-Preemptible", "completions_pro_preemptible", 20000, 5120, _ERNIE_NO_MEMORY,
           "ERNIE-4.0-preemptible"),
    _ernie("ERNIE-Bot-8K", "ernie_bot_8k", 20000, 5120, _ERNIE_35, "ernie-longtext", deprecated=True),
    _ernie("ERNIE-Speed-128K", "ernie-speed-128k", 507904, 126976, _ERNIE_SPEED_128K),
    _ernie("ERNIE-Speed-Pro-8K", "ernie-speed-pro-8k", 24000, 6144, _ERNIE_SPEED),
    _ernie("ERNIE-Speed-Pro-128K", "ernie-speed-pro-128k", 516096, 126976, _ERNIE_SPEED_128K),
    _ernie("ERNIE-Speed-AppBuilder", "ai_apaas", 11200, 7168, _accepts(SYSTEM, TOOL_CHOICE, REPETITION_PENALTY),
           "EB-turbo-AppBuilder", "ERNIE-Bot-turbo-AI"),
    _ernie("ERNIE-Lite-8K", "ernie-lite-8k", 11200, 7168, _ERNIE_LITE, "ERNIE-Lite-8K-0308",
           "ERNIE-Lite", blurb="Baidu's light model, low cost"),
    _ernie("ERNIE-Lite-8K-0922", "eb-instant", 11200, 7168, _ERNIE_LITE_0922, "ERNIE-Bot-turbo", "eb-instant"),
    _ernie("ERNIE-Lite-Pro-8K", "ernie-lite-pro-8k", 24000, 6144, _ERNIE_LITE_0922),
    _ernie("ERNIE-Lite-V", "ernie-lite-v", 11200, 7168, _ERNIE_LITE),
    _ernie("ERNIE-Lite-AppBuilder-8K-0614", "ai_apaas_lite", 11200, 7168, _ERNIE_SPEED - frozenset(STOP)),
    _ernie("ERNIE-Tiny-8K", "ernie-tiny-8k", 24000, 6144, _ERNIE_SPEED, blurb="Baidu's smallest ERNIE"),
    _ernie("ERNIE-Novel-8K", "ernie-novel-8k", 24000, 6144, _ERNIE_SPEED | frozenset(MEMORY),
           blurb="ERNIE for long-form fiction"),
    _ernie("ERNIE-Character-8K", "ernie-char-8k", 24000, 6144, _ERNIE_CHARACTER,
           blurb="ERNIE for role play and characters"),
    _ernie("ERNIE-Character-Fiction-8K", "ernie-char-fiction-8k", 24000, 6144, _ERNIE_CHARACTER),
    _ernie("ERNIE-Functions-8K", "ernie-func-8k", 24000, 6144, _ERNIE_CHARACTER, "ERNIE-Function-8K"),
    _ernie("Qianfan-Dynamic-8K", "qianfan-dynamic-8k", 20000, 5120, _ERNIE_NO_MEMORY),
    _open("Qianfan-BLOOMZ-7B-compressed", "qianfan_bloomz_7b_compressed"),
    _open("Llama-2-7B-Chat", "llama_2_7b", _OPEN, "Llama-2-7b-chat"),
    _open("Llama-2-13B-Chat", "llama_2_13b", _OPEN, "Llama-2-13b-chat"),
    _open("Llama-2-70B-Chat", "llama_2_70b", _OPEN, "Llama-2-70b-chat"),
    _open("Meta-Llama-3-8B", "llama_3_8b", _OPEN, "Llama-3-8B", blurb="Meta's Llama 3, 8B instruct"),
    _open("Meta-Llama-3-70B", "llama_3_70b", _OPEN, "Llama-3-70B"),
    _open("Qianfan-Chinese-Llama-2-7B", "qianfan_chinese_llama_2_7b"),
    _open("Qianfan-Chinese-Llama-2-13B", "qianfan_chinese_llama_2_13b"),
    _open("Qianfan-Chinese-Llama-2-70B", "qianfan_chinese_llama_2_70b"),
    _open("ChatGLM2-6B-32K", "chatglm2_6b_32k", blurb="Zhipu's ChatGLM2 with a 32K context"),
    _open("AquilaChat-7B", "aquilachat_7b"),
    _open("XuanYuan-70B-Chat-4bit", "xuanyuan_70b_chat", blurb="Du Xiaoman's finance-tuned Llama 2"),
    _open("ChatLaw", "chatlaw", _accepts(TOOL_CHOICE), blurb="a legal assistant model"),
    _open("Yi-34B-Chat", "yi_34b_chat", blurb="01.AI's bilingual chat model"),
    _open("Mixtral-8x7B-Instruct", "mixtral_8x7b_instruct", blurb="Mistral's mixture-of-experts model"),
    _open("Gemma-7B-it", "gemma_7b_it", blurb="Google's Gemma 7B instruct"),
    _open("SQLCoder-7B", "sqlcoder_7b", _OPEN_COMPLETION, kind=COMPLETION, blurb="text-to-SQL completion"),
    _open("CodeLlama-7b-Instruct", "codellama_7b_instruct", _OPEN_COMPLETION, kind=COMPLETION,
          blurb="Meta's code model, completion"),
)

DEFAULT_MODEL = "ERNIE-Speed-8K"

# A deployed endpoint serves some model we cannot see; accept what any v1
# endpoint of its kind may accept and let the server judge the rest.
CUSTOM_CHAT = ModelSpec("custom chat endpoint", None, CHAT, 20000, None,
                        _accepts(SYSTEM, FUNCTION_CALLING, REPETITION_PENALTY, TOKEN_PENALTIES, TOP_K, STOP,
                                 OUTPUT_LIMIT, OUTPUT_MINIMUM))
CUSTOM_COMPLETION = ModelSpec("custom completion endpoint", None, COMPLETION, 20000, None,
                              _OPEN_COMPLETION, max_output_tokens=None)


def _key(name: str) -> str:
    return "".join(ch for ch in name.lower() if ch.isalnum())


_BY_KEY: dict[str, ModelSpec] = {}
_BY_ENDPOINT: dict[tuple[str, str], ModelSpec] = {}
for _spec in MODELS:
    for _name in (_spec.name, *_spec.aliases):
        _BY_KEY.setdefault(_key(_name), _spec)
    if _spec.endpoint is not None:
        _BY_ENDPOINT[(_spec.kind, _spec.endpoint)] = _spec


for _param in PARAMETERS:
    ACCEPTED_BY[_param] = tuple(spec.name for spec in MODELS if _param in spec.params)


def find_model(name: str) -> ModelSpec | None:
    """The model called ``name`` (any case, spaces, dashes or underscores), or None."""
    return _BY_KEY.get(_key(name or ""))


def model_for_endpoint(kind: str, endpoint: str) -> ModelSpec | None:
    """The registry model served at ``chat/<endpoint>`` or ``completions/<endpoint>``."""
    return _BY_ENDPOINT.get((kind, endpoint))


def suggest_models(name: str, limit: int = 3) -> list[str]:
    """Registry names close to a misspelt one, for error messages."""
    import difflib

    key = _key(name)
    keys = difflib.get_close_matches(key, list(_BY_KEY), n=limit * 3, cutoff=0.6)
    seen: list[str] = []
    for k in keys:
        if _BY_KEY[k].name not in seen:
            seen.append(_BY_KEY[k].name)
    return seen[:limit]


def unknown_model_error(name) -> InvalidRequestError:
    """The error for a model name the registry does not know, with close names; ``field`` is "model"."""
    close = suggest_models(str(name))
    hint = f" Did you mean {', '.join(close)}?" if close else ""
    return InvalidRequestError(f"Unknown model {name!r}.{hint} A service you deployed yourself is reached through "
                               "its endpoint instead of a model name.", field="model")
