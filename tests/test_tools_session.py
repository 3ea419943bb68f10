"""Python functions as tools, through Session.ask / aask / compare against the emulator (no kernel)."""

from __future__ import annotations

import asyncio
import json
import re
import threading
from typing import Annotated

import pytest
from pydantic import AfterValidator

from _fakes import assert_history_valid, assert_tool_history_valid, model_requests
from wenxin_magic.api import InvalidRequestError
from wenxin_magic.session import ToolCall

V1 = "ERNIE-3.5-8K"
V2 = "ernie-3.5-8k"
FORCE = {"type": "function", "function": {"name": "add"}}


# -- the notebook's functions ----------------------------------------------------------------------

def get_current_weather(location: str) -> dict:
    """Get the current weather for a city"""
    return {"location": location, "temperature": 25, "weather": "sunny"}


def get_air_quality(location: str) -> dict:
    """Get the air quality for a city"""
    return {"location": location, "aqi": 42}


def divide(a: int, b: int) -> float:
    """Divide two numbers"""
    return a / b


def add(a: int, b: int) -> int:
    """Add two numbers"""
    return a + b


def _known_city(value: str) -> str:
    raise ValueError(f"{value!r} is not on the list of known cities")


def get_city_code(city: Annotated[str, AfterValidator(_known_city)]) -> str:
    """Get the city code for a city"""
    raise AssertionError("never called: its arguments never validate")


def lookup_weather(city):
    """Look up the weather for a city"""
    return f"sunny in {city}"


def get_big_report(location: str) -> str:
    """Get the big report for a city"""
    return "x" * 20000


@pytest.fixture
def emu_of():
    """The emulator an offline session answers from, its request log emptied."""
    def get(session):
        server = session.backend.start_emulator()
        server.clear()
        return server
    return get


def replies_of(reply) -> list:
    return reply.rounds + [reply]


def assert_next_turn_accepted(session, chat: str, api: str) -> None:
    """The emulator validates histories strictly: a follow-up in the same chat must be answered."""
    before = len(session.history(chat))
    follow = session.ask("Thanks. Say it again in one short sentence.", chat=chat)
    assert follow.error is None and follow.text.strip()
    history = session.history(chat)
    assert len(history) == before + 2
    assert_tool_history_valid(history, api)


# -- the loop --------------------------------------------------------------------------------------

def test_v1_loop_answers_with_the_functions_value(session, emu_of):
    server = emu_of(session)
    seen = []
    reply = session.ask("What's the weather in Beijing?", tools=[get_current_weather], model=V1, chat="v1",
                        on_call=lambda r, c: seen.append((c.name, c.status)))
    assert reply.error is None and reply.api == "v1"
    assert "Beijing" in reply.text and "25" in reply.text  # from the function's value
    assert len(reply.rounds) == 1 and reply.calls == []
    [call] = reply.all_calls
    assert isinstance(call, ToolCall) and reply.rounds[0].calls == [call]
    assert (call.name, call.status, call.round) == ("get_current_weather", "ok", 1)
    assert json.loads(call.arguments) == {"location": "Beijing"}
    assert call.value == get_current_weather("Beijing") and json.loads(call.result) == call.value
    assert call.duration is not None and call.duration >= 0
    assert seen == [("get_current_weather", "running"), ("get_current_weather", "ok")]
    history = session.history("v1")
    assert_tool_history_valid(history, "v1")
    assert_history_valid(history)  # v1-shaped: whole turns, question then answer
    assert [m["role"] for m in history] == ["user", "assistant", "function", "assistant"]
    assert history[1]["content"] == "" and history[1]["function_call"]["name"] == "get_current_weather"
    assert history[2] == {"role": "function", "name": "get_current_weather", "content": call.result}
    assert history[3]["content"] == reply.text
    assert len(model_requests(server)) == 2
    assert_next_turn_accepted(session, "v1", "v1")


def test_v2_loop_runs_two_calls_in_one_round(session, emu_of):
    server = emu_of(session)
    starts = []
    reply = session.ask("What's the weather in Beijing and Shanghai?", tools=[get_current_weather], model=V2,
                        chat="v2", on_start=starts.append)
    assert reply.error is None and reply.api == "v2"
    assert len(reply.rounds) == 1 and starts == replies_of(reply)  # on_start heard each round's reply
    calls = reply.rounds[0].calls
    assert [json.loads(c.arguments)["location"] for c in calls] == ["Beijing", "Shanghai"]
    assert all(c.status == "ok" and c.round == 1 for c in calls)
    assert "Beijing" in reply.text and "Shanghai" in reply.text and "25" in reply.text
    history = session.history("v2")
    assert_tool_history_valid(history, "v2")
    assert [m["role"] for m in history] == ["user", "assistant", "tool", "tool", "assistant"]
    assert [t["id"] for t in history[1]["tool_calls"]] == [c.id for c in calls]
    assert [m["tool_call_id"] for m in history[2:4]] == [c.id for c in calls]
    assert [m["content"] for m in history[2:4]] == [c.result for c in calls]
    assert len(model_requests(server)) == 2
    assert_next_turn_accepted(session, "v2", "v2")


def test_a_v1_history_is_sent_to_v2_in_v2_form(session, emu_of):
    session.ask("What's the weather in Beijing?", tools=[get_current_weather], model=V1, chat="both")
    assert_tool_history_valid(session.conversation("both").messages("v1"), "v1")
    assert_tool_history_valid(session.conversation("both").messages("v2"), "v2")
    server = emu_of(session)
    follow = session.ask("Thanks. And in one sentence?", chat="both", model=V2)
    assert follow.error is None and follow.text
    sent = model_requests(server)[-1]["json"]["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "tool", "assistant", "user"]


def test_functions_run_in_the_calling_thread(session):
    threads = []

    def get_current_weather(location: str) -> dict:
        """Get the current weather for a city"""
        threads.append(threading.get_ident())
        return {"temperature": 25}

    session.ask("What's the weather in Beijing?", tools=[get_current_weather], model=V1)
    assert threads == [threading.get_ident()]


def test_a_function_that_raises_is_reported_and_the_turn_goes_on(session):
    reply = session.ask("Please divide 7 by 0", tools=[divide], model=V1, chat="err")
    assert reply.error is None and not reply.interrupted
    [call] = reply.all_calls
    assert call.status == "error" and call.error == "ZeroDivisionError: division by zero"
    assert json.loads(call.result) == {"error": "ZeroDivisionError: division by zero"}
    assert "ZeroDivisionError" in reply.text  # the model was told, and said so
    assert "in divide" in call.user_frames and "return a / b" in call.user_frames
    assert "wenxin_magic" not in call.user_frames
    assert_tool_history_valid(session.history("err"), "v1")
    assert_next_turn_accepted(session, "err", "v1")


def test_arguments_that_do_not_validate_are_not_run_and_the_model_is_told(session, emu_of):
    server = emu_of(session)
    reply = session.ask("What is the city code for Beijing?", tools=[get_city_code], model=V2, chat="inv")
    [call] = reply.all_calls
    assert call.status == "invalid" and call.value is None
    assert "not on the list of known cities" in call.error
    assert json.loads(call.result) == {"error": call.error}
    sent = model_requests(server)[-1]["json"]["messages"]
    assert sent[-1]["role"] == "tool" and sent[-1]["content"] == call.result
    assert "get_city_code" in reply.text and reply.error is None
    assert_tool_history_valid(session.history("inv"), "v2")


def test_a_function_without_type_hints_gets_a_note_and_string_parameters(session, emu_of):
    server = emu_of(session)
    reply = session.ask("What's the weather in Beijing?", tools=[lookup_weather], model=V2, chat="nohint")
    first = replies_of(reply)[0]
    notes = " ".join(first.notes)
    assert "lookup_weather" in notes and "city" in notes and "strings" in notes and "type hints" in notes
    [tool] = model_requests(server)[0]["json"]["tools"]
    assert tool["function"]["parameters"]["properties"]["city"]["type"] == "string"
    [call] = reply.all_calls
    assert call.status == "ok" and call.value == "sunny in Beijing"


def test_the_returned_reply_carries_the_tool_notes(session):
    reply = session.ask("What's the weather in Beijing?", tools=[lookup_weather], model=V2)
    assert reply.rounds  # a tool round happened
    assert any("type hints" in note for note in reply.notes)
    assert any("type hints" in note for note in reply.rounds[0].notes)


def test_a_huge_result_is_cut_with_a_marker_that_counts_what_was_cut(session, emu_of):
    server = emu_of(session)
    session.max_tool_result_chars = 100
    reply = session.ask("Get the big report for Beijing", tools=[get_big_report], model=V1)
    [call] = reply.all_calls
    assert call.status == "ok" and len(call.value) == 20000
    match = re.fullmatch(r"(x+)… \[cut: (\d+) more characters\]", call.result)
    assert match, call.result
    assert len(match.group(1)) == 100 and int(match.group(2)) == 20000 - 100
    sent = model_requests(server)[-1]["json"]["messages"]
    assert sent[-1] == {"role": "function", "name": "get_big_report", "content": call.result}


def test_the_default_result_limit_is_8000(session):
    assert session.max_tool_result_chars == 8000 and session.max_tool_rounds == 5
    reply = session.ask("Get the big report for Beijing", tools=[get_big_report], model=V2)
    [call] = reply.all_calls
    assert call.result.startswith("x" * 8000) and call.result.endswith("… [cut: 12000 more characters]")


def test_the_round_limit_stops_a_v1_chain(session, emu_of):
    server = emu_of(session)
    both = [get_current_weather, get_air_quality]
    full = session.ask("What's the weather and air quality in Beijing?", tools=both, model=V1, chat="full")
    assert len(full.rounds) == 2 and [c.status for c in full.all_calls] == ["ok", "ok"]  # the chain unlimited
    assert not full.tool_stop
    server.clear()
    reply = session.ask("What's the weather and air quality in Beijing?", tools=both, model=V1, chat="stop",
                        max_tool_rounds=1)
    assert reply.error is None
    assert reply.tool_stop and "1 round" in reply.tool_stop and "max_tool_rounds" in reply.tool_stop
    assert len(reply.rounds) == 1 and [c.status for c in reply.rounds[0].calls] == ["ok"]
    assert reply.calls and all(c.status == "not run" for c in reply.calls)
    assert all(json.loads(c.result)["error"].startswith("not run") for c in reply.calls)
    assert len(model_requests(server)) == 2  # nothing asked after the stop
    history = session.history("stop")
    assert_tool_history_valid(history, "v1")
    assert history[-1]["role"] == "assistant" and history[-1]["function_call"]  # the unrun result dropped
    assert_next_turn_accepted(session, "stop", "v1")


def test_the_round_limit_stops_a_v2_chain(session):
    reply = session.ask("What's the weather in Beijing?", tools=[get_current_weather, add], model=V2, chat="stop2",
                        max_tool_rounds=1, tool_choice=FORCE)
    assert reply.tool_stop and [c.status for c in reply.all_calls] == ["ok", "not run"]
    assert_tool_history_valid(session.history("stop2"), "v2")
    assert_next_turn_accepted(session, "stop2", "v2")


@pytest.mark.parametrize("rounds", [0, -1, 1.5, True])
def test_a_bad_round_limit_is_refused(session, rounds):
    with pytest.raises(InvalidRequestError, match="max_tool_rounds"):
        session.ask("What's the weather in Beijing?", tools=[get_current_weather], max_tool_rounds=rounds)


# -- approval --------------------------------------------------------------------------------------

def test_a_declined_call_is_not_run_and_the_model_is_told(session, emu_of):
    server = emu_of(session)
    ran, asked = [], []

    def get_current_weather(location: str) -> dict:
        """Get the current weather for a city"""
        ran.append(location)
        return {"temperature": 25}

    def approve(call):
        asked.append(call.label())
        return False

    reply = session.ask("What's the weather in Beijing?", tools=[get_current_weather], model=V1, chat="no",
                        approve=approve)
    assert asked == ["get_current_weather(location='Beijing')"] and ran == []
    [call] = reply.all_calls
    assert call.status == "declined" and "declined" in call.error
    assert json.loads(call.result) == {"error": call.error}
    assert model_requests(server)[-1]["json"]["messages"][-1]["content"] == call.result
    assert "could not use get_current_weather" in reply.text
    assert_tool_history_valid(session.history("no"), "v1")


def test_an_approval_that_raises_declines_with_the_reason(session):
    def approve(call):
        raise RuntimeError("no stdin to ask on")

    reply = session.ask("What's the weather in Beijing?", tools=[get_current_weather], model=V2, approve=approve)
    [call] = reply.all_calls
    assert call.status == "declined" and "RuntimeError: no stdin to ask on" in call.error
    assert "no stdin to ask on" in call.result and reply.error is None


def test_an_approved_call_runs(session):
    reply = session.ask("What's the weather in Beijing?", tools=[get_current_weather], model=V2,
                        approve=lambda call: True)
    assert [c.status for c in reply.all_calls] == ["ok"] and "25" in reply.text


# -- what is sent ----------------------------------------------------------------------------------

def test_tool_choice_forces_a_function_in_the_first_round_only(session, emu_of):
    server = emu_of(session)
    reply = session.ask("Hello there, how are you today?", tools=[get_current_weather, add], model=V2,
                        tool_choice=FORCE)
    assert [c.name for c in reply.rounds[0].calls] == ["add"]
    assert [c.name for c in reply.all_calls] == ["add"]  # nothing in the question asks for more
    assert reply.text and reply.error is None
    sent = [r["json"] for r in model_requests(server)]
    assert len(sent) == 2
    assert sent[0]["tool_choice"] == FORCE and "tool_choice" not in sent[1]
    assert all([t["function"]["name"] for t in body["tools"]] == ["get_current_weather", "add"] for body in sent)


def test_v1_sends_functions_and_v2_sends_tools_in_every_round(session, emu_of):
    server = emu_of(session)
    session.ask("What's the weather and air quality in Beijing?", tools=[get_current_weather, get_air_quality],
                model=V1)
    v1 = [r["json"] for r in model_requests(server)]
    assert len(v1) == 3
    for body in v1:
        assert [f["name"] for f in body["functions"]] == ["get_current_weather", "get_air_quality"]
        assert "tools" not in body and "tool_choice" not in body
    assert v1[0]["functions"][0]["parameters"]["required"] == ["location"]
    server.clear()
    session.ask("What's the weather in Beijing?", tools=[get_current_weather], model=V2, tool_choice="auto")
    v2 = [r["json"] for r in model_requests(server)]
    assert len(v2) == 2
    for body in v2:
        assert "functions" not in body
        assert [t["type"] for t in body["tools"]] == ["function"]
        assert body["tools"][0]["function"]["name"] == "get_current_weather"
    assert v2[0]["tool_choice"] == "auto" and "tool_choice" not in v2[1]


def test_tools_and_functions_together_are_refused(session, emu_of):
    server = emu_of(session)
    schema = {"name": "f", "description": "d", "parameters": {"type": "object", "properties": {}}}
    with pytest.raises(InvalidRequestError, match="functions"):
        session.ask("What's the weather in Beijing?", tools=[get_current_weather], functions=[schema])
    assert model_requests(server) == [] and session.history() == []


def test_a_lambda_is_refused_by_name(session):
    with pytest.raises(InvalidRequestError, match="lambda"):
        session.ask("What's the weather in Beijing?", tools=[lambda location: location])
    assert session.history() == []


def test_a_model_without_tools_says_so(session):
    with pytest.raises(InvalidRequestError, match="tools"):
        session.ask("What's the weather in Beijing?", tools=[get_current_weather], model="ernie-speed-8k")


# -- compare, async ------------------------------------------------------------------------------

def test_compare_runs_each_models_loop_in_its_column(session, emu_of):
    server = emu_of(session)
    replies = session.compare("What's the weather in Beijing?", [V1, "deepseek-v3"], tools=[get_current_weather])
    assert [r.model for r in replies] == [V1, "deepseek-v3"]
    for reply in replies:
        assert reply.error is None and len(reply.rounds) == 1
        assert [c.status for c in reply.all_calls] == ["ok"] and "25" in reply.text
    assert replies[0].api == "v1" and replies[1].api == "v2"
    paths = [r["path"] for r in model_requests(server)]
    assert paths.count("/v2/chat/completions") == 2 and len(paths) == 4
    assert session.chats() == []  # a comparison changes no conversation


def test_aask_runs_functions_on_the_callers_loop_with_an_async_approval(session):
    where, asked = [], []

    def get_current_weather(location: str) -> dict:
        """Get the current weather for a city"""
        where.append((threading.get_ident(), asyncio.get_running_loop()))
        return {"location": location, "temperature": 25}

    async def approve(call):
        await asyncio.sleep(0)
        asked.append(call.name)
        return True

    async def main():
        reply = await session.aask("What's the weather in Beijing?", tools=[get_current_weather], model=V2,
                                   chat="async", approve=approve)
        return reply, threading.get_ident(), asyncio.get_running_loop()

    reply, thread, loop = asyncio.run(main())
    assert where == [(thread, loop)] and asked == ["get_current_weather"]
    assert [c.status for c in reply.all_calls] == ["ok"] and "25" in reply.text
    assert_tool_history_valid(session.history("async"), "v2")


async def test_aask_with_an_async_approval_that_declines(session):
    async def approve(call):
        return False

    reply = await session.aask("What's the weather in Beijing?", tools=[get_current_weather], model=V1,
                               approve=approve)
    assert [c.status for c in reply.all_calls] == ["declined"]


# -- records --------------------------------------------------------------------------------------

def test_export_shows_the_calls(session, tmp_path):
    session.ask("Please divide 7 by 0", tools=[divide], model=V1, chat="exp")
    session.ask("What's the weather in Beijing and Shanghai?", tools=[get_current_weather], model=V2, chat="exp2")
    data = json.loads(session.export(tmp_path / "x.json").read_text(encoding="utf-8"))
    convs = {c["name"]: c for c in data["conversations"]}
    [turn] = convs["exp"]["turns"]
    [step] = turn["reply"]["rounds"]
    [call] = step["calls"]
    assert call["name"] == "divide" and call["status"] == "error"
    assert call["error"] == "ZeroDivisionError: division by zero" and json.loads(call["arguments"]) == {"a": 7, "b": 0}
    [turn2] = convs["exp2"]["turns"]
    assert [c["status"] for c in turn2["reply"]["rounds"][0]["calls"]] == ["ok", "ok"]
    text = session.export(tmp_path / "x.md", chat="exp2").read_text(encoding="utf-8")
    assert text.count("get_current_weather(") == 2 and "Shanghai" in text


def test_usage_counts_every_rounds_tokens(session):
    reply = session.ask("What's the weather and air quality in Beijing?", tools=[get_current_weather, get_air_quality],
                        model=V1, chat="tokens")
    steps = replies_of(reply)
    assert len(steps) == 3 and all(s.usage is not None and s.usage.total_tokens > 0 for s in steps)
    expected = sum(s.usage.total_tokens for s in steps)
    usage = session.usage()
    assert usage["total"]["total_tokens"] == expected
    assert usage["models"][V1]["total_tokens"] == expected
    assert usage["chats"]["tokens"]["total_tokens"] == expected and usage["chats"]["tokens"]["turns"] == 1


def test_the_tool_history_check_catches_what_it_should():
    ask = {"role": "user", "content": "q"}
    v1_call = {"role": "assistant", "content": "", "function_call": {"name": "f", "arguments": "{}"}}
    v2_call = {"role": "assistant", "content": "", "tool_calls": [
        {"id": "a", "type": "function", "function": {"name": "f", "arguments": "{}"}},
        {"id": "b", "type": "function", "function": {"name": "f", "arguments": "{}"}}]}
    answer = {"role": "assistant", "content": "done"}
    assert_tool_history_valid([ask, v1_call, {"role": "function", "name": "f", "content": "1"}, answer], "v1")
    tool_a, tool_b = ({"role": "tool", "tool_call_id": i, "content": "1"} for i in "ab")
    assert_tool_history_valid([ask, v2_call, tool_a, tool_b, answer], "v2")
    bad = [
        ("v1", [ask, v1_call, {"role": "function", "name": "g", "content": "1"}, answer]),  # another function
        ("v1", [ask, v1_call, {"role": "function", "name": "f", "content": "1"}]),  # a result without an answer
        ("v1", [ask, {"role": "assistant", "content": " "}]),  # an empty answer
        ("v2", [ask, v2_call, tool_b, tool_a, answer]),  # results out of order
        ("v2", [ask, v2_call, tool_a, answer]),  # a call without its result
        ("v2", [ask, v2_call, tool_a, tool_b, tool_b, answer]),  # a result too many
        ("v1", [ask, v2_call, tool_a, tool_b, answer]),  # v2's form in a v1 history
    ]
    for api, messages in bad:
        with pytest.raises(AssertionError):
            assert_tool_history_valid(messages, api)


def test_an_interrupt_in_a_function_ends_the_turn_with_a_valid_history(session):
    def get_current_weather(location: str) -> dict:
        """Get the current weather for a city"""
        raise KeyboardInterrupt  # as Ctrl-C (the kernel's stop button) arrives while the function runs

    with pytest.raises(KeyboardInterrupt):
        session.ask("What's the weather in Beijing and Shanghai?", tools=[get_current_weather], model=V2,
                    chat="stopped")
    reply = session.last_reply
    assert reply.interrupted
    assert [c.status for c in reply.all_calls] == ["interrupted", "not run"]
    history = session.history("stopped")
    assert_tool_history_valid(history, "v2")
    assert [m["role"] for m in history] == ["user", "assistant", "tool", "tool"]
    assert_next_turn_accepted(session, "stopped", "v2")


def test_results_are_json_when_they_can_be_and_a_repr_otherwise(session):
    class Station:
        def __repr__(self):
            return "<Station Beijing-South>"

    class Broken:
        def __repr__(self):
            raise RuntimeError("no repr")

    values = iter([{"temperature": 25, "城市": "北京"}, Station(), "plain text", Broken()])

    def get_current_weather(location: str):
        """Get the current weather for a city"""
        return next(values)

    results = [session.ask("What's the weather in Beijing?", tools=[get_current_weather], model=V2).all_calls[0]
               for _ in range(4)]
    assert [c.status for c in results] == ["ok"] * 4
    assert results[0].result == '{"temperature": 25, "城市": "北京"}'
    assert results[1].result == "<Station Beijing-South>"
    assert results[2].result == "plain text"
    assert "Broken" in results[3].result and "RuntimeError" in results[3].result


def test_compare_keeps_a_model_without_tools_to_its_column(session):
    replies = session.compare("What's the weather in Beijing?", ["ERNIE-Speed-8K", "ernie-speed-8k", V1],
                              tools=[get_current_weather])
    assert isinstance(replies[0].error, InvalidRequestError) and "`functions`" in str(replies[0].error)
    assert isinstance(replies[1].error, InvalidRequestError) and "`tools`" in str(replies[1].error)
    assert replies[2].error is None and "25" in replies[2].text and len(replies[2].rounds) == 1


def test_aask_runs_functions_on_tools_loop_when_given(session):
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    where = []

    def get_current_weather(location: str) -> dict:
        """Get the current weather for a city"""
        where.append(threading.get_ident())
        return {"temperature": 25}

    async def main():
        return await session.aask("What's the weather in Beijing?", tools=[get_current_weather], model=V2,
                                  tools_loop=loop)
    try:
        reply = asyncio.run(main())
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
    loop.close()
    assert where == [thread.ident] and "25" in reply.text


def test_what_tools_takes(session):
    reply = session.ask("What's the weather in Beijing?", tools=get_current_weather, model=V1)  # one function
    assert [c.status for c in reply.all_calls] == ["ok"]
    reply = session.ask("What's the weather in Beijing?", tools=[get_current_weather, get_current_weather], model=V1)
    assert [c.status for c in reply.all_calls] == ["ok"]  # the same function twice is offered once
    with pytest.raises(InvalidRequestError, match="42 is not callable"):
        session.ask("What's the weather in Beijing?", tools=[get_current_weather, 42], model=V1)

    def impostor(location: str) -> dict:
        return {}
    impostor.__name__ = "get_current_weather"
    with pytest.raises(InvalidRequestError, match="Two tools are named 'get_current_weather'"):
        session.ask("What's the weather in Beijing?", tools=[get_current_weather, impostor], model=V1)


def test_tool_choice_on_v1_is_sent_in_the_first_round_only(session, emu_of):
    server = emu_of(session)
    reply = session.ask("Hello there, how are you today?", tools=[get_current_weather, add], model=V1,
                        tool_choice=FORCE)
    assert [c.name for c in reply.all_calls] == ["add"] and reply.text
    sent = [r["json"] for r in model_requests(server)]
    assert len(sent) == 2 and sent[0]["tool_choice"] == FORCE and "tool_choice" not in sent[1]
