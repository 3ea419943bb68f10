"""What the composer knows about one request, and what it answers: :class:`Context`, :class:`Answer`,
the language, the topic and the length a prompt asks for.
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass, field

from ...api import COMPLETION

SAFETY_TRIGGERS = ("敏感测试", "unsafe-demo")
# v2 only: a question with one of these is answered, and the answer flagged 3 (do not display) or 4 (withdraw)
FLAG_TRIGGERS = {"hide-demo": 3, "withdraw-demo": 4}
HIDE, WITHDRAW = 3, 4
LONG_WORDS = ("长文", "详细", "long", "in detail", "detailed")
DEFAULT_LONG_CHARS = 2000
_MAX_CHARS = 200_000

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")


@dataclass
class Answer:
    text: str
    finish_reason: str = "normal"
    is_truncated: bool = False
    function_call: dict | None = None
    search_info: dict | None = None
    need_clear_history: bool = False
    ban_round: int | None = None
    flag: int | None = None
    extra: dict = field(default_factory=dict)
    tool_calls: list | None = None  # v2: [{id, type, function: {name, arguments}}]
    reasoning: str = ""  # v2: reasoning_content, streamed before the answer


# ---------------------------------------------------------------- helpers

def stable_hash(*parts) -> int:
    return zlib.crc32("\x1f".join(str(p) for p in parts).encode("utf-8"))


def is_chinese(text: str) -> bool:
    return bool(_CJK.search(text or ""))


def _style(model: str, kind: str) -> str:
    m = model.lower()
    if kind == COMPLETION:
        return "completion"
    if "bloom" in m:
        return "terse"
    if m.startswith("ernie") or "qianfan-dynamic" in m:
        if any(k in m for k in ("speed", "lite", "tiny", "appbuilder", "char", "novel", "func")):
            return "ernie_light"
        return "ernie"
    return "open"


class Context:
    """What the composer needs to know about one request."""

    def __init__(self, model: str, kind: str, body: dict, answer_chars: int | None):
        self.model = model
        self.kind = kind
        self.body = body
        self.style = _style(model, kind)
        self.system = body.get("system") if isinstance(body.get("system"), str) else ""
        msgs = body.get("messages") if isinstance(body.get("messages"), list) else []
        self.messages = [m for m in msgs if isinstance(m, dict)]
        if kind == COMPLETION:
            self.question = body.get("prompt") or ""
        else:
            self.question = content_of(self.messages[-1]) if self.messages else ""
        self.user_turns = [content_of(m) for m in self.messages if m.get("role") == "user"]
        temperature = body.get("temperature", 0.8)
        top_p = body.get("top_p", 0.8)
        self.temperature = temperature
        self.top_p = top_p
        self.seed = stable_hash(self.question, model, temperature, top_p)
        self.fixed = isinstance(temperature, (int, float)) and temperature <= 0.3
        self.penalty = body.get("penalty_score", 1.0) if isinstance(body.get("penalty_score"), (int, float)) else 1.0
        lang_src = self.question
        self.zh = is_chinese(lang_src)
        sys_low = self.system.lower()
        if self.system and ("english" in sys_low or "英文" in self.system or "英语" in self.system):
            self.zh = False
        elif self.system and ("中文" in self.system or "chinese" in sys_low) and not self.zh:
            self.zh = True
        self.answer_chars = answer_chars
        self.persona = _persona(self.system)
        self.context = False  # the answer refers to a table or an error in the prompt
        self.thought = ""  # what a reasoning model thinks before this answer, set by whatever answers

    def pick(self, options, salt=""):
        """A phrasing variant: the first at low temperature, else one chosen by hashing."""
        if not options:
            return ""
        if self.fixed:
            return options[0]
        return options[stable_hash(self.seed, salt) % len(options)]

    def model_pick(self, options, salt=""):
        return options[stable_hash(self.model, salt) % len(options)]


def content_of(message) -> str:
    """A message's words: its content, or the text parts of a content array (pictures are read elsewhere)."""
    value = message.get("content") if isinstance(message, dict) else None
    if isinstance(value, list):
        return "\n".join(part["text"] for part in value if isinstance(part, dict) and isinstance(part.get("text"), str))
    return value if isinstance(value, str) else ""


def _persona(system: str) -> str | None:
    if not system:
        return None
    for pattern in (r"你是([^，,。.!！\s]{1,16})", r"你叫([^，,。.!！\s]{1,16})", r"[Yy]ou are ([A-Za-z][\w\- ]{0,30}?)[.,!;\n]",
                    r"[Yy]our name is ([A-Za-z][\w\-]{0,20})"):
        m = re.search(pattern, system + "\n")
        if m:
            return m.group(1).strip()
    return None


def wanted_length(text: str) -> int | None:
    """Characters a prompt asks for: "写3000字", "write 20000 characters", or ~2000 for "long"/"详细"."""
    t = text or ""
    m = re.search(r"(\d[\d,]*)\s*(?:个)?(?:字|汉字|characters|chars|letters|words)", t, re.I)
    if m:
        n = int(m.group(1).replace(",", ""))
        if n > 0:
            return min(n, _MAX_CHARS)
    m = re.search(r"([一二两三四五六七八九十]+)\s*([千万])\s*字", t)
    if m:
        digits = {"一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9, "十": 10}
        n = sum(digits.get(c, 0) for c in m.group(1)) or 1
        return min(n * (1000 if m.group(2) == "千" else 10000), _MAX_CHARS)
    low = t.lower()
    if any(w in low for w in LONG_WORDS):
        return DEFAULT_LONG_CHARS
    return None


_ZH_STRIP = re.compile(r"^(请问|请你|请|麻烦|帮我|给我|能不能|可以|你能|简单|详细)?(介绍一下|介绍下|介绍|说说|讲讲|谈谈|解释一下|解释|写一篇关于|写一篇|写)?")
_EN_STRIP = re.compile(r"^(please\s+)?(can you\s+|could you\s+)?(tell me about|tell me|explain|introduce|describe|"
                       r"write (?:an? )?(?:\w+ )?(?:essay |article |text )?(?:of \d+ \w+ )?about|what is|what are|who is|"
                       r"how do i|how to|give me)?\s*", re.I)


def topic_of(question: str) -> str:
    q = (question or "").strip()
    q = re.sub(r"\d[\d,]*\s*(?:个)?(?:字|characters|chars|words)", "", q, flags=re.I)
    q = re.sub(r"\s+", " ", q).strip()  # "write 300 characters about X" -> "write about X"
    if is_chinese(q):
        q = re.sub(r"[？?！!。，,：:\s]+$", "", q)
        q = re.sub(r"^(写|用)?\s*(一篇)?", "", q)
        q = _ZH_STRIP.sub("", q)
        q = re.sub(r"^(什么是|什么叫|何为|如何|怎么|为什么)", "", q)
        q = re.sub(r"(是什么|是谁|怎么样|有哪些|吗|呢|的文章|的介绍)$", "", q)
        q = q.strip(" 的关于")
        q = q[:24]
    else:
        q = re.sub(r"[?？!.。\s]+$", "", q)
        q = _EN_STRIP.sub("", q)
        q = re.sub(r"^(about|the topic of)\s+", "", q, flags=re.I)
        q = q[:60].strip()
    return q or (question or "").strip()[:24] or "这个问题"


def quoted(question: str, zh: bool) -> str | None:
    """The question whole in quotation marks, or None when it is too long or too many lines to quote:
    a quotation is never clipped."""
    q = (question or "").strip()
    if not q or "\n" in q or len(q) > 80:
        return None
    return f"“{q}”" if zh else f'"{q}"'
