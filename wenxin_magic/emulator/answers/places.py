"""One-sentence answers about the cities the batch notebooks ask over (北京, 上海, 成都, 西安, 杭州, 桂林): a place
to start with, local snacks, the English name, a season's outing, a travel tip. Each is a modest fact; a city or
question outside these tables gets the emulator's honest reply instead.
"""

from __future__ import annotations

import re

# the English name, a place many visitors start with, and snacks the city is known for
_CITIES = {
    "北京": ("Beijing", "说到北京最值得去的地方，很多人首推故宫：明清两代的皇宫，如今是故宫博物院。",
           "北京的特色小吃有豆汁、卤煮、炸酱面和驴打滚。"),
    "上海": ("Shanghai", "说到上海最值得去的地方，很多人首推外滩：黄浦江西岸的一排近代建筑，对岸就是陆家嘴的高楼。",
           "上海的特色小吃有小笼包、生煎包和排骨年糕。"),
    "成都": ("Chengdu", "说到成都最值得去的地方，很多人首推成都大熊猫繁育研究基地，在那里能近距离看到大熊猫。",
           "成都的特色小吃有担担面、钟水饺、龙抄手和夫妻肺片。"),
    "西安": ("Xi'an", "说到西安最值得去的地方，很多人首推秦始皇兵马俑：秦始皇陵的陪葬坑，1974年被发现。",
           "西安的特色小吃有肉夹馍、羊肉泡馍和凉皮。"),
}

_SEASONS = {
    ("杭州", "春天"): "春天去杭州，可以沿西湖的苏堤散步，看桃红柳绿的“苏堤春晓”。",
    ("桂林", "夏天"): "夏天去桂林，可以坐船游漓江，看两岸的喀斯特山峰倒映在江水里。",
}

_TIPS_EN = {
    "Beijing": "Book Forbidden City tickets online days ahead: entry needs a real-name reservation, and the palace "
               "is usually closed on Mondays.",
    "Shanghai": "Walk the Bund after dark, when the Lujiazui towers across the Huangpu River are lit up.",
    "Xi'an": "Rent a bicycle on top of the Ming-era city wall and ride its loop of about 14 kilometres.",
}


def city_answer(question: str) -> str | None:
    """The answer to a question the tables above hold, or None."""
    q = question.strip()
    named = [city for city in _CITIES if city in q]
    if len(named) == 1:
        english, must_see, snacks = _CITIES[named[0]]
        if "最值得去" in q:
            return must_see
        if "小吃" in q:
            return snacks
        if "英文名" in q:
            return english
    for (city, season), outing in _SEASONS.items():
        if city in q and season in q and "玩什么" in q:
            return outing
    m = re.search(r"\btravel tip for ([A-Z][\w']+)", q)
    if m and m.group(1) in _TIPS_EN:
        return _TIPS_EN[m.group(1)]
    return None
