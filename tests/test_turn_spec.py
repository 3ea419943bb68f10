"""The description of one turn (``TurnSpec``): what a caller's keywords become, the Reply it makes, the request
each round sends. No network: a recording client stands in for the service."""

from __future__ import annotations

from types import SimpleNamespace

from wenxin_magic.session._turns import TurnSpec, asked_params


class RecordingClient:
    """Each method returns what it was called with: (method name, positional arguments, keywords)."""

    def __getattr__(self, name):
        if name not in ("chat", "stream_chat", "complete", "stream_complete"):
            raise AttributeError(name)
        return lambda *args, **kwargs: (name, args, kwargs)


TOOLS = SimpleNamespace(toolbox=SimpleNamespace(definitions=lambda: [{"name": "add"}], names=["add"]),
                        choice={"type": "function", "function": {"name": "add"}})
QUESTION = {"role": "user", "content": "1+1?"}


def test_a_callers_keywords_are_the_specs_own_or_request_parameters():
    options = {"model": "ERNIE-3.5-8K", "chat": "a", "stream": False, "system": "be brief", "new": True,
               "endpoint": "my-svc", "function_name": "add", "raise_on_error": False, "temperature": 0.3}
    turn = TurnSpec.of("hi", options)
    assert (turn.model, turn.chat, turn.stream, turn.system, turn.new, turn.endpoint, turn.function_name,
            turn.raise_on_error) == ("ERNIE-3.5-8K", "a", False, "be brief", True, "my-svc", "add", False)
    assert turn.params == {"temperature": 0.3} and turn.kind == "chat"
    assert TurnSpec.of("once upon", {"completion": True, "top_p": 0.5}).kind == "completion"
    assert TurnSpec.of("hi", {"completion": False}).params == {}


def test_each_reply_of_a_turn_carries_what_was_asked():
    turn = TurnSpec("hi", kind="compare", model="ernie-3.5-8k", api="v2", chat=None, asked={"temperature": 0.3})
    first, following = turn.reply(), turn.reply()
    assert first is not following
    for reply in (first, following):
        assert (reply.prompt, reply.kind, reply.model, reply.api, reply.chat, reply.params) == \
            ("hi", "compare", "ernie-3.5-8k", "v2", None, {"temperature": 0.3})
        assert not reply.done and reply.text == ""


def test_a_chat_round_sends_the_rounds_so_far_after_its_messages():
    turn = TurnSpec("1+1?", model="ERNIE-3.5-8K", endpoint=None, messages=[QUESTION], params={"temperature": 0.3})
    after = [{"role": "assistant", "content": "2"}]
    name, args, kwargs = turn.send(RecordingClient(), True, after, first=False)
    assert name == "stream_chat" and args == ()
    assert kwargs == {"model": "ERNIE-3.5-8K", "messages": [QUESTION] + after, "endpoint": None, "temperature": 0.3}
    assert turn.messages == [QUESTION]  # the rounds are added to the request, not to the turn
    assert turn.send(RecordingClient(), False, [], first=True)[0] == "chat"


def test_tools_are_offered_every_round_and_tool_choice_only_first():
    turn = TurnSpec("1+1?", model="ERNIE-3.5-8K", messages=[QUESTION], params={"temperature": 0.3}, tools=TOOLS)
    _, _, first = turn.send(RecordingClient(), True, [], first=True)
    _, _, later = turn.send(RecordingClient(), True, [], first=False)
    assert first["functions"] == [{"name": "add"}] and first["tool_choice"] == TOOLS.choice
    assert later["functions"] == [{"name": "add"}] and "tool_choice" not in later
    assert turn.params == {"temperature": 0.3}  # the turn's own parameters are left as they were


def test_a_turn_without_messages_is_a_completion_of_its_prompt():
    turn = TurnSpec("once upon", kind="batch", model=None, endpoint="my-svc", params={"top_p": 0.5})
    assert turn.send(RecordingClient(), False, [], first=True) == (
        "complete", ("once upon",), {"endpoint": "my-svc", "model": None, "top_p": 0.5})
    assert turn.send(RecordingClient(), True, [], first=True)[0] == "stream_complete"


def test_what_a_reply_records_of_its_parameters():
    assert asked_params({"temperature": 0.3, "system": "be brief"}, None) == {"temperature": 0.3}
    assert asked_params({"system": "be brief"}, TOOLS) == {"tools": ["add"]}
    assert TurnSpec("hi").request_message == {"role": "user", "content": "hi"}
    result = {"role": "function", "name": "add", "content": "2"}
    assert TurnSpec("2", request=result).request_message is result
