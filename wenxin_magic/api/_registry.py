"""The v1 model table: which endpoint serves a model and what it accepts.

The emulator serves exactly this table and the client validates against it,
so a request the client lets through is one the emulator (and, as far as the
published limits go, the real service) accepts.
"""

from __future__ import annotations

from dataclasses import dataclass, field

CHAT = "chat"
COMPLETION = "completion"

# Parameters every v1 chat/completions endpoint accepts.
_BASE = frozenset({"stream", "user_id", "temperature", "top_p"})

# Short names used by the table below, as in the protocol notes.
_FLAGS = {
    "sys": ("system",),
    "fn": ("functions", "tool_choice"),
    "tools": ("tool_choice",),
    "pen": ("penalty_score",),
    "stop": ("stop",),
    "max_out": ("max_output_tokens",),
    "dis": ("disable_search",),
    "cite": ("enable_citation",),
    "trace": ("enable_trace",),
    "rf": ("response_format",),
    "us": ("user_setting",),
    "mem": ("enable_system_memory", "system_memory_id"),
    "fp": ("frequency_penalty", "presence_penalty"),
    "min": ("min_output_tokens",),
    "top_k": ("top_k",),
}


def _params(spec: str) -> frozenset[str]:
    names = set(_BASE)
    for flag in spec.split():
        names.update(_FLAGS[flag])
    return frozenset(names)


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
    max_output_tokens: tuple[int, int] | None = (2, 2048)
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


_ERNIE_35 = "sys fn pen stop max_out dis cite trace rf us mem"
_ERNIE_40 = "sys fn pen stop max_out dis cite trace rf mem"
_OPEN = "tools top_k pen stop"


def _ernie(name, endpoint, chars, tokens, spec, *aliases, blurb="", deprecated=False, out=(2, 2048)):
    return ModelSpec(name, endpoint, CHAT, chars, tokens, _params(spec), tuple(aliases),
                     out if "max_out" in spec else None, deprecated, blurb, "ernie")


def _open(name, endpoint, spec=_OPEN, *aliases, chars=4800, kind=CHAT, blurb=""):
    return ModelSpec(name, endpoint, kind, chars, None, _params(spec), tuple(aliases),
                     None, False, blurb, "open")


MODELS: tuple[ModelSpec, ...] = (
    # The four models the project started from, as their pages describe them.
    _open("BLOOMZ-7B", "bloomz_7b1", _OPEN, "bloomz", "bloomz_7b1",
          blurb="BigScience's open multilingual model: 46 languages, 13 programming languages; no system prompt"),
    _ernie("ERNIE-3.5-8K-Preemptible", "completions_preemptible", 20000, 5120, _ERNIE_35,
           "ERNIE-3.5-8K-preemptible", "ERNIE-3.5-preemptible", "completions_preemptible",
           blurb="ERNIE 3.5 on preemptible capacity: cheaper, may fail under load; functions, search, citations"),
    ModelSpec("Yi-34B", None, COMPLETION, 4800, None, _params("top_k pen stop"), ("yi_34b",), None, False,
              "01.AI's bilingual base model; text continuation on an endpoint you deploy", "open"),
    _ernie("ERNIE-Speed-8K", "ernie_speed", 24000, 6144, "sys tools pen stop max_out fp min",
           "ERNIE-Speed", "ERNIE Speed", "ernie_speed",
           blurb="Baidu's fast general model, a good base for fine-tuning"),
    # Further models of the v1 table.
    _ernie("ERNIE-4.0-8K", "completions_pro", 20000, 5120, _ERNIE_40, "ERNIE-Bot-4", "ERNIE 4.0", "completions_pro",
           blurb="Baidu's flagship ERNIE 4.0"),
    _ernie("ERNIE-4.0-8K-Preview-0518", "completions_adv_pro", 20000, 5120, _ERNIE_40),
    _ernie("ERNIE-4.0-8K-0329", "ernie-4.0-8k-0329", 20000, 5120, _ERNIE_40),
    _ernie("ERNIE-4.0-8K-0104", "ernie-4.0-8k-0104", 20000, 5120, _ERNIE_40),
    _ernie("ERNIE-4.0-8K-Preview", "ernie-4.0-8k-preview", 20000, 5120, _ERNIE_40),
    _ernie("ERNIE-4.0-8K-0613", "ernie-4.0-8k-0613", 20000, 5120, "sys pen stop max_out dis cite trace rf mem"),
    _ernie("ERNIE-4.0-8K-Latest", "ernie-4.0-8k-latest", 20000, 5120, "sys pen stop max_out dis cite trace rf mem"),
    _ernie("ERNIE-4.0-Turbo-8K", "ernie-4.0-turbo-8k", 20000, 5120, "sys pen stop max_out dis cite trace rf mem",
           "ERNIE 4.0 Turbo", blurb="ERNIE 4.0 tuned for speed"),
    _ernie("ERNIE-4.0-Turbo-8K-Preview", "ernie-4.0-turbo-8k-preview", 20000, 5120,
           "sys pen stop max_out dis cite trace rf mem"),
    _ernie("ERNIE-3.5-8K", "completions", 20000, 5120, _ERNIE_35, "ERNIE 3.5", "ERNIE-Bot", "completions",
           blurb="Baidu's general flagship ERNIE 3.5, with search and function calling"),
    _ernie("ERNIE-3.5-8K-Preview", "ernie-3.5-8k-preview", 20000, 5120, _ERNIE_35),
    _ernie("ERNIE-3.5-8K-0205", "ernie-3.5-8k-0205", 20000, 5120, _ERNIE_35),
    _ernie("ERNIE-3.5-8K-0613", "ernie-3.5-8k-0613", 20000, 5120, _ERNIE_40),
    _ernie("ERNIE-3.5-8K-0701", "ernie-3.5-8k-0701", 20000, 5120, _ERNIE_40),
    _ernie("ERNIE-3.5-8K-0329", "ernie-3.5-8k-0329", 8000, 2048, _ERNIE_35),
    _ernie("ERNIE-3.5-128K", "ernie-3.5-128k", 516096, 126976, _ERNIE_35, blurb="ERNIE 3.5 with a 128K context"),
    _ernie("ERNIE-4.0-8K-Preemptible", "completions_pro_preemptible", 20000, 5120,
           "sys fn pen stop max_out dis cite trace rf", "ERNIE-4.0-preemptible"),
    _ernie("ERNIE-Bot-8K", "ernie_bot_8k", 20000, 5120, _ERNIE_35, "ernie-longtext", deprecated=True),
    _ernie("ERNIE-Speed-128K", "ernie-speed-128k", 507904, 126976, "sys tools pen stop max_out fp"),
    _ernie("ERNIE-Speed-Pro-8K", "ernie-speed-pro-8k", 24000, 6144, "sys tools pen stop max_out fp min"),
    _ernie("ERNIE-Speed-Pro-128K", "ernie-speed-pro-128k", 516096, 126976, "sys tools pen stop max_out fp"),
    _ernie("ERNIE-Speed-AppBuilder", "ai_apaas", 11200, 7168, "sys tools pen",
           "EB-turbo-AppBuilder", "ERNIE-Bot-turbo-AI"),
    _ernie("ERNIE-Lite-8K", "ernie-lite-8k", 11200, 7168, "sys pen stop max_out fp min", "ERNIE-Lite-8K-0308",
           "ERNIE-Lite", blurb="Baidu's light model, low cost"),
    _ernie("ERNIE-Lite-8K-0922", "eb-instant", 11200, 7168, "sys tools pen stop", "ERNIE-Bot-turbo", "eb-instant"),
    _ernie("ERNIE-Lite-Pro-8K", "ernie-lite-pro-8k", 24000, 6144, "sys tools pen stop"),
    _ernie("ERNIE-Lite-V", "ernie-lite-v", 11200, 7168, "sys pen stop max_out fp min"),
    _ernie("ERNIE-Lite-AppBuilder-8K-0614", "ai_apaas_lite", 11200, 7168, "sys tools pen max_out fp min"),
    _ernie("ERNIE-Tiny-8K", "ernie-tiny-8k", 24000, 6144, "sys tools pen stop max_out fp min",
           blurb="Baidu's smallest ERNIE"),
    _ernie("ERNIE-Novel-8K", "ernie-novel-8k", 24000, 6144, "sys tools pen stop max_out fp min mem",
           blurb="ERNIE for long-form fiction"),
    _ernie("ERNIE-Character-8K", "ernie-char-8k", 24000, 6144, "sys pen stop max_out",
           blurb="ERNIE for role play and characters"),
    _ernie("ERNIE-Character-Fiction-8K", "ernie-char-fiction-8k", 24000, 6144, "sys pen stop max_out"),
    _ernie("ERNIE-Functions-8K", "ernie-func-8k", 24000, 6144, "sys pen stop max_out", "ERNIE-Function-8K"),
    _ernie("Qianfan-Dynamic-8K", "qianfan-dynamic-8k", 20000, 5120, "sys fn pen stop max_out dis cite trace rf"),
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
    _open("ChatLaw", "chatlaw", "tools", blurb="a legal assistant model"),
    _open("Yi-34B-Chat", "yi_34b_chat", blurb="01.AI's bilingual chat model"),
    _open("Mixtral-8x7B-Instruct", "mixtral_8x7b_instruct", blurb="Mistral's mixture-of-experts model"),
    _open("Gemma-7B-it", "gemma_7b_it", blurb="Google's Gemma 7B instruct"),
    _open("SQLCoder-7B", "sqlcoder_7b", "top_k pen stop", kind=COMPLETION, blurb="text-to-SQL completion"),
    _open("CodeLlama-7b-Instruct", "codellama_7b_instruct", "top_k pen stop", kind=COMPLETION,
          blurb="Meta's code model, completion"),
)

DEFAULT_MODEL = "ERNIE-Speed-8K"

# A deployed endpoint serves some model we cannot see; accept what any v1
# endpoint of its kind may accept and let the server judge the rest.
CUSTOM_CHAT = ModelSpec("custom chat endpoint", None, CHAT, 20000, None,
                        _params("sys fn pen stop max_out top_k fp min"), max_output_tokens=(2, 2048))
CUSTOM_COMPLETION = ModelSpec("custom completion endpoint", None, COMPLETION, 20000, None,
                              _params("top_k pen stop"), max_output_tokens=None)


def _key(name: str) -> str:
    return "".join(ch for ch in name.lower() if ch.isalnum())


_BY_KEY: dict[str, ModelSpec] = {}
_BY_ENDPOINT: dict[tuple[str, str], ModelSpec] = {}
for _spec in MODELS:
    for _name in (_spec.name, *_spec.aliases):
        _BY_KEY.setdefault(_key(_name), _spec)
    if _spec.endpoint is not None:
        _BY_ENDPOINT[(_spec.kind, _spec.endpoint)] = _spec


def find_model(name: str) -> ModelSpec | None:
    """The model called ``name`` (any case, spaces, dashes or underscores), or None."""
    return _BY_KEY.get(_key(name or ""))


def model_for_endpoint(kind: str, endpoint: str) -> ModelSpec | None:
    """The registry model served at ``chat/<endpoint>`` or ``completions/<endpoint>``."""
    return _BY_ENDPOINT.get((kind, endpoint))


def suggest(name: str, limit: int = 3) -> list[str]:
    """Registry names close to a misspelt one, for error messages."""
    import difflib

    key = _key(name)
    keys = difflib.get_close_matches(key, list(_BY_KEY), n=limit * 3, cutoff=0.6)
    seen: list[str] = []
    for k in keys:
        if _BY_KEY[k].name not in seen:
            seen.append(_BY_KEY[k].name)
    return seen[:limit]


def unknown_model_error(name):
    """The error for a model name the registry does not know, with close names."""
    from ._errors import InvalidRequestError

    close = suggest(str(name))
    hint = f" Did you mean {', '.join(close)}?" if close else ""
    return InvalidRequestError(f"Unknown model {name!r}.{hint} `%wenxin models` lists them; for a service you "
                               "deployed yourself pass endpoint=... instead.", field="model")
