"""%%wenxin and %wenxin in a real kernel, answering from the embedded emulator."""

from __future__ import annotations

import re
import time

import pytest

from _fakes import FAKE, assert_history_valid

pytestmark = pytest.mark.kernel

SETUP = """
%load_ext wenxin_magic
import wenxin_magic
session = wenxin_magic.get_session()
session.backend.emulator_options.update(ttft=0.0, chunk_delay={delay})
"""


@pytest.fixture(scope="module")
def kernel(module_kernel_factory):
    return module_kernel_factory(SETUP.format(delay=0.004))


def requests(kernel, kind="wenxinworkshop"):
    return kernel.value(f"[r for r in session.backend.start_emulator().requests if {kind!r} in r['path']]")


def last_request(kernel):
    return requests(kernel)[-1]


def display_ids(run):
    return {m["content"].get("transient", {}).get("display_id") for m in run.displays}


def test_load_announces_the_emulator_once_in_one_line(kernel):
    lines = [line for line in kernel.setup_run.stdout.splitlines() if line.strip()]
    assert len(lines) == 1 and "emulator" in lines[0] and "%wenxin login" in lines[0]
    again = kernel.run("%load_ext wenxin_magic")
    assert "emulator" not in again.stdout


def test_answer_streams_into_one_updated_output(kernel):
    kernel.run("%config WenxinMagics.min_update_interval = 0.01")
    kernel.run("session.backend.emulator_options.update(chunk_delay=0.02)")
    kernel.run("session.close()")  # restart the emulator with the slower stream
    run = kernel.run("%%wenxin --new\nwrite 1500 characters about the Forbidden City")
    first = run.of("display_data")
    updates = run.of("update_display_data")
    assert len(first) == 1 and len(display_ids(run)) == 1
    assert len(updates) >= 3  # at least two intermediate states and the final one
    shown = [m["content"]["data"]["text/html"] for m in updates[:-1]]
    assert len(set(shown)) == len(shown)
    final = run.final()
    assert "Forbidden City" in final and "ERNIE-Speed-8K" in final and "tokens" in final
    assert run.final("text/plain")
    assert run.of("execute_result") == []  # shown once, not echoed again
    kernel.run("%config WenxinMagics.min_update_interval = 0.05")
    kernel.run("session.backend.emulator_options.update(chunk_delay=0.004); session.close()")


def test_conversation_memory_across_cells(kernel):
    kernel.run("%%wenxin --new\n我叫小明")
    run = kernel.run("%%wenxin\n我叫什么名字")
    assert "小明" in run.final()
    sent = last_request(kernel)["json"]["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "user"]
    assert sent[0]["content"] == "我叫小明"


def test_named_conversations_and_options_reach_the_service(kernel):
    kernel.run('%%wenxin -c trip -m BLOOMZ-7B -t 0.3 --top-k 5 --stop 。 --penalty 1.2\n给我推荐一些自驾游路线')
    body = last_request(kernel)
    assert body["path"].endswith("/chat/bloomz_7b1")
    assert body["json"]["temperature"] == 0.3 and body["json"]["top_k"] == 5
    assert body["json"]["stop"] == ["。"] and body["json"]["penalty_score"] == 1.2
    kernel.run('%%wenxin -c trip\n再推荐一条')
    assert last_request(kernel)["path"].endswith("/chat/bloomz_7b1")  # the conversation kept its model
    assert len(last_request(kernel)["json"]["messages"]) == 3
    kernel.run('%%wenxin -c other -s "你是一位导游" --max-tokens 100\n介绍一下北京')
    body = last_request(kernel)["json"]
    assert body["system"] == "你是一位导游" and body["max_output_tokens"] == 100 and len(body["messages"]) == 1


def test_out_variable_and_last_reply(kernel):
    run = kernel.run("%%wenxin -o answer\n你好")
    assert run.of("execute_result") == []
    assert kernel.value("answer.text") == kernel.value("session.last_reply.text") != ""
    assert kernel.value("answer.usage.total_tokens") > 0
    assert kernel.value("type(answer).__name__") == "Reply"


def test_format_code_offers_the_next_cell(kernel):
    run = kernel.run("%%wenxin -f code --new\nwrite a python function that adds two numbers")
    payloads = run.reply["content"].get("payload", [])
    nexts = [p for p in payloads if p.get("source") == "set_next_input"]
    assert nexts and "def " in nexts[0]["text"] and "```" not in nexts[0]["text"]


def test_format_text_and_json(kernel):
    run = kernel.run("%%wenxin -f text\n你好")
    assert run.final("text/plain") and "text/html" not in run.displays[-1]["content"]["data"]
    run = kernel.run('%%wenxin -f json -m ERNIE-3.5-8K\nlist three cities as JSON')
    assert last_request(kernel)["json"]["response_format"] == "json_object"
    assert run.displays  # shown as JSON when the answer parses, else as Markdown


def test_compare_streams_into_one_grid(kernel):
    run = kernel.run("%%wenxin --compare BLOOMZ-7B,ERNIE-Speed-8K,ERNIE-3.5-8K-Preemptible\n介绍下故宫")
    assert len(run.of("display_data")) == 1 and len(display_ids(run)) == 1
    final = run.final()
    for name in ("BLOOMZ-7B", "ERNIE-Speed-8K", "ERNIE-3.5-8K-Preemptible"):
        assert name in final
    assert final.count("tokens") >= 3  # a footer per column
    paths = [r["path"].rsplit("/", 1)[1] for r in requests(kernel)[-3:]]
    assert sorted(paths) == ["bloomz_7b1", "completions_preemptible", "ernie_speed"]


def test_compare_keeps_an_error_in_its_column(kernel):
    run = kernel.run("%%wenxin --compare BLOOMZ-7B,ERNIE-Speed-8K -s 你是导游 --top-k 3\n介绍下故宫")
    final = run.final()
    # ERNIE-Speed-8K has no top_k: its column shows the error, BLOOMZ-7B still answers
    assert "336003" in final and "top_k" in final and "故宫" in final
    assert run.error is None


def test_interpolation(kernel):
    kernel.run("city = '杭州'\ninfo = {'sight': '西湖'}")
    kernel.run("%%wenxin --new\n介绍一下{city}的{info[sight]}")
    assert last_request(kernel)["json"]["messages"][-1]["content"] == "介绍一下杭州的西湖"
    code = "function f(x) { return {a: x}; } {{city}} {missing}"
    kernel.run(f"%%wenxin --new\n{code}")
    assert last_request(kernel)["json"]["messages"][-1]["content"] == \
        "function f(x) { return {a: x}; } {city} {missing}"
    kernel.run("%%wenxin --new --no-interpolate\n介绍一下{city}")
    assert last_request(kernel)["json"]["messages"][-1]["content"] == "介绍一下{city}"


@pytest.mark.parametrize("line,needle", [
    ("-t 5", "--temperature must be in (0, 1]"),
    ("--top-k zero", "--top-k takes a whole number"),
    ("-f yaml", "invalid choice: 'yaml'"),
    ("--bogus", "unrecognized arguments: --bogus"),
    ('-s "unclosed', "check the quotes"),
    ("stray words", "the prompt goes in the cell body"),
])
def test_bad_options_are_one_usage_paragraph(kernel, line, needle):
    run = kernel.run(f"%%wenxin {line}\n你好")
    assert run.error is None and "Traceback" not in run.text
    assert needle in run.stderr


def test_api_error_is_a_short_block_and_history_is_unchanged(kernel):
    kernel.run("%%wenxin -c errs --new\n你好")
    before = kernel.value("session.history('errs')")
    run = kernel.run("%%wenxin -c errs -m BLOOMZ-7B -s 'be brief'\n再说一遍")
    assert run.error is None
    assert "336003" in run.text and "system" in run.text and "BLOOMZ-7B" in run.text
    assert kernel.value("session.history('errs')") == before


def test_empty_cell_is_a_usage_error(kernel):
    run = kernel.run("%%wenxin\n   \n")
    assert run.error is None and "the cell is empty" in run.stderr


def test_need_clear_history(kernel):
    kernel.run("%%wenxin -c safe --new\n你好")
    run = kernel.run("%%wenxin -c safe\n敏感测试")
    assert "unsafe" in run.final() and "ban_round -1" in run.final()
    assert kernel.value("len(session.history('safe'))") == 2  # the flagged question is gone, round 1 kept


def test_interrupt_mid_stream_keeps_the_partial_answer(kernel):
    kernel.run("session.backend.emulator_options.update(chunk_delay=0.05); session.close()")
    kernel.run("%%wenxin -c stop --new\n你好")
    kernel.interrupt_after(1.0)
    run = kernel.run("%%wenxin -c stop\nwrite 8000 characters about the Great Wall", timeout=30)
    assert run.error is None or run.error["ename"] == "KeyboardInterrupt"
    assert "interrupted" in run.final()
    reply = kernel.value("session.last_reply.to_dict()")
    assert reply["interrupted"] and 0 < len(reply["text"]) < 8000
    # the HTTP stream was closed: the emulator notices the hang-up at its next chunk and stops
    for _ in range(40):
        streamed = last_request(kernel)
        if streamed["client_closed"]:
            break
        time.sleep(0.05)
    assert streamed["client_closed"] and streamed["chunks_sent"] < 100
    history = kernel.value("session.history('stop')")
    assert_history_valid(history)
    assert [m["role"] for m in history] == ["user", "assistant", "user", "assistant"]
    assert history[-1]["content"] == reply["text"]
    kernel.run("session.backend.emulator_options.update(chunk_delay=0.004); session.close()")
    after = kernel.run("%%wenxin -c stop\n继续")
    assert after.error is None and "tokens" in after.final()


def test_subcommands(kernel, tmp_path):
    assert "--compare" in kernel.run("%wenxin help").text
    models = kernel.run("%wenxin models").final()
    assert "bloomz_7b1" in models and "completions_preemptible" in models and "4800" in models
    assert "Yi-34B" in models and "top_k" in models
    assert "now uses ERNIE-Lite-8K" in kernel.run("%wenxin use ERNIE-Lite-8K -c sub").stdout
    kernel.run("%%wenxin -c sub --new\n你好")
    assert last_request(kernel)["path"].endswith("/chat/ernie-lite-8k")
    assert "Unknown model" in kernel.run("%wenxin use NoSuchModel").stderr
    assert "sub" in kernel.run("%wenxin chats").final()
    assert "你好" in kernel.run("%wenxin history sub").final()
    assert "no conversation 'nope'" in kernel.run("%wenxin history nope").stderr
    kernel.run("%wenxin system 你是诗人 -c sub")
    assert kernel.value("session.conversation('sub').system") == "你是诗人"
    kernel.run("%wenxin system --clear -c sub")
    assert kernel.value("session.conversation('sub').system") is None
    assert "reset" in kernel.run("%wenxin reset sub").stdout
    assert kernel.value("session.history('sub')") == []
    config = kernel.run("%wenxin config").final()
    assert "offline" in config and "not set" in config and "WenxinMagics.model" in config
    usage = kernel.run("%wenxin usage").final()
    assert "per model" in usage and "per conversation" in usage and "ERNIE-Speed-8K" in usage
    target = tmp_path / "all.md"
    assert "Exported" in kernel.run(f"%wenxin export {target}").stdout
    assert "# Conversation: default" in target.read_text()
    assert "use a .md" in kernel.run(f"%wenxin export {tmp_path / 'x.txt'}").stderr
    assert "No credentials" in kernel.run("%wenxin online").stderr
    assert "Offline" in kernel.run("%wenxin offline").stdout
    one = kernel.run("%wenxin 介绍下故宫")
    assert "故宫" in one.final()
    opts = kernel.run("%wenxin -m BLOOMZ-7B --new 你好")
    assert last_request(kernel)["path"].endswith("/chat/bloomz_7b1") and opts.final()


def test_config_traits(kernel):
    kernel.run('%config WenxinMagics.model = "ERNIE-Lite-8K"')
    kernel.run("%%wenxin -c cfg --new\n你好")
    assert last_request(kernel)["path"].endswith("/chat/ernie-lite-8k")
    kernel.run('%config WenxinMagics.temperature = 0.2')
    kernel.run("%%wenxin -c cfg\n再见")
    assert last_request(kernel)["json"]["temperature"] == 0.2
    kernel.run('%config WenxinMagics.model = "ERNIE-Speed-8K"')
    kernel.run('%config WenxinMagics.temperature = None')


def test_completion_on_a_deployed_endpoint(kernel):
    run = kernel.run("%%wenxin --completion --endpoint my_yi_34b\nIntroduce the city Beijing")
    body = last_request(kernel)
    assert body["path"].endswith("/completions/my_yi_34b") and body["json"]["prompt"] == "Introduce the city Beijing"
    assert "messages" not in body["json"] and run.final()


def test_login_never_echoes(kernel_factory):
    k = kernel_factory("%load_ext wenxin_magic")
    ak, sk = FAKE.LOGIN.ak, FAKE.LOGIN.sk
    run = k.run("%wenxin login", stdin=["", ak, sk])  # no v2 key: then the application's v1 keys
    prompts = [m for m in run.messages if m["msg_type"] == "input_request"]
    assert len(prompts) == 3 and all(p["content"]["password"] for p in prompts)
    assert "v2 API Key" in prompts[0]["content"]["prompt"] and "QIANFAN_AK" in prompts[1]["content"]["prompt"]
    assert "Online" in run.stdout
    assert ak not in run.text and sk not in run.text
    config = k.run("%wenxin config").text
    assert ak not in config and "set (hidden)" in config


def test_display_traffic_is_bounded(kernel_factory):
    """A 20 KB answer in about 400 chunks: display messages total at most 5x the answer."""
    k = kernel_factory(SETUP.format(delay=0.01))
    run = k.run("%%wenxin\nwrite 20000 characters about Beijing", timeout=120)
    answer = k.value("session.last_reply.text")
    chunks = k.value("len([1 for _ in session.last_reply.text])")  # answer length in characters
    size = len(answer.encode())
    assert 18000 <= size and chunks
    assert run.display_bytes() <= 5 * size, (run.display_bytes(), size)
    assert len(run.of("update_display_data")) >= 3


def test_no_credentials_in_a_saved_notebook_outputs(kernel_factory):
    ak, sk = FAKE.NOTEBOOK.ak, FAKE.NOTEBOOK.sk
    k = kernel_factory("%load_ext wenxin_magic", env=FAKE.NOTEBOOK.oauth_env())
    load = k.setup_run
    assert "emulator" not in load.stdout  # credentials present: online, no notice
    config = k.run("%wenxin config")
    assert "online" in config.text and "oauth" in config.text
    for run in (load, config):
        assert ak not in run.text and sk not in run.text
    assert re.search(r"QIANFAN_AK / API Key\s*\|?\s*set \(hidden\)", config.text)


def test_queued_cells_run_in_turn(kernel):
    """ "Run All" queues every cell while the first still streams; each must run, in order, cleanly."""
    runs = kernel.run_all(["%%wenxin -c queued --new\n介绍下故宫", "print('between')",
                           "%%wenxin -c queued\n继续", "%wenxin chats"])
    assert all(run.error is None for run in runs)
    assert "故宫" in runs[0].final() and runs[1].stdout == "between\n" and "tokens" in runs[2].final()
    for run in runs:
        assert "Exception" not in run.stderr and "Traceback" not in run.text
    history = kernel.value("session.history('queued')")
    assert_history_valid(history)
    assert [m["role"] for m in history] == ["user", "assistant"] * 2
