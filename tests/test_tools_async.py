"""Tools that are ``async def`` functions or generators: awaited or consumed, their real results sent to the model.

Through Session.ask / aask against the emulator, and through ``%%wenxin --tools`` in a real kernel.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import threading

import pytest

from _fakes import assert_tool_history_valid, model_requests
from wenxin_magic.session._tools import MAX_GENERATED_ITEMS

V1 = "ERNIE-3.5-8K"
V2 = "ernie-3.5-8k"
CUT_NOTE = f"[cut: the generator yielded more than {MAX_GENERATED_ITEMS:,} items; these are the first 1,000]"


# -- the notebook's functions ----------------------------------------------------------------------

async def get_weather(location: str) -> dict:
    """Get the weather for a city"""
    await asyncio.sleep(0)
    return {"location": location, "temperature": 25, "weather": "sunny"}


async def divide(a: int, b: int) -> float:
    """Divide two numbers"""
    await asyncio.sleep(0)
    return a / b


def list_stations(location: str):
    """List the weather stations of a city"""
    for name in ("north", "south"):
        yield f"{location}-{name}"


def count_stations(location: str):
    """Count the weather stations of a city, forever"""
    yield from itertools.count()


async def list_stations_async(location: str):
    """List the weather stations of a city"""
    for name in ("north", "south"):
        await asyncio.sleep(0)
        yield f"{location}-{name}"


async def count_stations_async(location: str):
    """Count the weather stations of a city, forever"""
    for number in itertools.count():
        yield number


@pytest.fixture
def emu_of():
    """The emulator an offline session answers from, its request log emptied."""
    def get(session):
        server = session.backend.start_emulator()
        server.clear()
        return server
    return get


def tool_contents(server) -> list[str]:
    """What the requests sent back as tool results (v2 ``tool``, v1 ``function`` messages), in order."""
    sent = model_requests(server)[-1]["json"]["messages"]
    return [m["content"] for m in sent if m["role"] in ("tool", "function")]


# -- async def -------------------------------------------------------------------------------------

@pytest.mark.parametrize("model, api", [(V1, "v1"), (V2, "v2")])
def test_an_async_tools_result_is_awaited_and_sent(session, emu_of, model, api):
    server = emu_of(session)
    reply = session.ask("What's the weather in Beijing?", tools=[get_weather], model=model, chat=api)
    assert reply.error is None and "25" in reply.text
    [call] = reply.all_calls
    assert call.status == "ok" and call.value == {"location": "Beijing", "temperature": 25, "weather": "sunny"}
    [content] = tool_contents(server)
    assert "coroutine" not in content and json.loads(content) == call.value
    assert_tool_history_valid(session.history(api), api)


def test_an_async_tool_that_raises_is_reported_with_the_users_frames(session, emu_of):
    server = emu_of(session)
    reply = session.ask("Please divide 7 by 0", tools=[divide], model=V1, chat="err")
    assert reply.error is None and not reply.interrupted
    [call] = reply.all_calls
    assert call.status == "error" and call.error == "ZeroDivisionError: division by zero"
    assert tool_contents(server) == [json.dumps({"error": "ZeroDivisionError: division by zero"})]
    assert "in divide" in call.user_frames and "return a / b" in call.user_frames
    assert "wenxin_magic" not in call.user_frames and "asyncio" not in call.user_frames
    assert "ZeroDivisionError" in reply.text
    assert_tool_history_valid(session.history("err"), "v1")


def test_an_async_tool_in_ask_runs_on_a_loop_of_its_own(session):
    where = []

    async def get_weather(location: str) -> dict:
        """Get the weather for a city"""
        where.append((threading.get_ident(), asyncio.get_running_loop()))
        return {"temperature": 25}

    reply = session.ask("What's the weather in Beijing?", tools=[get_weather], model=V1)
    assert [c.status for c in reply.all_calls] == ["ok"]
    [(thread, loop)] = where
    assert thread != threading.get_ident() and loop is not session.runner.loop and loop.is_closed()


async def test_an_async_tool_in_aask_is_awaited_on_the_callers_loop(session):
    where = []

    async def get_weather(location: str) -> dict:
        """Get the weather for a city"""
        await asyncio.sleep(0)
        where.append(asyncio.get_running_loop())
        return {"temperature": 25}

    reply = await session.aask("What's the weather in Beijing?", tools=[get_weather], model=V2)
    assert where == [asyncio.get_running_loop()]
    assert [c.status for c in reply.all_calls] == ["ok"] and "25" in reply.text


async def test_an_async_tool_that_raises_in_aask_is_reported(session):
    reply = await session.aask("Please divide 7 by 0", tools=[divide], model=V2)
    [call] = reply.all_calls
    assert call.status == "error" and call.error == "ZeroDivisionError: division by zero"
    assert "in divide" in call.user_frames and "wenxin_magic" not in call.user_frames


def test_on_call_hears_an_async_call_start_and_end_in_the_calling_thread(session):
    heard = []
    session.ask("What's the weather in Beijing?", tools=[get_weather], model=V1,
                on_call=lambda r, c: heard.append((c.status, threading.get_ident())))
    assert heard == [("running", threading.get_ident()), ("ok", threading.get_ident())]


# -- generators ------------------------------------------------------------------------------------

@pytest.mark.parametrize("tool", [list_stations, list_stations_async], ids=["sync", "async"])
def test_a_generators_items_are_sent_as_a_list(session, emu_of, tool):
    server = emu_of(session)
    reply = session.ask("List the weather stations in Beijing", tools=[tool], model=V2)
    [call] = reply.all_calls
    expected = ["Beijing-north", "Beijing-south"]
    assert call.status == "ok" and call.value == expected
    assert tool_contents(server) == [json.dumps(expected)]
    assert "generator" not in reply.text


@pytest.mark.parametrize("tool", [count_stations, count_stations_async], ids=["sync", "async"])
def test_an_endless_generator_is_cut_at_the_limit_with_a_note(session, emu_of, tool):
    server = emu_of(session)
    reply = session.ask("Count the weather stations in Beijing", tools=[tool], model=V1, chat="endless")
    [call] = reply.all_calls
    assert call.status == "ok" and call.value == list(range(MAX_GENERATED_ITEMS))
    [content] = tool_contents(server)
    assert content == json.dumps(list(range(1000))) + " " + CUT_NOTE
    assert reply.error is None and reply.text
    assert_tool_history_valid(session.history("endless"), "v1")


def test_the_note_follows_a_result_cut_for_length(session, emu_of):
    session.max_tool_result_chars = 50
    server = emu_of(session)
    session.ask("Count the weather stations in Beijing", tools=[count_stations], model=V2)
    [content] = tool_contents(server)
    assert content.startswith(json.dumps(list(range(1000)))[:50] + "… [cut: ")
    assert content.endswith(" more characters] " + CUT_NOTE)


# -- in a real kernel ------------------------------------------------------------------------------

KERNEL_SETUP = '''
%load_ext wenxin_magic
import asyncio, wenxin_magic
session = wenxin_magic.get_session()
session.backend.emulator_options.update(ttft=0.0, chunk_delay=0.0)

async def get_weather(location: str) -> dict:
    """Get the weather for a city"""
    await asyncio.sleep(0)
    print(f"AWAITED for {location}")
    return {"location": location, "temperature": 25, "weather": "sunny"}

async def get_slow_forecast(location: str) -> str:
    """Get the slow forecast for a city"""
    print("SLEEPING")
    await asyncio.sleep(30)
    return "never"
'''


@pytest.fixture(scope="module")
def k(module_kernel_factory):
    return module_kernel_factory(setup=KERNEL_SETUP)


@pytest.mark.kernel
def test_an_async_tool_in_a_cell(k):
    r = k.run(f"%%wenxin -m {V1} -c cell --tools get_weather\nWhat's the weather in Beijing?")
    assert r.error is None, "\n".join(r.error["traceback"])
    assert "Traceback" not in r.text and "coroutine" not in r.text
    assert "AWAITED for Beijing" in r.stdout
    assert "25" in r.final() and "Beijing" in r.final()
    calls = k.value("[c.to_dict() for c in session.last_reply.all_calls]")
    assert [c["status"] for c in calls] == ["ok"]
    assert json.loads(calls[0]["result"]) == {"location": "Beijing", "temperature": 25, "weather": "sunny"}
    sent = k.value("[m['content'] for m in session.backend.start_emulator().requests[-1]['json']['messages'] "
                   "if m['role'] == 'function']")
    assert sent == [calls[0]["result"]]
    assert k.value("1 + 1") == 2  # the kernel's own loop goes on


@pytest.mark.kernel
def test_an_interrupt_stops_a_slow_async_tool(k):
    timer = threading.Timer(1.5, k.km.interrupt_kernel)
    timer.start()
    try:
        r = k.run(f"%%wenxin -m {V1} -c slow --tools get_slow_forecast\nGet the slow forecast for Beijing",
                  timeout=25)  # the tool would sleep 30 s
    finally:
        timer.cancel()
    assert r.error is None, "\n".join(r.error["traceback"])
    assert "Traceback" not in r.text and "KeyboardInterrupt" not in r.text
    assert "SLEEPING" in r.stdout
    state = k.value("{'interrupted': session.last_reply.interrupted, "
                    "'calls': [c.status for c in session.last_reply.all_calls]}")
    assert state == {"interrupted": True, "calls": ["interrupted"]}
    assert k.value("6 * 7") == 42
    assert_tool_history_valid(k.value("session.history('slow')"), "v1")
