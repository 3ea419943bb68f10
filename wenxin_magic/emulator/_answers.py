"""Deterministic answers for the emulator.

``compose(spec, endpoint, body)`` turns a v1 request body into an :class:`Answer`,
``compose_v2(model, body)`` a v2 one (read through the same composer, plus tool calls,
tool results and reasoning); the same body always gives the same answer, byte for byte,
and different models answer in visibly different voices.

Function calling behaves like a model in a client's tool loop: arguments that meet the
schema, one more call a round while the question matches functions the turn has not
called (v1 always, v2 when ``parallel_tool_calls`` is false), then one sentence per result
of the turn, failed calls reported plainly. ``chunk(text)`` cuts an answer
into the sentence-sized deltas a stream sends.

Notebook context is answered in kind: a prompt holding a table summary (DataFrame, Series, ndarray) gets its
row count, its columns and a suggestion; one holding a cell's error (``%wenxin fix``, ``{Err}``) gets the
exception explained and the cell corrected, with the smallest change, in one ``python`` block.

Nothing here knows anything real beyond a handful of topics (the example
prompts of the Qianfan API pages); every other prompt gets a coherent answer
that quotes its topic.
"""

from __future__ import annotations

import ast
import builtins
import difflib
import json
import re
import zlib
from dataclasses import dataclass, field

from ..api import COMPLETION, estimate_tokens

__all__ = ["Answer", "compose", "compose_v2", "chunk", "SAFETY_TRIGGERS", "LONG_WORDS", "DEFAULT_LONG_CHARS"]

SAFETY_TRIGGERS = ("敏感测试", "unsafe-demo")
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

def _h(*parts) -> int:
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


class _Ctx:
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
            self.question = _content(self.messages[-1]) if self.messages else ""
        self.user_turns = [_content(m) for m in self.messages if m.get("role") == "user"]
        temperature = body.get("temperature", 0.8)
        top_p = body.get("top_p", 0.8)
        self.temperature = temperature
        self.top_p = top_p
        self.seed = _h(self.question, model, temperature, top_p)
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

    def pick(self, options, salt=""):
        """A phrasing variant: the first at low temperature, else one chosen by hashing."""
        if not options:
            return ""
        if self.fixed:
            return options[0]
        return options[_h(self.seed, salt) % len(options)]

    def model_pick(self, options, salt=""):
        return options[_h(self.model, salt) % len(options)]


def _content(message) -> str:
    value = message.get("content") if isinstance(message, dict) else None
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


# ------------------------------------------------------- topic knowledge

# (zh title, zh text, en title, en text) -- written for the emulator.
_TOPICS: dict[str, dict] = {
    "forbidden_city": {
        "zh_title": "故宫", "en_title": "the Forbidden City",
        "zh_intro": ["故宫又称紫禁城，是明清两代的皇家宫殿，坐落在北京城的中轴线上。",
                     "说到故宫，它是明清两朝的皇宫，也是今天的故宫博物院。",
                     "故宫位于北京市中心，是世界上现存规模最大、保存最完整的木结构宫殿建筑群之一。"],
        "en_intro": ["The Forbidden City was the imperial palace of the Ming and Qing dynasties, right on Beijing's central axis.",
                     "The Forbidden City, today the Palace Museum, housed Chinese emperors for nearly five centuries."],
        "zh": [("历史", "始建于明朝永乐年间，1420年落成，先后有二十多位皇帝在这里居住和处理政务。"),
               ("建筑", "占地约72万平方米，前朝三大殿以太和殿为首，后宫则是皇帝与后妃的生活区域。"),
               ("文物", "1925年成立故宫博物院，收藏书画、陶瓷、青铜器等文物一百八十多万件。"),
               ("参观", "一般从南边的午门进入、北边的神武门离开，需要提前实名预约，周一通常闭馆。")],
        "en": [("History", "Completed in 1420 under the Yongle Emperor, it served more than twenty emperors."),
               ("Architecture", "It covers about 720,000 square metres; the Hall of Supreme Harmony is its grandest hall."),
               ("Collections", "The Palace Museum, founded in 1925, keeps over 1.8 million objects."),
               ("Visiting", "Enter through the Meridian Gate in the south, leave by the Gate of Divine Prowess; book ahead.")],
    },
    "beijing_weekend": {
        "zh_title": "北京周末去处", "en_title": "weekend ideas in Beijing",
        "zh_intro": ["周末在北京，可以按兴趣挑选下面这些去处：", "北京周末可玩的地方很多，下面按类型给你一些建议："],
        "en_intro": ["Here are some ideas for a weekend in Beijing:", "Beijing has plenty to fill a weekend:"],
        "zh": [("颐和园", "湖光山色兼具皇家园林气派，适合慢慢散步、划船。"),
               ("慕田峪长城", "游客相对少，风景开阔，可以坐缆车上山再步行。"),
               ("什刹海与南锣鼓巷", "逛胡同、看老北京生活，傍晚在湖边散步很惬意。"),
               ("798艺术区", "旧厂房改造的艺术街区，展览、咖啡和设计小店集中。"),
               ("香山公园", "秋天看红叶最有名，平时登山也能俯瞰西山景色。")],
        "en": [("Summer Palace", "a royal garden with a lake, good for a slow walk or a boat."),
               ("Mutianyu Great Wall", "less crowded, with a cable car up the ridge."),
               ("Shichahai and the hutongs", "old Beijing lanes and lakeside evenings."),
               ("798 Art District", "galleries and cafes in converted factories."),
               ("Fragrant Hills", "famous for red leaves in autumn, a pleasant hike any time.")],
    },
    "road_trips": {
        "zh_title": "自驾游路线", "en_title": "road-trip routes",
        "zh_intro": ["下面几条自驾路线风格各不相同，可以按假期长短来选：", "推荐几条口碑不错的自驾游路线："],
        "en_intro": ["A few road trips with very different scenery:", "Some well-loved road-trip routes in China:"],
        "zh": [("川藏线（318国道）", "从成都出发经康定、理塘到拉萨，雪山、草原和峡谷一路相伴，适合时间充裕的老司机。"),
               ("青海湖环线", "从西宁出发环湖一周，夏季油菜花与湖水相映，路况好、难度低。"),
               ("独库公路", "纵贯天山南北，一天之内能看到雪山、草原和戈壁，每年大约6月到10月通车。"),
               ("滇西北线", "大理、丽江到香格里拉，古城与高原风光结合，节奏可快可慢。"),
               ("呼伦贝尔草原", "从海拉尔出发去额尔古纳、室韦，夏天草原辽阔，适合拍照。")],
        "en": [("Sichuan-Tibet Highway (G318)", "Chengdu to Lhasa through snow peaks and canyons; for experienced drivers."),
               ("Qinghai Lake loop", "an easy loop from Xining, with rapeseed fields in summer."),
               ("Duku Highway", "across the Tianshan range, open roughly June to October."),
               ("Northwest Yunnan", "Dali, Lijiang and Shangri-La: old towns and plateau views."),
               ("Hulunbuir grasslands", "wide summer grasslands from Hailar to Ergun.")],
    },
    "beijing": {
        "zh_title": "北京", "en_title": "Beijing",
        "zh_intro": ["北京是中华人民共和国的首都，也是一座有三千多年建城史的古都。",
                     "北京简称“京”，是中国的首都和全国政治、文化中心。"],
        "en_intro": ["Beijing is the capital of China and one of its oldest cities.",
                     "Beijing, China's capital, mixes imperial history with a very modern city."],
        "zh": [("城市定位", "是全国的政治中心、文化中心、国际交往中心和科技创新中心。"),
               ("历史", "建城史三千多年，建都史八百多年，元明清三代都以此为都城。"),
               ("人口与面积", "常住人口约两千一百万，面积约一万六千多平方公里。"),
               ("文化与美食", "京剧、胡同和四合院是城市名片，烤鸭、炸酱面、豆汁各有拥趸。")],
        "en": [("Role", "the country's political and cultural centre and a hub for science and technology."),
               ("History", "a city for over 3,000 years and a capital for more than 800."),
               ("Size", "about 21 million residents over some 16,000 square kilometres."),
               ("Culture and food", "Peking opera, hutong lanes, roast duck and zhajiang noodles.")],
    },
    "beijing_sights": {
        "zh_title": "北京著名景点", "en_title": "famous sights in Beijing",
        "zh_intro": ["北京的著名景点可以分成皇家建筑、古迹和现代地标几类：", "北京值得一去的景点有很多，最有代表性的包括："],
        "en_intro": ["Beijing's best-known sights include:", "The landmarks most visitors put first in Beijing:"],
        "zh": [("故宫", "明清皇宫，现为故宫博物院。"), ("天安门广场", "世界上最大的城市广场之一。"),
               ("八达岭长城", "距市区最近、最知名的长城段落之一。"), ("天坛", "明清皇帝祭天祈谷的场所，祈年殿造型独特。"),
               ("颐和园", "以昆明湖和万寿山为主体的皇家园林。"), ("鸟巢与水立方", "2008年奥运会的标志性场馆。")],
        "en": [("The Forbidden City", "the Ming and Qing palace, now the Palace Museum."),
               ("Tiananmen Square", "one of the largest city squares in the world."),
               ("Badaling Great Wall", "the best-known section near the city."),
               ("Temple of Heaven", "where emperors prayed for good harvests."),
               ("Summer Palace", "a royal garden around Kunming Lake."),
               ("Bird's Nest", "the landmark stadium of the 2008 Olympics.")],
    },
}


def _match_topic(q: str) -> str | None:
    low = q.lower()
    if "故宫" in q or "紫禁城" in q or "forbidden city" in low:
        return "forbidden_city"
    if "自驾" in q or "road trip" in low or "road-trip" in low:
        return "road_trips"
    if ("北京" in q or "beijing" in low) and any(k in q for k in ("周末", "玩", "去哪")) or \
            ("beijing" in low and "weekend" in low):
        return "beijing_weekend"
    if ("北京" in q or "beijing" in low) and any(k in low for k in ("景点", "名胜", "sights", "attractions", "landmarks")):
        return "beijing_sights"
    if ("北京" in q and ("介绍" in q or len(q.strip("?？。 ")) <= 4)) or \
            re.search(r"\b(introduce|about|describe)\b.*\bbeijing\b", low) or low.strip(" ?.!") == "beijing":
        return "beijing"
    return None


_GREETINGS_ZH = ("你好", "您好", "嗨", "哈喽", "早上好", "晚上好")
_GREETINGS_EN = ("hello", "hi", "hey", "good morning", "good evening")


def _is_greeting(q: str) -> bool:
    s = q.strip(" \t\n!！。.,，~?？").lower()
    return s in _GREETINGS_ZH or s in _GREETINGS_EN or s in ("你好呀", "你好啊", "hello there", "hi there")


_FOLLOW_UPS = ("继续", "详细说说", "接着说", "再说说", "展开说说", "多说一点", "tell me more", "continue", "go on",
               "more details", "keep going", "elaborate")


def _is_follow_up(q: str) -> bool:
    s = q.strip(" \t\n!！。.,，~?？").lower()
    return any(s == f or (s.startswith(f) and len(s) <= len(f) + 6) for f in _FOLLOW_UPS)


# ------------------------------------------------------------ renderers

def _render_items(ctx: _Ctx, title: str, intro: str, items, outro: str) -> str:
    """Lay out a titled list of (name, text) items in the model's voice."""
    zh = ctx.zh
    style = ctx.style
    colon = "：" if zh else ": "
    if style == "ernie":
        lines = [f"## {title}\n", intro, ""]
        for i, (name, text) in enumerate(items, 1):
            lines.append(f"{i}. **{name}**{colon}{text}")
        lines += ["", outro]
        return "\n".join(lines)
    if style == "ernie_light":
        lines = [intro, ""]
        for i, (name, text) in enumerate(items[:4], 1):
            lines.append(f"{i}. **{name}**{colon}{text}")
        lines += ["", outro]
        return "\n".join(lines)
    if style == "terse":
        names = ("、" if zh else ", ").join(name for name, _ in items[:3])
        return (f"{intro}{names}。" if zh else f"{intro} {names}.")
    # open models: plain prose, shorter
    sep = "；" if zh else "; "
    body = sep.join(f"{name}{'，' if zh else ' - '}{text.rstrip('。.')}" for name, text in items[:3])
    return f"{intro}\n\n{body}{'。' if zh else '.'}\n\n{outro}"


_OUTROS_ZH = {
    "ernie": ["希望以上信息对你有帮助，如需更具体的安排可以继续问我。", "如果你告诉我更多需求，我可以帮你进一步细化。"],
    "ernie_light": ["有其他问题随时问我。", "需要更详细的信息可以再告诉我。"],
    "open": ["以上是一些基本情况，仅供参考。", "这些信息供你参考。"],
    "terse": [""],
}
_OUTROS_EN = {
    "ernie": ["I hope this helps; ask me if you want a more detailed plan.", "Tell me more about your needs and I can refine this."],
    "ernie_light": ["Feel free to ask for more.", "Let me know if you need details."],
    "open": ["That is a short overview.", "Hope that gives you a starting point."],
    "terse": [""],
}


def _outro(ctx: _Ctx) -> str:
    table = _OUTROS_ZH if ctx.zh else _OUTROS_EN
    return ctx.pick(table.get(ctx.style, table["open"]), "outro")


def _signature(ctx: _Ctx) -> str:
    """A short model-specific closing so two models of one family still differ."""
    if ctx.style == "terse":
        return ""
    if ctx.zh:
        tags = ["（以上由{m}整理）", "——{m}", "（{m}的回答）", "（来自{m}）"]
    else:
        tags = ["(compiled by {m})", "-- {m}", "({m}'s answer)", "(from {m})"]
    return ctx.model_pick(tags, "sig").format(m=ctx.model)


def _topic_answer(ctx: _Ctx, key: str) -> str:
    t = _TOPICS[key]
    lang = "zh" if ctx.zh else "en"
    intro = ctx.pick(t[f"{lang}_intro"], "intro")
    items = t[lang]
    if ctx.style == "open" and not ctx.fixed and _h(ctx.seed, "order") % 2:
        items = items[1:] + items[:1]
    return _render_items(ctx, t[f"{lang}_title"], intro, items, _outro(ctx))


def _greeting(ctx: _Ctx) -> str:
    who = ctx.persona
    if ctx.zh:
        opts = {
            "ernie": ["你好！我是文心大模型，很高兴为你服务。你可以问我知识、写作、编程或出行规划方面的问题。",
                      "你好呀！有什么我可以帮你的吗？无论是查资料、写文案还是做计划，都可以交给我。"],
            "ernie_light": ["你好！有什么可以帮你的？", "你好，很高兴和你聊天，请问需要什么帮助？"],
            "open": ["你好！我是一个AI助手，有什么问题可以问我。", "你好，请问有什么可以帮忙的吗？"],
            "terse": ["你好！", "你好，有什么事吗？"],
        }
    else:
        opts = {
            "ernie": ["Hello! I'm ERNIE, Baidu's language model. I can help with questions, writing, code or travel plans.",
                      "Hi there! What can I do for you today? Research, writing and planning are all fine."],
            "ernie_light": ["Hello! How can I help?", "Hi, nice to chat with you. What do you need?"],
            "open": ["Hello! I'm an AI assistant. What would you like to talk about?", "Hi! How can I help you today?"],
            "terse": ["Hello!", "Hi, what's up?"],
        }
    text = ctx.pick(opts[ctx.style if ctx.style in opts else "open"], "greet")
    if who:
        text = (f"你好，我是{who}。" if ctx.zh else f"Hello, I'm {who}. ") + text.split("！", 1)[-1].split("! ", 1)[-1]
    return text


def _self_intro(ctx: _Ctx) -> str:
    if ctx.persona:
        return f"我是{ctx.persona}。" if ctx.zh else f"I'm {ctx.persona}."
    if ctx.zh:
        return f"我是{ctx.model}，一个运行在本地千帆模拟器里的大语言模型，可以回答问题、写作和聊天。"
    return f"I'm {ctx.model}, a language model served by the local Qianfan emulator; I can answer questions, write and chat."


_ASPECTS_ZH = ["基本概念", "历史背景", "主要特点", "实际应用", "常见误区", "发展趋势", "学习方法", "相关案例",
               "优点与不足", "社会影响", "技术细节", "未来展望"]
_ASPECTS_EN = ["the basics", "its background", "key features", "practical uses", "common misconceptions", "recent trends",
               "how to learn it", "examples", "pros and cons", "its wider impact", "technical details", "the outlook"]


def _generic(ctx: _Ctx, topic: str) -> str:
    zh = ctx.zh
    if zh:
        q = f"“{topic}”"
        openers = {
            "ernie": [f"关于{q}，可以从以下几个方面来理解：", f"你问到了{q}，下面分几点说明：", f"好的，我们来梳理一下{q}："],
            "ernie_light": [f"关于{q}，简单来说：", f"{q}可以这样理解："],
            "open": [f"关于{q}这个问题，我的看法如下。", f"你提到了{q}。"],
            "terse": [f"{q}：", f"关于{q}，"],
        }
        points = [(a, f"从{a}来看，{q}有值得关注的地方，需要结合具体情况分析。") for a in _ASPECTS_ZH[:4]]
    else:
        q = f'"{topic}"'
        openers = {
            "ernie": [f"Regarding {q}, here are the main points:", f"You asked about {q}. Let me break it down:",
                      f"Sure, let's go through {q}:"],
            "ernie_light": [f"About {q}, in short:", f"Here is a quick take on {q}:"],
            "open": [f"On the question of {q}, here is my view.", f"You mentioned {q}."],
            "terse": [f"{q}:", f"About {q},"],
        }
        points = [(a.capitalize(), f"looking at {a}, {q} is worth thinking through in context.") for a in _ASPECTS_EN[:4]]
    intro = ctx.pick(openers.get(ctx.style, openers["open"]), "open")
    if ctx.style == "terse":
        return f"{intro}{'这是一个需要结合具体情况来看的问题。' if zh else ' it depends on the context.'}"
    if ctx.style == "open":
        body = (f"{q}涉及{_ASPECTS_ZH[0]}和{_ASPECTS_ZH[3]}等方面。一般来说，先弄清楚核心概念，再结合实际例子，就能较好地理解它。"
                if zh else f"{q} touches on {_ASPECTS_EN[0]} and {_ASPECTS_EN[3]}. Start from the core idea, then look at "
                           "real examples, and it becomes much clearer.")
        return f"{intro}\n\n{body}\n\n{_outro(ctx)}"
    return _render_items(ctx, topic, intro, points, _outro(ctx))


def _filler(ctx: _Ctx, topic: str, k: int) -> str:
    """The k-th extra sentence used to reach a requested length; unique for every k."""
    if ctx.zh:
        a = _ASPECTS_ZH[k % len(_ASPECTS_ZH)]
        frames = ["第{n}点，从{a}的角度看，“{t}”还有不少细节值得展开。",
                  "再说第{n}个方面：{a}。围绕“{t}”，不同的人会有不同的体会。",
                  "第{n}，关于{a}，理解“{t}”时最好结合具体的例子。"]
        return frames[k % len(frames)].format(n=k + 1, a=a, t=topic) + ("\n" if k % 5 == 4 else "")
    a = _ASPECTS_EN[k % len(_ASPECTS_EN)]
    frames = ["Point {n}: considering {a}, \"{t}\" has more detail worth exploring. ",
              "Aspect {n} is {a}; people see \"{t}\" differently here. ",
              "Note {n}: for {a}, concrete examples help explain \"{t}\". "]
    return frames[k % len(frames)].format(n=k + 1, a=a, t=topic) + ("\n" if k % 5 == 4 else "")


def _fit_length(ctx: _Ctx, text: str, topic: str, target: int) -> str:
    if len(text) < target:
        sep = "\n\n"
        parts = [text, sep]
        size = len(text) + len(sep)
        k = 0
        while size < target:
            piece = _filler(ctx, topic, k)
            parts.append(piece)
            size += len(piece)
            k += 1
        text = "".join(parts)
    if len(text) > target:
        cut = text[:target]
        # end at a sentence boundary when one is close
        m = max(cut.rfind(c) for c in "。！？.!?\n")
        if m >= target * 0.95:
            cut = cut[:m + 1]
        text = cut
    return text


_QUOTES = {"“": "”", "「": "」", "\"": "\""}


def _sentences_outside_quotes(text: str) -> list[str]:
    """Sentences with their ends kept; an end inside a quotation does not end one."""
    pieces, start, closing = [], 0, None
    for i, ch in enumerate(text):
        if closing is not None:
            if ch == closing:
                closing = None
        elif ch in _QUOTES:
            closing = _QUOTES[ch]
        elif ch in "。！？!?\n":
            pieces.append(text[start:i + 1])
            start = i + 1
    pieces.append(text[start:])
    return pieces


def _dedupe(text: str) -> str:
    """penalty_score >= 1.5: drop sentences that repeat an earlier one, quotations kept whole."""
    seen = set()
    out = []
    for piece in _sentences_outside_quotes(text):
        key = piece.strip()
        if key and key in seen:
            continue
        seen.add(key)
        out.append(piece)
    return "".join(out)


# ------------------------------------------------------------- functions

_FN_STOP = {"获得", "获取", "指定", "查询", "一个", "用于", "返回", "信息", "the", "get", "for", "and", "with", "given",
            "specified", "current", "information", "of", "a", "an", "to", "in", "on", "by", "is", "what", "like"}
_SYNONYMS = {"天气": ["weather", "气温", "温度", "下雨"], "weather": ["天气", "temperature", "rain"],
             "股价": ["stock", "price", "股票"], "price": ["价格", "股价", "多少钱"]}


def _fn_terms(fn: dict) -> set[str]:
    text = f"{fn.get('name', '')} {fn.get('description', '')}"
    terms = set()
    for w in re.findall(r"[A-Za-z]{3,}", text.replace("_", " ")):
        w = w.lower()
        if w not in _FN_STOP:
            terms.add(w)
    for run in re.findall(r"[\u4e00-\u9fff]+", text):
        for i in range(len(run) - 1):
            bg = run[i:i + 2]
            if bg not in _FN_STOP and not any(c in bg for c in "的是了在和与"):
                terms.add(bg)
    for t in list(terms):
        terms.update(_SYNONYMS.get(t, ()))
    return terms


def _score(fn: dict, low: str) -> int:
    """How many of the function's terms the (lower-cased) question uses."""
    return sum(1 for t in _fn_terms(fn) if t in low)


def _matched_functions(question: str, functions: list) -> list[dict]:
    """Every function the question matches, the best match first (v1 calls them one a round)."""
    candidates = [fn for fn in functions if isinstance(fn, dict)]
    low = question.lower()
    scores = [_score(fn, low) for fn in candidates]
    best = max(scores, default=0)
    if not best:
        return []
    first = scores.index(best)
    others = [fn for index, (fn, score) in enumerate(zip(candidates, scores, strict=True))
              if index != first and score * 2 >= best]
    return [candidates[first], *others]


def _choose_function(question: str, functions: list, tool_choice) -> dict | None:
    if isinstance(tool_choice, dict):
        name = (tool_choice.get("function") or {}).get("name")
        for fn in functions:
            if isinstance(fn, dict) and fn.get("name") == name:
                return fn
    low = question.lower()
    best, best_score = None, 0
    for fn in functions:
        if not isinstance(fn, dict):
            continue
        score = _score(fn, low)
        if score > best_score:
            best, best_score = fn, score
    return best


_CITIES_ZH = ["北京", "上海", "广州", "深圳", "杭州", "成都", "重庆", "天津", "南京", "武汉", "西安", "苏州", "石家庄", "长沙"]


def _place(question: str) -> str | None:
    m = re.search(r"([\u4e00-\u9fff]{2,6}?(?:省|市|自治区|区|县))", question)
    if m:
        return re.sub(r"^(今天|明天|查询|查一下|请问|帮我查)", "", m.group(1))
    for c in _CITIES_ZH:
        if c in question:
            return c + "市"
    m = re.search(r"\b(?:in|at|for)\s+([A-Z][a-zA-Z]+(?:\s+[A-Z][a-zA-Z]+)*)", question)
    if m:
        return m.group(1)
    return None


_PLACE_WORDS = ("location", "city", "place", "address", "地点", "城市")
_EXPRESSION_WORDS = ("expr", "formula", "equation", "算式", "表达式", "公式")
_NUMERIC = ("integer", "int", "number")
_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_SKIP = object()  # an optional field the question says nothing about: the function's default applies


class _Source:
    """Where argument values come from: the question, the place a call is about, and the question's numbers,
    handed to numeric fields in turn so that ``divide(a, b)`` gets both operands."""

    def __init__(self, question: str, place: str | None):
        self.question = question
        self.place = place
        self.numbers = _NUMBER.findall(question)
        self.taken = 0

    def number(self) -> str | None:
        if not self.numbers:
            return None
        text = self.numbers[self.taken] if self.taken < len(self.numbers) else self.numbers[0]
        self.taken += 1
        return text


def _fill_arguments(fn: dict, question: str, place: str | None = None, *, optional_places: bool = False) -> dict:
    """Arguments for ``fn`` taken from the question that meet its schema: every required field of its type
    (nested objects and array items too) and every enum the question names (``place`` fills a location field
    when given). ``optional_places``: an optional location field too, when the question names a place."""
    params = fn.get("parameters") if isinstance(fn.get("parameters"), dict) else {}
    return _object_value(params, _Source(question, place), optional_places)


def _object_value(schema: dict, source: _Source, optional_places: bool = False) -> dict:
    props = schema.get("properties") if isinstance(schema.get("properties"), dict) else {}
    listed = schema.get("required") if isinstance(schema.get("required"), list) else []
    required = [r for r in listed if isinstance(r, str)]
    args: dict = {}
    for name, prop in props.items():
        value = _field_value(name, _resolved(prop), name in required, source, optional_places)
        if value is not _SKIP:
            args[name] = value
    return args


def _field_value(name: str, prop: dict, required: bool, source: _Source, optional_places: bool):
    """One field's value, or ``_SKIP`` when it is optional and the question does not name a value for it."""
    enum = _enum(prop)
    ptype = _type(prop)
    is_place = any(k in name.lower() for k in _PLACE_WORDS)
    if optional_places and is_place and not required and ptype in (None, "string"):
        return source.place or _place(source.question) or _SKIP
    if enum:
        return _enum_value(enum, required, source.question)
    if not required:
        return _SKIP
    return _typed_value(name, prop, ptype, is_place, source)


def _resolved(prop) -> dict:
    """The schema a value has to meet: the first non-null branch of an ``anyOf``/``oneOf`` (so an optional int
    is an int), ``allOf`` merged; the outer keys (description, default) kept."""
    prop = prop if isinstance(prop, dict) else {}
    for key in ("anyOf", "oneOf"):
        branches = [b for b in prop[key] if isinstance(b, dict)] if isinstance(prop.get(key), list) else []
        if branches:
            branch = next((b for b in branches if _type(_resolved(b)) != "null"), branches[0])
            return {**{k: v for k, v in prop.items() if k != key}, **_resolved(branch)}
    if isinstance(prop.get("allOf"), list):
        merged = {k: v for k, v in prop.items() if k != "allOf"}
        for branch in prop["allOf"]:
            merged.update(_resolved(branch))
        return merged
    return prop


def _type(prop: dict) -> str | None:
    """The JSON type; of a list of types (``["string", "null"]``), the first that is not null."""
    ptype = prop.get("type")
    if isinstance(ptype, list):
        named = [t for t in ptype if isinstance(t, str)]
        return next((t for t in named if t != "null"), named[0] if named else None)
    return ptype if isinstance(ptype, str) else None


def _enum(prop: dict) -> list | None:
    if isinstance(prop.get("enum"), list) and prop["enum"]:
        return prop["enum"]
    return [prop["const"]] if "const" in prop else None


def _enum_value(enum: list, required: bool, question: str):
    hit = next((value for value in enum if _names(question, value)), None)
    if hit is not None:
        return hit
    # a Chinese question gets an optional enum's first value too: what the emulator always did
    return enum[0] if required or is_chinese(question) else _SKIP


def _names(question: str, value) -> bool:
    """Whether the question names an enum value: Chinese anywhere; a Latin word or a number as a whole
    (so the "C" of "Chengdu" does not choose unit "C")."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)) or value == "":
        return False
    if isinstance(value, str) and not value.isascii():
        return value in question
    text = re.escape(str(value))
    flags = re.I if isinstance(value, str) and len(value) > 2 else 0
    return re.search(rf"(?<![A-Za-z0-9.]){text}(?![A-Za-z0-9]|\.\d)", question, flags) is not None


def _typed_value(name: str, prop: dict, ptype: str | None, is_place: bool, source: _Source):
    question = source.question
    if ptype == "null":
        return None
    if is_place and ptype in (None, "string"):
        return source.place or _place(question) or topic_of(question)
    if ptype in ("integer", "int"):
        return _bounded(_integer(source.number()), prop)
    if ptype == "number":
        return _bounded(_number(source.number()), prop)
    if ptype == "boolean":
        return True
    if ptype == "array":
        return _array_value(prop, source)
    if ptype == "object":
        return _object_value(prop, source)
    return _string_value(name, prop, is_place, source)


def _integer(text: str | None) -> int:
    return int(text.split(".")[0]) if text else 1


def _number(text: str | None) -> int | float:
    if not text:
        return 1
    return float(text) if "." in text else int(text)


def _bounded(value, prop: dict):
    """The value moved inside the schema's bounds, so that a question's 0 still meets ``ge=1``."""
    def bound(key):
        limit = prop.get(key)
        return limit if isinstance(limit, (int, float)) and not isinstance(limit, bool) else None

    low, high = bound("minimum"), bound("maximum")
    if bound("exclusiveMinimum") is not None:
        low = bound("exclusiveMinimum") + 1
    if bound("exclusiveMaximum") is not None:
        high = bound("exclusiveMaximum") - 1
    if low is not None and value < low:
        value = low
    if high is not None and value > high:
        value = high
    return value


def _array_value(prop: dict, source: _Source) -> list:
    """Items of the item schema: a list of numbers takes every number in the question, others one item."""
    item = _resolved(prop.get("items")) if isinstance(prop.get("items"), dict) else {}
    item_type = _type(item)
    if item_type in _NUMERIC and not _enum(item) and source.numbers:
        convert = _number if item_type == "number" else _integer
        values = [_bounded(convert(text), item) for text in source.numbers]
        if prop.get("uniqueItems") is True:
            values = list(dict.fromkeys(values))
        return values
    return [_field_value("item", item, True, source, False)]


def _string_value(name: str, prop: dict, is_place: bool, source: _Source) -> str:
    """The question's topic, as ever; a place for a place field; the arithmetic for a formula field."""
    if any(k in name.lower() for k in _EXPRESSION_WORDS):
        expression = _expression(source.question)
        if expression:
            return expression
    text = source.place if is_place and source.place else topic_of(source.question)
    limit = prop.get("maxLength")
    return text[:limit] if isinstance(limit, int) and not isinstance(limit, bool) and limit > 0 else text


_ARITHMETIC = re.compile(r"[-+*/×÷^%().\d\s]+")
_OPERATION = re.compile(r"[\d)]\s*[-+*/×÷^%]+\s*[-\d(]")


def _expression(question: str) -> str | None:
    """The longest piece of arithmetic in the question (``12 * (3 + 4)``), in Python's operators."""
    best = ""
    for match in _ARITHMETIC.finditer(question):
        candidate = _trimmed_expression(match.group())
        if _OPERATION.search(candidate) and len(candidate) > len(best):
            best = candidate
    return best.replace("×", "*").replace("÷", "/") or None


def _trimmed_expression(text: str) -> str:
    """Without the sentence's punctuation around it, and without a bracket that the question opened outside."""
    text = text.strip().lstrip("+*/×÷^%.)").rstrip("-+*/×÷^%.(").strip()
    while text.count("(") > text.count(")") and text.startswith("("):
        text = text[1:].strip()
    while text.count(")") > text.count("(") and text.endswith(")"):
        text = text[:-1].strip()
    return text


def _function_call_answer(ctx: _Ctx, fn: dict, question: str, zh: bool) -> Answer:
    args = _fill_arguments(fn, question)
    name = fn.get("name", "")
    topic = topic_of(question)
    if zh:
        thoughts = f"用户询问“{topic}”，需要调用{name}来获取相关信息。"
    else:
        thoughts = f"The user asks about \"{topic}\", so I should call {name} to get the information."
    call = {"name": name, "thoughts": thoughts, "arguments": json.dumps(args, ensure_ascii=False)}
    return Answer(text="", finish_reason="function_call", function_call=call)


def _function_results_answer(ctx: _Ctx) -> str:
    """One sentence per function result since the question, in order, each read with the call before it."""
    turn = _since_question(ctx.messages)
    sentences = []
    for index, message in enumerate(turn):
        if message.get("role") != "function":
            continue
        before = turn[index - 1] if index else {}
        call = before.get("function_call") if isinstance(before.get("function_call"), dict) else {}
        sentences.append(_result_sentence(ctx, message.get("name") or "", _content(message), call.get("arguments")))
    return _joined(ctx, sentences)


def _joined(ctx: _Ctx, sentences: list[str]) -> str:
    return ("" if _question_zh(ctx) else " ").join(sentences)


# ------------------------------------------------------------- the turn
# A turn is the latest user question and what followed it: calls, results, more calls. Chains and
# answers look only at it, so an earlier question's calls neither block nor feed this one.

def _since_question(messages: list[dict]) -> list[dict]:
    for index in range(len(messages) - 1, -1, -1):
        if messages[index].get("role") == "user":
            return messages[index + 1:]
    return messages


def _latest_question(ctx: _Ctx) -> str:
    return ctx.user_turns[-1] if ctx.user_turns else ctx.question


def _question_zh(ctx: _Ctx) -> bool:
    question = ctx.user_turns[-1] if ctx.user_turns else ""
    return is_chinese(question) if question else ctx.zh


def _calls_made(turn: list[dict]) -> list[tuple[str, object]]:
    """(name, arguments) of every call asked for in the turn, v1 ``function_call`` and v2 ``tool_calls`` alike."""
    made = []
    for message in turn:
        if message.get("role") != "assistant":
            continue
        calls = message.get("tool_calls") if isinstance(message.get("tool_calls"), list) else []
        functions = [c["function"] for c in calls if isinstance(c, dict) and isinstance(c.get("function"), dict)]
        if isinstance(message.get("function_call"), dict):
            functions.insert(0, message["function_call"])
        made += [(str(f.get("name") or ""), f.get("arguments")) for f in functions]
    return made


def _decoded(arguments):
    try:
        return json.loads(arguments)
    except (TypeError, ValueError):
        return arguments


def _same_call(planned: str, made) -> bool:
    """Whether a call made already is the planned one: arguments that agree on every field both give (a client
    may drop an optional field or re-serialise the JSON), else the same text."""
    want, got = _decoded(planned), _decoded(made)
    if isinstance(want, dict) and isinstance(got, dict):
        return all(want[key] == got[key] for key in want.keys() & got.keys())
    return want == got


def _not_yet_made(planned: list[tuple[str, str]], made: list[tuple[str, object]]) -> list[int]:
    """Indexes of the planned calls still to ask for: never the same function with the same arguments twice,
    and a function planned once is done once called at all (whatever arguments the client really used)."""
    called = {name for name, _ in made}
    once = {name for name, _ in planned if sum(1 for other, _ in planned if other == name) == 1}
    return [index for index, (name, arguments) in enumerate(planned)
            if not (name in once and name in called)
            and not any(other == name and _same_call(arguments, sent) for other, sent in made)]


def _names_a_tool(choice) -> bool:
    return isinstance(choice, dict) and bool((choice.get("function") or {}).get("name"))


def _result_sentence(ctx: _Ctx, name: str, raw: str, called_arguments) -> str:
    """One sentence that reports what function ``name`` returned (``raw``), called with ``called_arguments``."""
    try:
        data = json.loads(raw) if raw else {}
    except ValueError:
        data = raw
    question = ctx.user_turns[-1] if ctx.user_turns else ""
    zh = is_chinese(question) if question else ctx.zh
    place = None
    if isinstance(called_arguments, str):
        try:
            called = json.loads(called_arguments or "{}")
            if isinstance(called, dict):
                place = called.get("location") or called.get("city")
        except ValueError:
            pass
    place = place or _place(question)
    error = _error_of(data)
    if error is not None:
        return _failure_sentence(name, error, zh)
    if isinstance(data, dict) and ("temperature" in data or "weather" in name.lower()):
        temp = data.get("temperature", "")
        unit = data.get("unit", "摄氏度" if zh else "°C")
        desc = data.get("description", "")
        if zh:
            return f"{place or ''}今天天气：气温{temp}{unit}，{desc}。".replace("，。", "。")
        return f"Today in {place or 'that place'}: {temp} {unit}, {desc}.".replace(", .", ".")
    if isinstance(data, dict) and data:
        if zh:
            return f"根据{name}返回的结果：" + "，".join(f"{k}为{v}" for k, v in data.items()) + "。"
        return f"According to {name}: " + ", ".join(f"{k} is {v}" for k, v in data.items()) + "."
    text = _brief(str(data)) if data not in (None, "", {}) else ("（没有返回内容）" if zh else "(no content)")
    return (f"{name}的结果是：{text}" if zh else f"{name} returned: {text}")


def _error_of(data) -> str | None:
    """Why a call failed, when its result is the ``{"error": "..."}`` the client sends for a failed, declined
    or ill-argued call."""
    if isinstance(data, dict) and set(data) == {"error"} and isinstance(data["error"], str) and data["error"].strip():
        return data["error"].strip()
    return None


def _failure_sentence(name: str, reason: str, zh: bool) -> str:
    reason = _brief(reason, 160)
    name = name or ("该函数" if zh else "that function")
    if zh:
        return f"我无法使用{name}：{reason.rstrip('。.')}。"
    return f"I could not use {name}: {reason}" + ("" if reason.endswith((".", "!", "?", "…")) else ".")


_CUT_MARKER = re.compile(r"\s*…\s*\[cut:[^\]]*\]")


def _brief(text: str, limit: int = 80) -> str:
    """A long or cut result quoted by its start: the answer reports it, it does not repeat it."""
    cut = _CUT_MARKER.search(text)
    if cut is None and len(text) <= limit:
        return text
    head = " ".join((text[:cut.start()] if cut else text).split())
    return head[:limit].rstrip() + "…"


# ---------------------------------------------------------------- memory

def _remembered_name(turns: list[str]) -> str | None:
    for t in reversed(turns):
        m = re.search(r"我叫([\u4e00-\u9fffA-Za-z]{1,12}?)(?:[，,。.!！\s]|$)", t)
        if m and m.group(1) not in ("什么", "什么名字"):
            return m.group(1)
        m = re.search(r"我的名字是([\u4e00-\u9fffA-Za-z]{1,12}?)(?:[，,。.!！\s]|$)", t)
        if m and not m.group(1).startswith("什么"):
            return m.group(1)
        m = re.search(r"\bmy name is ([A-Za-z][\w\-]*)", t, re.I)
        if m and m.group(1).lower() not in ("what",):
            return m.group(1)
        m = re.search(r"\b(?:i am|i'm) ([A-Z][\w\-]*)", t)
        if m:
            return m.group(1)
    return None


def _asks_my_name(q: str) -> bool:
    low = q.lower()
    return any(k in q for k in ("我叫什么", "我的名字是什么", "我的名字叫什么", "记得我是谁", "我是谁")) or \
        any(k in low for k in ("what is my name", "what's my name", "whats my name", "do you remember my name",
                               "who am i"))


def _asks_your_name(q: str) -> bool:
    low = q.lower()
    return any(k in q for k in ("你的名字", "你叫什么", "你是谁")) or \
        any(k in low for k in ("your name", "who are you"))


# ------------------------------------------------------------- search

def _search_info(ctx: _Ctx, topic: str) -> dict:
    slug = re.sub(r"[^a-z0-9]+", "-", topic.lower()).strip("-") or f"q{_h(topic) % 100000}"
    if ctx.zh:
        titles = [f"{topic} - 百科", f"{topic}：你需要知道的几件事", f"关于{topic}的常见问题"]
    else:
        titles = [f"{topic} - Encyclopedia", f"{topic}: what you need to know", f"FAQ about {topic}"]
    sites = ["baike", "news", "faq"]
    return {"search_results": [{"index": i + 1, "url": f"https://www.example.com/{sites[i]}/{slug}", "title": titles[i]}
                               for i in range(3)]}


_SENT_END = re.compile(r"(?<=[^\d\s*#])[。！？!?]|(?<=[A-Za-z\)\u4e00-\u9fff])\.(?=\s|$)")


def _add_citations(text: str) -> str:
    """Put ``^[1]^`` and ``^[2]^`` before the ends of the first two sentences."""
    ends = [m.start() for m in _SENT_END.finditer(text)][:2]
    for n, pos in reversed(list(enumerate(ends, 1))):
        text = text[:pos] + f"^[{n}]^" + text[pos:]
    return text


# ------------------------------------------------------------ completion

def _continue_text(ctx: _Ctx) -> str:
    prompt = ctx.question
    low = prompt.lower().strip()
    zh = is_chinese(prompt)
    if low.endswith("beijing") or _match_topic(prompt) == "beijing":
        return (" is the capital of China and one of the oldest cities in the world. It sits on the northern edge of "
                "the North China Plain, with mountains to the west and north. For more than eight centuries it has been "
                "a seat of government, and its central axis still runs through the Forbidden City, Tiananmen Square and "
                "the Temple of Heaven. Today Beijing is also a centre of science, education and culture, home to leading "
                "universities, busy technology districts and a lively food scene.")
    if zh:
        topic = topic_of(prompt)
        return (f"。接下来谈谈{topic}：它的来龙去脉并不复杂，但细节很多。首先要看它从哪里来，其次要看它今天的样子，"
                f"最后再想一想它会往哪里去。把这三点想清楚，对{topic}的理解就会深入不少。")
    if _is_greeting(prompt):
        return "! It's nice to meet you. Is there anything you would like to talk about today?"
    topic = topic_of(prompt)
    return (f" - and that is where the story of {topic} begins. Looking at where it came from, what it looks like "
            f"today and where it might go next gives a fuller picture of {topic}. Each of these parts has its own "
            "details, and together they explain why the subject matters.")


# ------------------------------------------------------------------ main

def compose(spec, endpoint: str, body: dict, *, answer_chars: int | None = None) -> Answer:
    """The answer for ``body`` sent to ``endpoint`` (``spec`` is the registry model or None)."""
    kind = getattr(spec, "kind", None) or (COMPLETION if "prompt" in body else "chat")
    ctx = _Ctx(_model_name(spec, endpoint), kind, body, answer_chars)
    refusal = _safety_refusal(ctx)
    if refusal is not None:
        return refusal
    last_role = ctx.messages[-1].get("role") if ctx.messages else "user"
    call = _function_call(ctx, last_role) if kind != COMPLETION else None
    if call is not None:
        return call
    text, topic = _text_and_topic(ctx, last_role)
    results = last_role == "function"
    return _shaped(ctx, text, topic, body, search=kind != COMPLETION and not results, results=results)


def _shaped(ctx: _Ctx, text: str, topic: str, body: dict, *, search: bool, results: bool = False) -> Answer:
    """The answer around ``text``: the length asked for, deduplicated, as JSON if asked, with search results
    and citations, then cut by ``stop`` and ``max_output_tokens``. An answer from ``results`` is not
    lengthened by words in them: a result saying "detailed" is data, not a request."""
    target = ctx.answer_chars or (None if results or ctx.context else wanted_length(ctx.question))
    if target:
        text = _fit_length(ctx, text, topic, target)
    if ctx.penalty >= 1.5 and not ctx.context:  # a code block keeps its repeated lines
        text = _dedupe(text)
    answer = Answer(text=text)
    as_json = body.get("response_format") == "json_object"
    if as_json:
        answer.text = json.dumps({"model": ctx.model, "topic": topic, "answer": text}, ensure_ascii=False, indent=2)
    if search and _wants_search(body):
        answer.search_info = _search_info(ctx, topic)
        if body.get("enable_citation") and not as_json:
            answer.text = _add_citations(answer.text)
    _apply_limits(answer, body)
    return answer


# ------------------------------------------------------------------- v2

def compose_v2(model: str, body: dict, *, reasoning: bool = False, answer_chars: int | None = None) -> Answer:
    """The answer to a v2 (OpenAI-style) request for ``model``: the v1 composer's, plus several tool calls
    in one round, answers that use every tool result, and ``reasoning`` text when the model thinks aloud."""
    view = _v1_view(body)
    ctx = _Ctx(model, "chat", view, answer_chars)
    answer = _safety_refusal(ctx)
    if answer is not None:
        answer.flag = 2
        return answer
    last_role = ctx.messages[-1].get("role") if ctx.messages else "user"
    topic = topic_of(ctx.user_turns[-1] if ctx.user_turns else ctx.question)
    calls = _tool_calls(ctx, body) if last_role == "user" else _next_tool_calls(ctx, body) if last_role == "tool" else []
    if calls:
        answer = Answer(text="", finish_reason="tool_calls", tool_calls=calls)
    elif last_role == "tool":
        answer = _shaped(ctx, _tool_results_answer(ctx), topic, view, search=False, results=True)
    else:
        text, topic = _text_and_topic(ctx, last_role)
        answer = _shaped(ctx, text, topic, view, search=True)
    if reasoning:
        answer.reasoning = _reasoning(ctx, topic, calls)
    return answer


def _v1_view(body: dict) -> dict:
    """A v2 body as the v1 composer reads it: the system message as ``system``, v1 parameter names."""
    messages = [m for m in body.get("messages") or () if isinstance(m, dict)]
    view = {k: body[k] for k in ("temperature", "top_p", "penalty_score", "stop") if k in body}
    if messages and messages[0].get("role") == "system":
        view["system"] = _content(messages[0])
        messages = messages[1:]
    view["messages"] = messages
    if "max_completion_tokens" in body:
        view["max_output_tokens"] = body["max_completion_tokens"]
    fmt = body.get("response_format")
    if isinstance(fmt, dict) and fmt.get("type") == "json_object":
        view["response_format"] = "json_object"
    search = body.get("web_search")
    if isinstance(search, dict) and search.get("enable") is True:
        view["enable_trace"] = True
        view["enable_citation"] = search.get("enable_citation") is not False
    return view


_CITIES_EN = ("Beijing", "Shanghai", "Guangzhou", "Shenzhen", "Hangzhou", "Chengdu", "Chongqing", "Tianjin", "Nanjing",
              "Wuhan", "Xi'an", "Suzhou", "London", "Paris", "Tokyo", "New York")


def _places(question: str) -> list[str]:
    """Every city the question names, in order."""
    found = [(question.find(c), c + "市") for c in _CITIES_ZH if c in question]
    found += [(question.find(c), c) for c in _CITIES_EN if c in question]
    return [name for _, name in sorted(found)]


def _has_place_field(fn: dict) -> bool:
    params = fn.get("parameters") if isinstance(fn.get("parameters"), dict) else {}
    props = params.get("properties") if isinstance(params.get("properties"), dict) else {}
    return any(any(k in name.lower() for k in ("location", "city", "place", "地点", "城市")) for name in props)


def _tool_functions(body: dict) -> list[dict]:
    tools = body.get("tools") if isinstance(body.get("tools"), list) else []
    return [t["function"] for t in tools if isinstance(t, dict) and isinstance(t.get("function"), dict)]


def _tool_calls(ctx: _Ctx, body: dict) -> list[dict]:
    """The calls the question asks for: the tool ``tool_choice`` names, else every tool the question matches
    (one call per city named when a tool takes a location); one call only if ``parallel_tool_calls`` is false."""
    functions = _tool_functions(body)
    if not functions or body.get("tool_choice") == "none":
        return []
    calls = _planned_tool_calls(body, ctx.question, functions)
    return calls[:1] if body.get("parallel_tool_calls") is False else calls


def _next_tool_calls(ctx: _Ctx, body: dict) -> list[dict]:
    """After results: the planned calls the turn has not made yet (those left when ``parallel_tool_calls`` is
    false); none when ``tool_choice`` named a tool, which is called in the first round only."""
    functions = _tool_functions(body)
    choice = body.get("tool_choice")
    if not functions or choice == "none" or _names_a_tool(choice):
        return []
    # the round's salt keeps a later round's ids apart from the first round's
    planned = _planned_tool_calls(body, _latest_question(ctx), functions, salt=len(ctx.messages))
    made = _calls_made(_since_question(ctx.messages))
    pending = [planned[i] for i in _not_yet_made([(c["function"]["name"], c["function"]["arguments"])
                                                  for c in planned], made)]
    return pending[:1] if body.get("parallel_tool_calls") is False else pending


def _planned_tool_calls(body: dict, question: str, functions: list[dict], salt: int | None = None) -> list[dict]:
    """Every call the question asks for, whatever the turn has done already."""
    choice = body.get("tool_choice")
    named = (choice.get("function") or {}).get("name") if isinstance(choice, dict) else None
    if named:
        chosen = [fn for fn in functions if fn.get("name") == named][:1]
    else:
        low = question.lower()
        scores = [_score(fn, low) for fn in functions]
        best = max(scores)
        chosen = [fn for fn, score in zip(functions, scores, strict=True) if best and score * 2 >= best]
        if not chosen and choice == "required":
            chosen = functions[:1]
    calls = []
    for fn in chosen:
        places = _places(question) if _has_place_field(fn) else []
        for place in places if len(places) >= 2 else [None]:
            name = fn.get("name", "")
            arguments = json.dumps(_fill_arguments(fn, question, place, optional_places=True), ensure_ascii=False)
            key = (question, name, place, len(calls)) + (() if salt is None else (salt,))
            calls.append({"id": f"call_{_h(*key):08x}", "type": "function",
                          "function": {"name": name, "arguments": arguments}})
    return calls


def _tool_results_answer(ctx: _Ctx) -> str:
    """One sentence per ``tool`` message since the question, in order, each using the call it answers."""
    turn = _since_question(ctx.messages)
    calls = {}
    for message in turn:
        for call in message.get("tool_calls") if isinstance(message.get("tool_calls"), list) else ():
            if isinstance(call, dict) and isinstance(call.get("function"), dict):
                calls[call.get("id")] = call["function"]
    sentences = []
    for message in turn:
        if message.get("role") != "tool":
            continue
        call = calls.get(message.get("tool_call_id"), {})
        name = call.get("name") or message.get("name") or ""
        sentences.append(_result_sentence(ctx, name, _content(message), call.get("arguments")))
    return _joined(ctx, sentences)


def _reasoning(ctx: _Ctx, topic: str, calls: list) -> str:
    """The thinking a reasoning model streams before its answer, in its own voice."""
    if ctx.zh:
        opener = ctx.model_pick(["嗯，用户问的是“{t}”。", "好的，用户想了解“{t}”。", "我来想一想“{t}”这个问题。"], "think")
        if calls:
            names = "、".join(c["function"]["name"] for c in calls)
            plan = f"这个问题需要实时的数据，我手里没有，应该调用{names}来获取，再根据返回的结果回答。"
        else:
            plan = "先弄清楚用户真正关心的是什么，再把要点按重要程度排一排，最后用清楚的结构写出来。"
        return opener.format(t=topic) + plan + f"作为{ctx.model}，回答要准确、简洁，不确定的地方要说明。"
    opener = ctx.model_pick(["Okay, the user is asking about \"{t}\". ", "Alright, they want to know about \"{t}\". ",
                             "Let me think about \"{t}\". "], "think")
    if calls:
        names = ", ".join(c["function"]["name"] for c in calls)
        plan = f"This needs live data I don't have, so I should call {names} and answer from the results. "
    else:
        plan = "First work out what they really care about, then order the main points, then write it up clearly. "
    return opener.format(t=topic) + plan + f"As {ctx.model}, I should be accurate and concise and say where I'm unsure."


def _model_name(spec, endpoint: str) -> str:
    """The name answers are styled after: the model's, or a deployment's endpoint."""
    name = getattr(spec, "name", None) or endpoint
    return endpoint if name.startswith("custom ") else name


def _safety_refusal(ctx: _Ctx) -> Answer | None:
    """The refusal when any user turn has a trigger word; ``ban_round`` names the turn unless it is the last."""
    turns = [ctx.question] if ctx.kind == COMPLETION else ctx.user_turns
    for index, turn in enumerate(turns, 1):
        if any(t in turn for t in SAFETY_TRIGGERS):
            last = index == len(turns) and (ctx.kind == COMPLETION or ctx.messages[-1].get("role") == "user")
            zh = is_chinese(turn) or ctx.zh
            text = ("抱歉，这个话题我无法回答。我们换个话题聊聊吧。" if zh
                    else "Sorry, I can't help with that. Let's talk about something else.")
            return Answer(text=text, finish_reason="content_filter", need_clear_history=True,
                          ban_round=-1 if last else index, flag=1)
    return None


def _function_call(ctx: _Ctx, last_role: str) -> Answer | None:
    """The v1 call to ask for: after the question, the function ``tool_choice`` names or the best match;
    after a result, the next function the question matches (see ``_next_function``)."""
    functions = ctx.body.get("functions") if isinstance(ctx.body.get("functions"), list) else None
    if not functions or ctx.body.get("tool_choice") == "none":
        return None
    if last_role != "function":
        fn = _choose_function(ctx.question, functions, ctx.body.get("tool_choice"))
        return _function_call_answer(ctx, fn, ctx.question, ctx.zh) if fn is not None else None
    question = _latest_question(ctx)
    fn = _next_function(ctx, functions, question)
    return _function_call_answer(ctx, fn, question, _question_zh(ctx)) if fn is not None else None


def _next_function(ctx: _Ctx, functions: list, question: str) -> dict | None:
    """A function the question matches that the turn has not called yet; none when ``tool_choice`` named
    one, which is called in the first round only."""
    if _names_a_tool(ctx.body.get("tool_choice")):
        return None
    matched = _matched_functions(question, functions)
    planned = [(fn.get("name", ""), json.dumps(_fill_arguments(fn, question), ensure_ascii=False)) for fn in matched]
    pending = _not_yet_made(planned, _calls_made(_since_question(ctx.messages)))
    return matched[pending[0]] if pending else None


def _text_and_topic(ctx: _Ctx, last_role: str) -> tuple[str, str]:
    """The answer's text, and the topic that lengthening and search results are about."""
    q = ctx.question
    if ctx.kind == COMPLETION:
        return _continue_text(ctx), topic_of(q)
    if last_role == "function":
        return _function_results_answer(ctx), topic_of(q)
    text = _chat_text(ctx, q)
    if _is_follow_up(q) and len(ctx.user_turns) >= 2:
        return text, topic_of(ctx.user_turns[-2])
    return text, topic_of(q)


def _wants_search(body: dict) -> bool:
    return body.get("disable_search") is not True and bool(body.get("enable_citation") or body.get("enable_trace"))


def _chat_text(ctx: _Ctx, q: str) -> str:
    context = _context_answer(ctx, q)
    if context is not None:
        ctx.context = True
        return context
    if _asks_my_name(q):
        name = _remembered_name(ctx.user_turns[:-1])
        if name:
            return (f"你叫{name}。你在之前的对话里告诉过我。" if ctx.zh else
                    f"Your name is {name}; you told me earlier in our conversation.")
        return ("你还没有告诉我你的名字呢。" if ctx.zh else "You haven't told me your name yet.")
    if _is_follow_up(q) and len(ctx.user_turns) >= 2:
        prev = ctx.user_turns[-2]
        ptopic = topic_of(prev)
        prev_ctx = _Ctx(ctx.model, ctx.kind, dict(ctx.body, messages=[{"role": "user", "content": prev}]),
                        ctx.answer_chars)
        prev_ctx.zh = ctx.zh
        key = _match_topic(prev)
        base = _topic_answer(prev_ctx, key) if key else _generic(prev_ctx, ptopic)
        if prev_ctx.zh:
            head = f"好的，接着上面关于“{ptopic}”的话题，再补充一些细节。\n\n"
            extra = "".join(_filler(prev_ctx, ptopic, k) for k in range(4, 8))
        else:
            head = f"Sure, continuing with \"{ptopic}\", here is more detail.\n\n"
            extra = "".join(_filler(prev_ctx, ptopic, k) for k in range(4, 8))
        return head + base + "\n\n" + extra
    if _is_greeting(q):
        text = _greeting(ctx)
    elif asks_for_code(q) and not _match_topic(q):
        return _code_answer(ctx, q)
    elif _asks_your_name(q):
        text = _self_intro(ctx)
    else:
        key = _match_topic(q)
        text = _topic_answer(ctx, key) if key else _generic(ctx, topic_of(q))
        if ctx.persona:
            text = (f"我是{ctx.persona}。\n\n" if ctx.zh else f"I'm {ctx.persona}.\n\n") + text
        elif ctx.system and ctx.style != "terse":
            text = ("（按照你的设定回答）\n\n" if ctx.zh else "(Following your instructions)\n\n") + text
    sig = _signature(ctx)
    if sig and not _is_greeting(q):
        text = f"{text}\n{sig}"
    return text


# -- code answers: a fenced block, so `-f code` and classroom demos have something to run --------
_CODE_WORDS = re.compile(r"\b(code|function|python|javascript|js|sql|script|program|snippet|class)\b|代码|函数|程序|脚本|编程|实现",
                         re.I)
_CODE_SNIPPETS = [
    (re.compile(r"\badd|\bsum|相加|求和|加法", re.I), "python",
     'def add(a, b):\n    """Return the sum of a and b."""\n    return a + b\n\n\nprint(add(2, 3))  # 5'),
    (re.compile(r"fibonacci|斐波那契", re.I), "python",
     'def fibonacci(n):\n    """The first n Fibonacci numbers."""\n    numbers = [0, 1]\n'
     '    while len(numbers) < n:\n        numbers.append(numbers[-1] + numbers[-2])\n    return numbers[:n]\n\n\n'
     'print(fibonacci(10))'),
    (re.compile(r"\bsort|排序", re.I), "python",
     'def sort_numbers(values):\n    """Return the values in ascending order."""\n    return sorted(values)\n\n\n'
     'print(sort_numbers([3, 1, 2]))  # [1, 2, 3]'),
    (re.compile(r"\bsql\b|查询|表", re.I), "sql",
     "SELECT city, COUNT(*) AS visits\nFROM trips\nGROUP BY city\nORDER BY visits DESC\nLIMIT 10;"),
    (re.compile(r"javascript|\bjs\b", re.I), "javascript",
     "function greet(name) {\n  return `Hello, ${name}!`;\n}\n\nconsole.log(greet('Beijing'));"),
]


def asks_for_code(question: str) -> bool:
    return bool(_CODE_WORDS.search(question))


def _snippet(q: str) -> tuple[str, str]:
    """(language, code): the canned snippet the question asks for, else a function named after its topic."""
    for pattern, language, code in _CODE_SNIPPETS:
        if pattern.search(q):
            return language, code
    name = re.sub(r"\W+", "_", topic_of(q).lower()).strip("_")[:30] or "solve"
    if not name.isidentifier() or not name.isascii():
        name = "solve"
    return "python", (f'def {name}(data):\n    """{topic_of(q)}"""\n    result = []\n'
                      "    for item in data:\n        result.append(item)\n    return result")


def _code_answer(ctx: "_Ctx", q: str) -> str:
    language, code = _snippet(q)
    if ctx.zh:
        intro = ctx.pick(["下面是一个简单的实现：", "可以这样写：", "参考代码如下："], "code")
        outro = "运行后即可看到结果，可以按需要修改。"
    else:
        intro = ctx.pick(["Here is a simple implementation:", "You can write it like this:", "Here's the code:"], "code")
        outro = "Run it to see the result, and adapt it as you need."
    if ctx.style == "terse":
        return f"```{language}\n{code}\n```"
    return f"{intro}\n\n```{language}\n{code}\n```\n\n{outro}"


def _apply_limits(answer: Answer, body: dict) -> None:
    stop = body.get("stop")
    if isinstance(stop, list):
        hits = [answer.text.find(s) for s in stop if isinstance(s, str) and s and s in answer.text]
        if hits:
            answer.text = answer.text[:min(hits)]
            answer.finish_reason = "stop"
    limit = body.get("max_output_tokens")
    if isinstance(limit, int) and not isinstance(limit, bool) and estimate_tokens(answer.text) > limit:
        lo, hi = 0, len(answer.text)
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if estimate_tokens(answer.text[:mid]) <= limit:
                lo = mid
            else:
                hi = mid - 1
        answer.text = answer.text[:lo]
        answer.finish_reason = "length"
        answer.is_truncated = True


_SENTENCE_END = re.compile(r"[。！？!?\n]+|(?<!\d)\.+(?=\s|$)")


def _sentences(text: str) -> list[str]:
    out, start = [], 0
    for m in _SENTENCE_END.finditer(text):
        out.append(text[start:m.end()])
        start = m.end()
    if start < len(text):
        out.append(text[start:])
    return [s for s in out if s]


def chunk(text: str, *, low: int = 20, high: int = 60, target: int = 50) -> list[str]:
    """Sentence-sized stream deltas, about 20-60 characters each; ``"".join(chunk(t)) == t``."""
    if not text:
        return []
    sentences = _sentences(text)
    pieces: list[str] = []
    for s in sentences:  # split sentences that are too long
        while len(s) > high:
            cut = target
            space = s.rfind(" ", low, target + 1)
            if space > low:
                cut = space + 1
            pieces.append(s[:cut])
            s = s[cut:]
        if s:
            pieces.append(s)
    chunks: list[str] = []
    cur = ""
    for p in pieces:
        if cur and (len(cur) >= low and len(cur) + len(p) > high or len(cur) >= target):
            chunks.append(cur)
            cur = p
        else:
            cur += p
    if cur:
        if chunks and len(cur) < low // 2 and len(chunks[-1]) + len(cur) <= high + low:
            chunks[-1] += cur
        else:
            chunks.append(cur)
    assert "".join(chunks) == text
    return chunks


# -- notebook context: a table summary or a Python error in the prompt ------------------------------------
# The app puts a DataFrame / Series / ndarray summary, or a failed cell with its error, into the prompt; the
# answer refers to it (row count, columns; the exception and a corrected cell), so offline demos make sense.

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_FENCE = re.compile(r"^[ \t]*```[ \t]*([\w+-]*)[^\n]*\n(.*?)^[ \t]*```[ \t]*$", re.M | re.S)
_NAME = r"(?:\s*['\"`“]([^'\"`”\n]{1,60})['\"`”])?"
_FRAME_HEAD = re.compile(r"(?<![A-Za-z0-9_])DataFrame" + _NAME + r"\s*[:：]\s*(\d[\d,_]*)\s*rows?\s*[×xX*]\s*(\d[\d,_]*)\s*col(?:umn)?s?")
_SERIES_HEAD = re.compile(r"(?<![A-Za-z0-9_])Series" + _NAME + r"\s*[:：]\s*(\d[\d,_]*)\s*values?\s*[,，]?\s*dtype\s*[:=]?\s*([\w\[\]]+)")
_ARRAY_HEAD = re.compile(r"(?<![A-Za-z0-9_])(?:np\.)?ndarray" + _NAME + r"\s*[:：]?\s*shape\s*[:=]?\s*\(([\d,\s]*)\)\s*[,，]?\s*"
                         r"dtype\s*[:=]?\s*(\w+)")
_DTYPES = re.compile(r"^\s*dtypes?\s*[:：]\s*(.+)$", re.I | re.M)
_NUMERIC_DTYPE = re.compile(r"^(?:u?int|Int|UInt|float|Float|complex|number|decimal)", re.I)
_TIME_WORDS = ("year", "month", "date", "day", "time", "week", "年", "月", "日期", "时间")
_ID_WORDS = ("id", "index", "idx", "code", "no", "编号", "序号")


@dataclass
class _Table:
    kind: str  # "DataFrame", "Series" or "ndarray"
    rows: str  # as the prompt gives it: "1,000"
    ncols: str = ""
    columns: list = field(default_factory=list)  # [(name, dtype or "")]
    name: str = ""
    shape: str = ""
    dtype: str = ""
    values: list = field(default_factory=list)  # a Series' (label, number) pairs, when the prompt shows them all


def _table_of(text: str) -> _Table | None:
    """The table summary the prompt holds, if any (the first DataFrame, else Series, else ndarray)."""
    text = _ANSI.sub("", text or "")
    m = _FRAME_HEAD.search(text)
    if m:
        rest = text[m.end():]
        table = _Table("DataFrame", m.group(2).strip(), m.group(3).strip(), name=(m.group(1) or "").strip())
        d = _DTYPES.search(rest[:4000])
        if d:
            for part in re.finditer(r"\s*([^,:：]+?)\s*[:：]\s*([A-Za-z][\w]*(?:\[[^\]]*\])?)\s*(?:,|$)", d.group(1)):
                table.columns.append((part.group(1).strip().strip("'\"`"), part.group(2)))
        if not table.columns:
            table.columns = _markdown_columns(rest[:4000])
            same = re.match(r"all\s+(\w+)", d.group(1).strip()) if d else None
            if same:  # "dtypes: all float64"
                table.columns = [(name, same.group(1)) for name, _ in table.columns]
        return table
    m = _SERIES_HEAD.search(text)
    if m:
        name = (m.group(1) or "").strip()
        dtype = m.group(3)
        return _Table("Series", m.group(2).strip(), columns=[(name, dtype)] if name else [], name=name, dtype=dtype,
                      values=_series_values(text[m.end():m.end() + 4000]))
    m = _ARRAY_HEAD.search(text)
    if m:
        dims = [d.strip() for d in m.group(2).split(",") if d.strip()]
        if dims:
            return _Table("ndarray", dims[0], dims[1] if len(dims) > 1 else "", shape=", ".join(dims),
                          dtype=m.group(3), name=(m.group(1) or "").strip())
    return None


def _series_values(text: str) -> list:
    """(label, number) of every row of the Markdown table after a Series' header; [] when rows are left out."""
    lines = text.lstrip("\n").splitlines()
    if len(lines) < 3 or not re.fullmatch(r"\|?[\s|:-]+\|?", lines[1].strip()):
        return []
    pairs = []
    for line in lines[2:]:
        row = line.strip()
        # the words after a row's last pipe are the question's, not the row's
        cells = [c.strip() for c in row[1:row.rindex("|")].split("|")] if row.startswith("|") and row.count("|") > 1 else []
        if len(cells) != 2:
            break
        try:
            pairs.append((cells[0], float(cells[1])))
        except ValueError:
            return []
    return pairs


def _markdown_columns(text: str) -> list:
    """Columns from a markdown table's header (the index column left out), dtypes guessed from its first row."""
    lines = [line.strip() for line in text.splitlines()]
    for i in range(len(lines) - 1):
        if lines[i].startswith("|") and re.fullmatch(r"\|?\s*:?-{2,}:?\s*(\|\s*:?-{2,}:?\s*)*\|?", lines[i + 1]):
            header = [c.strip() for c in lines[i].strip("|").split("|")]
            first = [c.strip() for c in lines[i + 2].strip("|").split("|")] if i + 2 < len(lines) else []
            cols = []
            for j, name in enumerate(header):
                if not name:
                    continue
                value = first[j] if j < len(first) else ""
                cols.append((name, "float64" if re.fullmatch(r"-?[\d.]+(?:e[+-]?\d+)?", value) else "object"))
            return cols
    return []


def _is_numeric(dtype: str) -> bool:
    return bool(_NUMERIC_DTYPE.match(dtype or ""))


def _numeric_column(columns: list) -> str | None:
    """The column a suggestion is about: a float one first, then an int one that is not an id or a year."""
    floats = [n for n, d in columns if _is_numeric(d) and d.lower().startswith(("float", "decimal"))]
    ints = [n for n, d in columns if _is_numeric(d) and n not in floats]
    plain = [n for n in ints if not any(w == n.lower() or n.lower().endswith("_" + w) for w in _ID_WORDS + _TIME_WORDS)]
    for group in (floats, plain, ints):
        if group:
            return group[0]
    return None


def _group_column(columns: list) -> str | None:
    for n, d in columns:
        if not _is_numeric(d) and not d.lower().startswith(("datetime", "timedelta", "period")):
            return n
    return None


def _time_column(columns: list) -> str | None:
    for n, d in columns:
        if d.lower().startswith("datetime") or any(w in n.lower() for w in _TIME_WORDS):
            return n
    return None


def _py(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _user_words(q: str) -> str:
    """The prompt without the table or the error in it: the user's own words."""
    text = _FENCE.sub("\n", _ANSI.sub("", q))
    for pattern in (_FRAME_HEAD, _SERIES_HEAD, _ARRAY_HEAD, _DTYPES, _EXC_LINE):
        text = pattern.sub(" ", text)
    text = re.sub(r"^[ \t]*\|.*\|", "", text, flags=re.M)  # table rows: words after the last pipe stay
    text = re.sub(r"^[ \t]*\[.*\]", "", text, flags=re.M)  # an array's rows
    text = re.sub(r"^[ \t]+\S.*$", "", text, flags=re.M)  # traceback frames and the code they quote
    return re.sub(r"Traceback \([^)\n]*\):?", "", text)


def _instructions(ctx: _Ctx, q: str) -> bool:
    """Whether to answer in Chinese: the question around the table or the cell, not the data in it."""
    zh = is_chinese(_user_words(q))
    sys_low = ctx.system.lower()
    if ctx.system and ("english" in sys_low or "英文" in ctx.system or "英语" in ctx.system):
        return False
    if ctx.system and ("中文" in ctx.system or "chinese" in sys_low) and not zh:
        return True
    return zh


_ASKS_ANALYSIS = re.compile(r"analy[sz]|how (?:should|can|do|would) i|explore|insight|trend|compare|statistic|"
                            r"summari[sz]|plot|chart|visuali|分析|统计|怎么|如何|趋势|比较|洞察|可视化|画|图|建议", re.I)
_ASKS_WHAT = re.compile(r"what(?:'s| is| are| kind| does)|describe|explain|meaning|how (?:big|large|many)|\bsize\b|\bshape\b|"
                        r"什么|介绍|描述|解释|含义|是啥|哪些|多大|多少|规模|大小", re.I)


def _table_answer(ctx: _Ctx, q: str, table: _Table) -> str:
    zh = _instructions(ctx, q)
    around = _user_words(q)
    analysis = bool(_ASKS_ANALYSIS.search(around)) or not _ASKS_WHAT.search(around)
    if table.kind == "ndarray":
        return _array_answer(ctx, table, zh, analysis)
    if table.kind == "Series":
        return _series_answer(ctx, q, table, zh, analysis)
    cols = table.columns
    num, group, when = _numeric_column(cols), _group_column(cols), _time_column(cols)
    var = table.name if table.name.isidentifier() else "df"
    names = [n for n, _ in cols]
    shown = ("、" if zh else ", ").join(f"`{n}`" for n in names[:8]) + ("等" if zh and len(names) > 8 else
                                                                         ", …" if len(names) > 8 else "")
    if zh:
        head = f"这份 DataFrame 共 {table.rows} 行 × {table.ncols} 列" + (f"，列为 {shown}。" if names else "。")
    else:
        head = (f"This DataFrame has {_plural(table.rows, 'row')} × {_plural(table.ncols, 'column')}"
                + (f": {shown}." if names else "."))
    if not analysis or not num:
        return head + "\n\n" + _describe_columns(cols, zh) if cols else head
    lines = []
    if zh:
        lines.append(f"# {num} 的整体分布")
    else:
        lines.append(f"# the overall distribution of {num}")
    lines.append(f"print({var}[{_py(num)}].describe())")
    if group:
        lines += ["", f"# 按 {group} 比较 {num} 的均值" if zh else f"# mean {num} per {group}",
                  f"print({var}.groupby({_py(group)})[{_py(num)}].mean().sort_values(ascending=False))"]
    if when and when != num and when != group:
        lines += ["", f"# {num} 随 {when} 的变化" if zh else f"# how {num} changes over {when}",
                  f"print({var}.groupby({_py(when)})[{_py(num)}].sum())"]
    if not group and not when:
        lines += ["", "# 数值列之间的相关性" if zh else "# correlations between the numeric columns",
                  f"print({var}.corr(numeric_only=True))"]
    code = "\n".join(lines)
    if zh:
        intro = ctx.pick([f"可以先看 `{num}` 的分布，再按 `{group or when}` 分组比较：" if group or when else
                          f"可以先看 `{num}` 的分布，再看各数值列之间的关系：", f"建议围绕数值列 `{num}` 做分析，例如："], "table")
        outro = f"把 `{var}` 换成你的变量名即可运行；{table.rows} 行的数据，这些汇总很快就能算完。"
    else:
        intro = ctx.pick([f"A good start is the distribution of `{num}`, then a comparison by `{group or when}`:"
                          if group or when else f"A good start is the distribution of `{num}`, then the correlations:",
                          f"I'd build the analysis around the numeric column `{num}`, for example:"], "table")
        outro = f"Replace `{var}` with your variable's name; with {table.rows} rows these aggregations run instantly."
    return f"{head}\n\n{intro}\n\n```python\n{code}\n```\n\n{outro}"


def _plural(count: str, word: str) -> str:
    return f"{count} {word}" + ("" if count == "1" else "s")


def _describe_columns(cols: list, zh: bool) -> str:
    out = []
    for name, dtype in cols[:12]:
        if zh:
            kind = "数值列" if _is_numeric(dtype) else "时间列" if dtype.startswith("datetime") else "类别/文本列"
            out.append(f"- `{name}`（{dtype or '未知类型'}）：{kind}")
        else:
            kind = "numeric" if _is_numeric(dtype) else "a date/time column" if dtype.startswith("datetime") \
                else "categorical / text"
            out.append(f"- `{name}` ({dtype or 'unknown dtype'}): {kind}")
    num, group = _numeric_column(cols), _group_column(cols)
    if num:
        out.append("")
        if zh:
            out.append(f"数值列如 `{num}` 适合做统计汇总" + (f"，类别列如 `{group}` 适合用来分组。" if group else "。"))
        else:
            out.append(f"Numeric columns such as `{num}` suit summary statistics"
                       + (f"; categorical ones such as `{group}` are good for grouping." if group else "."))
    return "\n".join(out)


def _series_answer(ctx: _Ctx, q: str, table: _Table, zh: bool, analysis: bool) -> str:
    name = table.name or "values"
    var = table.name if table.name.isidentifier() else "s"
    numeric = _is_numeric(table.dtype)
    if zh:
        head = "这是一个 Series" + (f" `{table.name}`" if table.name else "") + f"，共 {table.rows} 个值（{table.rows} 行），" \
               f"类型为 {table.dtype or '未知'}。"
    else:
        head = "This is a Series" + (f" `{table.name}`" if table.name else "") + f" with {table.rows} values " \
               f"({table.rows} rows), dtype {table.dtype or 'unknown'}."
    if not analysis:
        return head + ("\n\n" + ("它是数值数据，可以看均值、分位数和极值。" if zh and numeric else
                                  "它是类别或文本数据，可以统计各取值出现的次数。" if zh else
                                  "It is numeric: look at its mean, quantiles and extremes." if numeric else
                                  "It holds categories or text: count how often each value appears."))
    if numeric and re.search(r"sort|rank|order|排序|排个序|排名", _user_words(q), re.I):
        code = f"print({var}.sort_values(ascending=False))"
        if table.values and len(table.values) <= 20:
            ranked = sorted(table.values, key=lambda pair: -pair[1])
            shown = "\n".join(f"{i}. {label}{'：' if zh else ': '}{value:g}" for i, (label, value) in enumerate(ranked, 1))
            head += ("\n\n从高到低：\n\n" if zh else "\n\nFrom highest to lowest:\n\n") + shown
    elif numeric:
        code = (f"print({var}.describe())\nprint({var}.nlargest(5))  # "
                + (f"{name} 最大的 5 个值" if zh else f"the 5 largest {name}"))
    else:
        code = f"print({var}.value_counts().head(10))"
    intro = (f"可以这样分析 `{name}`：" if zh else f"You could analyse `{name}` like this:")
    return f"{head}\n\n{intro}\n\n```python\n{code}\n```"


def _array_answer(ctx: _Ctx, table: _Table, zh: bool, analysis: bool) -> str:
    cols = table.ncols
    var = table.name if table.name.isidentifier() else "arr"
    if zh:
        head = (f"这是一个 ndarray，形状为 ({table.shape})，即 {table.rows} 行" + (f" × {cols} 列" if cols else "")
                + (f"，类型为 {table.dtype}" if table.dtype else "") + f"。第 0 列可以用 `{var}[:, 0]` 取出。")
    else:
        head = (f"This is an ndarray of shape ({table.shape}): {table.rows} rows" + (f" × {cols} columns" if cols else "")
                + (f", dtype {table.dtype}" if table.dtype else "") + f". Column 0 is `{var}[:, 0]`.")
    if not analysis:
        return head
    if cols:
        code = ("import numpy as np\n\n" + ("# 每一列（column 0, 1, …）的均值和标准差\n" if zh else
                                            "# mean and standard deviation of each column (column 0, 1, …)\n")
                + f"print({var}.mean(axis=0))\nprint({var}.std(axis=0))\nprint(np.corrcoef({var}, rowvar=False))")
    else:
        code = f"import numpy as np\n\nprint({var}.mean(), {var}.std())\nprint(np.percentile({var}, [25, 50, 75]))"
    intro = f"把 `{var}` 换成你的数组变量名：" if zh else f"Replace `{var}` with your array's name:"
    return f"{head}\n\n{intro}\n\n```python\n{code}\n```"


_EXC_LINE = re.compile(r"(?<![A-Za-z0-9_.])((?:[A-Za-z_]\w*\.)*(?:[A-Z]\w*(?:Error|Exception|Warning|Exit|Interrupt)"
                       r"|StopIteration))(?:[ \t]*:[ \t]*(.*?))?[ \t]*$", re.M)
_FILE_FRAME = re.compile(r"^[ \t]*File \"([^\"]*)\", line (\d+)(?:, in (\S+))?[ \t]*\n(?:[ \t]*\n)?([^\n]*)", re.M)
_ARROW_FRAME = re.compile(r"^-+>[ \t]*(\d+)[ \t]?(.*)$", re.M)
_MODULE_PIP = {"sklearn": "scikit-learn", "cv2": "opencv-python", "PIL": "pillow", "yaml": "pyyaml",
               "bs4": "beautifulsoup4", "docx": "python-docx", "dateutil": "python-dateutil"}
_MODULE_ALIASES = {"pd": "import pandas as pd", "np": "import numpy as np", "plt": "import matplotlib.pyplot as plt",
                   "sns": "import seaborn as sns", "tf": "import tensorflow as tf"}
_STDLIB = ("os", "sys", "re", "json", "math", "random", "time", "datetime", "collections", "itertools", "functools",
           "pathlib", "statistics", "csv", "string")


@dataclass
class _Failure:
    exc: str  # "ZeroDivisionError" (a dotted name keeps only its last part)
    message: str
    source: str  # the cell, "" when the prompt has none
    line: int | None  # the failing line of the cell, 1-based


def _failure_of(text: str) -> _Failure | None:
    """The error the prompt holds: an exception line (outside code fences) with a message or a traceback."""
    text = _ANSI.sub("", text or "")
    fences = list(_FENCE.finditer(text))
    outside = _FENCE.sub("\n", text)
    hits = [m for m in _EXC_LINE.finditer(outside)]
    # an exception's own line is never indented (an indented one is code quoted in a traceback)
    hits = [m for m in hits if not outside[outside.rfind("\n", 0, m.start()) + 1:m.start()].startswith((" ", "\t"))]
    if not hits:
        return None
    has_trace = "Traceback" in outside or bool(_FILE_FRAME.search(outside))
    m = hits[-1]
    message = (m.group(2) or "").strip()
    if not message and not has_trace:
        return None
    source = ""
    for f in fences:
        if f.group(1).lower() in ("", "python", "py", "python3", "ipython", "ipython3"):
            source = f.group(2).rstrip("\n")
            break
    exc = m.group(1).rsplit(".", 1)[-1]
    if not source:  # no cell in the prompt: the traceback's failing line, when it stands on its own
        frames = [f.group(4).strip() for f in _FILE_FRAME.finditer(outside)]
        if frames and frames[-1] and _valid(frames[-1]):
            return _Failure(exc, message, frames[-1], 1)
    return _Failure(exc, message, source, _failing_line(outside, source))


def _failing_line(trace: str, source: str) -> int | None:
    """The line of the cell the traceback's last user frame points at."""
    frames = [(f.group(1), int(f.group(2)), f.group(4).strip()) for f in _FILE_FRAME.finditer(trace)]
    user = [f for f in frames if not re.search(r"site-packages|dist-packages|[/\\]lib[/\\]python\d|<frozen", f[0])]
    lines = source.splitlines()
    for _, number, code in reversed(user or frames):
        if code and lines:
            if 0 < number <= len(lines) and lines[number - 1].strip() == code:
                return number
            same = [i for i, line in enumerate(lines, 1) if line.strip() == code]
            if same:
                return same[0]
        if not lines and code:
            return number
    arrows = _ARROW_FRAME.findall(trace)
    if arrows and lines:
        number, code = int(arrows[-1][0]), arrows[-1][1].strip()
        if 0 < number <= len(lines):
            return number
        same = [i for i, line in enumerate(lines, 1) if line.strip() == code]
        if same:
            return same[0]
    return None


def _masked(source: str) -> str:
    """The cell with IPython magics and shell lines blanked, so ``ast`` reads it with its line numbers kept."""
    return "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in source.split("\n"))


def _valid(source: str) -> bool:
    try:
        compile(_masked(source), "<cell>", "exec")
    except (SyntaxError, ValueError):
        return False
    return True


class _Cell:
    """A cell's lines and syntax tree, and edits on them by ``ast`` positions."""

    def __init__(self, source: str):
        self.lines = source.split("\n")
        self.tree = ast.parse(_masked(source))

    def col(self, lineno: int, byte_col: int) -> int:
        return len(self.lines[lineno - 1].encode("utf-8")[:byte_col].decode("utf-8", "replace"))

    def segment(self, node) -> str:
        return ast.get_source_segment(_masked("\n".join(self.lines)), node) or ""

    def replace(self, node, text: str) -> str:
        """The cell with ``node`` (an expression) replaced by ``text``."""
        start, end = self.col(node.lineno, node.col_offset), self.col(node.end_lineno, node.end_col_offset)
        lines = list(self.lines)
        first, last = lines[node.lineno - 1], lines[node.end_lineno - 1]
        lines[node.lineno - 1:node.end_lineno] = [first[:start] + text + last[end:]]
        return "\n".join(lines)

    def statement(self, line: int | None):
        """The innermost statement holding ``line``; else the cell's last statement."""
        best = None
        for node in ast.walk(self.tree):
            if isinstance(node, ast.stmt) and line is not None and node.lineno <= line <= node.end_lineno:
                if best is None or node.lineno >= best.lineno and node.end_lineno <= best.end_lineno:
                    best = node
        if best is None and self.tree.body:
            best = self.tree.body[-1]
        if isinstance(best, (ast.If, ast.For, ast.While, ast.With, ast.Try)) and line is not None and line > best.lineno:
            return best  # a compound statement's body line that no inner statement claims: keep the whole
        return best

    def indent(self, stmt) -> str:
        line = self.lines[stmt.lineno - 1]
        return line[:len(line) - len(line.lstrip())]

    def insert_before(self, stmt, new_lines: list[str]) -> str:
        pad = self.indent(stmt)
        lines = list(self.lines)
        lines[stmt.lineno - 1:stmt.lineno - 1] = [pad + t for t in new_lines]
        return "\n".join(lines)

    def wrap(self, stmt, head: str, tail: list[str] | None = None) -> str:
        """``stmt`` indented under ``head`` (``if ...:``, ``try:``), with ``tail`` lines after at head level."""
        pad = self.indent(stmt)
        lines = list(self.lines)
        body = ["    " + t if t.strip() else t for t in lines[stmt.lineno - 1:stmt.end_lineno]]
        lines[stmt.lineno - 1:stmt.end_lineno] = [pad + head] + body + [pad + t for t in tail or []]
        return "\n".join(lines)


def _nodes(stmt, kind, line: int | None = None) -> list:
    """Nodes of ``kind`` in ``stmt`` (not in nested statements' bodies), on ``line`` first, in source order."""
    found = [n for n in ast.walk(stmt) if isinstance(n, kind)]
    if isinstance(stmt, (ast.If, ast.For, ast.While, ast.With, ast.FunctionDef)):
        body = {id(n) for s in getattr(stmt, "body", []) + getattr(stmt, "orelse", []) for n in ast.walk(s)}
        found = [n for n in found if id(n) not in body]
    found.sort(key=lambda n: (n.lineno, n.col_offset))
    on_line = [n for n in found if line is not None and n.lineno <= line <= n.end_lineno]
    return on_line or found


def _fix_cell(failure: _Failure) -> str:
    """The cell with the smallest change that avoids the error; valid Python, else the cell as it was."""
    source = failure.source
    if not source.strip():
        return ""
    try:
        cell = _Cell(source)
    except (SyntaxError, ValueError):
        return source
    if failure.exc in ("ImportError", "ModuleNotFoundError"):
        return source
    fixers = {"ZeroDivisionError": _fix_zero_division, "NameError": _fix_name, "KeyError": _fix_key,
              "IndexError": _fix_index, "TypeError": _fix_type, "AttributeError": _fix_attribute}
    fixer = fixers.get(failure.exc)
    if failure.line is None:  # no traceback: the first place in the cell that can raise this error
        failure = _Failure(failure.exc, failure.message, source, _locate(cell, failure))
    fixed = None
    if fixer is not None:
        try:
            fixed = fixer(cell, failure)
        except (ValueError, IndexError, AttributeError, TypeError, SyntaxError):
            fixed = None
    if fixed is None or fixed == source or not _valid(fixed):
        fixed = _fix_try(cell, failure)
    return fixed if fixed and _valid(fixed) else source


def _locate(cell: _Cell, failure: _Failure) -> int | None:
    """The line of the first expression that can raise ``failure`` (for a cell that came without a traceback)."""
    attr = re.search(r"has no attribute '(\w+)'", failure.message)
    wanted = {
        "ZeroDivisionError": lambda n: isinstance(n, ast.BinOp) and isinstance(n.op, (ast.Div, ast.FloorDiv, ast.Mod)),
        "KeyError": lambda n: isinstance(n, ast.Subscript) and isinstance(n.slice, ast.Constant)
        and repr(n.slice.value) == failure.message,
        "IndexError": lambda n: isinstance(n, ast.Subscript) and not isinstance(n.slice, ast.Slice),
        "TypeError": lambda n: isinstance(n, (ast.BinOp, ast.AugAssign)),
        "AttributeError": lambda n: isinstance(n, ast.Attribute) and attr is not None and n.attr == attr.group(1),
    }.get(failure.exc)
    if wanted is None:
        return None
    hits = sorted((n.lineno, n.col_offset) for n in ast.walk(cell.tree) if wanted(n))
    return hits[0][0] if hits else None


def _fix_try(cell: _Cell, failure: _Failure) -> str | None:
    stmt = cell.statement(failure.line)
    if stmt is None:
        return None
    name = failure.exc if isinstance(getattr(builtins, failure.exc, None), type) else "Exception"
    return cell.wrap(stmt, f"try:  # the line that raised {failure.exc}",
                     [f"except {name} as err:  # handle it instead of stopping the cell",
                      f"    print(f\"{failure.exc}: {{err}}\")"])


def _fix_zero_division(cell: _Cell, failure: _Failure) -> str | None:
    stmt = cell.statement(failure.line)
    ops = [n for n in _nodes(stmt, ast.BinOp, failure.line) if isinstance(n.op, (ast.Div, ast.FloorDiv, ast.Mod))]
    if not ops:
        return None
    op = ops[0]
    right = op.right
    if isinstance(stmt, ast.Return):
        guarded = right.args[0] if (isinstance(right, ast.Call) and isinstance(right.func, ast.Name)
                                    and right.func.id == "len" and len(right.args) == 1) else right
        return cell.insert_before(stmt, [f"if not {cell.segment(guarded)}:", "    return 0"])
    text = cell.segment(right)
    return cell.replace(right, f"({text} or 1)")


def _fix_name(cell: _Cell, failure: _Failure) -> str | None:
    m = re.search(r"name '(\w+)' is not defined", failure.message)
    if not m:
        return None
    missing = m.group(1)
    defined: list[str] = []
    for node in ast.walk(cell.tree):
        names = []
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            names = [node.id]
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names = [node.name]
        elif isinstance(node, ast.arg):
            names = [node.arg]
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [(a.asname or a.name).split(".")[0] for a in node.names]
        defined += [n for n in names if n != missing and n not in defined]
    close = difflib.get_close_matches(missing, defined, n=1, cutoff=0.6) or \
        difflib.get_close_matches(missing, [n for n in dir(builtins) if not n.startswith("_")], n=1, cutoff=0.8)
    if close:
        return _rename(cell, missing, close[0])
    if missing in _MODULE_ALIASES or missing in _STDLIB:
        first = _MODULE_ALIASES.get(missing, f"import {missing}")
        return "\n".join([first] + cell.lines)
    uses = [n for n in ast.walk(cell.tree) if isinstance(n, ast.Name) and n.id == missing]
    stmt = cell.statement(min(n.lineno for n in uses) if uses else failure.line)
    while stmt is not None and stmt not in cell.tree.body:  # define it at the top level, before its first use
        stmt = next((s for s in cell.tree.body if s.lineno <= stmt.lineno <= s.end_lineno), None)
    if stmt is None:
        return None
    return cell.insert_before(stmt, [f"{missing} = None  # define {missing} (give it its real value) before using it"])


def _rename(cell: _Cell, old: str, new: str) -> str:
    """``old`` replaced by ``new`` wherever it is a name in the code, f-strings too (never in strings' text)."""
    lines = list(cell.lines)
    spots = sorted({(n.lineno, cell.col(n.lineno, n.col_offset)) for n in ast.walk(cell.tree)
                    if isinstance(n, ast.Name) and n.id == old})
    for row, col in reversed(spots):
        line = lines[row - 1]
        if line[col:col + len(old)] == old:  # a position an old Python got wrong is left alone
            lines[row - 1] = line[:col] + new + line[col + len(old):]
    return "\n".join(lines)


def _fix_key(cell: _Cell, failure: _Failure) -> str | None:
    stmt = cell.statement(failure.line)
    try:
        key = ast.literal_eval(failure.message) if failure.message else None
    except (ValueError, SyntaxError):
        key = failure.message
    subs = _nodes(stmt, ast.Subscript, failure.line)
    if isinstance(stmt, ast.AugAssign) and isinstance(stmt.target, ast.Subscript):
        target = stmt.target
        base, index = cell.segment(target.value), cell.segment(target.slice)
        op = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*"}.get(type(stmt.op))
        if op:
            line = f"{base}[{index}] = {base}.get({index}, 0) {op} {cell.segment(stmt.value)}"
            lines = list(cell.lines)
            lines[stmt.lineno - 1:stmt.end_lineno] = [cell.indent(stmt) + line]
            return "\n".join(lines)
    loads = [s for s in subs if isinstance(s.ctx, ast.Load) and not isinstance(s.slice, ast.Slice)]
    exact = [s for s in loads if isinstance(s.slice, ast.Constant) and s.slice.value == key]
    chosen = (exact or loads or [None])[0]
    if chosen is None:
        return None
    return cell.replace(chosen, f"{cell.segment(chosen.value)}.get({cell.segment(chosen.slice)})")


def _fix_index(cell: _Cell, failure: _Failure) -> str | None:
    stmt = cell.statement(failure.line)
    subs = [s for s in _nodes(stmt, ast.Subscript, failure.line) if not isinstance(s.slice, ast.Slice)]
    if not subs:
        return None
    sub = subs[0]
    base, index = cell.segment(sub.value), cell.segment(sub.slice)
    n = _int_constant(sub.slice)
    if n is not None:
        check = f"len({base}) > {n}" if n >= 0 else f"len({base}) >= {-n}"
    else:
        check = f"-len({base}) <= {index} < len({base})"
    if isinstance(sub.ctx, ast.Load):
        guarded = f"{cell.segment(sub)} if {check} else None"
        return cell.replace(sub, guarded if _stands_alone(stmt, sub) else f"({guarded})")
    return cell.wrap(stmt, f"if {check}:")


def _int_constant(node) -> int | None:
    if isinstance(node, ast.Constant) and type(node.value) is int:
        return node.value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        inner = _int_constant(node.operand)
        return -inner if inner is not None else None
    return None


def _stands_alone(stmt, node) -> bool:
    """Whether ``node`` is a whole assigned or returned value or a call's argument: no parentheses needed."""
    if isinstance(stmt, (ast.Assign, ast.Return, ast.AnnAssign)) and stmt.value is node:
        return True
    return any(isinstance(n, ast.Call) and any(a is node for a in n.args) and len(n.args) == 1
               for n in ast.walk(stmt))


def _fix_type(cell: _Cell, failure: _Failure) -> str | None:
    stmt = cell.statement(failure.line)
    msg = failure.message
    m = re.search(r"unsupported operand type\(s\) for ([^:]+): '(\w+)' and '(\w+)'", msg)
    concat = re.search(r"can only concatenate str \(not \"(\w+)\"\) to str", msg)
    if m:
        left_t, right_t = m.group(2), m.group(3)
        if right_t == "str" and left_t in ("int", "float"):
            side, conv = "right", left_t
        elif left_t == "str" and right_t in ("int", "float"):
            side, conv = "left", right_t
        else:
            return None
        if isinstance(stmt, ast.AugAssign):
            return cell.replace(stmt.value, f"{conv}({cell.segment(stmt.value)})")
        ops = [n for n in _nodes(stmt, ast.BinOp, failure.line)]
        ops = [n for n in ops if not (isinstance(getattr(n, side), ast.Constant))]
        if ops:
            node = getattr(ops[0], side)
            return cell.replace(node, f"{conv}({cell.segment(node)})")
        calls = [c for c in _nodes(stmt, ast.Call, failure.line) if isinstance(c.func, ast.Name)
                 and c.func.id == "sum" and len(c.args) == 1]
        if calls:
            arg = cell.segment(calls[0].args[0])
            return cell.replace(calls[0], f"sum({conv}(v) for v in {arg})")
        return None
    if concat:
        ops = [n for n in _nodes(stmt, ast.BinOp, failure.line) if isinstance(n.op, ast.Add)]
        for op in ops:
            for side in (op.right, op.left):
                if not (isinstance(side, (ast.Constant, ast.JoinedStr)) and isinstance(getattr(side, "value", ""), str)):
                    return cell.replace(side, f"str({cell.segment(side)})")
    return None


def _fix_attribute(cell: _Cell, failure: _Failure) -> str | None:
    m = re.search(r"'NoneType' object has no attribute '(\w+)'", failure.message)
    if not m:
        return None
    stmt = cell.statement(failure.line)
    attrs = [a for a in _nodes(stmt, ast.Attribute, failure.line) if a.attr == m.group(1)]
    if not attrs:
        return None
    value = cell.segment(attrs[0].value)
    if not isinstance(attrs[0].value, (ast.Name, ast.Attribute)):
        return None
    if isinstance(stmt, ast.Return):
        return cell.insert_before(stmt, [f"if {value} is None:", "    return None"])
    if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1:
        expr = stmt.value
        return cell.replace(expr, f"{cell.segment(expr)} if {value} is not None else None")
    return cell.wrap(stmt, f"if {value} is not None:")


_EXPLAIN = {
    "ZeroDivisionError": ("除数为 0：这里的除法（或取余）在分母为 0 时无法计算，例如对空列表求平均时 `len(...)` 是 0。",
                          "the division (or modulo) ran with a denominator of 0, e.g. the length of an empty list."),
    "NameError": ("代码用到了一个还没有定义的名字，通常是拼写错误，或定义它的单元格还没有运行。",
                  "the code uses a name that is not defined - usually a typo, or the cell that defines it has not run."),
    "KeyError": ("字典（或 DataFrame）里没有这个键，直接用 `[...]` 取值就会报错。",
                 "the dict (or DataFrame) has no such key, and indexing with `[...]` raises."),
    "IndexError": ("下标超出了序列的范围：序列比代码假设的短（也可能是空的）。",
                   "the index is past the end of the sequence: it is shorter than the code assumes (or empty)."),
    "TypeError": ("参与运算的值类型不匹配，例如把数字和字符串相加；需要先把类型转换一致。",
                  "the operation got values of types that do not mix, such as a number and a string; convert one first."),
    "AttributeError": ("对象没有这个属性；如果对象是 None，说明前面某一步（例如匹配或查找）没有得到结果。",
                       "the object has no such attribute; on None it means an earlier step (a match or lookup) found "
                       "nothing."),
    "ImportError": ("当前环境里没有安装这个包（或名字写错了）。", "the package is not installed in this environment (or "
                                                         "its name is misspelt)."),
}
_EXPLAIN["ModuleNotFoundError"] = _EXPLAIN["ImportError"]


def _error_answer(ctx: _Ctx, q: str, failure: _Failure) -> str:
    zh = _instructions(ctx, q)
    exc, msg = failure.exc, failure.message
    said = f"`{exc}: {msg}`" if msg else f"`{exc}`"
    zh_why, en_why = _EXPLAIN.get(exc, ("这一行在运行时抛出了异常，需要处理这种情况。",
                                        "that line raised an exception at run time, and the cell does not handle it."))
    if zh:
        text = f"这个单元格抛出了 {exc}（{said}）。原因：{zh_why}"
    else:
        text = f"The cell raised {exc} ({said}). The cause: {en_why}"
    if exc in ("ImportError", "ModuleNotFoundError"):
        mod = re.search(r"No module named '([\w.]+)'", msg) or re.search(r"cannot import name '(\w+)'", msg)
        package = _MODULE_PIP.get(mod.group(1).split(".")[0], mod.group(1).split(".")[0]) if mod else "the-package"
        text += (f"\n\n先安装：`%pip install {package}`，然后重新运行单元格，代码本身不用改：" if zh else
                 f"\n\nInstall it with `%pip install {package}`, then run the cell again; the code can stay as it is:")
    fixed = _fix_cell(failure) if failure.source else _example_fix(exc)
    if exc in ("ImportError", "ModuleNotFoundError"):
        pass
    elif failure.source and fixed == failure.source:  # nothing safe to change (a magic, a syntax error)
        text += ("\n\n需要修改的是下面这个单元格里出错的那一行：" if zh else
                 "\n\nThe line to change is the one that failed in this cell:")
    else:
        what = _change_note(exc, zh)
        text += ("\n\n修改后的单元格" + (f"（{what}）" if what else "") + "：" if zh else
                 "\n\nThe corrected cell" + (f" ({what})" if what else "") + ":")
    return f"{text}\n\n```python\n{fixed}\n```"


def _change_note(exc: str, zh: bool) -> str:
    notes = {"ZeroDivisionError": ("先检查分母是否为 0", "the division is guarded against 0"),
             "NameError": ("改正名字的拼写或先定义它", "the name is corrected or defined first"),
             "KeyError": ("用 .get() 取值，缺少的键得到 None", "`.get()` returns None for a missing key"),
             "IndexError": ("先检查下标是否在范围内", "the index is checked first"),
             "TypeError": ("先转换类型", "the value is converted first"),
             "AttributeError": ("先检查是否为 None", "a None check comes first")}
    pair = notes.get(exc, ("用 try/except 处理这一行的异常", "the failing line is wrapped in try/except"))
    return pair[0] if zh else pair[1]


def _example_fix(exc: str) -> str:
    examples = {
        "ZeroDivisionError": "def mean(values):\n    if not values:\n        return 0\n    return sum(values) / len(values)",
        "KeyError": "value = data.get(key)  # None when the key is missing",
        "IndexError": "item = items[i] if -len(items) <= i < len(items) else None",
        "TypeError": "total = int(a) + int(b)",
        "AttributeError": "if obj is not None:\n    obj.method()",
        "NameError": "name = None  # define the name before using it\nprint(name)",
    }
    return examples.get(exc, "try:\n    run()  # the line that failed\nexcept Exception as err:\n    print(err)")


def _context_answer(ctx: _Ctx, q: str) -> str | None:
    """The answer to a prompt holding a Python error or a table summary; None for any other prompt."""
    if not q or ctx.kind == COMPLETION:
        return None
    failure = _failure_of(q)
    if failure is not None:
        return _error_answer(ctx, q, failure)
    table = _table_of(q)
    if table is not None:
        return _table_answer(ctx, q, table)
    return None
