"""The emulator as the other half of an automatic tool loop, over loopback HTTP with httpx.

Arguments that meet pydantic-style schemas, ``tool_choice`` on both APIs, chained calls (v1 one function a
round, v2 ``parallel_tool_calls`` false), answers that use every result of the turn, failed / declined /
ill-argued calls, long non-JSON results, and no call asked for twice.
"""

from __future__ import annotations

import hashlib
import json

import pytest


V1_CHAT = "/rpc/2.0/ai_custom/v1/wenxinworkshop/chat/completions"
V2 = "/v2/chat/completions"
V2_MODEL = "deepseek-v3"  # a v2 model that takes tools


def _v2_key(purpose: str) -> str:
    digest = hashlib.sha256(purpose.encode()).hexdigest()
    return f"bce-v3/ALTAK-FAKE{digest[:10]}/{digest[10:50]}"


KEY = _v2_key("emulator-tools")


def tool(name: str, description: str, properties: dict, required: list[str]) -> dict:
    return {"name": name, "description": description,
            "parameters": {"type": "object", "properties": properties, "required": required}}


# what pydantic generates for ``get_weather(city: str, days: int = 3, unit: Literal["C", "F"] = "C")``
WEATHER_EN = tool("get_weather", "Get the weather forecast for a city",
                  {"city": {"type": "string", "description": "the city"}, "days": {"type": "integer", "default": 3},
                   "unit": {"type": "string", "enum": ["C", "F"], "default": "C"}}, ["city"])
WEATHER = tool("get_current_weather", "获得指定地点的天气", {"location": {"type": "string"}}, ["location"])
PRICE = tool("get_current_price", "获得指定公司的股价", {"company": {"type": "string"}}, ["company"])
DIVIDE = tool("divide", "Divide a by b", {"a": {"type": "number"}, "b": {"type": "number"}}, ["a", "b"])
UNTYPED = tool("divide", "Divide a by b", {"a": {"type": "string"}, "b": {"type": "string"}}, ["a", "b"])
CALCULATE = tool("calculate", "Calculate an arithmetic expression", {"expression": {"type": "string"}}, ["expression"])
BOOKING = tool("book_hotel", "Book a hotel room", {
    "guest": {"type": "object", "properties": {
        "name": {"type": "string"},
        "age": {"anyOf": [{"type": "integer"}, {"type": "null"}]},
        "vip": {"type": "boolean", "default": False}}, "required": ["name", "age"]},
    "nights": {"type": "integer", "minimum": 1, "maximum": 14},
    "rooms": {"type": "array", "items": {"type": "integer"}},
    "tags": {"type": "array", "items": {"type": "string"}},
    "breakfast": {"type": "boolean"},
    "budget": {"type": "number"},
    "level": {"type": "string", "enum": ["standard", "deluxe", "suite"]},
    "note": {"anyOf": [{"type": "string"}, {"type": "null"}], "default": None},
    "ratio": {"type": ["number", "null"]}},
    ["guest", "nights", "rooms", "tags", "breakfast", "budget", "level", "ratio"])


def as_tools(*functions: dict) -> list[dict]:
    return [{"type": "function", "function": fn} for fn in functions]


def named(name: str) -> dict:
    return {"type": "function", "function": {"name": name}}


# -- a schema checker small enough to trust ---------------------------------------------------------------

_TYPES = {"string": lambda v: isinstance(v, str), "boolean": lambda v: isinstance(v, bool),
          "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
          "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
          "array": lambda v: isinstance(v, list), "object": lambda v: isinstance(v, dict), "null": lambda v: v is None}


def schema_errors(value, schema: dict, path: str = "$") -> list[str]:
    """What in ``value`` breaks ``schema``: types, enums, required and unknown fields, items, bounds, anyOf."""
    if "anyOf" in schema:
        if all(schema_errors(value, branch, path) for branch in schema["anyOf"]):
            return [f"{path}: {value!r} matches no branch of anyOf"]
        return []
    types = schema.get("type")
    types = types if isinstance(types, list) else [types] if types else []
    if types and not any(_TYPES[t](value) for t in types):
        return [f"{path}: {value!r} is not {types}"]
    if "enum" in schema and value not in schema["enum"]:
        return [f"{path}: {value!r} not in {schema['enum']}"]
    errors = []
    if _TYPES["number"](value):
        if value < schema.get("minimum", value) or value > schema.get("maximum", value):
            errors.append(f"{path}: {value} out of bounds")
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        errors += [f"{path}.{name}: missing" for name in schema.get("required", []) if name not in value]
        errors += [f"{path}.{name}: not in the schema" for name in value if name not in properties]
        for name, item in value.items():
            errors += schema_errors(item, properties.get(name, {}), f"{path}.{name}")
    if isinstance(value, list) and "items" in schema:
        for index, item in enumerate(value):
            errors += schema_errors(item, schema["items"], f"{path}[{index}]")
    return errors


def assert_meets(arguments: dict, fn: dict) -> None:
    assert schema_errors(arguments, fn["parameters"]) == [], arguments
    try:
        import jsonschema
    except ImportError:
        return
    jsonschema.validate(arguments, fn["parameters"])


def test_the_checker_catches_what_it_should():
    # the checker is what the argument tests lean on: it must fail on each kind of mistake
    for wrong in ({"guest": {"name": "x"}}, {"guest": {"name": "x", "age": "3"}}, {"guest": {"name": 1, "age": 3}}):
        assert any(e.startswith("$.guest") for e in schema_errors(wrong, BOOKING["parameters"])), wrong
    assert schema_errors({"nights": 20}, {"properties": {"nights": BOOKING["parameters"]["properties"]["nights"]}})
    assert schema_errors({"rooms": ["1"]}, {"properties": {"rooms": {"type": "array", "items": {"type": "integer"}}}})
    assert schema_errors({"unit": "K"}, WEATHER_EN["parameters"]) and schema_errors({"x": True}, {"properties": {}})
    assert schema_errors({"ratio": "1"}, {"properties": {"ratio": {"type": ["number", "null"]}}})


# -- clients ---------------------------------------------------------------------------------------------


@pytest.fixture
def v1(emu, client, token):
    """``send(messages, **body)``: the v1 chat answer's body."""
    def send(messages: list[dict], **body) -> dict:
        r = client.post(V1_CHAT, params={"access_token": token}, json={"messages": messages, **body})
        assert r.status_code == 200 and "error_code" not in r.json(), r.text
        return r.json()

    return send


@pytest.fixture
def v2(emu, client):
    """``send(messages, **body)``: the v2 answer's first choice."""
    def send(messages: list[dict], **body) -> dict:
        r = client.post(V2, json={"model": V2_MODEL, "messages": messages, **body},
                        headers={"Authorization": f"Bearer {KEY}"})
        assert r.status_code == 200, r.text
        return r.json()["choices"][0]

    return send


def user(text: str) -> list[dict]:
    return [{"role": "user", "content": text}]


def v1_call(v1, question: str, functions: list[dict], **body) -> tuple[str, dict]:
    call = v1(user(question), functions=functions, **body)["function_call"]
    return call["name"], json.loads(call["arguments"])


def v2_calls(v2, question: str, functions: list[dict], **body) -> list[dict]:
    choice = v2(user(question), tools=as_tools(*functions), **body)
    assert choice["finish_reason"] == "tool_calls", choice
    return choice["message"]["tool_calls"]


def v1_loop(v1, question: str, functions: list[dict], results, rounds: int = 5, **body):
    """The session's loop on v1: (the calls asked for, the final text, how many requests it took)."""
    messages, calls = user(question), []
    for sent in range(1, rounds + 1):
        data = v1(messages, functions=functions, **body)
        call = data.get("function_call")
        if not call:
            return calls, data["result"], sent
        calls.append((call["name"], json.loads(call["arguments"])))
        messages += [{"role": "assistant", "content": "", "function_call": {"name": call["name"],
                                                                             "arguments": call["arguments"]}},
                     {"role": "function", "name": call["name"], "content": results(*calls[-1])}]
    raise AssertionError(f"no answer after {rounds} rounds: {calls}")


def v2_loop(v2, question: str, functions: list[dict], results, rounds: int = 5, **body):
    """The session's loop on v2: (the calls of each round, the final text)."""
    messages, per_round = user(question), []
    for _ in range(rounds):
        choice = v2(messages, tools=as_tools(*functions), **body)
        calls = choice["message"].get("tool_calls")
        if not calls:
            assert choice["finish_reason"] == "stop"
            return per_round, choice["message"]["content"]
        per_round.append(calls)
        messages += [{"role": "assistant", "content": "", "tool_calls": calls}]
        messages += [{"role": "tool", "tool_call_id": c["id"],
                      "content": results(c["function"]["name"], json.loads(c["function"]["arguments"]))}
                     for c in calls]
    raise AssertionError(f"no answer after {rounds} rounds: {per_round}")


def market(name: str, arguments: dict) -> str:
    """Stand-in functions: the weather is 25 degrees and sunny, every share costs 300.5."""
    if name == "get_current_weather":
        return json.dumps({"temperature": 25 if arguments["location"] == "北京市" else 31, "description": "晴"},
                          ensure_ascii=False)
    return json.dumps({"price": 300.5})


# -- arguments --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("fn, question", [
    (WEATHER_EN, "What's the weather in Paris for 5 days?"),
    (BOOKING, "Book 2 nights in rooms 101 and 102, deluxe please"),
    (BOOKING, "帮我订酒店"),
    (DIVIDE, "What is 7.5 divided by 2?"),
    (UNTYPED, "What is 7 divided by 2?"),
    (CALCULATE, "Please calculate 12 * (3 + 4)"),
])
def test_arguments_meet_the_schema_on_both_apis(v1, v2, fn, question):
    name, arguments = v1_call(v1, question, [fn], tool_choice=named(fn["name"]))
    assert name == fn["name"]
    assert_meets(arguments, fn)
    (call,) = v2_calls(v2, question, [fn], tool_choice=named(fn["name"]))
    assert_meets(json.loads(call["function"]["arguments"]), fn)


def test_each_type_gets_a_value_of_its_own(v1):
    _, booking = v1_call(v1, "Book 2 nights in rooms 101 and 102, deluxe please", [BOOKING])
    # numbers go to numeric fields in turn: the guest's age first, then nights (101, held to the maximum)
    assert booking["guest"]["age"] == 2 and isinstance(booking["guest"]["name"], str)  # not the null branch
    assert booking["nights"] == 14 and booking["rooms"] == [2, 101, 102]
    assert booking["level"] == "deluxe" and booking["breakfast"] is True
    assert "note" not in booking and "vip" not in booking["guest"]  # optional, and the question says nothing
    assert isinstance(booking["ratio"], (int, float)) and not isinstance(booking["ratio"], bool)
    _, bare = v1_call(v1, "帮我订酒店", [BOOKING], tool_choice=named("book_hotel"))
    assert bare["nights"] == 1 and bare["rooms"] == [1] and bare["level"] == "standard"  # no number, no level named
    _, divide = v1_call(v1, "What is 7.5 divided by 2?", [DIVIDE])
    assert divide == {"a": 7.5, "b": 2}


def test_untyped_parameters_are_strings(v1):
    _, arguments = v1_call(v1, "What is 7 divided by 2?", [UNTYPED])
    assert set(arguments) == {"a", "b"} and all(isinstance(v, str) and v for v in arguments.values())


def test_a_formula_field_gets_the_arithmetic(v1, v2):
    assert v1_call(v1, "Please calculate 12 * (3 + 4)", [CALCULATE])[1] == {"expression": "12 * (3 + 4)"}
    (call,) = v2_calls(v2, "计算(12+3)×4等于多少？", [CALCULATE], tool_choice=named("calculate"))
    assert json.loads(call["function"]["arguments"]) == {"expression": "(12+3)*4"}


def test_an_optional_enum_is_filled_only_when_named(v2):
    (call,) = v2_calls(v2, "What's the weather in Paris, in F?", [WEATHER_EN])
    assert json.loads(call["function"]["arguments"]) == {"city": "Paris", "unit": "F"}
    (call,) = v2_calls(v2, "What's the weather in Chengdu?", [WEATHER_EN])  # its "C" is no unit
    assert json.loads(call["function"]["arguments"]) == {"city": "Chengdu"}


# -- tool_choice ------------------------------------------------------------------------------------------

def test_tool_choice_naming_a_function_calls_it_once_on_v1(v1):
    calls, text, sent = v1_loop(v1, "北京天气怎么样，腾讯股价多少", [WEATHER, PRICE], market,
                                tool_choice=named("get_current_price"))
    assert [name for name, _ in calls] == ["get_current_price"] and sent == 2  # no weather chained after it
    assert "300.5" in text


def test_tool_choice_naming_a_function_calls_it_once_on_v2(v2):
    rounds, text = v2_loop(v2, "北京天气怎么样，腾讯股价多少", [WEATHER, PRICE], market,
                           tool_choice=named("get_current_price"))
    assert [[c["function"]["name"] for c in calls] for calls in rounds] == [["get_current_price"]]
    assert "300.5" in text


def test_tool_choice_none_never_calls_and_required_calls_once(v2):
    rounds, text = v2_loop(v2, "北京天气怎么样", [WEATHER], market, tool_choice="none")
    assert rounds == [] and text
    # "none" after a result too, though the turn's other city is still to ask about
    first = v2_calls(v2, "北京和上海的天气", [WEATHER], parallel_tool_calls=False)
    messages = user("北京和上海的天气") + [{"role": "assistant", "content": "", "tool_calls": first},
                                       {"role": "tool", "tool_call_id": first[0]["id"], "content": '{"temperature": 25}'}]
    choice = v2(messages, tools=as_tools(WEATHER), parallel_tool_calls=False, tool_choice="none")
    assert choice["finish_reason"] == "stop" and "25" in choice["message"]["content"]
    rounds, text = v2_loop(v2, "Tell me a joke", [WEATHER], market, tool_choice="required")
    assert len(rounds) == 1 and len(rounds[0]) == 1 and "31" in text


# -- chains -----------------------------------------------------------------------------------------------

def test_v1_chains_two_functions_then_answers_with_both(v1, emu):
    calls, text, sent = v1_loop(v1, "北京天气怎么样，腾讯股价多少", [WEATHER, PRICE], market)
    assert [name for name, _ in calls] == ["get_current_weather", "get_current_price"] and sent == 3
    assert calls[0][1] == {"location": "北京市"}
    assert "25" in text and "晴" in text and "300.5" in text
    assert text.index("25") < text.index("300.5")  # one sentence per result, in order
    assert len([r for r in emu.requests if r["path"].endswith("/chat/completions")]) == 3


def test_v2_without_parallel_calls_chains_one_a_round(v2):
    rounds, text = v2_loop(v2, "北京和上海的天气", [WEATHER], market, parallel_tool_calls=False)
    assert [len(calls) for calls in rounds] == [1, 1]
    places = [json.loads(calls[0]["function"]["arguments"])["location"] for calls in rounds]
    assert places == ["北京市", "上海市"] and rounds[0][0]["id"] != rounds[1][0]["id"]
    assert all(part in text for part in ("北京", "25", "上海", "31"))


def test_v2_calls_every_match_in_one_round_then_uses_each_value(v2):
    rounds, text = v2_loop(v2, "北京天气怎么样，腾讯股价多少", [WEATHER, PRICE], market)
    assert [[c["function"]["name"] for c in calls] for calls in rounds] == [["get_current_weather",
                                                                             "get_current_price"]]
    assert "25" in text and "300.5" in text


def test_a_chained_round_streams_the_same_call(client, v2):
    first = v2_calls(v2, "北京和上海的天气", [WEATHER], parallel_tool_calls=False)
    messages = user("北京和上海的天气") + [{"role": "assistant", "content": "", "tool_calls": first},
                                       {"role": "tool", "tool_call_id": first[0]["id"], "content": '{"temperature": 25}'}]
    body = {"model": V2_MODEL, "messages": messages, "tools": as_tools(WEATHER), "parallel_tool_calls": False}
    whole = v2(messages, tools=as_tools(WEATHER), parallel_tool_calls=False)["message"]["tool_calls"]
    r = client.post(V2, json={**body, "stream": True}, headers={"Authorization": f"Bearer {KEY}"})
    chunks = [json.loads(line[5:]) for line in r.text.splitlines() if line.startswith("data:") and "[DONE]" not in line]
    pieces = [d for c in chunks if c["choices"] for d in c["choices"][0]["delta"].get("tool_calls") or ()]
    streamed = {"id": pieces[0]["id"], "type": "function", "function": {
        "name": pieces[0]["function"]["name"], "arguments": "".join(p["function"]["arguments"] for p in pieces)}}
    assert [streamed] == whole and json.loads(whole[0]["function"]["arguments"]) == {"location": "上海市"}


def test_the_same_call_is_never_asked_for_twice(v1, v2):
    question = "北京天气怎么样，腾讯股价多少"
    # the client ran both, in its own order and JSON spelling: answer, do not call again
    messages = user(question) + [
        {"role": "assistant", "content": "", "function_call": {"name": "get_current_price",
                                                                "arguments": '{ "company" : "%s" }' % question}},
        {"role": "function", "name": "get_current_price", "content": '{"price": 300.5}'},
        {"role": "assistant", "content": "", "function_call": {"name": "get_current_weather",
                                                                "arguments": '{"location":"北京市"}'}},
        {"role": "function", "name": "get_current_weather", "content": '{"temperature": 25}'}]
    data = v1(messages, functions=[WEATHER, PRICE])
    assert "function_call" not in data and "300.5" in data["result"] and "25" in data["result"]
    # one call per city: the city already asked about is done, the other is still to come
    calls = [{"id": "c1", "type": "function", "function": {"name": "get_current_weather",
                                                          "arguments": '{"location":"北京市"}'}}]
    messages = user("北京和上海的天气") + [{"role": "assistant", "content": "", "tool_calls": calls},
                                       {"role": "tool", "tool_call_id": "c1", "content": '{"temperature": 25}'}]
    (call,) = v2(messages, tools=as_tools(WEATHER))["message"]["tool_calls"]
    assert json.loads(call["function"]["arguments"]) == {"location": "上海市"}
    rounds, _ = v2_loop(v2, "Tell me a joke", [WEATHER], market, tool_choice="required", parallel_tool_calls=False)
    assert len(rounds) == 1


def test_an_earlier_turn_does_not_count_as_this_one(v1):
    earlier = [*user("北京天气怎么样"),
               {"role": "assistant", "content": "", "function_call": {"name": "get_current_weather",
                                                                       "arguments": '{"location": "北京市"}'}},
               {"role": "function", "name": "get_current_weather", "content": '{"temperature": 25}'},
               {"role": "assistant", "content": "北京市今天天气：气温25摄氏度。"}]
    data = v1([*earlier, *user("北京天气怎么样")], functions=[WEATHER])
    assert data["function_call"]["name"] == "get_current_weather"


def test_answers_are_the_same_byte_for_byte(client, token):
    messages = user("北京天气怎么样，腾讯股价多少") + [
        {"role": "assistant", "content": "", "function_call": {"name": "get_current_weather",
                                                                "arguments": '{"location": "北京市"}'}},
        {"role": "function", "name": "get_current_weather", "content": '{"temperature": 25}'}]
    body = {"messages": messages, "functions": [WEATHER, PRICE]}
    answers = [client.post(V1_CHAT, params={"access_token": token}, json=body).json() for _ in range(2)]
    for answer in answers:  # what differs between two responses of the service too
        del answer["id"], answer["created"]
    assert answers[0] == answers[1] and answers[0]["function_call"]["name"] == "get_current_price"


# -- results ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("error", ["ZeroDivisionError: division by zero", "declined: the user did not allow this call",
                                   "invalid arguments: b: Input should be a valid number"])
def test_failed_calls_are_answered_plainly(v1, v2, error):
    content = json.dumps({"error": error})
    _, text, _ = v1_loop(v1, "What is 1 divided by 0?", [DIVIDE], lambda *_: content)
    assert text == f"I could not use divide: {error}."
    _, text = v2_loop(v2, "1除以0等于多少？", [DIVIDE], lambda *_: content, tool_choice=named("divide"))
    assert text == f"我无法使用divide：{error}。"


def test_a_failure_and_a_success_are_both_reported(v2):
    def half_broken(name, arguments):
        return json.dumps({"error": "TimeoutError: no answer"}) if name == "get_current_price" else market(name, arguments)

    _, text = v2_loop(v2, "北京天气怎么样，腾讯股价多少", [WEATHER, PRICE], half_broken)
    assert "25" in text and "我无法使用get_current_price：TimeoutError: no answer。" in text


def test_a_long_or_cut_result_is_quoted_briefly(v1):
    report = "<Report rows=500 " + "row " * 100 + ">"
    for content in (report, report + "… [cut: 12000 more characters]"):
        _, text, _ = v1_loop(v1, "What is 7.5 divided by 2?", [DIVIDE], lambda *_, c=content: c)
        assert text.startswith("divide returned: <Report rows=500 row") and text.endswith("…")
        assert len(text) < 120 and "[cut:" not in text
    _, text, _ = v1_loop(v1, "What is 7.5 divided by 2?", [DIVIDE], lambda *_: "3.75 (approx)")
    assert text == "divide returned: 3.75 (approx)"


def test_words_in_a_result_do_not_lengthen_the_answer(v1):
    _, text, _ = v1_loop(v1, "What is 7.5 divided by 2?", [DIVIDE], lambda *_: '{"summary": "a detailed report"}')
    assert text == "According to divide: summary is a detailed report."
