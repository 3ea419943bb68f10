"""Lessons: the emulator answering recorded conversations over HTTP, and sessions writing and loading lesson files.

Recording talks to a scripted server whose answers no emulator writes (``_scripted_model``); replay talks to the
emulator on 127.0.0.1 with no credentials at all.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

import httpx
import pytest

from _scripted_model import ScriptedModel
from wenxin_magic.emulator import Lesson, LessonError, answered_from_lesson, normalise_question
from wenxin_magic.session import Session

MODEL = "ernie-4.5-turbo-128k"
V2_KEY = "bce-v3/ALTAK-lessonTest/0123456789abcdef"
RECORDED = "长城主要修建于明朝（1368–1644），今天看到的砖石长城大多是明长城。RECORDED-51c"
TOOL_ANSWER = "北京今天晴，最高 21 度。RECORDED-tool-9e2"


def lesson_dict(**turn_changes) -> dict:
    first = {"question": "长城是哪个朝代修的？", "model": MODEL, "api": "v2",
             "steps": [{"text": RECORDED, "reasoning": "想一想朝代", "ttft": 0.4, "seconds": 0.9}]}
    weather = {"question": "北京今天天气怎么样？", "model": MODEL, "api": "v2",
               "steps": [{"calls": [{"id": "call_1", "name": "get_weather", "arguments": '{"city": "北京"}',
                                     "result": "北京: 晴 21°C"}], "ttft": 0.1, "seconds": 0.2},
                         {"text": TOOL_ANSWER, "ttft": 0.1, "seconds": 0.3}]}
    first.update(turn_changes)
    return {"format": "wenxin-magic lesson", "version": 1, "name": "history",
            "conversations": [{"name": "class", "turns": [first, {"question": "为什么要修？", "model": MODEL,
                                                                 "steps": [{"text": "为了防御北方。RECORDED-2"}]}]},
                              {"name": "weather", "turns": [weather]}]}


def chat(emulator, messages, model=MODEL, stream=False) -> dict:
    """One v2 chat request to the emulator; the whole answer, or the stream's text and id."""
    body = {"model": model, "messages": messages, "stream": stream}
    with httpx.Client(base_url=emulator.base_url, timeout=30) as client:
        response = client.post("/v2/chat/completions", json=body, headers={"Authorization": f"Bearer {V2_KEY}"})
        assert response.status_code == 200, response.text
        if not stream:
            return response.json()
        events = [json.loads(line[6:]) for line in response.text.splitlines()
                  if line.startswith("data: ") and line != "data: [DONE]"]
        text = "".join(c["delta"].get("content") or "" for e in events for c in e.get("choices", []))
        return {"id": events[0]["id"], "text": text, "chunks": len(events)}


def answer_of(payload: dict) -> str:
    return payload["choices"][0]["message"].get("content") or ""


@pytest.fixture
def replaying(emulator_factory):
    emulator = emulator_factory()
    emulator.lesson, emulator.lesson_speed = Lesson(lesson_dict()), 0
    return emulator


# -- the emulator answering from a lesson ---------------------------------------------------------------

def test_a_recorded_question_gets_the_recorded_answer_and_reasoning(replaying):
    payload = chat(replaying, [{"role": "user", "content": "长城是哪个朝代修的？"}])
    assert answer_of(payload) == RECORDED
    assert payload["choices"][0]["message"]["reasoning_content"] == "想一想朝代"
    assert answered_from_lesson(payload["id"])
    assert replaying.lesson.hits == 1


def test_whitespace_and_full_width_punctuation_do_not_matter(replaying):
    payload = chat(replaying, [{"role": "user", "content": "  长城是哪个朝代修的?\n"}])
    assert answer_of(payload) == RECORDED
    assert normalise_question("Ｈｅｌｌｏ，  world！") == normalise_question("Hello, world!") == "Hello, world!"


def test_the_same_question_later_in_a_conversation_matches_only_after_the_same_questions(replaying):
    history = [{"role": "user", "content": "长城是哪个朝代修的？"}, {"role": "assistant", "content": RECORDED}]
    assert answer_of(chat(replaying, history + [{"role": "user", "content": "为什么要修？"}])) == "为了防御北方。RECORDED-2"
    alone = answer_of(chat(replaying, [{"role": "user", "content": "为什么要修？"}]))
    assert "RECORDED-2" not in alone and alone.startswith("（这个问题不在课程「history」里")


def test_an_unmatched_question_gets_the_emulators_answer_after_a_one_line_notice(replaying):
    zh = answer_of(chat(replaying, [{"role": "user", "content": "介绍一下故宫"}]))
    first_line, _, rest = zh.partition("\n")
    assert first_line == "（这个问题不在课程「history」里：下面是离线模拟器的回答。）" and rest.strip()
    en = answer_of(chat(replaying, [{"role": "user", "content": "Tell me about the Forbidden City"}]))
    assert en.startswith("(This question is not in the lesson “history”: the offline emulator answers it.)")
    assert not answered_from_lesson(chat(replaying, [{"role": "user", "content": "介绍一下故宫"}])["id"])


def test_another_model_is_told_which_model_the_lesson_holds_the_question_for(replaying):
    text = answer_of(chat(replaying, [{"role": "user", "content": "长城是哪个朝代修的？"}], model="ernie-speed-8k"))
    assert RECORDED not in text and MODEL in text.splitlines()[0] and "ernie-speed-8k" in text.splitlines()[0]


def test_the_stream_carries_the_recorded_answer_in_pieces(replaying):
    streamed = chat(replaying, [{"role": "user", "content": "长城是哪个朝代修的？"}], stream=True)
    assert streamed["text"] == RECORDED and streamed["chunks"] > 2 and answered_from_lesson(streamed["id"])


def test_v1_chat_is_answered_from_the_lesson_too(emulator_factory):
    emulator = emulator_factory()
    data = lesson_dict(model="ERNIE-Speed-8K")
    emulator.lesson, emulator.lesson_speed = Lesson(data), 0
    with httpx.Client(base_url=emulator.base_url, timeout=30) as client:
        token = client.post("/oauth/2.0/token", params={"grant_type": "client_credentials", "client_id": "ak",
                                                         "client_secret": "sk"}).json()["access_token"]
        response = client.post("/rpc/2.0/ai_custom/v1/wenxinworkshop/chat/ernie_speed",
                               params={"access_token": token},
                               json={"messages": [{"role": "user", "content": "长城是哪个朝代修的？"}]})
    assert response.json()["result"] == RECORDED and answered_from_lesson(response.json()["id"])


def test_tool_calls_are_replayed_and_a_differing_result_is_named(replaying):
    asked = [{"role": "user", "content": "北京今天天气怎么样？"}]
    first = chat(replaying, asked)["choices"][0]
    assert first["finish_reason"] == "tool_calls"
    call = first["message"]["tool_calls"][0]
    assert call["function"] == {"name": "get_weather", "arguments": '{"city": "北京"}'}
    then = asked + [first["message"]]
    same = answer_of(chat(replaying, then + [{"role": "tool", "tool_call_id": call["id"], "content": "北京: 晴 21°C"}]))
    assert same == TOOL_ANSWER
    other = answer_of(chat(replaying, then + [{"role": "tool", "tool_call_id": call["id"], "content": "北京: 雨 12°C"}]))
    assert other.endswith(TOOL_ANSWER) and "get_weather" in other and "'北京: 晴 21°C'" in other \
        and "'北京: 雨 12°C'" in other and other.startswith("> ")


def test_the_recorded_pace_is_kept_and_lesson_speed_scales_it(emulator_factory):
    emulator = emulator_factory()
    emulator.lesson = Lesson(lesson_dict(steps=[{"text": RECORDED, "ttft": 0.6, "seconds": 0.8}]))
    asked = [{"role": "user", "content": "长城是哪个朝代修的？"}]
    for speed, at_least in ((1.0, 0.6), (0.5, 0.3)):
        emulator.lesson_speed = speed
        began = time.perf_counter()
        assert chat(emulator, asked, stream=True)["text"] == RECORDED
        # a lower bound: the replay waits the recorded time to the first chunk, times the speed
        assert time.perf_counter() - began >= at_least
    emulator.lesson_speed = 0
    assert chat(emulator, asked, stream=True)["text"] == RECORDED


# -- lesson files -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("content, words", [
    ("not json {", "not valid JSON"),
    (json.dumps({"conversations": []}), "not a lesson file"),
    (json.dumps({"format": "wenxin-magic lesson", "version": 99, "conversations": []}), "version 99"),
    (json.dumps({"format": "wenxin-magic lesson", "version": 1, "conversations": [{"turns": [{"question": "q"}]}]}),
     "needs a \"question\" and a \"model\""),
])
def test_a_bad_lesson_file_is_refused_with_what_is_wrong(tmp_path, content, words):
    path = tmp_path / "bad.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(LessonError, match=words.replace("(", r"\(")):
        Lesson.load(path)
    with pytest.raises(LessonError, match="No lesson file"):
        Lesson.load(tmp_path / "missing.json")


def test_the_emulator_command_line_serves_a_lesson(tmp_path):
    path = tmp_path / "history.json"
    path.write_text(json.dumps(lesson_dict(), ensure_ascii=False), encoding="utf-8")
    process = subprocess.Popen([sys.executable, "-m", "wenxin_magic.emulator", "--lesson", str(path),
                                "--lesson-speed", "0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        url = process.stdout.readline().strip()

        class Served:
            base_url = url
        assert answer_of(chat(Served, [{"role": "user", "content": "长城是哪个朝代修的？"}])) == RECORDED
    finally:
        process.terminate()
        process.wait(10)
    refused = subprocess.run([sys.executable, "-m", "wenxin_magic.emulator", "--lesson", str(tmp_path / "no.json")],
                             capture_output=True, text=True, timeout=60)
    assert refused.returncode == 2 and "No lesson file" in refused.stderr and "Traceback" not in refused.stderr


# -- sessions: record against a scripted model, save, replay offline --------------------------------------

SCRIPT = {
    "北京今天天气怎么样？": [{"calls": [("get_weather", '{"city": "北京"}')]},
                           {"text": TOOL_ANSWER, "reasoning": "先查天气"}],
    "长城是哪个朝代修的？": [{"text": RECORDED}],
    "再见": [{"text": "再见！你用的钥匙是 {authorization}"}],
}


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    """A lesson recorded online (v2 key) against the scripted model, with one tool call; its path and the
    calls the recording's function saw."""
    tmp_path = tmp_path_factory.mktemp("recorded")
    seen = []

    def get_weather(city: str) -> str:
        """The weather of a city."""
        seen.append(city)
        return f"{city}: 晴 21°C"

    with ScriptedModel(SCRIPT) as model, pytest.MonkeyPatch.context() as patch:
        patch.setenv("WENXIN_MAGIC_LOG", str(tmp_path / "log.db"))
        session = Session(environ={"QIANFAN_API_KEY": V2_KEY, "QIANFAN_BASE_URL": model.base_url})
        try:
            assert session.ask("北京今天天气怎么样？", model=MODEL, chat="class", tools=[get_weather]).text == TOOL_ANSWER
            assert session.ask("长城是哪个朝代修的？", model=MODEL, chat="class").text == RECORDED
            assert session.ask("再见", model=MODEL, chat="other").ok
            said = session.save_lesson(tmp_path / "class.json")
        finally:
            session.close()
    assert "2 conversation(s), 3 question(s)" in said
    return tmp_path / "class.json", seen


def test_a_saved_lesson_holds_the_turns_steps_and_pace(recorded):
    path, seen = recorded
    data = json.loads(path.read_text(encoding="utf-8"))
    assert seen == ["北京"]
    conversations = {c["name"]: c for c in data["conversations"]}
    weather = conversations["class"]["turns"][0]
    assert weather["question"] == "北京今天天气怎么样？" and weather["model"] == MODEL and weather["api"] == "v2"
    calls = weather["steps"][0]["calls"]
    assert [(c["name"], c["arguments"], c["result"]) for c in calls] == [("get_weather", '{"city": "北京"}',
                                                                          "北京: 晴 21°C")]
    assert weather["steps"][1]["text"] == TOOL_ANSWER and weather["steps"][1]["reasoning"] == "先查天气"
    assert all(step["ttft"] > 0.1 and step["seconds"] >= step["ttft"] for step in weather["steps"])


def test_no_credential_goes_into_a_lesson_even_when_the_server_echoed_it(recorded):
    path, _ = recorded
    text = path.read_text(encoding="utf-8")
    secret = V2_KEY.split("/", 1)[1]
    assert "再见" in text and V2_KEY not in text and secret not in text and "0123456789abcdef" not in text


def test_a_lesson_replays_offline_with_the_notebooks_functions_run_again(recorded, monkeypatch):
    path, _ = recorded
    monkeypatch.setenv("WENXIN_MAGIC_LOG", str(path.parent / "replay.db"))
    session = Session(environ={"WENXIN_MAGIC_LESSON": str(path)})
    ran = []

    def get_weather(city: str) -> str:
        """The weather of a city."""
        ran.append(city)
        return f"{city}: 雨 12°C"

    try:
        assert session.offline and any("Lesson 'class' loaded" in str(n) for n in session.notices)
        session.lesson_speed = 0
        reply = session.ask("北京今天天气怎么样？", model=MODEL, chat="again", tools=[get_weather])
        assert ran == ["北京"] and reply.text.endswith(TOOL_ANSWER) and "'北京: 雨 12°C'" in reply.text
        assert reply.lesson == "class" and reply.emulated and reply.rounds[0].calls[0].result == "北京: 雨 12°C"
        assert session.ask("长城是哪个朝代修的？", model=MODEL, chat="again").text == RECORDED
        unmatched = session.ask("长城有多长？", model=MODEL, chat="again")
        assert unmatched.lesson is None and unmatched.text.startswith("（这个问题不在课程「class」里")
        assert session.lesson.hits == 2
        assert session.unload_lesson() == "Lesson 'class' unloaded." and session.lesson is None
    finally:
        session.close()


def test_saving_refuses_what_it_cannot_write_and_keeps_nothing_half_written(tmp_path, monkeypatch):
    monkeypatch.setenv("WENXIN_MAGIC_LOG", str(tmp_path / "log.db"))
    session = Session(offline=True, environ={})
    try:
        with pytest.raises(Exception, match="No conversation has a turn"):
            session.save_lesson(tmp_path / "empty.json")
        session.ask("你好", chat="c")
        with pytest.raises(Exception, match="ending in .json"):
            session.save_lesson(tmp_path / "lesson.txt")
        with pytest.raises(Exception, match="No folder"):
            session.save_lesson(tmp_path / "nowhere" / "lesson.json")
        with pytest.raises(Exception, match="No conversation 'ghost'"):
            session.save_lesson(tmp_path / "ghost.json", ["ghost"])
        assert not list(tmp_path.glob(".lesson-*")) and not (tmp_path / "lesson.txt").exists()
        with pytest.raises(Exception, match="lesson_speed must be a number from 0"):
            session.lesson_speed = -1
    finally:
        session.close()


def test_a_question_with_a_picture_keeps_the_pictures_hash_and_replays_by_its_words(tmp_path, monkeypatch):
    import hashlib

    from PIL import Image

    monkeypatch.setenv("WENXIN_MAGIC_LOG", str(tmp_path / "log.db"))
    buffer = tmp_path / "red.png"
    Image.new("RGB", (64, 48), (200, 30, 30)).save(buffer, format="PNG")
    data = buffer.read_bytes()
    session = Session(offline=True, environ={})
    try:
        answer = session.ask("这张图是什么颜色？", model="ernie-4.5-turbo-vl", chat="look", images=[str(buffer)]).text
        session.save_lesson(tmp_path / "look.json")
        turn = json.loads((tmp_path / "look.json").read_text(encoding="utf-8"))["conversations"][0]["turns"][0]
        assert turn["question"] == "这张图是什么颜色？" and turn["images"] == [hashlib.sha256(data).hexdigest()]
        assert "base64" not in (tmp_path / "look.json").read_text(encoding="utf-8")
        session.load_lesson(tmp_path / "look.json")
        session.lesson_speed = 0
        again = session.ask("这张图是什么颜色？", model="ernie-4.5-turbo-vl", chat="again", images=[str(buffer)])
        assert again.lesson == "look" and again.text == answer
    finally:
        session.close()


def test_a_conversation_named_for_saving_comes_from_the_log_when_the_kernel_has_it_not(tmp_path, monkeypatch):
    monkeypatch.setenv("WENXIN_MAGIC_LOG", str(tmp_path / "log.db"))
    first = Session(offline=True, environ={}, emulator_options={"ttft": 0, "chunk_delay": 0})
    try:
        first.ask("1+1等于几？", chat="yesterday")
    finally:
        first.close()
    later = Session(offline=True, environ={})
    try:
        assert "1 conversation(s), 1 question(s)" in later.save_lesson(tmp_path / "old.json", ["yesterday"])
        turn = json.loads((tmp_path / "old.json").read_text(encoding="utf-8"))["conversations"][0]["turns"][0]
        assert turn["question"] == "1+1等于几？" and "2" in turn["steps"][-1]["text"]
        (tmp_path / "log.db").unlink()
        (tmp_path / "log.db").mkdir()  # a folder where the log's file should be: the log cannot be opened
        later.log.use(tmp_path / "log.db")
        with pytest.raises(Exception, match="No conversation 'gone' in this kernel, and the log cannot be read"):
            later.save_lesson(tmp_path / "gone.json", ["gone"])
    finally:
        later.close()
