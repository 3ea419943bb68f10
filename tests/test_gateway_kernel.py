"""A student's kernel behind the gateway: `%%wenxin` streams an answer with nothing but the student's token and the
gateway's URL, a refusal reaches the cell as a clear error, and the teacher's key is nowhere in the kernel."""

from __future__ import annotations

import pytest

from _gateway import STUDENTS, TEACHER_KEY, running_gateway

pytestmark = pytest.mark.kernel


@pytest.fixture(scope="module")
def gateway(emulator, tmp_path_factory):
    with running_gateway(tmp_path_factory.mktemp("class"), emulator.base_url,
                         policy={"models": ["ernie-speed-8k", "ernie-4.5-turbo-32k"]}) as server:
        yield server


@pytest.fixture(scope="module")
def kernel(gateway, module_kernel_factory):
    return module_kernel_factory(env={"QIANFAN_BASE_URL": gateway.base_url, "QIANFAN_API_KEY": STUDENTS["alice"][0]})


def test_a_cell_streams_an_answer_through_the_gateway(kernel, emulator):
    before = len([r for r in emulator.requests if r["path"] == "/v2/chat/completions"])
    run = kernel.run("%%wenxin -m ernie-speed-8k\n介绍下故宫")
    assert run.error is None
    assert len(run.displays) > 1  # streamed: updates before the final one
    assert "ernie-speed-8k" in run.final()
    assert len([r for r in emulator.requests if r["path"] == "/v2/chat/completions"]) == before + 1
    assert kernel.value("__import__('wenxin_magic').get_session().last_reply.api") == "v2"


def test_a_model_outside_the_allowlist_is_a_clear_error_in_the_cell(kernel):
    run = kernel.run("%%wenxin -m deepseek-r1\n你好")
    shown = run.final()
    assert "not allowed in this class" in shown and "ernie-speed-8k" in shown and "Traceback" not in shown


def test_the_teachers_key_is_nowhere_in_the_kernel(kernel):
    assert kernel.value(f"any({TEACHER_KEY!r} in str(v) for v in __import__('os').environ.values())") is False
    run = kernel.run("%wenxin config")
    assert TEACHER_KEY not in str(run.displays) and TEACHER_KEY not in run.stdout
