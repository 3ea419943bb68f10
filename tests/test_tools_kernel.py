"""%%wenxin --tools in a real kernel: each round's blocks, what the functions print, approval, limits, interrupts."""

from __future__ import annotations

import json
import threading

import pytest

from _fakes import assert_tool_history_valid

pytestmark = pytest.mark.kernel

SETUP = '''
%load_ext wenxin_magic
import json, time, wenxin_magic
from typing import Annotated
from pydantic import AfterValidator
from IPython.display import display, Markdown
session = wenxin_magic.get_session()
session.backend.emulator_options.update(ttft=0.0, chunk_delay=0.0)
%config WenxinMagics.min_update_interval = 0.01

def get_current_weather(location: str) -> dict:
    """Get the current weather for a city"""
    print(f"PRINTED for {location}")
    display(Markdown(f"DISPLAYED for {location}"))
    return {"location": location, "temperature": 25, "weather": "sunny"}

def get_air_quality(location: str) -> dict:
    """Get the air quality for a city"""
    return {"location": location, "aqi": 42}

def divide(a: int, b: int) -> float:
    """Divide two numbers"""
    return a / b

def _known_city(value: str) -> str:
    raise ValueError(f"{value!r} is not on the list of known cities")

def get_city_code(city: Annotated[str, AfterValidator(_known_city)]) -> str:
    """Get the city code for a city"""
    return "never"

def lookup_weather(city):
    """Look up the weather for a city"""
    return f"sunny in {city}"

def get_big_report(location: str) -> str:
    """Get the big report for a city"""
    return "x" * 20000

def get_slow_forecast(location: str) -> str:
    """Get the slow forecast for a city"""
    print("SLEEPING")
    time.sleep(30)
    return "never"

not_a_function = 42
'''

WEATHER = "What's the weather in Beijing?"


@pytest.fixture(scope="module")
def k(module_kernel_factory):
    return module_kernel_factory(setup=SETUP)


def run(k, code: str, **kwargs):
    """Run a cell that must not end in a raw traceback."""
    r = k.run(code, **kwargs)
    assert r.error is None, "\n".join(r.error["traceback"])
    assert "Traceback" not in r.text
    return r


def outputs(r) -> list[tuple[str | None, str]]:
    """(display id, last HTML or Markdown) of each display output of the cell, in the order they appeared."""
    shown: dict = {}
    for m in r.displays:
        display_id = m["content"].get("transient", {}).get("display_id") or id(m)
        data = m["content"]["data"]
        rich = data.get("text/html", data.get("text/markdown"))
        if rich is not None:
            shown[display_id] = rich
    return list(shown.items())


def request_count(k) -> int:
    return k.value("len([r for r in session.backend.start_emulator().requests if r['json'] is not None])")


def last_calls(k) -> list[dict]:
    return k.value("[c.to_dict() for c in session.last_reply.all_calls]")


def test_what_a_tool_prints_and_displays_comes_between_its_block_and_the_next_round(k):
    r = run(k, f"%%wenxin -m ERNIE-3.5-8K -c show --tools get_current_weather\n{WEATHER}")
    shown = outputs(r)
    tool_outputs = [s for s in shown if "DISPLAYED for" not in s[1]]
    assert len(tool_outputs) == 2  # one output per round
    (first_id, first), (second_id, second) = tool_outputs
    assert first_id != second_id
    assert "<details><summary>🔧 <code>get_current_weather(location='Beijing')</code>" in first
    assert "<strong>arguments</strong>" in first and "<strong>sent to the model</strong>" in first and '"temperature": 25' in first
    assert " s</summary>" in first
    assert "Today in Beijing" in second and "25" in second and "<details>" not in second
    # the order the notebook shows them in: block, what the function printed and displayed, next round
    order = []
    for m in r.messages:
        content = m["content"]
        if m["msg_type"] == "display_data":
            data = content["data"].get("text/html", content["data"].get("text/markdown", ""))
            display_id = content.get("transient", {}).get("display_id")
            order.append("displayed" if "DISPLAYED for Beijing" in data else display_id)
        elif m["msg_type"] == "stream" and "PRINTED for Beijing" in content["text"]:
            order.append("printed")
    assert order == [first_id, "printed", "displayed", second_id]
    # and the block said it was running before the function printed
    printed_at = next(i for i, m in enumerate(r.messages)
                      if m["msg_type"] == "stream" and "PRINTED" in m["content"]["text"])
    before = [m["content"]["data"].get("text/html", "") for m in r.messages[:printed_at]
              if m["msg_type"] in ("display_data", "update_display_data")]
    assert any("⏳" in s and "running" in s for s in before)
    assert_tool_history_valid(k.value("session.history('show')"), "v1")


def test_a_tool_that_raises(k):
    r = run(k, "%%wenxin -m ERNIE-3.5-8K -c raise --tools divide\nPlease divide 7 by 0")
    (_, block), (_, answer) = outputs(r)
    assert "<details><summary>❌ <code>divide(a=7, b=0)</code> raised ZeroDivisionError: division by zero" in block
    assert "<strong>traceback</strong> (your code)" in block and "in divide" in block and "return a / b" in block
    assert "wenxin_magic" not in block
    assert "ZeroDivisionError" in answer
    [call] = last_calls(k)
    assert call["status"] == "error" and json.loads(call["result"]) == {"error": "ZeroDivisionError: division by zero"}


def test_two_calls_in_one_v2_round(k):
    r = run(k, "%%wenxin -m ernie-3.5-8k -c two --tools get_current_weather\n"
               "What's the weather in Beijing and Shanghai?")
    tool_outputs = [s for _, s in outputs(r) if "DISPLAYED for" not in s]
    assert len(tool_outputs) == 2
    block, answer = tool_outputs
    assert block.count("<details><summary>🔧") == 2
    assert "location='Beijing'" in block and "location='Shanghai'" in block
    assert "Beijing" in answer and "Shanghai" in answer and "25" in answer
    assert r.stdout.count("PRINTED for") == 2
    assert_tool_history_valid(k.value("session.history('two')"), "v2")


def test_arguments_that_fail_validation(k):
    r = run(k, "%%wenxin -m ernie-3.5-8k -c invalid --tools get_city_code\nWhat is the city code for Beijing?")
    (_, block), (_, answer) = outputs(r)
    assert "<details><summary>⚠️ <code>get_city_code(" in block and "invalid arguments" in block
    assert "not on the list of known cities" in block
    assert "get_city_code" in answer
    assert [c["status"] for c in last_calls(k)] == ["invalid"]


def test_a_function_without_type_hints_shows_the_note(k):
    r = run(k, f"%%wenxin -m ernie-3.5-8k -c nohint --tools lookup_weather\n{WEATHER}")
    (_, block), (_, answer) = outputs(r)
    assert "ℹ" in block and "lookup_weather" in block and "type hints" in block and "strings" in block
    assert "sunny in Beijing" in answer


def test_a_result_too_large_is_cut_and_marked(k):
    run(k, "%config WenxinMagics.max_tool_result_chars = 100")
    try:
        r = run(k, "%%wenxin -m ERNIE-3.5-8K -c big --tools get_big_report\nGet the big report for Beijing")
    finally:
        run(k, "%config WenxinMagics.max_tool_result_chars = 8000")
    (_, block), _ = outputs(r)
    assert "x" * 100 + "… [cut: 19900 more characters]" in block
    assert "x" * 101 not in block
    [call] = last_calls(k)
    assert call["result"].endswith("… [cut: 19900 more characters]")


def test_the_round_limit_stops_and_says_so(k):
    run(k, "%config WenxinMagics.max_tool_rounds = 1")
    try:
        r = run(k, "%%wenxin -m ERNIE-3.5-8K -c stop --tools get_current_weather,get_air_quality\n"
                   "What's the weather and air quality in Beijing?")
    finally:
        run(k, "%config WenxinMagics.max_tool_rounds = 5")
    (_, first), (_, last) = [s for s in outputs(r) if "DISPLAYED for" not in s[1]]
    assert first.count("<details><summary>🔧") == 1
    assert "⏸" in last and "Stopped after 1 round(s) of tool calls" in last and "max_tool_rounds" in last
    assert "<details><summary>⏸ <code>" in last  # the call that was not run
    assert [c["status"] for c in last_calls(k)] == ["ok", "not run"]
    assert_tool_history_valid(k.value("session.history('stop')"), "v1")
    follow = run(k, "%%wenxin -c stop\nThanks, once more in one sentence.")
    assert follow.final() and "Error" not in follow.final()


def test_approval_declined_on_stdin(k):
    r = run(k, f"%%wenxin -m ERNIE-3.5-8K -c no --tools get_current_weather --approve\n{WEATHER}", stdin=["n"])
    prompts = [m["content"]["prompt"] for m in r.messages if m["msg_type"] == "input_request"]
    assert prompts == ["Allow get_current_weather(location='Beijing')? [y/N] "]
    assert "PRINTED" not in r.stdout
    (_, block), (_, answer) = outputs(r)
    assert "<details><summary>🚫 <code>get_current_weather(" in block and "declined" in block
    assert "could not use get_current_weather" in answer
    assert [c["status"] for c in last_calls(k)] == ["declined"]


def test_approval_given_on_stdin(k):
    r = run(k, f"%%wenxin -m ERNIE-3.5-8K -c yes --tools get_current_weather --approve\n{WEATHER}", stdin=["y"])
    assert [m["msg_type"] for m in r.messages].count("input_request") == 1
    assert "PRINTED for Beijing" in r.stdout
    assert [c["status"] for c in last_calls(k)] == ["ok"]
    assert "Today in Beijing" in r.final()


def test_approval_without_stdin_declines_with_the_reason(k):
    r = run(k, f"%%wenxin -m ERNIE-3.5-8K -c nostdin --tools get_current_weather --approve\n{WEATHER}")
    assert "PRINTED" not in r.stdout
    [call] = last_calls(k)
    assert call["status"] == "declined" and "approval could not be asked" in call["error"]
    assert "approval could not be asked" in r.text


@pytest.mark.parametrize("names, expected", [
    ("nope", "'nope' is not defined"),
    ("not_a_function", "'not_a_function' is not a function"),
    ("get_current_weather,missing_one", "'missing_one' is not defined"),
])
def test_a_name_that_is_no_function_is_a_usage_error(k, names, expected):
    before = request_count(k)
    r = run(k, f"%%wenxin -m ERNIE-3.5-8K -c bad --tools {names}\n{WEATHER}")
    assert expected in r.stderr and "--tools" in r.stderr
    assert r.displays == [] and "PRINTED" not in r.stdout
    assert request_count(k) == before  # nothing was sent


@pytest.mark.parametrize("model, field", [("ERNIE-Speed-8K", "`functions`"), ("ernie-speed-8k", "`tools`")])
def test_a_model_that_takes_no_tools_says_so(k, model, field):
    r = run(k, f"%%wenxin -m {model} -c notools --tools get_current_weather\n{WEATHER}")
    assert field in r.text and "does not accept" in r.text
    assert "PRINTED" not in r.stdout


def test_tools_and_no_tools_together_is_a_usage_error(k):
    before = request_count(k)
    r = run(k, f"%%wenxin -m ERNIE-3.5-8K --tools get_current_weather --no-tools\n{WEATHER}")
    assert "--no-tools" in r.stderr and r.displays == [] and request_count(k) == before


def test_the_tools_setting_is_the_default_and_no_tools_turns_it_off(k):
    run(k, "%config WenxinMagics.tools = ['get_current_weather']")
    try:
        r = run(k, f"%%wenxin -m ERNIE-3.5-8K -c default\n{WEATHER}")
        assert "PRINTED for Beijing" in r.stdout and "Today in Beijing" in r.final()
        assert [c["status"] for c in last_calls(k)] == ["ok"]
        sent = k.value("session.backend.start_emulator().requests[-1]['json']")
        assert [f["name"] for f in sent["functions"]] == ["get_current_weather"]
        r = run(k, f"%%wenxin -m ERNIE-3.5-8K -c off --no-tools\n{WEATHER}")
        assert "PRINTED" not in r.stdout and "<details>" not in r.final()
        assert last_calls(k) == []
        sent = k.value("session.backend.start_emulator().requests[-1]['json']")
        assert "functions" not in sent and "tools" not in sent
    finally:
        run(k, "%config WenxinMagics.tools = []")
    r = run(k, f"%%wenxin -m ERNIE-3.5-8K -c after\n{WEATHER}")  # the setting is back off
    assert "PRINTED" not in r.stdout


def test_compare_with_tools_runs_each_column(k):
    r = run(k, "%%wenxin --compare ERNIE-3.5-8K,deepseek-v3 --tools get_air_quality\n"
               "What's the air quality in Beijing?")
    final = r.final()
    assert '<table class="wenxin-grid">' in final and final.count("<th>") == 2
    assert "<th>ERNIE-3.5-8K</th>" in final and "<th>deepseek-v3</th>" in final
    assert final.count("<details><summary>🔧 <code>get_air_quality(location='Beijing')</code>") == 2
    assert final.count("aqi is 42") == 2  # each column's answer used its call's result


def test_history_shows_the_tool_call(k):
    run(k, "%%wenxin -m ERNIE-3.5-8K -c hist --tools divide\nPlease divide 7 by 0")
    r = run(k, "%wenxin history hist")
    assert "divide" in r.text and '"a": 7' in r.text and "ZeroDivisionError" in r.text


@pytest.mark.parametrize("model, api", [("ERNIE-3.5-8K", "v1"), ("ernie-3.5-8k", "v2")])
def test_an_interrupt_stops_a_slow_tool_and_the_kernel_goes_on(k, model, api):
    chat = f"slow-{api}"
    timer = threading.Timer(1.5, k.km.interrupt_kernel)
    timer.start()
    try:
        r = k.run(f"%%wenxin -m {model} -c {chat} --tools get_slow_forecast\n"
                  "Get the slow forecast for Beijing", timeout=25)  # the tool would sleep 30 s
    finally:
        timer.cancel()
    assert r.error is None, "\n".join(r.error["traceback"])
    assert "Traceback" not in r.text and "KeyboardInterrupt" not in r.text
    assert "SLEEPING" in r.stdout
    assert "<details><summary>⏹ <code>get_slow_forecast(" in r.final()
    state = k.value("{'interrupted': session.last_reply.interrupted, "
                    "'calls': [c.status for c in session.last_reply.all_calls]}")
    assert state == {"interrupted": True, "calls": ["interrupted"]}
    assert run(k, "print(6 * 7)").stdout.strip() == "42"
    history = k.value(f"session.history({chat!r})")
    assert_tool_history_valid(history, api)
    if api == "v1":  # the interrupted result is dropped: v1 needs an answer after a result
        assert [m["role"] for m in history] == ["user", "assistant"] and history[1]["function_call"]
    else:  # v2 keeps it, so the call has its answer
        assert [m["role"] for m in history] == ["user", "assistant", "tool"]
        assert "interrupted" in json.loads(history[2]["content"])["error"]
    follow = run(k, f"%%wenxin -c {chat}\nThanks, and what about tomorrow?")
    assert follow.final() and "Error" not in follow.final()
    assert_tool_history_valid(k.value(f"session.history({chat!r})"), api)


def test_an_interrupt_while_approval_waits_runs_nothing(k):
    timer = threading.Timer(1.5, k.km.interrupt_kernel)
    timer.start()
    try:  # stdin allowed but never answered: the prompt waits until the interrupt
        r = k.run("%%wenxin -m ernie-3.5-8k -c ask-stop --tools get_current_weather --approve\n"
                  "What's the weather in Beijing and Shanghai?", stdin=[], timeout=25)
    finally:
        timer.cancel()
    assert r.error is None, "\n".join(r.error["traceback"])
    assert "Traceback" not in r.text and "PRINTED" not in r.stdout
    asked = k.kc.get_stdin_msg(timeout=5)  # the unanswered prompt (the harness reads stdin only to answer)
    assert asked["content"]["prompt"] == "Allow get_current_weather(location='Beijing')? [y/N] "
    assert r.final().count("<details><summary>⏸ <code>get_current_weather(") == 2
    assert k.value("[c.status for c in session.last_reply.all_calls]") == ["not run", "not run"]
    assert_tool_history_valid(k.value("session.history('ask-stop')"), "v2")
    follow = run(k, "%%wenxin -c ask-stop\nThanks, and what about tomorrow?")
    assert follow.final() and "Error" not in follow.final()
