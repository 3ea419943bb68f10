"""The %wenxin subcommand table through a real kernel: dispatch, typed arguments, help, and typos not billed."""

from __future__ import annotations

import pytest

from _kernel import Kernel
from wenxin_magic.parsers import SUBCOMMANDS, UsageError, help_text, near_subcommand

pytestmark = pytest.mark.kernel

SETUP = """
%load_ext wenxin_magic
import wenxin_magic
session = wenxin_magic.get_session()
session.backend.emulator_options.update(ttft=0.0, chunk_delay=0.0)
"""


@pytest.fixture(scope="module")
def kernel(tmp_path_factory):
    k = Kernel(cwd=str(tmp_path_factory.mktemp("subcommands")))
    assert k.run(SETUP).error is None
    yield k
    k.close()


def chat_count(kernel) -> int:
    return kernel.value("0 if session.backend.emulator is None else "
                        "len([r for r in session.backend.emulator.requests if 'wenxinworkshop' in r['path']])")


def test_a_mistyped_subcommand_is_not_sent_to_the_model(kernel):
    before = chat_count(kernel)
    run = kernel.run("%wenxin hisotry")
    assert run.error is None
    assert ("Unknown subcommand 'hisotry'; did you mean 'history'? To ask the model, write %wenxin -- hisotry"
            in run.stderr)
    assert chat_count(kernel) == before  # nothing was sent, nothing billed


def test_the_escape_sends_the_word_and_a_greeting_is_not_taken_for_a_typo(kernel):
    before = chat_count(kernel)
    assert "tokens" in kernel.run("%wenxin -- hisotry").final()
    assert "tokens" in kernel.run("%wenxin hello").final()  # two edits from 'help', but a word of its own
    assert chat_count(kernel) == before + 2


def test_help_for_one_subcommand(kernel):
    run = kernel.run("%wenxin help export")
    text = run.final("text/plain")
    assert text.startswith("%wenxin export") and "PATH" in text and "--chat NAME" in text
    assert "--compare" not in text  # one subcommand, not the whole help
    bad = kernel.run("%wenxin help exprt")
    assert "no subcommand 'exprt'" in bad.stderr and "export" in bad.stderr and bad.error is None


@pytest.mark.parametrize("line, words", [
    ("%wenxin export", ["%wenxin export", "required", "PATH"]),
    ("%wenxin use -c only", ["%wenxin use", "name a model"]),
    ("%wenxin history nobody", ["no conversation 'nobody'"]),
    ("%wenxin system --clear be brief", ["TEXT or --clear"]),
    ("%wenxin reset a -c b", ["two conversation names"]),
    ("%wenxin panel --colour red", ["%wenxin panel", "unrecognized arguments: --colour red"]),
])
def test_bad_subcommand_arguments_are_usage_errors(kernel, line, words):
    run = kernel.run(line)
    assert run.error is None and "Traceback" not in run.text
    for word in words:
        assert word in run.stderr, run.stderr


def test_subcommands_take_their_arguments_in_any_order(kernel):
    assert "now uses ERNIE-Lite-8K" in kernel.run("%wenxin use -c order ERNIE-Lite-8K").stdout
    assert "set" in kernel.run("%wenxin system be brief -c order").stdout
    assert kernel.value("session.conversation('order').system") == "be brief"
    assert "reset" in kernel.run("%wenxin reset -c order").stdout


def test_errors_get_the_magics_hints_the_api_does_not_give(kernel):
    run = kernel.run("%%wenxin -m ERNIE-Spd-8K\n你好")
    shown = run.final() + run.stderr
    assert "Unknown model 'ERNIE-Spd-8K'" in shown and "%wenxin models" in shown
    offline = kernel.run("%wenxin online")
    assert "QIANFAN_AK" in offline.stderr and "%wenxin login" in offline.stderr


# -- the table itself, without a kernel ------------------------------------------------------------------

@pytest.mark.parametrize("word, expected", [
    ("hisotry", "history"), ("histroy", "history"), ("modles", "models"), ("exprot", "export"), ("confg", "config"),
    ("usge", "usage"), ("pannel", "panel"), ("ofline", "offline"),
    ("hello", None), ("hi", None), ("yes", None), ("why", None), ("你好", None), ("history", None), ("a", None),
])
def test_near_subcommand(word, expected):
    assert near_subcommand(word) == expected


def test_each_subcommand_parses_its_declared_arguments():
    args = SUBCOMMANDS["use"].parse("ERNIE-3.5-8K -c poems --endpoint my_ep")
    assert (args.model, args.chat, args.endpoint) == ("ERNIE-3.5-8K", "poems", "my_ep")
    assert SUBCOMMANDS["system"].parse("-c x be very brief").text == ["be", "very", "brief"]
    assert SUBCOMMANDS["export"].parse("'my file.md'").path == "my file.md"
    with pytest.raises(UsageError, match="%wenxin export"):
        SUBCOMMANDS["export"].parse("")
    with pytest.raises(UsageError, match="unrecognized"):
        SUBCOMMANDS["chats"].parse("--all")


def test_help_is_generated_from_the_table():
    whole = help_text()
    assert all(f"%wenxin {name}" in whole for name in SUBCOMMANDS)
    assert "-c NAME, --chat NAME" in help_text("history")


def last_prompt(kernel) -> str:
    return kernel.value("[r for r in session.backend.emulator.requests "
                        "if 'wenxinworkshop' in r['path']][-1]['json']['messages'][-1]['content']")


def test_a_line_is_interpolated_once_by_the_magic_not_by_ipython(kernel):
    kernel.run("city = '杭州'")
    kernel.run("%wenxin 介绍{{city}} and {city} for $city")
    assert last_prompt(kernel) == "介绍{city} and 杭州 for $city"
    kernel.run("%wenxin --no-interpolate -c raw 介绍{city}")
    assert last_prompt(kernel) == "介绍{city}"


def test_a_cells_option_line_takes_variables_too(kernel):
    kernel.run("chosen = 'BLOOMZ-7B'")
    run = kernel.run("%%wenxin -m {chosen} -c picked\n你好")
    assert "BLOOMZ-7B" in run.final()
    assert kernel.value("session.conversation('picked').model") == "BLOOMZ-7B"


def test_a_word_longer_than_any_subcommand_is_not_compared(monkeypatch):
    from wenxin_magic import parsers

    def no_comparison(a, b):
        raise AssertionError("compared a 30,000-letter word with a subcommand")

    monkeypatch.setattr(parsers, "_edit_distance", no_comparison)
    assert near_subcommand("a" * 30000) is None
    with pytest.raises(AssertionError):  # the guard, not the comparison, let it through
        near_subcommand("hisotry")


def test_invalid_model_points_to_the_remote_list():
    from wenxin_magic.api import QianfanError
    from wenxin_magic.driver import add_hint

    err = add_hint(QianfanError("The model does not exist or you do not have access to it.", code="invalid_model",
                                status=401))
    assert "`%wenxin models --remote` lists what this key can call" in str(err)
