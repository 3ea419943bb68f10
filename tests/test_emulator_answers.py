"""What the offline emulator says, over loopback HTTP with httpx: arithmetic computed right, runnable code for
common tasks (each block is run), one honest reply to what it cannot answer, reasoning that works through the
question, long answers that stay in order, and no answer signed with a model's name.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
import time

import httpx
import pytest

from wenxin_magic.api import MODELS, V2_MODELS

V2 = "/v2/chat/completions"
V1_PREFIX = "/rpc/2.0/ai_custom/v1/wenxinworkshop"
KEY = "bce-v3/ALTAK-FAKE" + hashlib.sha256(b"emulator-answers").hexdigest()[:10] + "/" + \
    hashlib.sha256(b"emulator-answers").hexdigest()[10:50]

# one model of each voice the emulator has: ERNIE, a light ERNIE, an open model; BLOOMZ (terse) is v1 only
VOICES = ["ernie-4.5-turbo-32k", "ernie-speed-8k", "deepseek-v3"]
V1_VOICES = ["completions", "ernie_speed", "bloomz_7b1", "llama_2_7b"]

HOSTILE = ["介绍一下长城", "1+1等于几？", "What is the capital of France?", "9.11 和 9.9 哪个大？", "写一首关于春天的诗",
           "Write a poem about the sea", "讲个笑话", "Tell me a joke", "用Python写一个冒泡排序", "长城是哪个朝代修的？"]
UNKNOWN = ["介绍一下长城", "What is the capital of France?", "写一首关于春天的诗", "Write a poem about the sea", "讲个笑话",
           "Tell me a joke", "长城是哪个朝代修的？", "用Python写一个网络爬虫", "Write a Python web server"]

SIGNATURES = re.compile(r"（以上由|整理）|（来自|（[^（）]*的回答）|——\s*\S|\(compiled by|\(from |'s answer\)|^-- \S", re.M)
FILLER = re.compile(r"值得关注|结合具体情况|worth thinking through|worth exploring|从基本概念来看|Point \d+|Aspect \d+|"
                    r"Note \d+:|第\d+点|第\d+个方面|looking at the basics")
CJK = re.compile(r"[\u4e00-\u9fff]")


def chinese(text: str) -> bool:
    return bool(CJK.search(text))


def in_language_of(prompt: str, text: str) -> bool:
    """The answer's words are in the question's language; a bare number or a code block has no language."""
    words = re.sub(r"```.*?```", "", text, flags=re.S)
    if not re.search(r"[A-Za-z\u4e00-\u9fff]", words):
        return True
    return chinese(words) == chinese(prompt)


@pytest.fixture
def ask_v2(emu, client):
    """``ask(prompt, model=..., **body)``: the v2 message (content, and reasoning_content when the model thinks)."""
    def ask(prompt: str, model: str = "ernie-4.5-turbo-32k", **body) -> dict:
        r = client.post(V2, json={"model": model, "messages": [{"role": "user", "content": prompt}], **body},
                        headers={"Authorization": f"Bearer {KEY}"})
        assert r.status_code == 200, r.text
        return r.json()["choices"][0]["message"]

    return ask


@pytest.fixture
def ask_v1(emu, client, token):
    """``ask(prompt, endpoint=..., kind="chat")``: the v1 answer's text."""
    def ask(prompt: str, endpoint: str = "completions", kind: str = "chat") -> str:
        body = {"messages": [{"role": "user", "content": prompt}]} if kind == "chat" else {"prompt": prompt}
        segment = "chat" if kind == "chat" else "completions"
        r = client.post(f"{V1_PREFIX}/{segment}/{endpoint}", params={"access_token": token}, json=body)
        assert r.status_code == 200 and "error_code" not in r.json(), r.text
        return r.json()["result"]

    return ask


@pytest.fixture
def answers(ask_v1, ask_v2):
    """``answers(prompt)``: the answer of every voice, v2's and v1's, as {model or endpoint: text}."""
    def every_voice(prompt: str) -> dict[str, str]:
        found = {model: ask_v2(prompt, model=model)["content"] for model in VOICES}
        found.update({endpoint: ask_v1(prompt, endpoint) for endpoint in V1_VOICES})
        return found

    return every_voice


# -- nothing signed, nothing filled ------------------------------------------------------------------------------

@pytest.mark.parametrize("prompt", HOSTILE)
def test_no_answer_is_signed_or_filled(answers, prompt):
    for voice, text in answers(prompt).items():
        assert text.strip(), voice
        assert not SIGNATURES.search(text), (voice, text)
        assert not FILLER.search(text), (voice, text)
        assert in_language_of(prompt, text), (voice, text)


def test_no_model_of_the_catalog_signs_its_answer(ask_v1, ask_v2):
    prompts = ["介绍一下长城", "介绍下故宫"]
    for spec in V2_MODELS:
        for prompt in prompts:
            text = ask_v2(prompt, model=spec.id)["content"]
            assert spec.id.lower() not in text.lower() and not SIGNATURES.search(text), (spec.id, text)
    for spec in MODELS:
        if not spec.endpoint:  # a deployment of the user's own, not served under a name
            continue
        for prompt in prompts:
            text = ask_v1(prompt, spec.endpoint, spec.kind)
            assert spec.name.lower() not in text.lower() and not SIGNATURES.search(text), (spec.name, text)


def test_models_of_one_family_still_answer_differently(ask_v1):
    """Two ERNIE models differ in how they lay out a list, not by a name at the end."""
    texts = {endpoint: ask_v1("介绍一下故宫", endpoint) for endpoint in ("completions", "completions_pro", "ernie_speed")}
    assert len(set(texts.values())) == 3
    assert all("故宫" in text and not SIGNATURES.search(text) for text in texts.values())


# -- the honest reply ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("prompt", UNKNOWN)
def test_what_it_cannot_answer_gets_one_short_honest_reply(answers, prompt):
    for voice, text in answers(prompt).items():
        zh = chinese(prompt)
        assert ("离线模拟器" in text) if zh else ("offline emulator" in text), (voice, text)
        assert "QIANFAN_API_KEY" in text and "%wenxin lesson load" in text, (voice, text)
        assert len(text) < 450 and "```" not in text and "\n" not in text, (voice, text)  # one paragraph, no made-up code
        quotes = re.findall(r"“([^”]*)”", text) + re.findall(r'"([^"]*)"', text)
        assert all(q == prompt for q in quotes), (voice, text)  # quoted whole, if quoted


def test_a_question_is_quoted_whole_and_never_a_heading(ask_v1, ask_v2):
    question = "长城是哪个朝代修的？"
    texts = [ask_v2(question, model=model)["content"] for model in VOICES] + \
        [ask_v1(question, endpoint) for endpoint in V1_VOICES]
    for text in texts:
        assert not re.search(r"^\s*#", text, re.M), text
        assert "长城是哪个朝代修”" not in text and '"长城是哪个朝代修"' not in text, text  # never clipped
        assert f"“{question}”" in text, text
    long_question = "请根据下面的材料回答：" + "长城" * 60 + "？"
    text = ask_v2(long_question)["content"]
    assert "长城长城" not in text or long_question in text  # too long to quote: not quoted at all, never a piece of it


# -- arithmetic -------------------------------------------------------------------------------------------------

ARITHMETIC = [
    ("1+1等于几？", "2"),
    ("What is 12 * 7?", "84"),
    ("3.5 - 1.2", "2.3"),
    ("2**10", "1024"),
    ("2^10 等于多少", "1024"),
    ("80 的 15%", "12"),
    ("15% of 80", "12"),
    ("10 / 4 等于多少？", "2.5"),
    ("(3 + 4) * 5", "35"),
    ("计算 １２÷３", "4"),
    ("What is 1/3?", "0.3333333333"),
    ("What is 0.1 + 0.2?", "0.3"),
]


def _numbers(text: str) -> list[str]:
    return re.findall(r"(?<![\d.])-?\d+(?:\.\d+)?(?!\d|\.\d)", text)


@pytest.mark.parametrize(("prompt", "result"), ARITHMETIC)
def test_arithmetic_is_computed(answers, prompt, result):
    for voice, text in answers(prompt).items():
        assert result in _numbers(text), (voice, text)
        assert in_language_of(prompt, text), (voice, text)
        assert "0.30000000000000004" not in text  # exact decimals, not floats


@pytest.mark.parametrize("prompt", ["9.11 和 9.9 哪个大？", "Which is larger, 9.11 or 9.9?", "Is 9.11 > 9.9?"])
def test_decimals_are_compared_as_decimals(answers, prompt):
    for voice, text in answers(prompt).items():
        first = text.strip("*").split("\n")[0]
        assert re.search(r"9\.9\s*(更大|is larger)", first), (voice, text)
        assert not re.search(r"9\.11\s*(更大|is larger)", text), (voice, text)


def test_a_smaller_one_is_named_when_asked(ask_v2):
    assert ask_v2("9.11 和 9.9 哪个小？", model="ernie-speed-8k")["content"].startswith("9.11 更小")


@pytest.mark.parametrize(("prompt", "words"), [("5 / 0 等于多少", "没有定义"), ("What is 7 / 0?", "undefined"),
                                               ("10 % 0", "undefined")])
def test_division_by_zero_is_answered_honestly(answers, prompt, words):
    for voice, text in answers(prompt).items():
        assert words in text and "inf" not in text.lower(), (voice, text)


@pytest.mark.parametrize("prompt", ["9**9**9", "9^9^9^9 等于多少", "2 ** 100000", "10 ** 10 ** 10 + 1"])
def test_huge_powers_are_refused_at_once(ask_v2, prompt):
    started = time.monotonic()
    text = ask_v2(prompt)["content"]
    assert time.monotonic() - started < 2, "a huge power was computed"
    assert "1000" in text and ("太大" in text if chinese(prompt) else "too large" in text), text


def test_a_huge_power_gets_its_order_of_magnitude(ask_v2):
    assert "10^369693099" in ask_v2("9**9**9")["content"]


@pytest.mark.parametrize("prompt", ["ERNIE-4.0-8K 是什么", "2024-01-01 是星期几", "第3-5章讲了什么", "写 300 字关于长城的文章"])
def test_numbers_that_are_not_sums_are_not_computed(ask_v2, prompt):
    text = ask_v2(prompt)["content"]
    assert "=" not in text and "离线模拟器" in text, text


# -- code, run --------------------------------------------------------------------------------------------------

def code_block(text: str) -> str:
    """The one fenced python block of an answer."""
    blocks = re.findall(r"^```python\n(.*?)\n```$", text, re.M | re.S)
    assert len(blocks) == 1 and len(re.findall(r"^```", text, re.M)) == 2, text
    return blocks[0]


def run(code: str, cwd, check: str = "") -> str:
    """Run ``code`` (and ``check`` after it) in a fresh Python, with matplotlib drawing off screen; its stdout."""
    env = {**os.environ, "MPLBACKEND": "Agg", "PYTHONIOENCODING": "utf-8"}
    done = subprocess.run([sys.executable, "-c", code + "\n" + check], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


CODE = {  # task: (a Chinese and an English way to ask for it)
    "bubble sort": ("用Python写一个冒泡排序", "Write a bubble sort in Python"),
    "fibonacci": ("用 Python 写一个斐波那契数列函数", "python code for the fibonacci sequence"),
    "reverse": ("写一个反转字符串的函数", "How do I reverse a string in Python?"),
    "csv": ("用 pandas 读取 CSV 文件", "How do I read a csv with pandas?"),
    "plot": ("用 matplotlib 画图", "Plot a line chart with matplotlib in Python"),
    "comprehension": ("Python 列表推导式的例子", "Show me a list comprehension in Python"),
}


@pytest.mark.parametrize("language", ["zh", "en"])
@pytest.mark.parametrize("task", list(CODE))
def test_common_code_runs_and_is_right(ask_v2, tmp_path, task, language):
    prompt = CODE[task][0 if language == "zh" else 1]
    text = ask_v2(prompt)["content"]
    assert chinese(text.split("```")[0]) == (language == "zh"), text  # explained in the question's language
    code = code_block(text)
    if task == "bubble sort":
        out = run(code, tmp_path, "import random\nv = random.Random(7).sample(range(1000), 50)\n"
                                  "assert bubble_sort(v) == sorted(v) and bubble_sort([]) == []")
        assert "[11, 12, 22, 25, 34, 64, 90]" in out
    elif task == "fibonacci":
        out = run(code, tmp_path, "print(fibonacci(12)[-1])")
        assert "[0, 1, 1, 2, 3, 5, 8, 13, 21, 34]" in out and out.split()[-1] == "89"
    elif task == "reverse":
        out = run(code, tmp_path, "print(reverse_string('abc') + '|')")
        assert "olleh" in out and "界世，好你" in out and "cba|" in out
    elif task == "csv":
        out = run(code, tmp_path)  # writes its own sample file
        assert "(3, 2)" in out and "北京" in out and "98.33" in out
        (tmp_path / "data.csv").write_text("city,visitors\n成都,10\n杭州,30\n", encoding="utf-8")
        out = run(code, tmp_path)  # reads a file that is there, untouched
        assert "(2, 2)" in out and "20.0" in out and "北京" not in out
    elif task == "plot":
        out = run(code, tmp_path, "fig = plt.gcf()\nline = fig.axes[0].lines[0]\n"
                                  "print(len(line.get_xdata()), round(max(line.get_ydata()), 2))")
        assert out.split()[-2:] == ["63", "1.0"]
    else:
        out = run(code, tmp_path)
        assert "[1, 4, 9, 16, 25, 36, 49, 64, 81, 100]" in out and "[4, 16, 36, 64, 100]" in out


def test_code_it_does_not_know_is_not_made_up(answers):
    for voice, text in answers("用Python写一个网络爬虫").items():
        assert "```" not in text and "离线模拟器" in text, (voice, text)


# -- reasoning --------------------------------------------------------------------------------------------------

def test_reasoning_shows_the_computation(ask_v2):
    message = ask_v2("(3+4)*5 等于多少？", model="deepseek-r1")
    assert "3 + 4 = 7" in message["reasoning_content"] and "7 × 5 = 35" in message["reasoning_content"]
    assert "35" in _numbers(message["content"])
    english = ask_v2("What is 15% of 80?", model="ernie-x1-turbo-32k")["reasoning_content"]
    assert "15% = 15 ÷ 100 = 0.15" in english and "80 = 12" in english and not chinese(english)
    compared = ask_v2("9.11 和 9.9 哪个大？", model="deepseek-r1")["reasoning_content"]
    assert "9.90" in compared and "答案是 9.9" in compared


def test_reasoning_names_the_code_task_and_its_approach(ask_v2):
    thought = ask_v2("用Python写一个冒泡排序", model="deepseek-r1")["reasoning_content"]
    assert "冒泡排序" in thought and "相邻" in thought
    thought = ask_v2("How do I reverse a string in Python?", model="deepseek-r1")["reasoning_content"]
    assert "reverse a string" in thought and "[::-1]" in thought


def test_reasoning_about_an_unknown_question_is_honest(ask_v2):
    for model in ("deepseek-r1", "ernie-x1-turbo-32k"):
        message = ask_v2("长城是哪个朝代修的？", model=model)
        thought = message["reasoning_content"]
        assert "“长城是哪个朝代修的？”" in thought and "离线模拟器" in thought and model not in thought
        assert "离线模拟器" in message["content"]
    thought = ask_v2("What is the capital of France?", model="deepseek-r1")["reasoning_content"]
    assert '"What is the capital of France?"' in thought and "offline emulator" in thought


# -- long answers -----------------------------------------------------------------------------------------------

def _placeholder_counts(text: str) -> list[int]:
    """How far each placeholder paragraph says the answer has got, in the order they come."""
    return [int(zh or en) for zh, en in re.findall(r"已到 (\d+)/\d+ 字|Emulator placeholder, (\d+) of", text)]


@pytest.mark.parametrize("model", VOICES)
@pytest.mark.parametrize(("prompt", "short_prompt", "target"), [
    ("write 3000 characters about the Forbidden City", "Tell me about the Forbidden City", 3000),
    ("写 3000 字介绍故宫", "介绍故宫", 3000),
    ("详细介绍一下故宫", "介绍故宫", 2000),
    ("write 3000 characters about the Great Wall", None, 3000),
])
def test_a_long_answer_stays_in_order(ask_v2, model, prompt, short_prompt, target):
    text = ask_v2(prompt, model=model, temperature=0.1)["content"]  # a low temperature: the first closing line
    assert 0.9 * target <= len(text) <= target, len(text)
    assert not FILLER.search(text) and not SIGNATURES.search(text), text[:500]
    counts = _placeholder_counts(text)
    assert counts and counts == sorted(counts) and len(set(counts)) == len(counts)  # its parts in order
    paragraphs = text.split("\n\n")
    if short_prompt:  # the topic's closing line: once, and only as the very last paragraph
        closing = ask_v2(short_prompt, model=model, temperature=0.1)["content"].split("\n\n")[-1]
        assert closing in paragraphs and text.count(closing) == 1 and paragraphs[-1] == closing, text[-300:]
    else:
        assert paragraphs[0].startswith("This is the offline emulator") or "offline emulator" in paragraphs[0]


def test_answer_chars_keeps_every_answer_long_and_whole(emulator_factory):
    server = emulator_factory(answer_chars=5000)
    with httpx.Client(base_url=server.base_url, timeout=10) as http:
        for prompt in ("介绍下故宫", "1+1等于几？", "讲个笑话"):
            body = {"model": "ernie-4.5-turbo-32k", "messages": [{"role": "user", "content": prompt}]}
            text = http.post(V2, json=body, headers={"Authorization": f"Bearer {KEY}"}).json()[
                "choices"][0]["message"]["content"]
            assert 4500 <= len(text) <= 5000 and not FILLER.search(text), (prompt, len(text))
            counts = _placeholder_counts(text)
            assert counts == sorted(counts) and text.rstrip().endswith(("。", ".")), text[-200:]


def test_a_completion_it_cannot_continue_says_so(ask_v1):
    for prompt, words in (("从前有座山，", "离线模拟器不会真正续写"), ("Once upon a time", "does not really continue")):
        text = ask_v1(prompt, "sqlcoder_7b", kind="completion")
        assert words in text and "QIANFAN_API_KEY" in text and not FILLER.search(text), text


# -- the notebooks' own questions: modest facts, in the sentences asked for ---------------------------------------

@pytest.mark.parametrize("prompt, facts", [
    ("用一句话介绍西湖", ["杭州", "苏堤"]),
    ("介绍一下杭州", ["浙江省", "省会"]),
    ("用一句话介绍杭州", ["浙江省省会", "西湖"]),
    ("用三句话解释什么是梯度下降", ["最小值", "梯度", "学习率"]),
    ("简单介绍一下量子计算", ["叠加", "纠缠"]),
    ("Tell me about West Lake in one sentence", ["Hangzhou"]),
])
def test_the_notebooks_topics_are_answered_with_their_facts(answers, prompt, facts):
    for voice, text in answers(prompt).items():
        assert "离线模拟器" not in text and "offline emulator" not in text, (voice, text)
        assert all(fact in text for fact in facts), (voice, text)
        assert in_language_of(prompt, text) and not SIGNATURES.search(text) and not FILLER.search(text), (voice, text)


def test_the_number_of_sentences_asked_for_is_kept(ask_v2):
    one = ask_v2("用一句话介绍西湖")["content"]
    three = ask_v2("用三句话解释什么是梯度下降")["content"]
    assert one.count("。") == 1 and "\n" not in one, one
    assert three.count("。") == 3 and "\n" not in three and "θ" not in three, three


def test_a_thinking_model_plans_the_sentences_it_was_asked_for(ask_v2):
    message = ask_v2("用三句话解释什么是梯度下降", model="deepseek-r1")
    assert "三句话" in message["reasoning_content"] and "离线模拟器" not in message["reasoning_content"]


@pytest.mark.parametrize("prompt, fact", [
    ("用一句话介绍北京最值得去的一个地方。", "故宫"),
    ("用一句话介绍西安最值得去的一个地方。", "兵马俑"),
    ("成都有什么特色小吃？用一句话回答。", "担担面"),
    ("上海有什么特色小吃？用一句话回答。", "小笼包"),
    ("春天去杭州玩什么？用一句话回答。", "西湖"),
    ("夏天去桂林玩什么？用一句话回答。", "漓江"),
    ("西安的英文名是什么？只回答名字。", "Xi'an"),
    ("Write a short travel tip for Xi'an.", "city wall"),
])
def test_the_batch_notebooks_city_questions_get_one_sentence_of_fact(ask_v1, ask_v2, prompt, fact):
    for text in (ask_v2(prompt)["content"], ask_v1(prompt, "ernie_speed")):
        assert fact in text and text.count("。") <= 1 and "\n" not in text, text


def test_a_city_it_has_no_facts_for_gets_the_honest_reply(ask_v2):
    text = ask_v2("用一句话介绍拉萨最值得去的一个地方。")["content"]
    assert "离线模拟器" in text and "QIANFAN_API_KEY" in text, text


def test_text_to_copy_out_is_copied_and_the_penalty_drops_its_repeat(ask_v1, client, token):
    slogan = "好好学习。好好学习。天天向上。"
    assert ask_v1(f"请原样抄写一遍：{slogan}", "llama_2_7b") == slogan
    assert ask_v1("Repeat after me: Well done. Well done.", "llama_2_7b") == "Well done. Well done."
    body = {"messages": [{"role": "user", "content": f"请原样抄写一遍：{slogan}"}], "penalty_score": 1.8}
    r = client.post(f"{V1_PREFIX}/chat/llama_2_7b", params={"access_token": token}, json=body)
    assert r.json()["result"] == "好好学习。天天向上。", r.text


def test_the_great_wall_story_is_continued_with_its_history(ask_v1):
    text = ask_v1("长城的故事", "sqlcoder_7b", kind="completion")
    assert "秦始皇" in text and "明朝" in text and "1987" in text and "离线模拟器" not in text, text


def test_search_results_say_they_are_placeholders(emu, client):
    for prompt, words in (("西湖在哪里？", "占位"), ("Where is West Lake?", "placeholder")):
        body = {"model": "ernie-4.5-turbo-32k", "messages": [{"role": "user", "content": prompt}],
                "web_search": {"enable": True, "enable_citation": True}}
        answer = client.post(V2, json=body, headers={"Authorization": f"Bearer {KEY}"}).json()
        results = answer["search_results"]
        assert len(results) == 3 and all(words in r["title"] for r in results), results
        assert all(r["url"].startswith("https://www.example.com/") for r in results), results
        assert "^[1]^" in answer["choices"][0]["message"]["content"]
