"""What answers cost, in a real kernel on its built-in emulator: the footer of a priced, a free and an unpriced
model, the ¥ of %wenxin usage, the budget that keeps a question from being sent, and the estimate a --batch shows
and asks about before it runs (answered on stdin, unanswerable in a notebook run by a script, skipped by --yes)."""

from __future__ import annotations

import re

import pytest

pytestmark = pytest.mark.kernel

SETUP = '''
%load_ext wenxin_magic
import wenxin_magic
session = wenxin_magic.get_session()
session.backend.emulator_options.update(ttft=0.0, chunk_delay=0.0)
trips = ["长城", "故宫", "颐和园"]
def _sent():
    emulator = session.backend.emulator
    return [r["path"] for r in (emulator.requests if emulator is not None else [])
            if "wenxinworkshop" in r["path"] or r["path"] == "/v2/chat/completions"]
'''

PRICED, FREE, UNPRICED = "ernie-4.5-turbo-32k", "ernie-speed-8k", "ernie-x1-turbo-32k"
QUESTION = "用三句话介绍一下长城。"
YUAN = re.compile(r"≈ ¥(\d+\.\d+)")


@pytest.fixture(scope="module")
def k(module_kernel_factory):
    return module_kernel_factory(SETUP)


@pytest.fixture
def clean(k):
    """No cap, the default threshold, and a fresh session's accounts after each test."""
    yield k
    ok(k.run("%config WenxinMagics.budget_yuan = None\n%config WenxinMagics.confirm_over_yuan = 1.0\n"
             "session.replies.clear()"))


def ok(run) -> None:
    assert run.error is None, run.text
    assert "Traceback" not in run.text, run.text


def sent(k) -> int:
    return k.value("len(_sent())")


def test_each_footer_says_what_the_answer_cost(clean):
    k = clean
    priced = k.run(f"%%wenxin -m {PRICED} -c priced -o r\n{QUESTION}")
    ok(priced)
    cost, usage = k.value("r.cost_yuan"), k.value("[r.usage.prompt_tokens, r.usage.completion_tokens]")
    assert cost == pytest.approx((usage[0] * 0.8 + usage[1] * 3.2) / 1_000_000)  # the catalog's 0.8 / 3.2 ¥ per M
    shown = YUAN.findall(priced.final())
    assert shown and float(shown[-1]) == pytest.approx(cost, rel=0.05) and float(shown[-1]) > 0
    assert YUAN.search(priced.final("text/plain"))  # the plain-text bundle too

    free = k.run(f"%%wenxin -m {FREE} -c free\n{QUESTION}")
    ok(free)
    assert " · free · " in free.final() and "¥" not in free.final()

    unknown = k.run(f"%%wenxin -m {UNPRICED} -c unknown -o u\n{QUESTION}")
    ok(unknown)
    assert k.value("u.usage.total_tokens") > 0 and k.value("u.cost_yuan") is None
    assert "¥" not in unknown.final() and " · free" not in unknown.final()


def test_the_comparison_grid_shows_each_column_cost(clean):
    grid = clean.run(f"%%wenxin --compare {PRICED},{FREE}\n{QUESTION}")
    ok(grid)
    assert YUAN.search(grid.final()) and " · free · " in grid.final()


def test_usage_adds_the_cost_per_model_per_conversation_and_for_the_kernel(clean):
    k = clean
    ok(k.run(f"%%wenxin -m {PRICED} -c spend\n{QUESTION}"))
    ok(k.run("%%wenxin -c spend\n再说一句。"))
    ok(k.run(f"%%wenxin -m {UNPRICED} -c other\n{QUESTION}"))
    spent = k.value("session.spent_yuan()")
    assert spent > 0
    usage = k.run("%wenxin usage")
    ok(usage)
    html, plain = usage.final(), usage.final("text/plain")
    assert "≈ ¥ (estimate)" in html
    date = k.value("wenxin_magic.api.CATALOG_DATE")
    assert f"estimates at the catalog's prices of {date}" in plain
    [model_row] = [line for line in plain.splitlines() if line.startswith(PRICED + "  ")]
    [chat_row] = [line for line in plain.splitlines() if line.startswith("spend  ")]
    for row in (model_row, chat_row):
        assert float(YUAN.search(row).group(1)) == pytest.approx(spent, rel=0.05)
    assert "+1 unpriced" in next(line for line in plain.splitlines() if line.startswith(UNPRICED + "  "))
    total = next(line for line in plain.splitlines() if line.startswith("total:"))
    assert "for the kernel" in total and float(YUAN.search(total).group(1)) == pytest.approx(spent, rel=0.05)
    assert "1 answer(s) of models without a known price are not counted" in plain


def test_a_question_over_the_budget_is_not_sent_and_says_how_to_raise_it(clean):
    k = clean
    ok(k.run(f"%%wenxin -m {FREE} -c warm\nhi"))  # the emulator is running, and counting
    ok(k.run("%config WenxinMagics.budget_yuan = 0.001"))
    assert k.value("session.budget_yuan") == 0.001
    before = sent(k)
    refused = k.run(f"%%wenxin -m {PRICED} -c capped\n{QUESTION}")
    ok(refused)
    assert sent(k) == before
    assert "Not sent" in refused.text and "budget of ¥0.001" in refused.text
    assert "%config WenxinMagics.budget_yuan = " in refused.text
    assert not k.value("len(session.conversation('capped').turns)")
    free = k.run(f"%%wenxin -m {FREE} -c capped\n{QUESTION}")  # a free model costs nothing: it is asked
    ok(free)
    assert sent(k) == before + 1 and " · free · " in free.final()
    usage = k.run("%wenxin usage")
    assert "Budget: ¥0.001 (WenxinMagics.budget_yuan)" in usage.final("text/plain")
    ok(k.run("%config WenxinMagics.budget_yuan = 1"))
    ok(k.run(f"%%wenxin -m {PRICED} -c capped\n{QUESTION}"))
    assert sent(k) == before + 2


@pytest.mark.parametrize("value", ["-1", "float('nan')"])
def test_a_budget_below_zero_is_refused_in_words(clean, value):
    r = clean.run(f"%config WenxinMagics.budget_yuan = {value}")
    assert "WenxinMagics.budget_yuan must be an amount in ¥ of at least 0" in r.text
    assert clean.value("session.budget_yuan") is None


def test_a_batch_above_the_threshold_shows_its_estimate_and_asks_first(clean):
    k = clean
    ok(k.run("%config WenxinMagics.confirm_over_yuan = 0.0001"))
    ok(k.run(f"%%wenxin -m {FREE}\nhi"))
    before = sent(k)
    declined = k.run(f"%%wenxin --batch trips -m {PRICED} -o declined\n用一句话介绍{{item}}。", stdin=["n"])
    assert declined.error is None and "Traceback" not in declined.text
    [asked] = [m["content"]["prompt"] for m in declined.messages if m["msg_type"] == "input_request"]
    assert asked.startswith("Run the batch over trips?") and "WenxinMagics.confirm_over_yuan (¥0.0001)" in asked
    estimate = declined.stdout
    assert "Estimated cost of this batch: ≈ ¥" in estimate and "for 3 row(s)" in estimate
    assert "input tokens from the filled prompts" in estimate and "500 a row assumed" in estimate
    assert "The batch was not run" in declined.stderr
    assert sent(k) == before and not k.value("'declined' in globals()")

    accepted = k.run(f"%%wenxin --batch trips -m {PRICED} -o accepted\n用一句话介绍{{item}}。", stdin=["y"])
    ok(accepted)
    assert [m["msg_type"] for m in accepted.messages].count("input_request") == 1
    assert sent(k) == before + 3 and k.value("len(accepted)") == 3


def test_a_batch_that_nothing_can_confirm_stops_with_a_hint_and_yes_runs_it(clean):
    k = clean
    ok(k.run("%config WenxinMagics.confirm_over_yuan = 0.0001"))
    ok(k.run(f"%%wenxin -m {FREE}\nhi"))
    before = sent(k)
    stopped = k.run(f"%%wenxin --batch trips -m {PRICED} -o stopped\n用一句话介绍{{item}}。")  # no stdin
    assert stopped.error is None and "Traceback" not in stopped.text
    assert "Estimated cost of this batch" in stopped.stdout
    assert "nothing can answer the question here" in stopped.stderr and "--yes" in stopped.stderr
    assert "WenxinMagics.confirm_over_yuan = " in stopped.stderr
    assert sent(k) == before

    forced = k.run(f"%%wenxin --batch trips -m {PRICED} --yes -o forced\n用一句话介绍{{item}}。")
    ok(forced)
    assert sent(k) == before + 3 and "Estimated cost" not in forced.stdout

    # the estimate learns from the answers so far, and a free model's batch is never asked about
    cheap = k.run(f"%%wenxin --batch trips -m {FREE} -o cheap\n用一句话介绍{{item}}。")
    ok(cheap)
    assert sent(k) == before + 6 and not cheap.of("input_request")
    again = k.run(f"%%wenxin --batch trips -m {PRICED} -o again\n用一句话介绍{{item}}。")
    assert "as long as this kernel's earlier answers of the model" in again.stdout


def test_yes_without_batch_is_a_usage_error(clean):
    r = clean.run(f"%%wenxin --yes\n{QUESTION}")
    assert "--yes goes with --batch VAR" in r.text and "Traceback" not in r.text
