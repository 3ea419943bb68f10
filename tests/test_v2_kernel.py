"""Qianfan v2 through a real kernel: reasoning models, grids across both APIs, credentials that pick the API."""

from __future__ import annotations

import json

import pytest

from _fakes import assert_history_valid

pytestmark = pytest.mark.kernel

OFFLINE = """
%load_ext wenxin_magic
import wenxin_magic
session = wenxin_magic.get_session()
session.backend.emulator_options.update(ttft=0.0, chunk_delay=0.01)
%config WenxinMagics.min_update_interval = 0.01
"""

# a v2 API Key of the documented form; it names no real account
V2_KEY = "bce-v3/ALTAK-kernelTEST7f3a/9c2e4b6d8f0a1c3e5b7d9f1a3c5e7b9d"


@pytest.fixture(scope="module")
def kernel(module_kernel_factory):
    return module_kernel_factory(setup=OFFLINE)


def v2_requests(kernel) -> list[dict]:
    return kernel.value("[r for r in session.backend.emulator.requests if r['path'] == '/v2/chat/completions']")


def test_a_reasoning_model_shows_its_thinking_collapsed_above_the_answer(kernel):
    run = kernel.run("%%wenxin -m deepseek-r1 -c think\n9.11 和 9.9 哪个大？")
    assert run.error is None
    shown = [m["content"]["data"].get("text/html", "") for m in run.displays]
    assert any("<summary>Thinking…</summary>" in s for s in shown[:-1]), "no intermediate state while thinking"
    final = run.final()
    assert "<details><summary>Thought for " in final and "</details>" in final
    assert final.index("</details>") < final.index('<sub class="wenxin-footer">deepseek-r1')  # thinking, the answer, then the footer
    assert "reasoning)" in final  # the footer counts reasoning tokens
    assert v2_requests(kernel)[-1]["json"]["model"] == "deepseek-r1"
    reply = kernel.value("{'reasoning': len(session.last_reply.reasoning), 'api': session.last_reply.api}")
    assert reply["reasoning"] > 0 and reply["api"] == "v2"


def test_reasoning_is_never_sent_back(kernel):
    kernel.run("%%wenxin -m deepseek-r1 -c never\n第一个问题")
    kernel.run("%%wenxin -c never\n第二个问题")
    sent = v2_requests(kernel)[-1]["json"]["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "user"]
    assert all("reasoning_content" not in m for m in sent)
    history = kernel.value("session.history('never')")
    assert_history_valid(history)
    assert all(set(m) <= {"role", "content"} for m in history)


def test_one_grid_mixes_both_apis(kernel):
    before = kernel.value("len(session.backend.emulator.requests)")
    run = kernel.run("%%wenxin --compare ernie-4.5-turbo-32k,deepseek-r1,ERNIE-Speed-8K\n用一句话介绍杭州")
    assert run.error is None
    display_ids = {m["content"].get("transient", {}).get("display_id") for m in run.displays}
    assert len(display_ids) == 1  # one output holds the whole grid
    final = run.final()
    for label in ("ernie-4.5-turbo-32k", "deepseek-r1", "ERNIE-Speed-8K"):
        assert label in final
    assert "Thought for" in final  # the reasoning model's column has its block
    paths = [r["path"] for r in kernel.value("session.backend.emulator.requests")[before:]]
    assert paths.count("/v2/chat/completions") == 2
    assert sum("/wenxinworkshop/chat/ernie_speed" in p for p in paths) == 1


def test_web_search_lists_its_references_under_the_answer(kernel):
    run = kernel.run("%%wenxin -m ernie-4.5-turbo-32k --web-search -c news\n今年的诺贝尔文学奖得主是谁？")
    final = run.final()
    assert "^[1]^" in final and "<strong>References</strong>" in final and "<li>[1] <a href=" in final
    sent = v2_requests(kernel)[-1]["json"]
    assert sent["web_search"] == {"enable": True, "enable_citation": True, "enable_trace": True}


def test_a_v2_fault_reads_like_its_v1_counterpart(kernel):
    kernel.run("%config WenxinMagics.max_retries = 0")
    try:
        texts = {}
        for model in ("ERNIE-3.5-8K", "ernie-4.5-turbo-32k"):
            kernel.run("session.backend.emulator.inject('rpm')")
            run = kernel.run(f"%%wenxin -m {model} -c limits-{model}\n你好")
            texts[model] = run.final()
        v1, v2 = texts["ERNIE-3.5-8K"], texts["ernie-4.5-turbo-32k"]
        assert "Rate limit reached for RPM" in v1
        for text in (v1, v2):
            assert "Traceback" not in text and "quota refreshes within 60 seconds" in text
    finally:
        kernel.run("%config WenxinMagics.max_retries = 2")


# -- online, against a test-side emulator, with only a v2 key ------------------------------------------------

@pytest.fixture(scope="module")
def v2_only(module_kernel_factory, emulator):
    env = {"QIANFAN_API_KEY": V2_KEY, "QIANFAN_BASE_URL": emulator.base_url}
    setup = ("%load_ext wenxin_magic\nimport wenxin_magic\nsession = wenxin_magic.get_session()\n"
             "session.backend.reconfigure(retry_backoff=0.01)")
    return module_kernel_factory(setup=setup, env=env)


def test_a_v2_key_alone_goes_online_silently_and_uses_twins(v2_only, emulator):
    assert v2_only.value("session.mode") == "online"
    emulator.clear()
    run = v2_only.run("%%wenxin\n你好")  # the default, ERNIE-Speed-8K, has a v2 twin
    final = run.final()
    assert "ernie-speed-8k" in final and "Error" not in final
    sent = [r for r in emulator.requests if r["path"] == "/v2/chat/completions"]
    assert sent and sent[-1]["json"]["model"] == "ernie-speed-8k"
    assert V2_KEY not in json.dumps(run.messages, ensure_ascii=False, default=str) + run.text


def test_a_v1_only_model_with_a_v2_key_names_the_credentials_it_needs(v2_only):
    run = v2_only.run("%%wenxin -m BLOOMZ-7B -c bloom\n你好")
    shown = run.stderr + run.final()
    assert "BLOOMZ-7B" in shown and "QIANFAN_AK" in shown and "Traceback" not in shown
    assert v2_only.value("session.history('bloom')") == []


def test_config_says_which_api_each_credential_reaches(v2_only):
    run = v2_only.run("%wenxin config")
    text = run.final("text/plain")
    assert "QIANFAN_API_KEY / v2 API Key" in text and "set (hidden): v2" in text
    assert "APIs reached" in text and V2_KEY not in text


def test_login_asks_for_a_v2_key_first(kernel_factory, emulator):
    k = kernel_factory(setup="%load_ext wenxin_magic\nimport wenxin_magic\nsession = wenxin_magic.get_session()",
                       env={"QIANFAN_BASE_URL": emulator.base_url})
    run = k.run("%wenxin login", stdin=[V2_KEY])
    prompts = [m["content"]["prompt"] for m in run.messages if m["msg_type"] == "input_request"]
    assert len(prompts) == 1 and "v2 API Key" in prompts[0]
    assert all(m["content"]["password"] for m in run.messages if m["msg_type"] == "input_request")
    assert "Online" in run.stdout and "v2" in run.stdout
    assert k.value("sorted(session.backend.apis)") == ["v2"]
    assert V2_KEY not in run.text


def test_models_lists_both_tables_with_an_api_column(kernel):
    text = kernel.run("%wenxin models").final("text/plain")
    rows = {line.split()[0]: line.split()[1] for line in text.splitlines() if line.strip()}
    assert rows["ERNIE-Speed-8K"] == "v1" and rows["BLOOMZ-7B"] == "v1"
    assert rows["deepseek-r1"] == "v2" and rows["ernie-4.5-turbo-32k"] == "v2"
    deepseek = next(line for line in text.splitlines() if line.startswith("deepseek-r1"))
    assert "reasoning" in deepseek
    assert "twin of ERNIE-Speed-8K" in next(line for line in text.splitlines() if line.startswith("ernie-speed-8k"))
    assert "--web-search" in kernel.run("%wenxin help").final("text/plain")


def test_the_v2_key_appears_in_no_export_repr_error_or_request_log(v2_only, emulator, tmp_path):
    runs = [v2_only.run("%%wenxin -m deepseek-r1 -c leak\n你好")]
    emulator.inject("invalid_token", path="/v2/")
    runs.append(v2_only.run("%%wenxin -c leak\n再说一遍"))
    runs.append(v2_only.run(f"%wenxin export {tmp_path / 'leak.json'}"))
    runs.append(v2_only.run(f"%wenxin export {tmp_path / 'leak.md'}"))
    runs.append(v2_only.run("print(repr(session), repr(session.backend), repr(session.backend.client),\n"
                            "      [str(r.error) + repr(r.error) for r in session.replies if r.error])"))
    assert "invalid_iam_token" in runs[1].final() or "401" in runs[1].final()  # the error was really shown
    texts = [json.dumps(r.messages, ensure_ascii=False, default=str) + r.text for r in runs]
    texts += [(tmp_path / name).read_text(encoding="utf-8") for name in ("leak.json", "leak.md")]
    texts.append(json.dumps(emulator.requests, ensure_ascii=False, default=str))
    for text in texts:
        assert V2_KEY not in text and V2_KEY.split("/")[-1] not in text
