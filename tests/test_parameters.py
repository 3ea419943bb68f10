"""The parameter table: one rule per request parameter, read by validation, the emulator and the command line."""

from __future__ import annotations

import ast
import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import wenxin_magic.api as api
from wenxin_magic.api import (CUSTOM_CHAT, CUSTOM_COMPLETION, MODELS, PARAMETERS, InvalidRequestError, Parameter,
                              QianfanClient, find_model, validate_request)
from wenxin_magic.emulator import Emulator

WIRE_NAMES = {"stream", "user_id", "temperature", "top_p", "top_k", "penalty_score", "system", "stop",
              "max_output_tokens", "min_output_tokens", "functions", "tool_choice", "disable_search",
              "enable_citation", "enable_trace", "response_format", "user_setting", "enable_system_memory",
              "system_memory_id", "frequency_penalty", "presence_penalty"}
NUMERIC = [p for p in PARAMETERS.values() if p.kind in ("number", "integer")]
HELLO = [{"role": "user", "content": "你好"}]


def _accepted(param: Parameter, value, **kw) -> bool:
    try:
        param.check(value, model="M", **kw)
    except InvalidRequestError:
        return False
    return True


def _parsed(param: Parameter, text: str) -> bool:
    try:
        param.parse(text)
    except ValueError:
        return False
    return True


def _model_accepting(name: str):
    return next(spec for spec in MODELS if name in spec.params and spec.kind == "chat" and spec.endpoint)


# -- the table itself ---------------------------------------------------------------------------------------

def test_the_table_covers_exactly_the_v1_parameters():
    assert set(PARAMETERS) == WIRE_NAMES
    assert all(name == param.name for name, param in PARAMETERS.items())


def test_every_parameter_a_model_accepts_has_a_rule():
    for spec in (*MODELS, CUSTOM_CHAT, CUSTOM_COMPLETION):
        assert spec.params <= set(PARAMETERS), (spec.name, spec.params - set(PARAMETERS))


def test_models_lists_the_registry_models_that_accept_each_parameter():
    for param in PARAMETERS.values():
        assert param.models() == tuple(spec.name for spec in MODELS if param.name in spec.params)
    assert "BLOOMZ-7B" in PARAMETERS["top_k"].models() and "BLOOMZ-7B" not in PARAMETERS["system"].models()
    assert len(PARAMETERS["temperature"].models()) == len(MODELS)


def test_rows_are_frozen_and_documented_in_one_line():
    with pytest.raises(dataclasses.FrozenInstanceError):
        PARAMETERS["temperature"].high = 2
    for param in PARAMETERS.values():
        assert param.doc.strip() and "\n" not in param.doc, param.name
        assert param.kind in ("number", "integer", "boolean", "string", "choice", "stop", "functions",
                              "tool_choice", "object"), param.name


def test_command_line_options():
    options = {p.name: (p.option, p.short) for p in PARAMETERS.values() if p.option}
    assert options == {"temperature": ("--temperature", "-t"), "top_p": ("--top-p", None),
                       "top_k": ("--top-k", None), "penalty_score": ("--penalty", None),
                       "stop": ("--stop", None), "max_output_tokens": ("--max-tokens", None)}


@pytest.mark.parametrize("name, text", [
    ("temperature", "(0, 1]"), ("top_p", "[0, 1]"), ("penalty_score", "[1, 2]"), ("top_k", "[1, ∞)"),
    ("max_output_tokens", "[2, 2048]"), ("min_output_tokens", "[2, 2048]"), ("frequency_penalty", "[-2, 2]"),
    ("presence_penalty", "[-2, 2]"), ("stop", ""), ("response_format", ""), ("system", ""),
])
def test_range_text(name, text):
    assert PARAMETERS[name].range_text == text


# -- check: the service's rules -----------------------------------------------------------------------------

@pytest.mark.parametrize("param", NUMERIC, ids=lambda p: p.name)
def test_numeric_rules_accept_their_bounds_and_reject_just_outside(param):
    step = 1 if param.kind == "integer" else 1e-9
    assert _accepted(param, param.low) is not param.low_open
    assert _accepted(param, param.low + step)
    assert not _accepted(param, param.low - step)
    if param.high is None:
        assert _accepted(param, 10 ** 30)
    else:
        assert _accepted(param, param.high)
        assert not _accepted(param, param.high + step)


@pytest.mark.parametrize("param", NUMERIC, ids=lambda p: p.name)
def test_numeric_rules_reject_bools_nan_and_infinities(param):
    for value in (True, False, float("nan"), float("inf"), float("-inf"), "1", None):
        assert not _accepted(param, value), value
    if param.kind == "integer":
        assert not _accepted(param, float(param.low)) and not _accepted(param, param.low + 0.5)


def test_a_broken_range_raises_the_service_error():
    with pytest.raises(InvalidRequestError) as info:
        PARAMETERS["temperature"].check(0, model="ERNIE-Speed-8K")
    err = info.value
    assert (err.code, err.field, err.allowed, err.model) == (336003, "temperature", "a number in (0, 1]",
                                                             "ERNIE-Speed-8K")
    assert err.message == "`temperature` must be a number in (0, 1], got 0 (model ERNIE-Speed-8K)."
    assert err.wire_message == "temperature out of range"
    with pytest.raises(InvalidRequestError) as info:
        PARAMETERS["top_k"].check("3", model="BLOOMZ-7B")
    assert info.value.wire_message == "invalid top_k" and info.value.allowed == "an integer in [1, ∞)"


def test_bounds_replace_the_default_range():
    max_tokens, min_tokens = PARAMETERS["max_output_tokens"], PARAMETERS["min_output_tokens"]
    assert _accepted(max_tokens, 2048) and not _accepted(max_tokens, 101, bounds=(2, 100))
    with pytest.raises(InvalidRequestError, match=r"\[2, 50\]"):
        min_tokens.check(60, model="M", bounds=(2, 50))
    body = {"messages": HELLO, "max_output_tokens": 50, "min_output_tokens": 60}
    with pytest.raises(InvalidRequestError, match=r"`min_output_tokens` must be an integer in \[2, 50\]"):
        validate_request(find_model("ERNIE-Speed-Pro-8K"), body)  # its seed twin takes no min_output_tokens


def test_other_kinds():
    assert _accepted(PARAMETERS["stream"], True) and not _accepted(PARAMETERS["stream"], 1)
    assert _accepted(PARAMETERS["system"], "你是一个助手") and not _accepted(PARAMETERS["system"], ["x"])
    fmt = PARAMETERS["response_format"]
    assert fmt.choices == ("text", "json_object") and _accepted(fmt, "json_object") and not _accepted(fmt, "xml")
    stop = PARAMETERS["stop"]
    assert _accepted(stop, ["a" * 20] * 4)
    for bad in (["a"] * 5, ["a" * 21], [""], "a", [1]):
        assert not _accepted(stop, bad), bad
    functions = [{"name": "f", "description": "d", "parameters": {}}]
    assert _accepted(PARAMETERS["functions"], functions) and not _accepted(PARAMETERS["functions"], [])
    choice = PARAMETERS["tool_choice"]
    assert _accepted(choice, {"type": "function", "function": {"name": "f"}}) and _accepted(choice, None)
    assert not _accepted(choice, {"type": "function", "function": "f"})
    assert choice.needs == "functions"
    assert _accepted(PARAMETERS["user_setting"], {"anything": 1})


@pytest.mark.parametrize("param", NUMERIC, ids=lambda p: p.name)
def test_validation_reads_its_ranges_from_the_table(param):
    spec = _model_accepting(param.name)
    low, high = spec.max_output_tokens if param.name == "max_output_tokens" else (param.low, param.high)
    step = 1 if param.kind == "integer" else 1e-9
    validate_request(spec, {"messages": HELLO, param.name: high if high is not None else 10 ** 6})
    with pytest.raises(InvalidRequestError) as info:
        validate_request(spec, {"messages": HELLO, param.name: low - step})
    assert info.value.field == param.name and param.range_text in str(info.value)


# -- parse: words of a command line -------------------------------------------------------------------------

@pytest.mark.parametrize("name, text, message", [
    ("temperature", "3", "--temperature must be in (0, 1], got 3"),
    ("temperature", "0", "--temperature must be in (0, 1], got 0"),
    ("temperature", "abc", "--temperature takes a number, got 'abc'"),
    ("temperature", "nan", "--temperature must be in (0, 1], got nan"),
    ("top_p", "inf", "--top-p must be in [0, 1], got inf"),
    ("penalty_score", "0.5", "--penalty must be in [1, 2], got 0.5"),
    ("top_k", "x", "--top-k takes a whole number, got 'x'"),
    ("top_k", "2.5", "--top-k takes a whole number, got '2.5'"),
    ("top_k", "0", "--top-k must be in [1, ∞], got 0"),
    ("max_output_tokens", "2049", "--max-tokens must be in [2, 2048], got 2049"),
])
def test_parse_errors_name_the_option_and_what_it_takes(name, text, message):
    with pytest.raises(ValueError) as info:
        PARAMETERS[name].parse(text)
    assert str(info.value) == message


def test_parse_returns_typed_values():
    assert PARAMETERS["temperature"].parse("0.5") == 0.5 and isinstance(PARAMETERS["temperature"].parse("1"), float)
    assert PARAMETERS["top_k"].parse("40") == 40 and isinstance(PARAMETERS["top_k"].parse("40"), int)
    assert PARAMETERS["stop"].parse("。") == "。"
    with pytest.raises(ValueError, match="--stop"):
        PARAMETERS["stop"].parse("a" * 21)
    with pytest.raises(ValueError, match="--stop"):
        PARAMETERS["stop"].parse("")


@settings(max_examples=300, deadline=None)
@given(st.sampled_from([p for p in NUMERIC if p.kind == "number"]),
       st.floats(allow_nan=True, allow_infinity=True) | st.sampled_from([0.0, 1.0, 2.0, -2.0, 1e-12, -1e-12]))
def test_parse_and_check_agree_on_numbers(param, value):
    assert _parsed(param, repr(value)) == _accepted(param, value)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from([p for p in NUMERIC if p.kind == "integer"]),
       st.integers(-5, 5000) | st.integers(min_value=-10 ** 30, max_value=10 ** 30))
def test_parse_and_check_agree_on_integers(param, value):
    assert _parsed(param, str(value)) == _accepted(param, value)


# -- the package's surface --------------------------------------------------------------------------------

def test_importing_the_api_does_not_load_httpx():
    code = "import sys, wenxin_magic.api; print('httpx' in sys.modules, 'IPython' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False", "False"]


def test_everything_public_is_importable_and_presented_as_the_api_s_own():
    for name in api.__all__:
        obj = getattr(api, name)
        if isinstance(obj, type) or callable(obj):
            assert obj.__module__ == "wenxin_magic.api", name
    assert {"QianfanClient", "ChatStream", "PARAMETERS", "Parameter", "Credentials", "sign_request"} <= set(api.__all__)


def test_the_emulator_uses_only_public_api_names():
    emulator = Path(api.__file__).parent.parent / "emulator"
    for path in emulator.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and "api" in node.module.split("."):
                assert not any(part.startswith("_") for part in node.module.split(".")), (path.name, node.module)
                assert not any(alias.name.startswith("_") for alias in node.names), (path.name, node.module)


# -- messages say facts, not how a front end phrases them ----------------------------------------------------

def _refusal(call) -> InvalidRequestError:
    with pytest.raises(InvalidRequestError) as info:
        call()
    return info.value


def _front_end_words(text: str) -> list[str]:
    return [word for word in ("%wenxin", "magic", "cell", "notebook", "--endpoint") if word in text.lower()]


def test_client_refusals_name_their_field_and_no_front_end():
    client = QianfanClient("ak", "sk", base_url="http://127.0.0.1:9")
    refusals = {
        "model": _refusal(lambda: client.stream_chat(model="ERNIE-Sped-8K", messages=HELLO)),
        "endpoint": _refusal(lambda: client.stream_chat(model="Yi-34B", messages=HELLO)),
        "completion": _refusal(lambda: client.stream_complete(prompt="hi")),
        "address": _refusal(lambda: client.stream_chat(endpoint="a/b", messages=HELLO)),
    }
    assert refusals["model"].field == "model" and "Unknown model 'ERNIE-Sped-8K'" in str(refusals["model"])
    assert "ERNIE-Speed-8K" in str(refusals["model"])
    assert refusals["endpoint"].field == "endpoint" and refusals["endpoint"].model == "Yi-34B"
    assert refusals["completion"].field == "endpoint" and refusals["address"].field == "endpoint"
    for what, err in refusals.items():
        assert not _front_end_words(f"{err} {err.hint or ''}"), (what, str(err))


async def test_an_unknown_endpoint_from_the_service_names_its_field():
    with Emulator(strict_endpoints=True) as emu:
        async with QianfanClient("ak", "sk", base_url=emu.base_url, max_retries=0) as client:
            with pytest.raises(InvalidRequestError) as info:
                await client.chat(endpoint="nobody_deployed_this", messages=HELLO)
    err = info.value
    assert err.code == 3 and err.field == "endpoint"
    assert err.hint and not _front_end_words(f"{err} {err.hint}")


def test_no_service_code_advice_mentions_a_front_end():
    described = {code: api.describe_code(code) for code in range(336600) if api.describe_code(code)}
    assert len(described) >= 25 and 3 in described
    for code, (service_text, advice) in described.items():
        assert not _front_end_words(f"{service_text} {advice}"), code
