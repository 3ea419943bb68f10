"""Lessons through real kernels: recorded with a key against a server whose answers the emulator could not write,
saved with ``%wenxin lesson save``, then replayed in a fresh kernel that has no credentials at all.
"""

from __future__ import annotations

import json

import pytest

from _scripted_model import ScriptedModel

pytestmark = pytest.mark.kernel

MODEL = "ernie-4.5-turbo-128k"
V2_KEY = "bce-v3/ALTAK-lessonKernel/fedcba9876543210"
WEATHER = "北京今天晴，最高 21 度，适合去颐和园。RECORDED-k1"
WALL = "今天看到的长城大多修建于明朝。RECORDED-k2"
ECHO = "好的，再见。RECORDED-k3 {authorization}"
SCRIPT = {
    "北京今天天气怎么样？": [{"calls": [("get_weather", '{"city": "北京"}')]}, {"text": WEATHER}],
    "长城是哪个朝代修的？": [{"text": WALL}],
    "再见": [{"text": ECHO}],
}
TOOL = '''
ran = []
def get_weather(city: str) -> str:
    """The weather of a city."""
    ran.append(city)
    return f"{{city}}: {weather}"
'''


@pytest.fixture(scope="module")
def lesson_file(module_kernel_factory, tmp_path_factory):
    """Recorded online, with a v2 key, in a kernel of its own; the file and what the recording showed."""
    folder = tmp_path_factory.mktemp("lesson")
    with ScriptedModel(SCRIPT) as model:
        kernel = module_kernel_factory(env={"QIANFAN_API_KEY": V2_KEY, "QIANFAN_BASE_URL": model.base_url,
                                            "WENXIN_MAGIC_LOG": str(folder / "record.db")}, cwd=folder)
        assert kernel.run("import wenxin_magic").error is None
        assert kernel.value("wenxin_magic.get_session().mode") == "online"
        kernel.run(TOOL.format(weather="晴 21°C"))
        first = kernel.run(f"%%wenxin -m {MODEL} -c class --tools get_weather\n北京今天天气怎么样？")
        second = kernel.run("%%wenxin -c class\n长城是哪个朝代修的？")
        kernel.run(f"%%wenxin -m {MODEL} -c bye\n再见")
        saved = kernel.run("%wenxin lesson save class.json -c class -c bye --name 长城与天气")
    return folder / "class.json", first, second, saved


@pytest.fixture(scope="module")
def replay(module_kernel_factory, lesson_file):
    path = lesson_file[0]
    return module_kernel_factory(env={"WENXIN_MAGIC_LESSON": str(path), "WENXIN_MAGIC_LOG": str(path.parent /
                                                                                                   "replay.db")},
                                 cwd=path.parent)


def test_recording_saves_the_conversations_it_names(lesson_file):
    path, first, second, saved = lesson_file
    assert WEATHER in first.final() and WALL in second.final()
    assert "Lesson saved to" in saved.stdout and "2 conversation(s), 3 question(s)" in saved.stdout
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["name"] == "长城与天气" and [c["name"] for c in data["conversations"]] == ["class", "bye"]


def test_no_credential_is_in_the_lesson_file(lesson_file):
    text = lesson_file[0].read_text(encoding="utf-8")
    assert "RECORDED-k3" in text and V2_KEY not in text and "fedcba9876543210" not in text


def test_a_fresh_kernel_without_credentials_replays_the_same_answers_streamed(replay):
    assert "Lesson '长城与天气' loaded: 2 conversation(s), 3 question(s)" in replay.setup_run.stdout
    assert replay.run("import wenxin_magic").error is None
    assert replay.value("wenxin_magic.get_session().mode") == "offline"
    assert replay.value("sorted(k for k in __import__('os').environ if k.startswith('QIANFAN_'))") == []
    replay.run("%config WenxinMagics.lesson_speed = 0.2")
    replay.run(TOOL.format(weather="晴 21°C"))
    first = replay.run(f"%%wenxin -m {MODEL} -c class --tools get_weather\n北京今天天气怎么样？")
    assert WEATHER in first.final() and "lesson" in first.final() and "emulator" not in first.final()
    assert replay.value("ran") == ["北京"]  # the notebook's function really ran again
    assert "录制时返回" not in first.final()  # same result as recorded: no note
    second = replay.run("%%wenxin -c class\n长城是哪个朝代修的？")
    assert WALL in second.final() and len(second.of("update_display_data")) >= 2  # streamed, not shown at once


def test_a_differing_tool_result_is_said_with_the_recorded_answer(replay):
    replay.run(TOOL.format(weather="雨 12°C"))
    run = replay.run(f"%%wenxin -m {MODEL} -c class2 --tools get_weather\n北京今天天气怎么样？")
    shown = run.final()
    assert WEATHER in shown and "get_weather" in shown and "雨 12°C" in shown and "晴 21°C" in shown
    assert replay.value("ran") == ["北京"]


def test_an_unmatched_question_is_answered_with_the_notice(replay):
    run = replay.run(f"%%wenxin -m {MODEL} -c class3\n长城有多长？")
    assert "这个问题不在课程「长城与天气」里" in run.final() and "emulator" in run.final()


def test_lesson_shows_what_is_loaded_and_what_was_hit(replay):
    run = replay.run("%wenxin lesson")
    plain = run.final("text/plain")
    assert "Lesson '长城与天气'" in plain and "answering now (offline)" in plain and "lesson_speed 0.2" in plain
    rows = [line for line in plain.splitlines() if line.startswith(("class  ", "bye  "))]
    assert len(rows) == 3 and rows[0].endswith("  1  2") and rows[1].endswith("  0  1") and rows[2].endswith("  0  0")


def test_bad_lesson_commands_say_what_is_wrong_without_a_traceback(replay, tmp_path):
    for line, words in ((f"%wenxin lesson load {tmp_path}/missing.json", "No lesson file"),
                        ("%wenxin lesson load", "give the lesson file's PATH"),
                        ("%wenxin lesson off extra.json", "takes no PATH"),
                        ("%wenxin lesson load x.json -c class", "-c and --name go with save"),
                        (f"%wenxin lesson save {tmp_path}/lesson.md", "ending in .json"),
                        ("%config WenxinMagics.lesson_speed = -1", "lesson_speed must be from 0")):
        run = replay.run(line)
        assert words in run.stderr + run.text, (line, run.text)
        assert "Traceback" not in run.stderr + run.stdout
    assert replay.value("wenxin_magic.get_session().lesson is not None")
    assert "unloaded" in replay.run("%wenxin lesson off").stdout
    assert "No lesson loaded" in replay.run("%wenxin lesson").final("text/plain")
