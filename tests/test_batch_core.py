"""The batch core: templates, items, rows, the Pacer (on a simulated clock) and Batch.run; one run against the
emulator over HTTP. No kernel, no display."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections import namedtuple
from dataclasses import dataclass, field
from types import SimpleNamespace

import pytest

from _fakes import FAKE
from wenxin_magic.api import QianfanClient, QianfanError
from wenxin_magic.session._batch import COLUMNS, Batch, BatchRow, Progress, batch_items
from wenxin_magic.session._pacer import Pacer
from wenxin_magic.session._templates import TemplateError, fill_template, template_fields

MODEL = "ERNIE-Speed-8K"


# -- fakes ---------------------------------------------------------------------------------------

class FakeTime:
    """A clock and a sleep in simulated seconds: a sleep first lets whatever is ready run, then moves the
    clock to its end (never back, so sleepers side by side do not add up)."""

    def __init__(self):
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        end = self.now + seconds
        for _ in range(20):
            await asyncio.sleep(0)
        self.now = max(self.now, end)


@dataclass
class FakeUsage:
    prompt_tokens: int = 10
    completion_tokens: int = 20

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass
class FakeReply:
    text: str = "answer"
    error: object = None
    usage: FakeUsage | None = field(default_factory=FakeUsage)
    rate_limit: object = None
    reasoning: str = ""
    finish_reason: str = "normal"
    latency: float = 0.5
    retries: int = 0
    interrupted: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None and not self.interrupted


class FakeError(Exception):
    def __init__(self, code, status=None, retry_after=None):
        super().__init__(f"[{code}] refused")
        self.code, self.status, self.retry_after = code, status, retry_after


def limits(requests=None, tokens=None, remaining_requests=None, remaining_tokens=None):
    return SimpleNamespace(limit_requests=requests, limit_tokens=tokens, remaining_requests=remaining_requests,
                           remaining_tokens=remaining_tokens)


async def settle():
    for _ in range(50):
        await asyncio.sleep(0)


def pacer_on(clock: FakeTime, concurrency: int = 8, **options) -> Pacer:
    return Pacer(concurrency, clock=clock, sleep=clock.sleep, **options)


# -- fill_template -------------------------------------------------------------------------------

Point = namedtuple("Point", "x y")


class City:
    def __init__(self):
        self.name, self.country = "Hangzhou", "China"


def test_fill_every_form():
    item = {"name": "Li", "tags": ["a", "b"], "address": {"city": "Beijing"}, "pairs": [{"k": "v"}], 7: "seven"}
    template = ("{item.name} {item[name]} {item['name']} {item[\"name\"]} {item.tags[1]} {item[tags][-1]} "
                "{item.address.city} {item.pairs[0].k} {item[7]} #{i}")
    assert fill_template(template, item, 4) == "Li Li Li Li b b Beijing v seven #4"


def test_whole_item_and_values_are_strd():
    assert fill_template("{item} / {item[0]} / {item.x}", Point(1.5, None), 0) == "Point(x=1.5, y=None) / 1.5 / 1.5"


def test_literal_and_foreign_braces():
    template = '{{item}} {{{item}}} {"json": {i}} {name} {item } {0} {item:>5} {}'
    assert fill_template(template, "x", 2) == '{item} {x} {"json": 2} {name} {item } {0} {item:>5} {}'
    assert fill_template('{"a": {"b": 1}}', "x", 0) == '{"a": {"b": 1}}'  # no field inside: left alone
    assert fill_template('{"a": {{"b": 1}}}', "x", 0) == '{"a": {"b": 1}}'


def test_objects_tuples_and_unicode_names():
    assert fill_template("{item.name}, {item.country}", City(), 0) == "Hangzhou, China"
    assert fill_template("{item[0]}-{item[1]}", ("a", "b"), 0) == "a-b"
    assert fill_template("{item.城市}", {"城市": "杭州"}, 0) == "杭州"


def test_dataframe_rows():
    pandas = pytest.importorskip("pandas")
    frame = pandas.DataFrame({"name": ["Li", "Wang"], "age": [30, 41]}, index=["r1", "r2"])
    rows = batch_items(frame)
    # a row's ``.name`` attribute is its label; the column wins
    assert fill_template("{item.name} is {item[age]}; {item[0]}", rows[1], 1) == "Wang is 41; Wang"


def test_missing_key_names_the_field_and_lists_the_keys():
    with pytest.raises(TemplateError) as caught:
        fill_template("{item.city}", {"name": "Li", "country": "China"}, 3)
    assert str(caught.value) == "item 3: {item.city}: the item (a dict) has no 'city'; it has: name, country"
    assert isinstance(caught.value, ValueError)


def test_missing_nested_index_and_attribute():
    with pytest.raises(TemplateError, match=r"item 0: \{item\.a\[0\]\.c\}: item\.a\[0\] \(a dict\) has no 'c'; "
                                            r"it has: b$"):
        fill_template("{item.a[0].c}", {"a": [{"b": 1}]}, 0)
    with pytest.raises(TemplateError, match=r"\(a tuple of 3\) has no \[5\]; it has: indices 0–2$"):
        fill_template("{item[5]}", (1, 2, 3), 0)
    with pytest.raises(TemplateError, match=r"\(a City\) has no 'city'; it has: name, country$"):
        fill_template("{item.city}", City(), 0)
    with pytest.raises(TemplateError, match=r"\(a Point\) has no 'z'; it has: x, y$"):
        fill_template("{item.z}", Point(1, 2), 0)


def test_a_long_key_list_is_cut():
    item = {f"k{n}": n for n in range(20)}
    with pytest.raises(TemplateError) as caught:
        fill_template("{item.missing}", item, 0)
    assert str(caught.value).endswith("it has: k0, k1, k2, k3, k4, k5, k6, k7, … (20 in all)")


def test_missing_column_of_a_dataframe_row():
    pandas = pytest.importorskip("pandas")
    row = batch_items(pandas.DataFrame({"name": ["Li"], "age": [3]}))[0]
    with pytest.raises(TemplateError, match=r"\(a Series\) has no 'city'; it has: name, age$"):
        fill_template("{item.city}", row, 0)


def test_template_fields():
    assert template_fields("{item.a} {i} {x} {item.a} {{item}} {item[0].b}") == ["item.a", "i", "item[0].b"]
    assert template_fields("no fields {here}") == []


# -- batch_items ---------------------------------------------------------------------------------

def test_accepted_item_kinds_keep_their_order():
    assert batch_items([3, 1]) == [3, 1]
    assert batch_items((3, 1)) == [3, 1]
    assert batch_items(range(3)) == [0, 1, 2]
    assert batch_items(x * 2 for x in (3, 1)) == [6, 2]
    assert batch_items({"b", "a", "c"}) == list({"b", "a", "c"})  # the set's own order, not sorted
    assert batch_items([]) == [] and batch_items(iter(())) == []


def test_pandas_items():
    pandas = pytest.importorskip("pandas")
    assert batch_items(pandas.Series([5, 6], index=["x", "y"])) == [5, 6]
    rows = batch_items(pandas.DataFrame({"a": [1, 2], "b": ["x", "y"]}))
    assert len(rows) == 2 and type(rows[0]).__name__ == "Series" and rows[1]["b"] == "y"


@pytest.mark.parametrize("value,words", [
    ("one prompt", ["questions is a str", "one prompt", "[questions]", "splitlines"]),
    (b"bytes", ["questions is a bytes", "one prompt"]),
    ({"a": 1}, ["questions is a dict", "list(questions.items())", "list(questions.values())"]),
    (5, ["questions is an int", "holds no items"]),
    (None, ["questions is None", "holds no items"]),
])
def test_refused_items(value, words):
    with pytest.raises(TypeError) as caught:
        batch_items(value, "questions")
    message = str(caught.value)
    assert all(word in message for word in words), message
    assert "Accepted: a list, tuple, range, set, generator, pandas Series or pandas DataFrame." in message


def test_the_module_loads_without_pandas():
    code = "import sys, wenxin_magic.session._batch; assert 'pandas' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


# -- rows ----------------------------------------------------------------------------------------

def test_rows_are_item_major_and_filled():
    batch = Batch("Q{i}: {item}", ["a", "b"], ["m1", "m2"])
    assert [(r.index, r.model, r.prompt, r.status) for r in batch.rows] == [
        (0, "m1", "Q0: a", "not run"), (0, "m2", "Q0: a", "not run"),
        (1, "m1", "Q1: b", "not run"), (1, "m2", "Q1: b", "not run")]
    assert batch.progress.total == 4 and batch.progress.not_run == 4


def test_a_failing_fill_fails_only_its_rows():
    batch = Batch("{item.city}", [{"city": "A"}, {"name": "B"}, {"city": "C"}], ["m"])
    assert [r.status for r in batch.rows] == ["not run", "failed", "not run"]
    failed = batch.rows[1]
    assert failed.prompt is None and failed.reply is None
    assert failed.error == "item 1: {item.city}: the item (a dict) has no 'city'; it has: name"


@pytest.mark.parametrize("models,error", [
    ("m", TypeError), ([], ValueError), (["m", ""], ValueError), (["m", "m"], ValueError)])
def test_bad_models_are_refused(models, error):
    with pytest.raises(error):
        Batch("{item}", [1], models)


def test_record_of_a_row():
    reply = FakeReply(text="hi", reasoning="hmm", usage=FakeUsage(3, 4), latency=1.25, retries=1)
    row = BatchRow(2, "x", "m", "say x", reply=reply, status="done")
    assert row.record() == {"i": 2, "item": "x", "model": "m", "prompt": "say x", "answer": "hi", "reasoning": "hmm",
                            "finish_reason": "normal", "prompt_tokens": 3, "completion_tokens": 4,
                            "latency_s": 1.25, "retries": 1, "error": None, "status": "done"}
    assert set(row.record()) == set(COLUMNS)
    unrun = BatchRow(0, "x", "m", None, error="bad", status="failed").record()
    assert unrun["answer"] is None and unrun["prompt_tokens"] is None and unrun["error"] == "bad"


def test_summary_format():
    progress = Progress(total=120, done=35, failed=2, not_run=83, tokens=5120, elapsed=12.34, eta=27.2, running=True)
    assert progress.summary() == "37/120 · 2 failed · 5,120 tokens · 12.3 s · ETA 27 s"
    stopped = Progress(total=120, done=37, failed=0, not_run=83, tokens=10, elapsed=3.0, eta=None)
    assert stopped.summary() == "37/120 · 83 not run · 10 tokens · 3.0 s"


# -- resuming ------------------------------------------------------------------------------------

async def test_resume_takes_done_rows_and_runs_the_rest():
    asked, service_busy = [], True

    async def ask(prompt, model):
        asked.append((prompt, model))
        return FakeReply(error=FakeError(336100) if prompt == "Q 1" and service_busy else None)

    first = await Batch("Q {item}", [0, 1], ["a", "b"]).run(ask)
    assert [r.status for r in first.rows] == ["done", "done", "failed", "failed"]
    asked.clear()
    service_busy = False
    second = Batch("Q {item}", [0, 1], ["a", "b"], previous=first)
    assert second.resumed == 2 and second.rows[0].reply is first.rows[0].reply
    await second.run(ask)
    assert sorted(asked) == [("Q 1", "a"), ("Q 1", "b")]
    assert [r.status for r in second.rows] == ["done"] * 4


def test_resume_from_a_list_of_rows():
    done = BatchRow(1, "y", "m", "Q y", reply=FakeReply(), status="done")
    failed = BatchRow(0, "x", "m", "Q x", reply=FakeReply(error=FakeError(2)), error="boom", status="failed")
    batch = Batch("Q {item}", ["x", "y"], ["m"], previous=[failed, done])
    assert [r.status for r in batch.rows] == ["not run", "done"] and batch.resumed == 1


@pytest.mark.parametrize("change,words", [
    (dict(template="R {item}"), "The template differs"),
    (dict(models=["a"]), "The models differ from the previous run's: a, b then, a now"),
    (dict(items=[0, 1, 2]), "The items differ from the previous run's: 2 then, 3 now"),
])
def test_resume_refuses_another_batch(change, words):
    previous = Batch("Q {item}", [0, 1], ["a", "b"])
    previous.rows[0].status = "done"
    options = {"template": "Q {item}", "items": [0, 1], "models": ["a", "b"], **change}
    with pytest.raises(ValueError, match=words):
        Batch(options["template"], options["items"], options["models"], previous=previous)


def test_resume_refuses_rows_of_other_prompts_or_models():
    with pytest.raises(ValueError, match="Item 0's prompt for m differs"):
        Batch("Q {item}", ["x"], ["m"], previous=[BatchRow(0, "z", "m", "Q z", status="done")])
    with pytest.raises(ValueError, match="item 0 × other, which this batch has not"):
        Batch("Q {item}", ["x"], ["m"], previous=[BatchRow(0, "x", "other", "Q x", status="done")])


# -- the Pacer -----------------------------------------------------------------------------------

async def run_requests(pacer: Pacer, clock: FakeTime, count: int, reply, key: str = "m",
                       starts: list | None = None) -> list[float]:
    """``count`` requests at once through ``pacer``, each answered at once with ``reply()``; their start times."""
    starts = [] if starts is None else starts

    async def one():
        async with pacer.slot(key) as slot:
            starts.append(clock.now)
            await asyncio.sleep(0)
            slot.done(reply())

    await asyncio.gather(*(one() for _ in range(count)))
    return starts


def most_in_one_window(starts: list[float], window: float = 60.0) -> int:
    return max(sum(1 for t in starts if s <= t < s + window) for s in starts)


async def test_a_known_request_limit_fills_each_window_at_once():
    clock = FakeTime()
    pacer = pacer_on(clock, concurrency=50)
    starts = await run_requests(pacer, clock, 1000, lambda: FakeReply(rate_limit=limits(requests=500)))
    assert 54 <= clock.now <= 66  # one wait of a window, not 1,000 spread evenly over two minutes
    assert len([s for s in starts if s == 0]) == 500
    assert most_in_one_window(starts) == 500 and pacer.state("m").peak_requests == 500
    assert pacer.state("m").limit_requests == 500 and pacer.state("m").pauses == 0


async def test_a_reserve_keeps_part_of_the_limit_unused():
    clock = FakeTime()
    pacer = pacer_on(clock, concurrency=50, reserve=0.01)
    starts = await run_requests(pacer, clock, 600, lambda: FakeReply(rate_limit=limits(requests=500)))
    assert len([s for s in starts if s == 0]) == 495 and most_in_one_window(starts) == 495


async def test_remaining_zero_from_its_own_use_is_no_alarm():
    clock = FakeTime()
    pacer = pacer_on(clock, concurrency=10)
    starts: list[float] = []

    def reply():  # as the service counts: the starts of the last 60 s, this one included
        used = sum(1 for t in starts if t > clock.now - 60)
        return FakeReply(rate_limit=limits(requests=20, remaining_requests=max(0, 20 - used)))

    await run_requests(pacer, clock, 30, reply, starts=starts)
    assert pacer.state("m").pauses == 0 and pacer.state("m").concurrency == 10
    assert most_in_one_window(starts) == 20 and 60 <= clock.now <= 62


async def test_the_first_request_is_a_probe():
    clock = FakeTime()
    pacer = pacer_on(clock)
    probe = await pacer.acquire("m")
    second = asyncio.ensure_future(pacer.acquire("m"))
    await settle()
    assert not second.done()  # it waits for the probe's reply
    probe.release(FakeReply(rate_limit=limits(requests=100)))
    await settle()
    assert second.done() and pacer.state("m").limit_requests == 100
    others = [asyncio.ensure_future(pacer.acquire("m")) for _ in range(6)]
    await settle()
    assert all(task.done() for task in others)  # the quota known, no more waiting for replies
    assert clock.now == 0


async def test_a_probe_that_never_ran_hands_over_to_the_next():
    pacer = pacer_on(FakeTime())
    probe = await pacer.acquire("m")
    second = asyncio.ensure_future(pacer.acquire("m"))
    third = asyncio.ensure_future(pacer.acquire("m"))
    await settle()
    probe.release()  # cancelled: no reply
    await settle()
    assert second.done() and not third.done()  # the next one probes alone
    second.result().release(FakeReply())  # a reply without limits: nothing to wait for any more
    await settle()
    assert third.done() and pacer.state("m").limit_requests is None


async def test_quota_used_by_someone_else_leaves_less_room_in_the_window():
    clock = FakeTime()
    pacer = pacer_on(clock, pause=5.0)
    (await pacer.acquire("m")).release(FakeReply(rate_limit=limits(requests=100, remaining_requests=90)))
    window = pacer.state("m")
    assert window.others == 9  # 10 counted by the service, 1 of them ours
    for _ in range(90):
        (await pacer.acquire("m")).release(FakeReply())
    assert clock.now == 0  # 1 + 90 of ours and 9 of theirs fill the 100
    await pacer.acquire("m")
    assert clock.now == 61  # the next waited for the window, and nothing was halved
    assert window.concurrency == pacer.concurrency and window.pauses == 0


async def test_a_rate_limit_error_halves_pauses_and_successes_recover():
    clock = FakeTime()
    pacer = pacer_on(clock, concurrency=8)
    (await pacer.acquire("m")).release(FakeReply())
    under_way = [await pacer.acquire("m") for _ in range(2)]
    under_way[0].release(FakeReply(usage=None, error=FakeError(336501, status=200, retry_after=60)))
    window = pacer.state("m")
    assert window.concurrency == 4 and window.paused_until == 60 and window.pauses == 1
    # the replies already under way say the same: one halving per episode
    under_way[1].release(FakeReply(usage=None, error=FakeError(18)))
    assert window.concurrency == 4 and window.pauses == 1 and window.paused_until == 60
    (await pacer.acquire("m")).release(FakeReply(usage=None, error=FakeError(18)))
    assert clock.now == 60  # new starts waited out the pause
    assert window.concurrency == 2 and window.pauses == 2 and window.paused_until == 65  # a new episode
    for expected in (3, 4, 5, 6, 7, 8, 8):
        (await pacer.acquire("m")).release(FakeReply())
        assert window.concurrency == expected


@pytest.mark.parametrize("error", [FakeError(336502), FakeError(18), FakeError("rpm_rate_limit_exceeded", 429),
                                   FakeError("whatever", status=429)])
async def test_rate_limit_errors_of_both_apis(error):
    pacer = pacer_on(FakeTime())
    (await pacer.acquire("m")).release(FakeReply(usage=None, error=error))
    assert pacer.state("m").concurrency == 4


async def test_other_errors_neither_halve_nor_recover():
    pacer = pacer_on(FakeTime())
    (await pacer.acquire("m")).release(FakeReply(usage=None, error=FakeError(336100)))
    assert pacer.state("m").concurrency == 8 and pacer.state("m").pauses == 0


async def test_concurrency_is_a_ceiling():
    pacer = pacer_on(FakeTime(), concurrency=3)
    (await pacer.acquire("m")).release(FakeReply())
    slots = [asyncio.ensure_future(pacer.acquire("m")) for _ in range(5)]
    await settle()
    assert sum(task.done() for task in slots) == 3
    slots[0].result().release(FakeReply())
    await settle()
    assert sum(task.done() for task in slots) == 4


async def test_a_token_limit_makes_starts_wait():
    clock = FakeTime()
    pacer = pacer_on(clock)
    starts = await run_requests(pacer, clock, 7, lambda: FakeReply(usage=FakeUsage(100, 200),
                                                                    rate_limit=limits(requests=1000, tokens=1000)))
    # 300 tokens each: three fit in 1,000
    assert starts == [0, 0, 0, 61, 61, 61, 122]
    assert pacer.state("m").token_estimate == 300


def split_limits(requests=None, input_tokens=None, output_tokens=None, remaining_requests=None):
    """v2's spelling: the token limits split into input and output, no whole-token limit."""
    return SimpleNamespace(limit_requests=requests, limit_tokens=None, remaining_requests=remaining_requests,
                           remaining_tokens=None, limit_input_tokens=input_tokens, limit_output_tokens=output_tokens,
                           remaining_input_tokens=None, remaining_output_tokens=None)


@pytest.mark.parametrize("split, expected", [
    # 100 prompt tokens each against 350 input tokens: three fit in a window
    ({"input_tokens": 350, "output_tokens": 100_000}, [0, 0, 0, 61, 61, 61, 122]),
    # 200 completion tokens each against 450 output tokens: two fit in a window
    ({"input_tokens": 100_000, "output_tokens": 450}, [0, 0, 61, 61, 122, 122, 183]),
])
async def test_v2s_split_token_limits_make_starts_wait(split, expected):
    clock = FakeTime()
    pacer = pacer_on(clock)
    starts = await run_requests(pacer, clock, 7, lambda: FakeReply(usage=FakeUsage(100, 200),
                                                                    rate_limit=split_limits(1000, **split)))
    assert starts == expected
    window = pacer.state("m")
    assert (window.limit_input_tokens, window.limit_output_tokens) == (split["input_tokens"], split["output_tokens"])
    assert (window.estimate("input_tokens"), window.estimate("output_tokens")) == (100, 200)
    assert window.limit_tokens is None


async def test_keys_are_independent():
    clock = FakeTime()
    pacer = pacer_on(clock)
    await run_requests(pacer, clock, 2, lambda: FakeReply(rate_limit=limits(requests=2)), key="a")
    waiting = asyncio.ensure_future(pacer.acquire("a"))
    await asyncio.sleep(0)
    other = await asyncio.wait_for(pacer.acquire("b"), 1)
    assert clock.now == 0 and not waiting.done()  # "b" went at once while "a" waits for its window
    other.release(FakeReply(usage=None, error=FakeError(336501, retry_after=60)))
    assert pacer.state("b").paused_until == 60 and pacer.state("a").paused_until == 0
    assert (await waiting) and clock.now == 61


def test_concurrency_below_one_is_refused():
    with pytest.raises(ValueError, match="at least 1"):
        Pacer(0)


# -- Batch.run -----------------------------------------------------------------------------------

async def test_run_fills_rows_and_reports_failures():
    async def ask(prompt, model):
        if prompt == "Q 1":
            return FakeReply(error=FakeError(336100), usage=None)
        if prompt == "Q 2":
            raise RuntimeError("the ask broke")
        return FakeReply(text=f"{model}: {prompt}")

    batch = Batch("Q {item}", [0, 1, 2], ["m1", "m2"])
    await batch.run(ask)
    assert [r.status for r in batch.rows] == ["done", "done", "failed", "failed", "failed", "failed"]
    assert batch.rows[1].reply.text == "m2: Q 0"
    assert batch.rows[2].error == "[336100] refused" and batch.rows[2].reply is not None
    assert batch.rows[4].error == "RuntimeError: the ask broke" and batch.rows[4].reply is None
    assert len(batch.replies()) == 4 and batch.progress.tokens == 60
    assert batch.summary() == "6/6 · 4 failed · 60 tokens · 0.0 s"


async def test_an_empty_batch_runs_and_asks_nothing():
    async def ask(prompt, model):
        raise AssertionError("nothing to ask")

    batch = await Batch("{item}", [], ["m"]).run(ask, on_progress=lambda p: None)
    assert batch.rows == [] and batch.summary() == "0/0 · 0 tokens · 0.0 s" and batch.records() == []


async def test_progress_is_throttled_with_a_final_call():
    clock = FakeTime()
    seen = []

    async def ask(prompt, model):
        clock.now += 0.1
        return FakeReply()

    batch = Batch("{item}", range(10), ["m"], concurrency=1)
    await batch.run(ask, on_progress=lambda p: seen.append((clock.now, p)), min_interval=0.25,
                    pacer=pacer_on(clock, concurrency=1))
    times = [t for t, _ in seen]
    assert 3 <= len(seen) <= 6  # not one per row
    assert all(b - a >= 0.25 - 1e-9 for a, b in zip(times[:-2], times[1:-1], strict=True))
    first, last = seen[0][1], seen[-1][1]
    assert first.done == 0 and first.running
    assert last.done == 10 and last.not_run == 0 and not last.running and last.eta == 0
    assert last.elapsed == pytest.approx(1.0) and last.tokens == 300


async def test_eta_from_the_rate_so_far():
    clock = FakeTime()
    etas = []

    async def ask(prompt, model):
        clock.now += 1.0
        return FakeReply()

    batch = Batch("{item}", range(4), ["m"], concurrency=1)
    await batch.run(ask, on_progress=lambda p: etas.append(p.eta), min_interval=0, pacer=pacer_on(clock, 1))
    assert etas[0] is None and etas[1:] == [pytest.approx(3.0), pytest.approx(2.0), pytest.approx(1.0), 0, 0]


async def test_cancelling_keeps_what_finished():
    started, release_slow = asyncio.Event(), asyncio.Event()
    finished = 0

    async def ask(prompt, model):
        nonlocal finished
        if int(prompt) >= 3:
            started.set()
            await release_slow.wait()  # never set
        finished += 1
        return FakeReply(text=prompt)

    batch = Batch("{item}", range(20), ["m"], concurrency=8)
    final = []
    task = asyncio.ensure_future(batch.run(ask, on_progress=final.append))
    await started.wait()
    await settle()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert [r.status for r in batch.rows[:3]] == ["done"] * 3 and finished == 3
    assert all(r.status == "not run" and r.reply is None for r in batch.rows[3:])
    assert batch.pacer.in_flight == 0
    assert final[-1].done == 3 and final[-1].not_run == 17 and not final[-1].running
    assert batch.summary().startswith("3/20 · 17 not run")


async def test_an_ask_that_turns_cancelling_into_an_interrupted_reply():
    async def ask(prompt, model):
        if prompt == "1":
            return FakeReply(interrupted=True)
        return FakeReply()

    batch = await Batch("{item}", range(3), ["m"]).run(ask)
    assert [r.status for r in batch.rows] == ["done", "not run", "done"] and batch.rows[1].reply is None


async def test_frame_columns_and_shape():
    pandas = pytest.importorskip("pandas")

    async def ask(prompt, model):
        return FakeReply(text=prompt.upper())

    batch = await Batch("q {item.a}", pandas.DataFrame({"a": ["x", "y", "z"]}), ["m1", "m2"]).run(ask)
    frame = batch.frame()
    assert list(frame.columns) == list(COLUMNS) and frame.shape == (6, len(COLUMNS))
    assert frame["answer"].tolist() == ["Q X", "Q X", "Q Y", "Q Y", "Q Z", "Q Z"]
    assert frame["i"].tolist() == [0, 0, 1, 1, 2, 2] and frame["item"][0] == {"a": "x"}
    assert (frame["status"] == "done").all()


def test_frame_without_pandas(monkeypatch):
    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(ImportError, match="pip install pandas"):
        Batch("{item}", [1], ["m"]).frame()


# -- against the emulator ------------------------------------------------------------------------

def test_a_batch_through_a_session_stays_within_the_emulators_rpm(session_factory, emu, no_credentials_in_env):
    emu.set_limits(rpm=20)
    session = session_factory(against=emu)
    batch = Batch("一句话介绍数字 {item}", range(15), [MODEL])

    def ask(prompt, model):
        return session.aask(prompt, model=model, chat=f"b{id(prompt)}", raise_on_error=False)

    session.runner.wait(batch.run(ask))
    assert [r.status for r in batch.rows] == ["done"] * 15, [r.error for r in batch.rows]
    window = batch.pacer.state(MODEL)
    assert window.peak_requests == 15 and window.pauses == 0  # all 15 in one window: it never waited
    assert all(reply.rate_limit is not None for reply in batch.replies())  # the quota, as the service reported it
    assert window.limit_requests == 20


def test_interrupting_a_session_batch_keeps_the_finished_rows(session_factory, emu, no_credentials_in_env):
    emu.chunk_delay = 0.05  # answers take a while, so some are in flight when it stops
    session = session_factory(against=emu)
    batch = Batch("write 300 characters about {item}", range(12), [MODEL], concurrency=3)
    running = session.runner.submit(batch.run(
        lambda prompt, model: session.aask(prompt, model=model, chat=f"b{id(prompt)}", raise_on_error=False)))
    for _ in range(600):
        if batch.progress.done >= 2:
            break
        time.sleep(0.01)
    running.cancel()
    assert running.finished.wait(10)
    done = [r for r in batch.rows if r.status == "done"]
    assert 2 <= len(done) < 12 and all(r.reply.ok and r.reply.text for r in done)
    assert all(r.reply is None for r in batch.rows if r.status == "not run")
    assert batch.progress.failed == 0 and batch.pacer.in_flight == 0


async def test_a_batch_through_the_client_learns_the_emulators_rpm(emu):
    emu.set_limits(rpm=20)
    async with QianfanClient(FAKE.SESSION.ak, FAKE.SESSION.sk, base_url=emu.base_url, retry_backoff=0.01,
                             timeout=5) as client:
        async def ask(prompt, model):
            try:
                answer = await client.chat(model=model, messages=[{"role": "user", "content": prompt}])
            except QianfanError as err:
                return FakeReply(text="", error=err, usage=None)
            return FakeReply(text=answer.result, usage=answer.usage, rate_limit=answer.rate_limit,
                             latency=answer.latency, retries=answer.retries)

        batch = await Batch("一句话介绍数字 {item}", range(15), [MODEL]).run(ask)
    assert [r.status for r in batch.rows] == ["done"] * 15, [r.error for r in batch.rows]
    window = batch.pacer.state(MODEL)
    assert window.limit_requests == 20 and window.peak_requests == 15 and window.pauses == 0
    assert len([r for r in emu.requests if "/wenxinworkshop/" in r["path"]]) == 15
