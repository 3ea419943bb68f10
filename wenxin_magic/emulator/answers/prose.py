"""Answers in prose: the topics the emulator knows (the example prompts of the Qianfan API pages, which the
notebooks ask), each in the model's voice, greetings, who is answering, memory of the user's name, search results
and citations, completions.
"""

from __future__ import annotations

import re

from .request import Context, is_chinese, stable_hash

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
    "west_lake": {
        "zh_title": "西湖", "en_title": "West Lake",
        "zh_intro": ["西湖位于浙江省杭州市城区西边，三面环山，是中国最有名的湖泊风景之一。",
                     "说到西湖，它在杭州城西，湖山相映，历代诗人留下了很多名篇。"],
        "en_intro": ["West Lake lies on the west side of Hangzhou in Zhejiang province, with hills on three sides.",
                     "West Lake, in Hangzhou, is one of China's most celebrated lake landscapes."],
        "zh": [("两条长堤", "苏堤因北宋苏轼主持疏浚西湖时修筑而得名，白堤的名字纪念唐代诗人白居易。"),
               ("西湖十景", "苏堤春晓、断桥残雪、三潭印月、雷峰夕照等十处景致，南宋时就已得名。"),
               ("世界遗产", "2011年，“杭州西湖文化景观”列入《世界遗产名录》。"),
               ("游览", "环湖步行或骑车都很方便，也可以坐船去湖中的小瀛洲看三潭印月。")],
        "en": [("Two causeways", "the Su Causeway is named after Su Shi, who had the lake dredged in the Northern Song; "
                "the Bai Causeway honours the Tang poet Bai Juyi."),
               ("The Ten Scenes", "views such as Spring Dawn at Su Causeway and Three Pools Mirroring the Moon, "
                "named since the Southern Song."),
               ("World Heritage", "the West Lake Cultural Landscape of Hangzhou was listed in 2011."),
               ("Visiting", "walk or cycle around the lake, or take a boat to the island of the Three Pools.")],
        "zh_sentences": ["西湖位于浙江省杭州市城区西边，三面环山，以苏堤、白堤和“西湖十景”闻名，2011年列入《世界遗产名录》。"],
        "en_sentences": ["West Lake, on the west side of Hangzhou, is ringed by hills on three sides, famous for its Su "
                         "and Bai causeways and its Ten Scenes, and a World Heritage site since 2011."],
    },
    "hangzhou": {
        "zh_title": "杭州", "en_title": "Hangzhou",
        "zh_intro": ["杭州是浙江省省会，位于长江三角洲南翼、钱塘江下游。", "杭州是浙江省的省会，也是一座有名的历史文化名城。"],
        "en_intro": ["Hangzhou is the capital of Zhejiang province, on the lower Qiantang River.",
                     "Hangzhou, capital of Zhejiang, is one of China's best-known historic cities."],
        "zh": [("历史", "五代时吴越国以此为都城，南宋也在这里建都，当时称临安。"),
               ("西湖", "城西的西湖以苏堤、白堤和“西湖十景”闻名，2011年列入《世界遗产名录》。"),
               ("运河", "京杭大运河的南端就在杭州。"),
               ("物产", "西湖龙井茶和丝绸最有名。")],
        "en": [("History", "the capital of the Wuyue kingdom and later of the Southern Song, when it was called Lin'an."),
               ("West Lake", "famous for its causeways and Ten Scenes, a World Heritage site since 2011."),
               ("Grand Canal", "the southern end of the Beijing-Hangzhou Grand Canal is here."),
               ("Tea and silk", "Longjing (Dragon Well) green tea and silk are its best-known products.")],
        "zh_sentences": ["杭州是浙江省省会，南宋时曾是都城（称临安），以西湖、龙井茶和京杭大运河的南端闻名。"],
        "en_sentences": ["Hangzhou, the capital of Zhejiang and once the capital of the Southern Song, is known for "
                         "West Lake, Longjing tea and the southern end of the Grand Canal."],
    },
    "gradient_descent": {
        "zh_title": "梯度下降", "en_title": "gradient descent",
        "zh_intro": ["梯度下降是一种求函数最小值的迭代优化方法，训练机器学习模型时最常用。"],
        "en_intro": ["Gradient descent is an iterative method for finding a minimum of a function, the workhorse of "
                     "training machine-learning models."],
        "zh": [("做法", "在当前参数处计算损失函数的梯度，沿梯度的反方向更新参数：θ ← θ − η∇L(θ)。"),
               ("学习率", "η 决定每一步走多远：太大可能来回震荡甚至发散，太小则收敛很慢。"),
               ("变体", "每步用全部数据是批量梯度下降，用一个样本是随机梯度下降（SGD），用一小批是小批量梯度下降。"),
               ("局限", "对非凸函数，它通常只能找到局部最小值或停在鞍点附近。")],
        "en": [("The step", "compute the gradient of the loss at the current parameters and move against it: "
                "θ ← θ − η∇L(θ)."),
               ("Learning rate", "η sets the step size: too large and it oscillates or diverges, too small and it "
                "crawls."),
               ("Variants", "the whole data set per step (batch), one example (stochastic, SGD) or a small batch "
                "(mini-batch)."),
               ("Limits", "on a non-convex function it usually finds a local minimum, or stalls near a saddle point.")],
        "zh_sentences": ["梯度下降是一种求函数最小值的迭代优化方法，常用来训练机器学习模型。",
                         "它在当前参数处计算损失函数的梯度，也就是函数增长最快的方向，然后沿反方向走一小步。",
                         "步长由学习率控制，重复这一步，参数就逐渐接近损失较小的地方（对非凸函数通常是局部最小值）。"],
        "en_sentences": ["Gradient descent is an iterative method for finding a minimum of a function, used to train "
                         "machine-learning models.",
                         "At the current parameters it computes the gradient of the loss, the direction of steepest "
                         "increase, and takes a small step the opposite way.",
                         "The learning rate sets the step size, and repeating the step brings the parameters towards a "
                         "lower loss (for a non-convex function, usually a local minimum)."],
    },
    "quantum_computing": {
        "zh_title": "量子计算", "en_title": "quantum computing",
        "zh_intro": ["量子计算是利用叠加、纠缠等量子力学现象来处理信息的计算方式。"],
        "en_intro": ["Quantum computing processes information with quantum-mechanical effects such as superposition "
                     "and entanglement."],
        "zh": [("量子比特", "经典比特非0即1，量子比特可以处于0和1的叠加态，测量时才得到确定的结果。"),
               ("纠缠", "多个量子比特可以纠缠在一起，它们的测量结果彼此关联。"),
               ("算法", "Shor 算法能高效地分解大整数，对 RSA 等公钥密码构成威胁；Grover 算法让无序搜索所需的查询次数从 N 降到约 √N。"),
               ("现状", "现有的量子计算机量子比特数量有限，而且容易受噪声干扰出错，纠错和规模化仍是主要难题。")],
        "en": [("Qubits", "a classical bit is 0 or 1; a qubit can be in a superposition of both until it is measured."),
               ("Entanglement", "qubits can be entangled, so that their measurement results are correlated."),
               ("Algorithms", "Shor's algorithm factors large integers efficiently, a threat to RSA; Grover's gives a "
                "quadratic speed-up for unstructured search."),
               ("Today", "machines have few qubits and are error-prone; error correction and scaling are the main "
                "challenges.")],
    },
}


# each topic's name, as a reasoning model's thinking or a follow-up names it
TOPIC_TITLES = {key: {"zh": topic["zh_title"], "en": topic["en_title"]} for key, topic in _TOPICS.items()}


def match_topic(q: str) -> str | None:
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
    if "西湖" in q or "west lake" in low:
        return "west_lake"
    if "梯度下降" in q or "gradient descent" in low:
        return "gradient_descent"
    if "量子计算" in q or "quantum comput" in low:
        return "quantum_computing"
    if ("杭州" in q and ("介绍" in q or len(q.strip("?？。 ")) <= 4)) or \
            re.search(r"\b(introduce|about|describe)\b.*\bhangzhou\b", low) or low.strip(" ?.!") == "hangzhou":
        return "hangzhou"
    if ("北京" in q and ("介绍" in q or len(q.strip("?？。 ")) <= 4)) or \
            re.search(r"\b(introduce|about|describe)\b.*\bbeijing\b", low) or low.strip(" ?.!") == "beijing":
        return "beijing"
    return None


_GREETINGS_ZH = ("你好", "您好", "嗨", "哈喽", "早上好", "晚上好")
_GREETINGS_EN = ("hello", "hi", "hey", "good morning", "good evening")


def is_greeting(q: str) -> bool:
    s = q.strip(" \t\n!！。.,，~?？").lower()
    return s in _GREETINGS_ZH or s in _GREETINGS_EN or s in ("你好呀", "你好啊", "hello there", "hi there")


_FOLLOW_UPS = ("继续", "详细说说", "接着说", "再说说", "展开说说", "多说一点", "tell me more", "continue", "go on",
               "more details", "keep going", "elaborate")


def is_follow_up(q: str) -> bool:
    s = q.strip(" \t\n!！。.,，~?？").lower()
    return any(s == f or (s.startswith(f) and len(s) <= len(f) + 6) for f in _FOLLOW_UPS)


# ------------------------------------------------------------ renderers

# how a model of the ERNIE voice marks a list's items: one of these, by model, so two models of one voice differ
_ITEM_MARKERS = ("{i}. **{name}**{colon}{text}", "- **{name}**{colon}{text}", "**{i}. {name}**{colon}{text}",
                 "{i}. {name}{colon}{text}")


def _render_items(ctx: Context, title: str, intro: str, items, outro: str) -> str:
    """Lay out a titled list of (name, text) items in the model's voice."""
    zh = ctx.zh
    style = ctx.style
    colon = "：" if zh else ": "
    if style == "ernie":
        marker = ctx.model_pick(_ITEM_MARKERS, "items")
        lines = [f"## {title}\n", intro, ""]
        for i, (name, text) in enumerate(items, 1):
            lines.append(marker.format(i=i, name=name, colon=colon, text=text))
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


# every closing line an answer may end with: a long answer keeps it at its very end
CLOSINGS = tuple(line for table in (_OUTROS_ZH, _OUTROS_EN) for lines in table.values() for line in lines if line)


def _outro(ctx: Context) -> str:
    table = _OUTROS_ZH if ctx.zh else _OUTROS_EN
    return ctx.pick(table.get(ctx.style, table["open"]), "outro")


_SENTENCE_COUNTS = {"一": 1, "两": 2, "二": 2, "三": 3, "1": 1, "2": 2, "3": 3, "one": 1, "a single": 1, "two": 2,
                    "three": 3}
_SENTENCES_ASKED = re.compile(r"([一两二三123])\s*句话|\b(one|a single|two|three|[123])\s+sentences?\b", re.I)


def sentences_asked(question: str) -> int | None:
    """How many sentences the question asks for ("用一句话", "in two sentences"), or None."""
    m = _SENTENCES_ASKED.search(question or "")
    return _SENTENCE_COUNTS[(m[1] or m[2]).lower()] if m else None


def topic_sentences(ctx: Context, key: str) -> str | None:
    """The topic in as many sentences as the question asks for, when the topic is written that way."""
    wanted = sentences_asked(ctx.question)
    sentences = _TOPICS[key].get("zh_sentences" if ctx.zh else "en_sentences")
    if wanted is None or not sentences or wanted > len(sentences):
        return None
    return ("" if ctx.zh else " ").join(sentences[:wanted])


def topic_answer(ctx: Context, key: str) -> str:
    short = topic_sentences(ctx, key)
    if short is not None:
        return short
    t = _TOPICS[key]
    lang = "zh" if ctx.zh else "en"
    intro = ctx.pick(t[f"{lang}_intro"], "intro")
    items = t[lang]
    if ctx.style == "open" and not ctx.fixed and stable_hash(ctx.seed, "order") % 2:
        items = items[1:] + items[:1]
    return _render_items(ctx, t[f"{lang}_title"], intro, items, _outro(ctx))


def greeting(ctx: Context) -> str:
    """Hello back, in the voice of the model, without claiming to be it: the offline emulator is answering."""
    who = ctx.persona
    if ctx.zh:
        opts = {
            "ernie": ["你好！这里是离线的千帆模拟器。你可以让我算算术、写几段常见的 Python 代码，或者问示例笔记本里的问题。",
                      "你好呀！这里是离线的千帆模拟器，能算算术、写常见的代码、回答示例笔记本里的问题。"],
            "ernie_light": ["你好！这里是离线模拟器，有什么可以帮你的？", "你好，这里是离线模拟器，请问需要什么帮助？"],
            "open": ["你好！这里是离线模拟器，可以算算术、写常见的代码。", "你好，这里是离线模拟器，请问有什么可以帮忙的吗？"],
            "terse": ["你好！", "你好，有什么事吗？"],
        }
    else:
        opts = {
            "ernie": ["Hello! This is the offline Qianfan emulator. Ask me some arithmetic, for common Python code, or "
                      "the example notebooks' questions.",
                      "Hi there! This is the offline Qianfan emulator: it does arithmetic, common code and the example "
                      "notebooks' questions."],
            "ernie_light": ["Hello! This is the offline emulator. How can I help?",
                            "Hi, this is the offline emulator. What do you need?"],
            "open": ["Hello! This is the offline emulator; it can do arithmetic and common code.",
                     "Hi! This is the offline emulator. How can I help you today?"],
            "terse": ["Hello!", "Hi, what's up?"],
        }
    text = ctx.pick(opts[ctx.style if ctx.style in opts else "open"], "greet")
    if who:
        text = (f"你好，我是{who}。" if ctx.zh else f"Hello, I'm {who}. ") + text.split("！", 1)[-1].split("! ", 1)[-1]
    return text


def self_intro(ctx: Context) -> str:
    """Who is answering: the persona the system prompt gives, else the truth, the offline emulator."""
    if ctx.persona:
        return f"我是{ctx.persona}。" if ctx.zh else f"I'm {ctx.persona}."
    if ctx.zh:
        return "这里回答你的是本地的离线千帆模拟器，不是你选的模型本身，所以只会回答算术、常见代码和示例笔记本里的问题。"
    return ("This is the local offline Qianfan emulator answering, not the model you chose: it answers arithmetic, "
            "common code and the example notebooks' questions only.")


# ---------------------------------------------------------------- memory

def remembered_name(turns: list[str]) -> str | None:
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


def asks_my_name(q: str) -> bool:
    low = q.lower()
    return any(k in q for k in ("我叫什么", "我的名字是什么", "我的名字叫什么", "记得我是谁", "我是谁")) or \
        any(k in low for k in ("what is my name", "what's my name", "whats my name", "do you remember my name",
                               "who am i"))


def asks_your_name(q: str) -> bool:
    low = q.lower()
    return any(k in q for k in ("你的名字", "你叫什么", "你是谁")) or \
        any(k in low for k in ("your name", "who are you"))


# ------------------------------------------------------------- search

def search_info_for(ctx: Context, topic: str) -> dict:
    slug = re.sub(r"[^a-z0-9]+", "-", topic.lower()).strip("-") or f"q{stable_hash(topic) % 100000}"
    # the emulator searches nothing: its results say they are placeholders, at example.com, never a real source
    if ctx.zh:
        titles = [f"离线模拟器的占位搜索结果 {n}（关于“{topic}”，不是真实网页）" for n in (1, 2, 3)]
    else:
        titles = [f"Offline emulator's placeholder search result {n} (about \"{topic}\", not a real page)"
                  for n in (1, 2, 3)]
    return {"search_results": [{"index": n, "url": f"https://www.example.com/emulator-placeholder-{n}/{slug}",
                                "title": titles[n - 1]} for n in (1, 2, 3)]}


_COPY_ZH = re.compile(r"^(?:请)?(?:把(?:下面|这句|这段)?(?:的)?(?:话|口号|文字|句子)?)?(?:原样|照着)?(?:抄写|抄|重复|复述)"
                      r"(?:一遍|一下)?[：:]\s*(\S.*)$", re.S)
_COPY_EN = re.compile(r"^(?:please\s+)?(?:repeat|copy)(?:\s+(?:this|after me|exactly|verbatim))*\s*:\s*(\S.*)$", re.I | re.S)


def copied_text(q: str) -> str | None:
    """What a request to copy text out asks to copy ("原样抄写一遍：…", "Repeat after me: …"), or None."""
    m = _COPY_ZH.match(q.strip()) or _COPY_EN.match(q.strip())
    return m.group(1).strip() if m else None


_SENT_END = re.compile(r"(?<=[^\d\s*#])[。！？!?]|(?<=[A-Za-z\)\u4e00-\u9fff])\.(?=\s|$)")
_QUOTATION = re.compile(r"“[^”]*”|\"[^\"\n]*\"")


def add_citations(text: str) -> str:
    """Put ``^[1]^`` and ``^[2]^`` before the ends of the first two sentences; a quotation is not cut."""
    quoted = [m.span() for m in _QUOTATION.finditer(text)]
    ends = [m.start() for m in _SENT_END.finditer(text)
            if not any(start < m.start() < end for start, end in quoted)][:2]
    for n, pos in reversed(list(enumerate(ends, 1))):
        text = text[:pos] + f"^[{n}]^" + text[pos:]
    return text


# ------------------------------------------------------------ completion

def continue_text(ctx: Context) -> str:
    prompt = ctx.question
    low = prompt.lower().strip()
    zh = is_chinese(prompt)
    if low.endswith("beijing") or match_topic(prompt) == "beijing":
        return (" is the capital of China and one of the oldest cities in the world. It sits on the northern edge of "
                "the North China Plain, with mountains to the west and north. For more than eight centuries it has been "
                "a seat of government, and its central axis still runs through the Forbidden City, Tiananmen Square and "
                "the Temple of Heaven. Today Beijing is also a centre of science, education and culture, home to leading "
                "universities, busy technology districts and a lively food scene.")
    if prompt.strip().startswith("长城的故事"):
        return ("，要从两千多年前说起。战国时期，各国为了防御邻国和北方的游牧民族，纷纷在边境修筑城墙。秦始皇统一六国后，"
                "把秦、赵、燕三国北方的长城连接起来并加以扩建，这就是“万里长城”的由来。此后汉、北魏、北齐、隋、金等朝代都修过长城；"
                "今天游人最多的八达岭、慕田峪等段，是明朝修建的砖石长城。1987年，长城列入《世界遗产名录》。")
    if zh:  # the emulator cannot write on; it says so rather than make a continuation up
        return "（离线模拟器不会真正续写这段文字；设置 QIANFAN_API_KEY，或用 `%wenxin lesson load PATH` 载入一节课，可以得到真正的续写。）"
    if is_greeting(prompt):
        return "! It's nice to meet you. Is there anything you would like to talk about today?"
    return (" [The offline emulator does not really continue text; set QIANFAN_API_KEY, or load a lesson with "
            "`%wenxin lesson load PATH`, for a real continuation.]")
