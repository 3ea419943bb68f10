"""What answers cost, from the session against the emulator: each reply's estimate from the catalog's price, the
footer's words, the totals of ``usage()``, the log, and the budget that keeps a question from being sent."""

from __future__ import annotations

import pytest

from wenxin_magic.api import Usage, find_v2_model
from wenxin_magic.display import footer
from wenxin_magic.session import BudgetExceededError, Reply, cost_label
from wenxin_magic.session._cost import amount, output_bound, question_bound

PRICED, FREE, UNPRICED = "ernie-4.5-turbo-32k", "ernie-speed-8k", "ernie-x1-turbo-32k"
QUESTION = "用三句话介绍一下长城的历史。"


def _sent(session) -> int:
    return len([r for r in session.backend.emulator.requests if r["path"] == "/v2/chat/completions"
                or "wenxinworkshop" in r["path"]])


def test_the_catalog_has_the_three_kinds_of_model_these_tests_need():
    assert find_v2_model(PRICED).price.input > 0 and not find_v2_model(PRICED).price.free
    assert find_v2_model(FREE).price.free
    assert find_v2_model(UNPRICED) is not None and find_v2_model(UNPRICED).price is None


def test_a_priced_answer_costs_its_tokens_at_the_catalog_price(session):
    reply = session.ask(QUESTION, model=PRICED)
    usage = reply.usage
    assert usage.prompt_tokens > 0 and usage.completion_tokens > 0
    expected = find_v2_model(PRICED).price.cost(usage.prompt_tokens, usage.completion_tokens)
    assert reply.cost_yuan == pytest.approx(expected) and reply.cost_yuan > 0
    assert f"≈ ¥{amount(expected)}" in footer(reply)
    assert "¥0.00 " not in footer(reply) + " "  # enough digits to be non-zero


def test_a_free_model_says_free_and_an_unpriced_one_says_nothing(session):
    free = session.ask(QUESTION, model=FREE, chat="free")
    unknown = session.ask(QUESTION, model=UNPRICED, chat="unknown")
    v1_name = session.ask(QUESTION, model="ERNIE-Speed-8K", chat="v1")  # the same model under its v1 name
    assert free.cost_yuan == 0.0 and " · free · " in footer(free)
    assert v1_name.cost_yuan == 0.0 and " · free · " in footer(v1_name)
    assert unknown.usage is not None and unknown.cost_yuan is None
    assert "¥" not in footer(unknown) and "free" not in footer(unknown)


@pytest.mark.parametrize("cost, text", [(0.0012345, "0.0012"), (0.035, "0.035"), (0.00000432, "0.0000043"),
                                        (1.5, "1.50"), (1234.5, "1,234.50"), (0, "0")])
def test_amounts_keep_two_significant_digits(cost, text):
    assert amount(cost) == text


def test_the_footer_of_an_answer_without_usage_says_nothing_of_cost():
    reply = Reply(prompt="q", model=PRICED, endpoint=None, chat=None)
    reply.done = True
    assert cost_label(reply) == ""
    reply.usage = Usage({"prompt_tokens": 1000, "completion_tokens": 1000, "total_tokens": 2000})
    reply.cost_yuan = 0.004
    assert cost_label(reply) == "≈ ¥0.0040"
    deployed = Reply(prompt="q", model=None, endpoint="my_service", chat=None)
    deployed.usage, deployed.cost_yuan = reply.usage, None
    assert cost_label(deployed) == ""


def test_usage_adds_the_cost_per_model_per_conversation_and_in_all(session):
    first = session.ask(QUESTION, model=PRICED, chat="a")
    second = session.ask("再说一句。", chat="a")
    session.ask(QUESTION, model=FREE, chat="b")
    session.ask(QUESTION, model=UNPRICED, chat="c")
    usage = session.usage()
    both = first.cost_yuan + second.cost_yuan
    assert usage["models"][PRICED]["cost_yuan"] == pytest.approx(both)
    assert usage["chats"]["a"]["cost_yuan"] == pytest.approx(both)
    assert usage["models"][FREE]["cost_yuan"] == 0.0 and usage["models"][FREE]["unpriced"] == 0
    assert usage["models"][UNPRICED]["unpriced"] == 1
    assert usage["total"]["cost_yuan"] == pytest.approx(both) == pytest.approx(session.spent_yuan())
    assert usage["total"]["unpriced"] == 1


def test_the_log_keeps_the_estimate_made_when_it_was_answered(session):
    reply = session.ask(QUESTION, model=PRICED, chat="cost-logged")
    [turn] = session.log.search(chat="cost-logged")
    assert turn.reply.cost_yuan == pytest.approx(reply.cost_yuan)
    assert Reply.from_dict({**reply.to_dict(), "cost_yuan": 0.5}).cost_yuan == 0.5  # as it was then, not now
    older = reply.to_dict()
    del older["cost_yuan"]  # a turn logged before costs were kept is priced at today's catalog
    assert Reply.from_dict(older).cost_yuan == pytest.approx(reply.cost_yuan)


def test_a_question_over_the_budget_is_not_sent(session):
    session.budget_yuan = 0.01
    session.ask("你好", model=FREE, chat="warm")  # the emulator is running, and counting
    before = _sent(session)
    with pytest.raises(BudgetExceededError) as caught:
        session.ask(QUESTION, model=PRICED, chat="capped")
    message = str(caught.value)
    assert _sent(session) == before
    assert "Not sent" in message and "budget of ¥0.01" in message and "WenxinMagics.budget_yuan" in message
    bound = question_bound(PRICED, 20, {})
    assert bound > 0.01 and output_bound(PRICED) == find_v2_model(PRICED).max_output_tokens
    assert not session.conversation("capped").turns and session.spent_yuan() == 0


def test_the_budget_counts_what_was_spent_and_the_longest_answer_asked_for(session):
    session.budget_yuan = 0.01
    # a short answer asked for fits: input and 200 tokens out are far below a cent
    reply = session.ask(QUESTION, model=PRICED, chat="short", max_completion_tokens=200)
    assert reply.ok and 0 < session.spent_yuan() < 0.01
    session.budget_yuan = session.spent_yuan() + 0.00001  # now almost nothing is left
    with pytest.raises(BudgetExceededError):
        session.ask(QUESTION, model=PRICED, chat="short", max_completion_tokens=200)
    # free and unpriced models are never held back: nothing they cost can be told, or it is nothing
    assert session.ask(QUESTION, model=FREE, chat="free").ok
    assert session.ask(QUESTION, model=UNPRICED, chat="unknown").ok


def test_the_budget_is_kept_on_the_reply_when_errors_are_not_raised(session):
    session.budget_yuan = 0.0
    reply = session.ask(QUESTION, model=PRICED, raise_on_error=False)
    assert isinstance(reply.error, BudgetExceededError) and reply.error.field == "budget_yuan"
    assert reply.cost_yuan is None and "¥" not in footer(reply)


def test_a_batch_under_a_budget_refuses_the_rows_that_would_pass_it(session):
    session.budget_yuan = 0.0
    run = session.batch("Say {item}", ["a", "b"], models=[FREE, PRICED])
    replies = {(row.model, row.item): row.reply for row in run.rows}
    assert all(reply.ok for (model, _), reply in replies.items() if model == FREE)
    assert all(isinstance(reply.error, BudgetExceededError) for (model, _), reply in replies.items()
               if model == PRICED)


def test_a_batch_estimate_counts_the_filled_prompts_at_each_model_price(session):
    from wenxin_magic.api import input_size
    from wenxin_magic.session import BatchDeclinedError, BatchEstimate

    seen: list[BatchEstimate] = []
    with pytest.raises(BatchDeclinedError):
        session.batch("介绍{item}的历史。", ["长城", "故宫"], models=[PRICED, FREE, UNPRICED],
                      confirm=lambda estimate: seen.append(estimate) or False)
    assert session.backend.emulator is None  # nothing was asked
    [estimate] = seen
    assert estimate.rows == 6 and estimate.unpriced == 2
    prompts = [input_size({"messages": [{"role": "user", "content": f"介绍{item}的历史。"}]})[1]
               for item in ("长城", "故宫")]
    by_model = {m.model: m for m in estimate.models}
    assert by_model[PRICED].prompt_tokens == sum(prompts) and by_model[PRICED].completion_tokens == 1000
    price = find_v2_model(PRICED).price
    assert estimate.cost_yuan == pytest.approx(sum(price.cost(tokens, 500) for tokens in prompts))
    assert by_model[FREE].free and by_model[FREE].cost_yuan == 0 and by_model[UNPRICED].cost_yuan is None
    words = estimate.describe()
    assert f"≈ ¥{amount(estimate.cost_yuan)} for 6 row(s)" in words and "500 a row assumed" in words
    assert f"{FREE} free" in words and f"{UNPRICED} price not known (2 row(s) not counted)" in words
    most = sum(price.cost(tokens, find_v2_model(PRICED).max_output_tokens) for tokens in prompts)
    assert estimate.most_yuan == pytest.approx(most)


def test_a_batch_estimate_takes_the_answers_length_from_the_cell_or_from_earlier_answers(session):
    seen = []
    run = session.batch("Say {item}", ["a", "b"], model=PRICED, max_completion_tokens=50,
                        confirm=lambda estimate: seen.append(estimate) or True)
    assert seen[0].completion_tokens == 100 and "max_completion_tokens a row" in seen[0].assumed
    assert all(row.reply.ok for row in run.rows)  # confirmed: it ran
    answered = [row.reply.usage.completion_tokens for row in run.rows]
    session.batch("Say {item}", ["c"], model=PRICED, confirm=lambda estimate: seen.append(estimate) or True)
    assert seen[1].completion_tokens == round(sum(answered) / len(answered))
    assert "earlier answers" in seen[1].assumed


def test_the_spend_is_counted_again_when_the_replies_are_cleared(session):
    first = session.ask(QUESTION, model=PRICED)
    assert session.spent_yuan() == pytest.approx(first.cost_yuan)
    session.replies.clear()
    assert session.spent_yuan() == 0
    second = session.ask("再说一句。", model=PRICED)
    third = session.ask("还有呢？", model=PRICED)
    assert session.spent_yuan() == pytest.approx(second.cost_yuan + third.cost_yuan)
