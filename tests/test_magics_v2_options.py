"""%%wenxin's v2 options and v2's safety flags through a real kernel: --param, the reasoning controls, flags 3
and 4 in a cell and in the grid. Flags come from a small v2 server on 127.0.0.1 (``_v2_shapes``)."""

from __future__ import annotations

import json

import pytest

from _v2_shapes import HIDDEN_ANSWER, SHOWN_BEFORE_WITHDRAWAL, V2_TEST_KEY, ShapeServer

pytestmark = pytest.mark.kernel

OFFLINE = """
%load_ext wenxin_magic
import wenxin_magic
session = wenxin_magic.get_session()
session.backend.emulator_options.update(ttft=0.0, chunk_delay=0.0)
"""

ONLINE = """
%load_ext wenxin_magic
import wenxin_magic
session = wenxin_magic.get_session()
%config WenxinMagics.min_update_interval = 0.0
"""


@pytest.fixture(scope="module")
def kernel(module_kernel_factory):
    return module_kernel_factory(setup=OFFLINE)


@pytest.fixture(scope="module")
def shapes():
    with ShapeServer() as server:
        yield server


@pytest.fixture(scope="module")
def flagged(module_kernel_factory, shapes):
    """A kernel whose v2 key reaches the shapes server."""
    return module_kernel_factory(setup=ONLINE, env={"QIANFAN_API_KEY": V2_TEST_KEY,
                                                    "QIANFAN_BASE_URL": shapes.base_url})


def v2_requests(kernel) -> list[dict]:
    return kernel.value("[r for r in session.backend.start_emulator().requests if r['path'] == '/v2/chat/completions']")


def test_param_values_reach_the_request_as_json_or_text(kernel):
    run = kernel.run("%%wenxin -m ernie-4.5-turbo-32k --param seed=42 --param user=alice --param 'stop=[\"END\"]'\n"
                     "你好")
    assert run.error is None and "Error" not in run.final(), run.text
    body = v2_requests(kernel)[-1]["json"]
    assert body["seed"] == 42 and body["user"] == "alice" and body["stop"] == ["END"]
    assert kernel.value("session.last_reply.params")["seed"] == 42


def test_param_from_a_variable_stays_one_value(kernel):
    kernel.run("who = 'bob --model ernie-speed-8k'")
    run = kernel.run("%%wenxin -m ernie-4.5-turbo-32k --param user={who}\n你好")
    assert run.error is None, run.text
    body = v2_requests(kernel)[-1]["json"]
    assert body["user"] == "bob --model ernie-speed-8k" and body["model"] == "ernie-4.5-turbo-32k"


@pytest.mark.parametrize("line, said", [
    ("--param model=ernie-5.1", "use -m/--model"),
    ("--param 2x=1", "NAME=VALUE"),
    ("--thinking-budget 50", "at least 100"),
    ("--effort extreme", "choose from 'low', 'medium', 'high'"),
])
def test_a_bad_option_is_a_usage_error_and_sends_nothing(kernel, line, said):
    before = len(v2_requests(kernel))
    run = kernel.run(f"%%wenxin -m ernie-4.5-turbo-32k {line}\n你好")
    assert run.error is None and said in run.stderr and "Traceback" not in run.stderr
    assert len(v2_requests(kernel)) == before


def test_reasoning_controls_are_passed_to_the_api(kernel):
    before = len(v2_requests(kernel))
    run = kernel.run("%%wenxin -m qwen3-235b-a22b --think --thinking-budget 2048 --effort low\n9.11 和 9.9 哪个大？")
    assert run.error is None, run.text
    params = kernel.value("session.last_reply.params")
    assert (params["think"], params["thinking_budget"], params["effort"]) == (True, 2048, "low")
    sent = v2_requests(kernel)[before:]
    # the api maps them per model (qwen3: enable_thinking) and says so in a note above the answer
    assert sent and sent[-1]["json"].get("enable_thinking") is True and "think" not in sent[-1]["json"]
    assert sent[-1]["json"].get("thinking_budget") == 2048
    assert "enable_thinking" in run.final()


def test_flag_3_hides_the_answer_in_the_cell_and_drops_the_round(flagged):
    assert flagged.run("%%wenxin -m ernie-4.5-turbo-32k -c f3\nfirst question").error is None
    before = flagged.value("session.history('f3')")
    run = flagged.run("%%wenxin -c f3\nhide-me please")
    assert run.error is None, run.text
    assert HIDDEN_ANSWER not in run.text
    final = run.final()
    assert "not to be displayed (flag 3)" in final and "flag 3: not shown" in final
    assert "removed from the conversation" in final
    assert flagged.value("session.history('f3')") == before
    plain = run.final("text/plain")
    assert "flag 3" in plain and HIDDEN_ANSWER not in plain


def test_flag_4_withdraws_what_the_cell_showed(flagged, shapes):
    shapes.chunk_delay = 0.05
    try:
        run = flagged.run("%%wenxin -m ernie-4.5-turbo-32k -c f4\nwithdraw-me")
    finally:
        shapes.chunk_delay = 0.0
    assert run.error is None, run.text
    shown = [m["content"]["data"].get("text/html", "") for m in run.displays[:-1]]
    assert any("streamed before" in html for html in shown), "the text never showed before the withdrawal"
    final = run.final()
    assert "withdrew this answer (flag 4)" in final and "streamed before" not in final
    assert "streamed before" not in json.dumps(flagged.value("session.history('f4')"))
    assert flagged.value("session.last_reply.to_dict()")["flag"] == 4
    assert SHOWN_BEFORE_WITHDRAWAL.startswith("This part was streamed before")


def test_the_grid_says_why_a_column_is_empty(flagged):
    run = flagged.run("%%wenxin --compare ernie-4.5-turbo-32k,ernie-speed-8k\nhide-me")
    assert run.error is None, run.text
    final = run.final()
    assert final.count("not to be displayed (flag 3)") == 2 and HIDDEN_ANSWER not in run.text


# -- the model catalog and the service's list ------------------------------------------------------------------

def test_models_shows_each_v2_price_and_the_catalogs_date(kernel):
    run = kernel.run("%wenxin models")
    assert run.error is None, run.text
    final, plain = run.final(), run.final("text/plain")
    assert "¥ in / out per M tokens" in final and "%wenxin models --remote" in final
    expected = kernel.value("{s.id: wenxin_magic.model_list.price_text(s) for s in wenxin_magic.api.V2_MODELS}")
    for model, price in expected.items():
        row = next(line for line in plain.splitlines() if line.startswith(model + " "))
        assert f" {price} " in row, row
    date = kernel.value("getattr(wenxin_magic.api, 'CATALOG_DATE', None)")
    assert (date is None and "The model tables:" in plain) or f"The model catalog of {date}" in plain


def test_models_remote_shows_what_the_key_can_call_beside_the_catalog(kernel):
    # the client's list_models() against the emulator's GET /v2/models
    run = kernel.run("%wenxin models --remote")
    assert run.error is None and not run.stderr, run.text
    listed = kernel.value("session.remote_models()")
    plain = run.final("text/plain")
    assert "ernie-4.5-turbo-32k" in listed and f"{len(listed)} model(s) this key can call" in plain
    assert "as the built-in emulator lists them" in plain
    row = next(line for line in plain.splitlines() if line.startswith("ernie-4.5-turbo-32k "))
    assert " yes " in row


def test_reasoning_traits_are_defaults_a_cell_overrides(kernel):
    kernel.run("%config WenxinMagics.think = True\n%config WenxinMagics.effort = 'medium'")
    kernel.run("%%wenxin -m qwen3-235b-a22b -c traits\n你好")
    params = kernel.value("session.last_reply.params")
    assert (params["think"], params["effort"]) == (True, "medium")
    kernel.run("%%wenxin -m qwen3-235b-a22b -c traits --no-think\n你好")
    params = kernel.value("session.last_reply.params")
    assert params["think"] is False and params["effort"] == "medium"
    run = kernel.run("%config WenxinMagics.thinking_budget = 99")
    assert "at least 100" in run.text
    assert kernel.value("get_ipython().find_magic('wenxin').__self__.thinking_budget") is None
    kernel.run("%config WenxinMagics.think = None\n%config WenxinMagics.effort = None")
    kernel.run("%%wenxin -m qwen3-235b-a22b -c traits\n你好")
    assert not {"think", "effort", "thinking_budget"} & set(kernel.value("session.last_reply.params"))


def test_models_filters_name_what_they_kept(kernel):
    run = kernel.run("%wenxin models --vision --free")
    assert run.error is None, run.text
    assert "Only models that have: vision, free." in run.final("text/plain")
    run = kernel.run("%wenxin models --vision")
    plain = run.final("text/plain")
    assert "ernie-4.5-turbo-vl" in plain and "ernie-speed-8k" not in plain and "ERNIE-Speed-8K" not in plain
