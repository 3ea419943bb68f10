"""Bad input never ends in a raw traceback: property tests over option lines, parameter values, message lists
and the magic end to end (in-process IPython, offline against the emulator)."""

from __future__ import annotations

import math
import os
import re

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import wenxin_magic
from _fakes import assert_history_valid
from wenxin_magic.api import InvalidRequestError, find_model, validate_request
from wenxin_magic.parsers import UsageError, parse_cell_args
from wenxin_magic.session import set_session
from IPython.core.error import UsageError as IPythonUsageError

SETTINGS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])

OPTIONS = ["-m", "--model", "--endpoint", "--completion", "-c", "--chat", "--new", "-s", "--system", "-t",
           "--temperature", "--top-p", "--top-k", "--penalty", "--stop", "--max-tokens", "--no-stream", "-o",
           "--out", "--compare", "-f", "--format", "--no-interpolate"]
VALUES = ["0", "1", "-1", "0.5", "2", "1.5", "nan", "inf", "-inf", "1e999", "2048", "2049", "abc", "", "''", '""',
          "BLOOMZ-7B", "ERNIE-Speed-8K", "ernie speed", "Yi-34B", "NoSuchModel", "my_yi_34b", "a/b", "x y",
          "BLOOMZ-7B,ERNIE-Speed-8K", ",,", "markdown", "code", "json", "yaml", "text", "var", "1var", "。",
          "a" * 21, "{x}", "%", "`", "--", "-", "\\", "'", '"', "\udcff", "你好"]
WORDS = st.sampled_from(OPTIONS + VALUES) | st.text(max_size=12)


def _line(tokens: list[str]) -> str:
    return " ".join(tokens)


option_lines = st.lists(WORDS, max_size=8).map(_line) | st.text(max_size=60)


# -- option lines ------------------------------------------------------------------------------------

@SETTINGS
@given(option_lines)
@example("--temperature")
@example('-s "unclosed')
@example("--top-k 99999999999999999999999999999999999999999999999999999999999999999999")
@example("-t 1e999")
@example("--stop a --stop b --stop c --stop d --stop e")
@example("--compare " + ",".join(["BLOOMZ-7B"] * 9))
@example("--")
def test_option_lines_parse_or_raise_usage_error(line):
    try:
        args = parse_cell_args(line)
    except UsageError as err:
        text = str(err)
        assert text.startswith("%%wenxin")
        # names the option at fault, shows the usage, or says what to fix
        assert re.search(r"-[a-z]|usage:|quotes", text), text
        return
    # a line that parses has values within the documented ranges
    if args.temperature is not None:
        assert 0 < args.temperature <= 1
    if args.top_p is not None:
        assert 0 <= args.top_p <= 1
    if args.penalty is not None:
        assert 1 <= args.penalty <= 2
    if args.top_k is not None:
        assert args.top_k >= 1
    if args.max_tokens is not None:
        assert 2 <= args.max_tokens <= 2048
    if args.stop:
        assert len(args.stop) <= 4 and all(0 < len(s) <= 20 for s in args.stop)
    if args.compare:
        assert 1 <= len(args.compare) <= 8


# -- parameter values ----------------------------------------------------------------------------------

SPEC = find_model("BLOOMZ-7B")  # takes top_k
SPEC_MAX = find_model("ERNIE-Speed-8K")  # takes max_output_tokens

anything = (st.none() | st.booleans() | st.integers() | st.integers(min_value=-10 ** 400, max_value=10 ** 400)
            | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=5)
            | st.lists(st.text(max_size=25), max_size=6) | st.lists(st.integers(), max_size=2)
            | st.sampled_from([0, 1, 2, 0.0, 1.0, 2.0, 1e-9, 2048, 2049, 10 ** 400, -10 ** 400, ["。"], ["a" * 20],
                               ["a" * 21], [], [""]]))


def _number(v) -> bool:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return False
    return isinstance(v, int) or math.isfinite(v)


def _integer(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


RULES = {  # the documented ranges, written independently of the code under test
    "temperature": lambda v: _number(v) and 0 < v <= 1,
    "top_p": lambda v: _number(v) and 0 <= v <= 1,
    "penalty_score": lambda v: _number(v) and 1 <= v <= 2,
    "top_k": lambda v: _integer(v) and v >= 1,
    "max_output_tokens": lambda v: _integer(v) and 2 <= v <= 2048,
    "stop": lambda v: isinstance(v, list) and len(v) <= 4 and all(isinstance(s, str) and 0 < len(s) <= 20 for s in v),
}
RANGES = {"temperature": "(0, 1]", "top_p": "[0, 1]", "penalty_score": "[1, 2]", "top_k": "[1, ∞)",
          "max_output_tokens": "[2, 2048]", "stop": "at most 4"}


ACCEPTED = {"BLOOMZ-7B": ["temperature", "top_p", "penalty_score", "top_k", "stop"],
            "ERNIE-Speed-8K": ["temperature", "top_p", "penalty_score", "max_output_tokens", "stop"]}
model_and_params = st.sampled_from(sorted(ACCEPTED)).flatmap(
    lambda model: st.tuples(st.just(model), st.dictionaries(st.sampled_from(ACCEPTED[model]), anything, min_size=1,
                                                            max_size=4)))


@SETTINGS
@given(model_and_params)
@example(("ERNIE-Speed-8K", {"temperature": 10 ** 400}))
@example(("BLOOMZ-7B", {"top_k": True}))
@example(("BLOOMZ-7B", {"temperature": float("nan")}))
@example(("ERNIE-Speed-8K", {"max_output_tokens": 2048.0}))
@example(("ERNIE-Speed-8K", {"top_p": -10 ** 400}))
@example(("BLOOMZ-7B", {"temperature": 10 ** 5000}))
def test_parameter_values(model_and_params):
    model, params = model_and_params
    spec = find_model(model)
    bad = {name for name, value in params.items() if not RULES[name](value)}
    body = {"messages": [{"role": "user", "content": "你好"}], **params}
    try:
        validate_request(spec, body)
    except InvalidRequestError as err:
        assert bad, f"rejected valid parameters {params!r}: {err}"
        assert err.field in bad
        assert RANGES[err.field] in str(err) and err.field in str(err)
        return
    assert not bad, f"accepted {params!r}"


# -- message lists ---------------------------------------------------------------------------------------

ROLES = ["user", "assistant", "function", "system", "bot"]
message = st.fixed_dictionaries(
    {"role": st.sampled_from(ROLES), "content": st.sampled_from(["你好", "hi", " ", "", "{x}", "`%`"])},
    optional={"name": st.sampled_from(["get_weather", "", " "])})


def _valid_shape(messages: list[dict]) -> bool:
    if not messages or len(messages) % 2 == 0:
        return False
    for i, m in enumerate(messages, start=1):
        if i == 1 and m["role"] == "function":
            return False
        if i % 2 == 1 and m["role"] not in ("user", "function"):
            return False
        if i % 2 == 0 and m["role"] != "assistant":
            return False
        if m["role"] == "function" and not (m.get("name") or "").strip():
            return False
        if m["content"] == "":  # the service rejects empty content anywhere
            return False
    return bool(messages[-1]["content"].strip())


@SETTINGS
@given(st.lists(message, max_size=7))
@example([])
@example([{"role": "user", "content": " "}])
@example([{"role": "function", "name": "f", "content": "x"}])
@example([{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"},
          {"role": "function", "name": "get_weather", "content": "c"}])
def test_message_lists(messages):
    ok = _valid_shape(messages)
    try:
        validate_request(SPEC_MAX, {"messages": messages})
    except InvalidRequestError as err:
        assert not ok, f"rejected a valid list: {err}"
        assert err.field and err.field.startswith("messages")
        return
    assert ok, f"accepted {messages!r}"


# -- the magic end to end, in process ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def shell(tmp_path_factory, module_session_factory):
    from IPython.core.interactiveshell import InteractiveShell

    previous = set_session(module_session_factory())  # offline, on its own fast emulator
    ip = InteractiveShell.instance()
    home = os.getcwd()
    os.chdir(tmp_path_factory.mktemp("shell"))  # a fuzzed %wenxin export writes here
    ip.run_line_magic("load_ext", "wenxin_magic")
    ip.user_ns["x"] = "变量"
    yield ip
    ip.run_line_magic("unload_ext", "wenxin_magic")
    set_session(previous)
    os.chdir(home)


def run_cell(shell, source: str):
    from IPython.utils.capture import capture_output

    with capture_output() as captured:
        result = shell.run_cell(source, store_history=False)
    text = captured.stdout + captured.stderr
    assert result.error_before_exec is None, (source, text)
    # IPython answers a %%magic with no body at all itself, with a one-line UsageError and no traceback
    if result.error_in_exec is not None:
        assert isinstance(result.error_in_exec, IPythonUsageError) and "cell body is empty" in text, (source, text)
    assert "Traceback" not in text and "---------" not in text, (source, text)
    return text


PROMPTS = st.sampled_from(["你好", "{x} and {y} and {{x}} and {x.upper}", "```python\ndef f(): return {1: 2}\n```",
                           "100% sure? %timeit `a`", "{", "}", "{{", "\udcff", "a\udcffb", "  ", "\n\n", "\t",
                           "write 300 characters about {x}", "敏感测试", "x" * 30000]) | st.text(max_size=40)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(line=option_lines.filter(lambda s: len(s.splitlines()) <= 1 and "\r" not in s), prompt=PROMPTS)
@example(line="-m Yi-34B", prompt="你好")
@example(line="--completion", prompt="你好")
@example(line="--endpoint a/b -c weird", prompt="你好")
@example(line="--compare BLOOMZ-7B,NoSuchModel -f json", prompt="{x}")
@example(line="-f code -o var", prompt="write a python function")
@example(line="-c surrogate", prompt="\udcff")
def test_magic_never_shows_a_traceback(shell, line, prompt):
    run_cell(shell, f"%%wenxin {line}\n{prompt}")
    one_line = len(prompt.splitlines()) == 1 and len(prompt.strip().splitlines()) == 1
    login = prompt.split()[0].lower() in ("login", "online") if prompt.split() else False  # would wait for keys
    if one_line and prompt.strip() and not prompt.lstrip().startswith(("-", "%")) and not login:
        run_cell(shell, f"%wenxin {prompt}")
    session = wenxin_magic.get_session()
    for conv in session.chats():
        assert_history_valid(conv.messages())
        roles = [m["role"] for m in conv.messages()]
        assert roles == ["user", "assistant"] * (len(roles) // 2)


def test_lone_surrogates_are_a_clear_error(shell):
    shell.user_ns["broken"] = "file name: \udcff.txt"
    text = run_cell(shell, "%%wenxin -c sur --new\nsummarise {broken}")
    assert "surrogate" in text or "not valid Unicode" in text, text
    assert wenxin_magic.get_session().history("sur") == []
    session = wenxin_magic.get_session()
    with pytest.raises(InvalidRequestError) as err:
        session.ask("a\udcffb", chat="sur2")
    assert err.value.field and "messages" in err.value.field
    assert session.history("sur2") == []


def test_empty_cells(shell):
    assert "cell body is empty" in run_cell(shell, "%%wenxin\n")
    for source in ("%%wenxin\n   \n\t\n", "%%wenxin -c e\n\n", "%%wenxin -c e\n \r\n"):
        assert "the cell is empty" in run_cell(shell, source)


def test_past_the_input_limit_is_a_clear_error_naming_the_limit(shell):
    text = run_cell(shell, "%%wenxin -c long --new\n" + "word " * 6000)
    assert "24000" in text and "ERNIE-Speed-8K" in text and "Error [336007]" in text.replace("Error: [", "Error [")
    assert wenxin_magic.get_session().history("long") == []


def test_trim_history_drops_the_oldest_turns(shell):
    session = wenxin_magic.get_session()
    emu = session.backend.start_emulator()
    block = "abcdefghij " * 900  # ~9900 characters, under the limit alone, not three together
    for i in range(2):
        run_cell(shell, f"%%wenxin -c trim{' --new' if i == 0 else ''}\nround {i} {block}")
    assert len(session.history("trim")) == 4
    text = run_cell(shell, f"%%wenxin -c trim\nround 2 {block}")
    assert "24000" in text  # without trimming: too long
    assert len(session.history("trim")) == 4
    shell.run_line_magic("config", "WenxinMagics.trim_history = True")
    try:
        text = run_cell(shell, f"%%wenxin -c trim\nround 2 {block}")
        assert "Error" not in text
        sent = [r for r in emu.requests if "/chat/" in r["path"]][-1]["json"]["messages"]
        assert len(sent) < 5 and sent[0]["content"].startswith("round 1")  # round 0 trimmed from the request
        assert len(session.history("trim")) == 6  # the conversation itself keeps every turn
    finally:
        shell.run_line_magic("config", "WenxinMagics.trim_history = False")
