"""Record the lesson notebook 06 replays, ``notebooks/great-wall-lesson.json``.

    python tests/record_notebook_lesson.py

It is recorded the way a teacher records one, with a session online, a v2 key, and ``save_lesson``; the model it
talks to is a scripted server on 127.0.0.1 whose answers are written below (this repository has no key to record
with, and its tests never call the real service). A real recording differs only in who wrote the answers.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from _scripted_model import ScriptedModel  # noqa: E402

from wenxin_magic.session import Session  # noqa: E402

LESSON = HERE.parent / "notebooks" / "great-wall-lesson.json"
MODEL = "ernie-4.5-turbo-128k"
TICKETS = {"site": "八达岭", "旺季（4月1日–10月31日）": "40 元", "淡季（11月1日–次年3月31日）": "35 元"}

SCRIPT = {
    "长城是哪个朝代修的？": [{"text": (
        "长城不是一个朝代修成的。\n\n"
        "- **战国**：齐、楚、魏、燕、赵、秦等国各自修筑长城，防御邻国和北方的游牧民族。\n"
        "- **秦**：秦始皇统一六国后，把北方的秦、赵、燕长城连接起来并加以扩建，这就是“万里长城”的由来。\n"
        "- **汉到金**：汉、北魏、北齐、隋、金等朝代都修过长城，其中汉长城最长。\n"
        "- **明**：今天游人最多的八达岭、慕田峪、山海关等段，主要是明朝（1368–1644）修建的砖石长城。"
        "2009 年公布的测量结果，明长城总长 8,851.8 千米。\n\n"
        "所以，如果问“我们今天看到的长城”，答案多半是明朝。")}],
    "为什么要修长城？": [{"text": (
        "主要是为了**防御**，但长城不只是一道墙：\n\n"
        "1. **阻挡骑兵**：北方游牧民族以骑兵见长，城墙和关隘能迟滞突袭，让守军有时间集结。\n"
        "2. **传递军情**：沿线的烽火台白天放烟、夜里举火，敌情可以很快传到后方。\n"
        "3. **控制往来**：嘉峪关、山海关这样的关口检查行人和商队，也是征税的地方。\n"
        "4. **屯田戍边**：驻军在长城沿线开垦屯田，就地解决粮食，边防才能长期维持。")}],
    "八达岭长城的门票多少钱？": [
        {"calls": [("ticket_price", '{"site": "八达岭"}')]},
        {"text": ("根据 `ticket_price` 查到的结果，八达岭长城的门票是：\n\n"
                  "| 季节 | 票价 |\n|---|---|\n| 旺季（4月1日–10月31日） | 40 元 |\n"
                  "| 淡季（11月1日–次年3月31日） | 35 元 |\n\n"
                  "票价可能调整，出发前最好在景区的官方渠道再确认一次。")}],
}


def ticket_price(site: str) -> dict:
    """The ticket prices of a section of the Great Wall."""
    return TICKETS


def main() -> int:
    with tempfile.TemporaryDirectory() as scratch, ScriptedModel(SCRIPT, first_byte=0.9, between=0.04) as model:
        os.environ["WENXIN_MAGIC_LOG"] = str(Path(scratch) / "log.db")
        session = Session(environ={"QIANFAN_API_KEY": "bce-v3/ALTAK-recording/lesson",
                                   "QIANFAN_BASE_URL": model.base_url})
        try:
            for question in SCRIPT:
                tools = [ticket_price] if question.startswith("八达岭") else None
                reply = session.ask(question, model=MODEL, chat="wall", tools=tools)
                assert reply.ok, reply.error
            print(session.save_lesson(LESSON, ["wall"], name="长城"))
        finally:
            session.close()
    data = json.loads(LESSON.read_text(encoding="utf-8"))
    data["saved"] = "2026-12-07T00:00:00Z"  # a fixed date, so recording again changes only what changed
    LESSON.write_text(json.dumps(data, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
