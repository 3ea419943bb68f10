"""Tools named by the notebook's names: one rule for ``--tools``, ``WenxinMagics.tools`` and the panel's tools box.

The lookup's own rules first; then the same spec, dotted names included, through the magic and through the panel:
the same functions offered to the model, or the same words about what was wrong.
"""

from __future__ import annotations

import asyncio
import html
import types

import pytest

from _fakes import model_requests
from _panel import send
from wenxin_magic.magics import WenxinMagics
from wenxin_magic.panel import ChatPanel
from wenxin_magic.parsers import UsageError, parse_cell_args
from wenxin_magic.tool_lookup import ToolLookupError, find_tools, split_tool_names

MODEL = "ERNIE-3.5-8K"
WEATHER = "What is the weather in Beijing?"


def get_current_weather(location: str) -> dict:
    """Get the current weather for a city"""
    return {"location": location, "temperature": 25, "weather": "sunny"}


NAMESPACE = {"weather": types.SimpleNamespace(get_current_weather=get_current_weather, units="celsius"),
             "get_current_weather": get_current_weather, "not_a_function": 42}


# -- the lookup ------------------------------------------------------------------------------------------------

def test_plain_and_dotted_names_find_the_functions_in_order():
    found = find_tools(["weather.get_current_weather", "get_current_weather"], NAMESPACE)
    assert found == [get_current_weather, get_current_weather]
    assert find_tools([], NAMESPACE) == []


@pytest.mark.parametrize("name, said", [
    ("nope", "'nope' is not defined in this notebook; define the function (def nope(...): ...)"),
    ("nope.get", "'nope.get' is not defined in this notebook: nothing is named 'nope'; import or define it"),
    ("weather.missing", "'weather.missing': SimpleNamespace has no attribute 'missing'."),
    ("not_a_function", "'not_a_function' is not a function but a value of type int;"),
    ("weather.units", "'weather.units' is not a function but a value of type str;"),
    ("weather.", "'weather.' is not a name: a tool is a function's name, or a dotted path to one (module.func)."),
    ("1st", "'1st' is not a name"),
])
def test_each_wrong_name_is_said_with_what_is_allowed(name, said):
    with pytest.raises(ToolLookupError) as caught:
        find_tools([name], NAMESPACE)
    assert said in str(caught.value)


def test_every_wrong_name_is_said_at_once():
    with pytest.raises(ToolLookupError) as caught:
        find_tools(["nope", "get_current_weather", "not_a_function"], NAMESPACE)
    assert "'nope' is not defined" in str(caught.value) and "'not_a_function' is not a function" in str(caught.value)


def test_a_list_of_names_splits_at_commas_and_drops_blanks():
    assert split_tool_names(" weather.get_current_weather , ,get_current_weather") == [
        "weather.get_current_weather", "get_current_weather"]
    assert split_tool_names(" , ") == []
    with pytest.raises(ToolLookupError, match="'get weather' is not a name"):
        split_tool_names("get weather")


def test_the_tools_option_follows_the_same_spelling_rule():
    assert parse_cell_args("--tools weather.get_current_weather,f").tools == ["weather.get_current_weather", "f"]
    with pytest.raises(UsageError, match="'1st' is not a name: a tool is a function's name, or a dotted path"):
        parse_cell_args("--tools 1st")


# -- the same spec through the magic and the panel ----------------------------------------------------------------

@pytest.fixture
def shell():
    from IPython.core.interactiveshell import InteractiveShell

    ip = InteractiveShell.instance()
    ip.user_ns.update(NAMESPACE)
    yield ip
    for name in NAMESPACE:
        ip.user_ns.pop(name, None)


@pytest.fixture
def session(session_factory, emu):
    return session_factory(against=emu)


def offered(emu) -> list[list[str]]:
    """The names of the functions each request to the model offered."""
    return [[f["name"] for f in r["json"].get("functions", [])] for r in model_requests(emu)]


async def through_the_magic(shell, session, spec: str, capsys):
    magics = WenxinMagics(shell=shell, session=session)
    await asyncio.to_thread(magics.wenxin, f"-m {MODEL} -c magic --tools {spec}", WEATHER)
    return session.history("magic"), capsys.readouterr().err


async def through_the_panel(session, spec: str):
    panel = ChatPanel(session, chat="panel", model=MODEL)
    panel.tools.value = spec
    reply = await send(panel, WEATHER)
    status = html.unescape(panel.status.value)
    panel.close()
    return reply, status


async def test_a_dotted_name_offers_the_same_function_through_the_magic_and_the_panel(shell, session, emu, capsys):
    spec = "weather.get_current_weather"
    history, err = await through_the_magic(shell, session, spec, capsys)
    assert err == "" and history
    by_magic = offered(emu)
    reply, _ = await through_the_panel(session, spec)
    assert reply is not None and reply.error is None and "Today in Beijing" in reply.text
    by_panel = offered(emu)[len(by_magic):]
    assert by_magic == by_panel == [["get_current_weather"], ["get_current_weather"]]


@pytest.mark.parametrize("spec", ["weather.missing", "nope.get", "not_a_function", "weather.units",
                                  "get_current_weather,nope"])
async def test_a_wrong_spec_is_said_in_the_same_words_by_the_magic_and_the_panel(shell, session, emu, capsys, spec):
    with pytest.raises(ToolLookupError) as caught:
        find_tools(spec.split(","), NAMESPACE)
    said = str(caught.value)
    history, err = await through_the_magic(shell, session, spec, capsys)
    assert f"--tools: {said}" in err and history == []
    reply, status = await through_the_panel(session, spec)
    assert reply is None and f"tools: {said}" in status
    assert model_requests(emu) == []  # nothing was sent by either


def test_request_fields_are_read_by_one_rule_for_cells_and_the_panel():
    import pytest as _pytest

    from wenxin_magic.tool_lookup import ParamError, read_param, read_params

    assert read_params('seed=42 think=true \'stop=["END"]\' note=plain') == {
        "seed": 42, "think": True, "stop": ["END"], "note": "plain"}
    assert read_param("user=--model x") == ("user", "--model x")
    for bad, said in (("seed=1 seed=2", "given twice"), ("model=x", "-m/--model"), ("x", "NAME=VALUE"),
                      ("'open", "check the quotes")):
        with _pytest.raises(ParamError, match=said):
            read_params(bad)
