"""Fast unit tests of the %%wenxin option parser and of {variable} interpolation (no network)."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings, strategies as st

from wenxin_magic.parsers import (FORMATS, CellArgs, UsageError, help_text, interpolate, parse_cell_args,
                                  parse_line_prompt, split_line)


# -- options ----------------------------------------------------------------------------
def test_no_options_gives_the_defaults():
    args = parse_cell_args("")
    assert args == CellArgs()
    assert args.params() == {}
    assert args.words == []


@pytest.mark.parametrize("line, field, value", [
    ("-m ERNIE-4.0-8K", "model", "ERNIE-4.0-8K"),
    ("--model BLOOMZ-7B", "model", "BLOOMZ-7B"),
    ("--endpoint my_yi_34b", "endpoint", "my_yi_34b"),
    ("--completion", "completion", True),
    ("-c work", "chat", "work"),
    ("--chat 'my notes'", "chat", "my notes"),
    ("--new", "new", True),
    ("-s 'Answer in one sentence.'", "system", "Answer in one sentence."),
    ('--system "你是一个诗人"', "system", "你是一个诗人"),
    ("-t 0.7", "temperature", 0.7),
    ("--temperature 1", "temperature", 1.0),
    ("--top-p 0", "top_p", 0.0),
    ("--top-p 0.9", "top_p", 0.9),
    ("--top-k 5", "top_k", 5),
    ("--penalty 1.5", "penalty", 1.5),
    ("--stop END", "stop", ["END"]),
    ("--max-tokens 2048", "max_tokens", 2048),
    ("--max-tokens 2", "max_tokens", 2),
    ("--no-stream", "no_stream", True),
    ("-o answer", "out", "answer"),
    ("--out _r2", "out", "_r2"),
    ("--compare ERNIE-Speed-8K,BLOOMZ-7B", "compare", ["ERNIE-Speed-8K", "BLOOMZ-7B"]),
    ("--compare 'ERNIE-Speed-8K, BLOOMZ-7B ,Yi-34B-Chat'", "compare", ["ERNIE-Speed-8K", "BLOOMZ-7B", "Yi-34B-Chat"]),
    ("--no-interpolate", "no_interpolate", True),
])
def test_each_option(line, field, value):
    args = parse_cell_args(line)
    assert getattr(args, field) == value
    # Nothing else is set by a single option.
    others = {k: v for k, v in vars(args).items() if k != field}
    assert others == {k: v for k, v in vars(CellArgs()).items() if k != field}


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format(fmt):
    assert parse_cell_args(f"-f {fmt}").format == fmt
    assert parse_cell_args(f"--format {fmt}").format == fmt


def test_options_combine_and_stop_repeats():
    args = parse_cell_args("-m ERNIE-Speed-8K -c poems --new -s 'be brief' -t 0.3 --top-p 0.8 --top-k 3 "
                           "--penalty 1.2 --stop END --stop '###' --stop x --stop 'two words' --max-tokens 100 "
                           "--no-stream -o r -f json --no-interpolate")
    assert (args.model, args.chat, args.new, args.system) == ("ERNIE-Speed-8K", "poems", True, "be brief")
    assert args.stop == ["END", "###", "x", "two words"]
    assert args.no_stream and args.no_interpolate and args.out == "r" and args.format == "json"


def test_params_use_the_api_names():
    args = parse_cell_args("-t 0.5 --top-p 0.6 --top-k 7 --penalty 1.1 --stop A --stop B --max-tokens 64 -m X")
    assert args.params() == {"temperature": 0.5, "top_p": 0.6, "top_k": 7, "penalty_score": 1.1,
                             "stop": ["A", "B"], "max_output_tokens": 64}
    # Options that are not API parameters, and unset ones, stay out.
    assert parse_cell_args("-m X -c y --new --no-stream -t 0.2").params() == {"temperature": 0.2}


def test_top_p_zero_is_kept_as_a_parameter():
    assert parse_cell_args("--top-p 0").params() == {"top_p": 0.0}


def test_words_that_are_not_options_are_collected():
    assert parse_cell_args("-m BLOOMZ-7B what is this").words == ["what", "is", "this"]


def test_line_prompt():
    args = parse_line_prompt("what is 1+1?")
    assert args.words == ["what is 1+1?"] and args.model is None
    args = parse_line_prompt("-m BLOOMZ-7B -t 0.5 hello there")
    assert args.model == "BLOOMZ-7B" and args.temperature == 0.5 and args.words == ["hello", "there"]


def test_split_line_honours_quotes():
    assert split_line("-s 'a b' --stop \"c d\"") == ["-s", "a b", "--stop", "c d"]


# -- bad options ------------------------------------------------------------------------
@pytest.mark.parametrize("line, must_mention", [
    ("-t 0", ["--temperature", "(0, 1]"]),
    ("-t 1.5", ["--temperature", "(0, 1]"]),
    ("-t hot", ["--temperature", "number"]),
    ("-t nan", ["--temperature", "(0, 1]"]),
    ("--top-p 1.2", ["--top-p", "[0, 1]"]),
    ("--top-p -0.1", ["--top-p", "[0, 1]"]),
    ("--top-k 0", ["--top-k", "[1, "]),
    ("--top-k 2.5", ["--top-k", "whole number"]),
    ("--penalty 0.5", ["--penalty", "[1, 2]"]),
    ("--penalty 2.5", ["--penalty", "[1, 2]"]),
    ("--max-tokens 5000", ["--max-tokens", "[2, 2048]"]),
    ("--max-tokens 1", ["--max-tokens", "[2, 2048]"]),
    ("-f yaml", ["--format", "yaml", "markdown", "text", "code", "json"]),
    ("--foo", ["--foo", "-m MODEL", "--top-p", "--no-stream"]),
    ("-m", ["--model", "expected one argument"]),
    ("-o 1x", ["--out", "1x", "identifier"]),
    ("-o my-var", ["--out", "my-var", "identifier"]),
    ("--stop a --stop b --stop c --stop d --stop e", ["--stop", "4"]),
    ("--stop abcdefghijklmnopqrstuvwxyz", ["--stop", "20 characters"]),
    ("--stop ''", ["--stop"]),
    ("--compare ERNIE-Speed-8K,BLOOMZ-7B --completion", ["--compare", "--completion"]),
    ("--compare ERNIE-Speed-8K,BLOOMZ-7B --endpoint ep1", ["--compare", "--endpoint"]),
    ("--compare ,", ["--compare", "commas"]),
    ("--compare " + ",".join(["BLOOMZ-7B"] * 9), ["--compare", "8"]),
])
def test_bad_options_name_the_option_and_what_is_allowed(line, must_mention):
    with pytest.raises(UsageError) as info:
        parse_cell_args(line)
    message = str(info.value)
    assert message.startswith("%%wenxin")
    for text in must_mention:
        assert text in message, (text, message)
    assert "Traceback" not in message


def test_unbalanced_quote_is_a_usage_error():
    with pytest.raises(UsageError, match="quote"):
        parse_cell_args("-s 'never closed")


@pytest.mark.parametrize("line", ["-h", "--help", "--version", "-t", "--", "-x -y -z"])
def test_argparse_never_exits_the_kernel(line):
    try:
        parse_cell_args(line)
    except UsageError:
        pass  # SystemExit would escape this and fail the test


def test_usage_error_is_a_value_error():
    assert issubclass(UsageError, ValueError) and not issubclass(UsageError, SystemExit)


def test_help_lists_options_and_subcommands():
    text = help_text()
    for word in ("--model", "--compare", "--no-interpolate", "models", "export", "login", "PROMPT"):
        assert word in text


# -- interpolation ---------------------------------------------------------------------
class _Thing:
    attr = "ATTR"
    nested = {"inner": [1, 2, 3]}


NS = {"name": "Ada", "obj": _Thing(), "d": {"k": "V", "key": "KEY", 0: "zero"}, "items": ["first", "second"],
      "n": 42, "x": {"a": 1}}


@pytest.mark.parametrize("text, expected", [
    ("Hello {name}!", "Hello Ada!"),
    ("{obj.attr}", "ATTR"),
    ("{d[key]}", "KEY"),
    ("{items[0]} and {items[1]}", "first and second"),
    ("{items[-1]}", "second"),
    ('{d["k"]}', "V"),
    ("{d['k']}", "V"),
    ("{d[0]}", "zero"),
    ("{obj.nested[inner][2]}", "3"),
    ("{n}", "42"),
    ("{name}{n}", "Ada42"),
    ("{x}", "{'a': 1}"),
])
def test_fills_names_attributes_and_keys(text, expected):
    assert interpolate(text, NS) == expected


@pytest.mark.parametrize("text", [
    "{missing}",
    "Hi {missing} and {also_missing.attr}",
    "{n.nope}",
    "{obj.nope}",
    "{items[9]}",
    "{d[nokey]}",
    "{name[name]}",
    "function add(a, b) { return a + b; }",
    "const f = (x) => {\n  return {a: x};\n};",
    "class A { constructor() { this.x = 1; } }",
    "interface P { name: string; age?: number }",
    "{k: v for k, v in x.items()}",
    "{k: v for k, v in x}",
    "{i for i in items}",
    '{"a": {"b": {"c": 1}}}',
    '{"config": {"items": [1, 2, {"z": null}]}}',
    "$\\frac{a}{b}$ and \\begin{align} x \\end{align}",
    "{ name }",
    "{name!r} {name:>10}",
    "{}",
    "{{}}",
    "{0}",
    "fn main() { println!(\"{}\", x); }",
])
def test_braces_that_name_nothing_stay_as_written(text):
    assert interpolate(text, NS) == text


@pytest.mark.parametrize("text, expected", [
    ("{{name}}", "{name}"),
    ("{{missing}}", "{missing}"),
    ("{{name}} is {name}", "{name} is Ada"),
    ("{{obj.attr}}", "{obj.attr}"),
])
def test_doubled_braces_escape(text, expected):
    assert interpolate(text, NS) == expected


def test_a_value_that_fails_on_lookup_is_left_as_written():
    class Explodes:
        @property
        def boom(self):
            raise RuntimeError("no")

    assert interpolate("{e.boom} {e.missing}", {"e": Explodes()}) == "{e.boom} {e.missing}"


def test_the_namespace_is_not_evaluated_as_code():
    called = []

    class Spy:
        def __getitem__(self, key):
            called.append(key)
            return "v"

    assert interpolate("{s[a]} {s[1]} {s['b c']}", {"s": Spy()}) == "v v v"
    assert called == ["a", 1, "b c"]


# An alphabet of identifiers, braces and code punctuation; dots and brackets
# are left out so that {{...}} escapes can only hold plain identifiers.
_TEXT = st.text(alphabet=st.sampled_from(list("{}ab_Z09 :\"',=()\n中")), max_size=60)
_ESCAPE = re.compile(r"\{\{([A-Za-z_][A-Za-z0-9_]*)\}\}")


@settings(max_examples=300, deadline=None)
@given(_TEXT)
def test_empty_namespace_changes_only_escapes(text):
    assert interpolate(text, {}) == _ESCAPE.sub(r"{\1}", text)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_characters="{}"), max_size=60))
def test_text_without_braces_is_untouched(text):
    assert interpolate(text, NS) == text


# -- any request field, and the reasoning controls ---------------------------------------------
@pytest.mark.parametrize("value, parsed", [
    ("42", 42), ("0.5", 0.5), ("true", True), ("null", None), ('{"a": [1, "x"]}', {"a": [1, "x"]}),
    ('"quoted"', "quoted"), ("plain words", "plain words"), ("short_think", "short_think"), ("NaN", "NaN"),
    ("", ""), ("a=b", "a=b"),
])
def test_param_values_are_json_when_they_parse_else_text(value, parsed):
    args = parse_cell_args(f"--param name={split_quote(value)}")
    assert args.params() == {"name": parsed}


def split_quote(text: str) -> str:
    import shlex

    return shlex.quote(text)


def test_params_repeat_and_join_the_options():
    args = parse_cell_args("-t 0.3 --param seed=7 --param metadata='{\"k\": \"v\"}' --param thinking_strategy="
                           "chain_of_draft")
    assert args.params() == {"temperature": 0.3, "seed": 7, "metadata": {"k": "v"},
                             "thinking_strategy": "chain_of_draft"}


@pytest.mark.parametrize("line, named", [
    ("--param seed", "NAME=VALUE"),
    ("--param =3", "NAME=VALUE"),
    ("--param 9lives=3", "letters, digits, _"),
    ("--param 'a b=3'", "letters, digits, _"),
    ("--param model=ernie-5.1", "-m/--model"),
    ("--param messages=[]", "the cell body"),
    ("--param stream=false", "--no-stream"),
    ("--param on_delta=print", "not a request field"),
    ("--param seed=1 --param seed=2", "given twice"),
    ("-t 0.5 --param temperature=0.7", "--temperature"),
    ("--think --param think=false", "--think"),
])
def test_a_bad_param_says_what_is_allowed(line, named):
    with pytest.raises(UsageError, match=re.escape(named)):
        parse_cell_args(line)


def test_a_param_value_never_becomes_an_option_or_code():
    args = parse_cell_args("--param 'user=--model x; __import__(\"os\").system(\"true\")'")
    assert args.model is None and args.params() == {"user": '--model x; __import__("os").system("true")'}
    filled = parse_cell_args("--param user={who}", fill=lambda token: token.replace("{who}", "-m evil"))
    assert filled.model is None and filled.params() == {"user": "-m evil"}


@pytest.mark.parametrize("line, params", [
    ("--think", {"think": True}),
    ("--no-think", {"think": False}),
    ("--thinking-budget 100", {"thinking_budget": 100}),
    ("--think --thinking-budget 4096 --effort high", {"think": True, "thinking_budget": 4096, "effort": "high"}),
    ("--effort low", {"effort": "low"}),
])
def test_reasoning_controls_become_params(line, params):
    assert parse_cell_args(line).params() == params


@pytest.mark.parametrize("line, named", [
    ("--think --no-think", "not allowed with"),
    ("--thinking-budget 99", "at least 100"),
    ("--thinking-budget lots", "at least 100"),
    ("--effort max", "low"),
])
def test_bad_reasoning_controls_say_what_is_allowed(line, named):
    with pytest.raises(UsageError, match=re.escape(named)):
        parse_cell_args(line)


def test_help_lists_the_new_options():
    text = help_text()
    for option in ("--param NAME=VALUE", "--think", "--no-think", "--thinking-budget N", "--effort",
                   "%wenxin models [--remote]"):
        assert option in text


def test_help_keeps_the_whole_usage_from_its_first_line():
    lines = help_text().splitlines()
    usage = [i for i, line in enumerate(lines) if line.strip().startswith("usage: %%wenxin [-m MODEL]")]
    assert usage, "the usage line is shown"
    # the continuation lines follow the usage line itself, never stand alone
    assert lines[usage[0] + 1].startswith(" " * 10) and "--endpoint" in lines[usage[0]]
