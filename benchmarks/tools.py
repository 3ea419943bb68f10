"""What tools cost: building a function's schema, the first use (pydantic's import), and the automatic loop.

    python benchmarks/tools.py        (also: python benchmarks/run.py tools)

A benchmark, not a test: it prints figures beside a peer measured in the same run and never fails on time.
The peers: the official OpenAI SDK's ``pydantic_function_tool`` for the schema, and the hand-written loop
(ask, run the function, send its result with ``function_name=``) that notebook 05 shows underneath.
"""

from __future__ import annotations

import statistics
import time

from common import emulator_process, has, json_from_child, row

TURNS = 30
QUESTION = "上海市今天天气如何？"
MODEL = "ERNIE-3.5-8K"

_FUNCTION = '''
from typing import Literal

def get_current_weather(location: str, unit: Literal["摄氏度", "华氏度"] = "摄氏度", days: int = 1) -> dict:
    """获得指定地点的天气

    Args:
        location: 省，市名，例如：河北省
        unit: 温度单位
        days: 预报天数
    """
    return {"location": location, "temperature": 25, "unit": unit, "description": "晴朗"}
'''

_MODEL = '''
from typing import Literal
from pydantic import BaseModel, Field

class get_current_weather(BaseModel):
    """获得指定地点的天气"""
    location: str = Field(description="省，市名，例如：河北省")
    unit: Literal["摄氏度", "华氏度"] = Field("摄氏度", description="温度单位")
    days: int = Field(1, description="预报天数")
'''


def first_use_ms() -> float:
    """A fresh interpreter: the first Toolbox, pydantic's import included (paid once, never by %load_ext)."""
    code = ("import json, sys, time; import wenxin_magic.session\n" + _FUNCTION +
            "assert 'pydantic' not in sys.modules\n"
            "from wenxin_magic.session._tools import Toolbox\n"
            "t = time.perf_counter(); Toolbox([get_current_weather], max_result_chars=8000)\n"
            "print(json.dumps({'ms': (time.perf_counter() - t) * 1000}))")
    return statistics.median(json_from_child(code)["ms"] for _ in range(5))


def schema_us(repeats: int = 200) -> tuple[float, float | None]:
    """Warm: µs to build the schema of one function (ours) and of the same tool as a pydantic model (OpenAI SDK)."""
    ours = ("import json, time\n" + _FUNCTION + "from wenxin_magic.session._tool_schema import function_schema\n"
            "function_schema(get_current_weather)\n"
            f"t = time.perf_counter()\nfor _ in range({repeats}): function_schema(get_current_weather).definition()\n"
            f"print(json.dumps({{'us': (time.perf_counter() - t) / {repeats} * 1e6}}))")
    peer = ("import json, time, openai\n" + _MODEL + "openai.pydantic_function_tool(get_current_weather)\n"
            f"t = time.perf_counter()\nfor _ in range({repeats}): openai.pydantic_function_tool(get_current_weather)\n"
            f"print(json.dumps({{'us': (time.perf_counter() - t) / {repeats} * 1e6}}))")
    return json_from_child(ours)["us"], (json_from_child(peer)["us"] if has("openai") else None)


_SESSION = ("s = Session(environ={{'QIANFAN_AK': 'bench', 'QIANFAN_SK': 'bench', 'QIANFAN_BASE_URL': {url!r}}})\n"
            "s.ask('你好', model={model!r}, chat='warm')\n")

_AUTOMATIC = ("def turn(i):\n"
              "    reply = s.ask({question!r}, model={model!r}, chat=f'c{{i}}', tools=[get_current_weather])\n"
              "    assert reply.all_calls and reply.text, reply\n")

_BY_HAND = ("FUNCTIONS = [{{'name': 'get_current_weather', 'description': '获得指定地点的天气', 'parameters': {{\n"
            "    'type': 'object', 'properties': {{'location': {{'type': 'string'}}, 'unit': {{'type': 'string', \n"
            "    'enum': ['摄氏度', '华氏度']}}, 'days': {{'type': 'integer'}}}}, 'required': ['location']}}}}]\n"
            "def turn(i):\n"
            "    reply = s.ask({question!r}, model={model!r}, chat=f'c{{i}}', functions=FUNCTIONS)\n"
            "    while reply.function_call:\n"
            "        call = reply.function_call\n"
            "        result = get_current_weather(**json.loads(call['arguments']))\n"
            "        reply = s.ask(json.dumps(result, ensure_ascii=False), function_name=call['name'],\n"
            "                      functions=FUNCTIONS, chat=f'c{{i}}')\n"
            "    assert reply.text, reply\n")

_TIMED = ("turn(-1)\n"  # schemas built, connection warm
          "cpu, wall = time.process_time(), time.perf_counter()\n"
          f"for i in range({TURNS}): turn(i)\n"
          "print(json.dumps({'cpu_ms': (time.process_time() - cpu) / " + str(TURNS) + " * 1000,\n"
          "                  'wall_ms': (time.perf_counter() - wall) / " + str(TURNS) + " * 1000}))\n"
          "s.close()\n")


def loop_ms(url: str, repeats: int = 3) -> tuple[dict, dict]:
    """Per turn of one tool round (two requests): the automatic loop and the hand-written one."""
    fill = {"url": url, "model": MODEL, "question": QUESTION}
    head = "import json, sys, time\nfrom wenxin_magic.session import Session\n" + _FUNCTION
    automatic = [json_from_child(head + _SESSION.format(**fill) + _AUTOMATIC.format(**fill) + _TIMED) for _ in range(repeats)]
    by_hand = [json_from_child(head + _SESSION.format(**fill) + _BY_HAND.format(**fill) + _TIMED) for _ in range(repeats)]

    def median(runs, key):
        return statistics.median(r[key] for r in runs)
    return ({k: median(automatic, k) for k in ("cpu_ms", "wall_ms")},
            {k: median(by_hand, k) for k in ("cpu_ms", "wall_ms")})


def bench_tools() -> None:
    print("tools: schemas, first use, and the loop (fresh interpreters; emulator in another process)")
    ours, peer = schema_us()
    row("schema of a 3-parameter function, built", ours, peer, "µs", "once per function", "openai pydantic_function_tool")
    row("first tools use in a kernel (pydantic import)", first_use_ms(), None, "ms", "paid once, not at load")
    with emulator_process("--ttft", "0", "--chunk-delay", "0", "--rpm", "100000", "--tpm", "100000000") as url:
        automatic, by_hand = loop_ms(url)
    row(f"client CPU per tool turn ({TURNS} turns, 2 requests)", automatic["cpu_ms"], by_hand["cpu_ms"], "ms",
        "goal: within 1.5x of by hand", "hand-written loop")
    row("wall time per tool turn", automatic["wall_ms"], by_hand["wall_ms"], "ms", "", "hand-written loop")


if __name__ == "__main__":
    started = time.perf_counter()
    bench_tools()
    print(f"({time.perf_counter() - started:.0f} s)")
