"""{names} on the %%wenxin line are values, never options; long values are refused quickly, in words."""

from __future__ import annotations

import time

import pytest

from wenxin_magic.parsers import MAX_OPTIONS_LINE, UsageError, interpolate, parse_cell_args


def filler(namespace: dict):
    return lambda token: interpolate(token, namespace)


def test_a_value_with_options_in_it_stays_one_value():
    args = parse_cell_args("-s {persona} -m ERNIE-Speed-8K", fill=filler({"persona": "Be brief --tools get_weather"}))
    assert args.system == "Be brief --tools get_weather" and args.tools is None and args.model == "ERNIE-Speed-8K"


def test_a_value_with_a_quote_is_read_whole():
    args = parse_cell_args("-s {persona}", fill=filler({"persona": "Don't lie."}))
    assert args.system == "Don't lie."


def test_a_value_that_starts_with_a_dash_is_the_option_s_value():
    args = parse_cell_args("-s {persona}", fill=filler({"persona": "--no-tools"}))
    assert args.system == "--no-tools" and not args.no_tools


def test_a_value_standing_alone_cannot_become_an_option():
    for flags in ("--no-stream", "--tools f"):
        with pytest.raises(UsageError, match=r"\{flags\}.*would read as an option"):
            parse_cell_args("{flags}", fill=filler({"flags": flags}))


def test_a_conversation_name_with_options_in_it_is_only_a_name():
    args = parse_cell_args("-c {title}", fill=filler({"title": "Report --tools get_weather"}))
    assert args.chat == "Report --tools get_weather" and args.tools is None


def test_a_megabyte_value_is_refused_at_once():
    line = '-s "' + "x" * 1_000_000 + '"'
    started = time.perf_counter()
    with pytest.raises(UsageError) as caught:
        parse_cell_args(line)
    assert time.perf_counter() - started < 5  # shlex would take about 30 s; the bound is what is tested
    message = str(caught.value)
    assert "1,000,005 characters" in message and f"{MAX_OPTIONS_LINE:,}" in message and "{persona}" in message


@pytest.mark.kernel
def test_variables_on_the_options_line_in_a_real_kernel(kernel_factory):
    k = kernel_factory("%load_ext wenxin_magic\nimport wenxin_magic\nsession = wenxin_magic.get_session()")
    k.run("ran = []\n"
          "def get_weather(location: str) -> str:\n"
          "    '''The weather in a place.'''\n"
          "    ran.append(location)\n"
          "    return 'sunny'\n"
          "title = 'Report --tools get_weather'\n"
          "persona = \"Don't lie.\"\n"
          "long_persona = 'Be kind. ' * 200000")
    injected = k.run("%%wenxin -c {title}\nWhat is the weather in Beijing?")
    assert injected.error is None and "Traceback" not in injected.text and not injected.stderr, injected.text
    assert k.value("ran") == []  # the tool was not turned on, so it never ran
    assert k.value("[c.name for c in session.chats()]") == ["Report --tools get_weather"]

    quoted = k.run("%%wenxin -s {persona} -c honest\n你好")
    assert quoted.error is None and "unexpected" not in quoted.stderr, quoted.text
    assert k.value("session.conversation('honest').system") == "Don't lie."

    # a long value in a variable is read whole, at once: the model's own limit is what refuses it
    long_one = k.run("%%wenxin -s {long_persona} -c kind\n你好")
    assert long_one.error is None and not long_one.stderr, long_one.stderr
    assert f"{len('Be kind. ') * 200000 + 2} characters" in long_one.final("text/plain")
