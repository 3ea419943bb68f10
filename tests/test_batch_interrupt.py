"""A batch's items: an endless iterable is refused at MAX_ITEMS, and an interrupt while they are read stops the cell
before the batch starts, leaving the last table and ``session.last_batch`` as they were.

Unit tests of ``batch_items``, ``Session.batch`` on its offline emulator, the magic with a stand-in shell, and
``%%wenxin --batch`` in a real kernel interrupted while a slow generator is read.
"""

from __future__ import annotations

import itertools
import threading
import time
from types import SimpleNamespace

import pytest

from _fakes import model_requests
from wenxin_magic.session._batch import MAX_ITEMS, batch_items

V1 = "ERNIE-Speed-8K"


def interrupted_after(count: int):
    """A generator that yields ``count`` items and is then interrupted, as Ctrl-C would do while it is read."""
    yield from range(count)
    raise KeyboardInterrupt


# -- the cap ---------------------------------------------------------------------------------------

def test_an_endless_iterator_is_refused_quickly_with_the_limit_and_what_to_do():
    started = time.perf_counter()
    with pytest.raises(ValueError) as caught:
        batch_items(itertools.count(), "numbers")
    assert time.perf_counter() - started < 5
    message = str(caught.value)
    assert "numbers has more than 100,000 items" in message and "itertools.islice(numbers" in message
    assert "another batch" in message


def test_the_limit_itself_is_accepted_and_one_more_is_refused():
    assert len(batch_items(iter(range(MAX_ITEMS)))) == MAX_ITEMS
    with pytest.raises(ValueError, match="more than 100,000"):
        batch_items(iter(range(MAX_ITEMS + 1)))
    with pytest.raises(ValueError, match="more than 100,000"):
        batch_items(range(10 ** 12))  # a sized iterable is not read to its end either


def test_a_pandas_series_or_frame_over_the_limit_is_refused():
    import pandas as pd  # a test dependency: its absence must fail, not skip
    with pytest.raises(ValueError, match="more than 100,000"):
        batch_items(pd.Series(range(MAX_ITEMS + 1)))
    with pytest.raises(ValueError, match="more than 100,000"):
        batch_items(pd.DataFrame({"x": range(MAX_ITEMS + 1)}))


def test_an_error_inside_a_generator_is_its_own():
    def broken():
        yield 1
        raise TypeError("row 2 is broken")

    with pytest.raises(TypeError, match="row 2 is broken"):
        batch_items(broken())


def test_session_batch_refuses_an_endless_iterator_before_anything_runs(session):
    server = session.backend.start_emulator()
    server.clear()
    with pytest.raises(ValueError, match="more than 100,000"):
        session.batch("{item}", itertools.count(), model=V1)
    assert session.last_batch is None and model_requests(server) == []


# -- an interrupt while the items are read ---------------------------------------------------------

def test_an_interrupt_while_reading_leaves_the_last_batch_as_it_was(session):
    first = session.batch("用一句话介绍{item}", ["长城", "故宫"], model=V1)
    with pytest.raises(KeyboardInterrupt):
        session.batch("用一句话介绍{item}", interrupted_after(3), model=V1)
    assert session.last_batch is first


@pytest.fixture
def magics(session):
    from wenxin_magic.magics import WenxinMagics

    shell = SimpleNamespace(user_ns={})  # what _batch uses of a shell: the notebook's namespace
    return WenxinMagics(shell=shell, session=session)


def test_the_magic_says_it_stopped_before_it_started_and_keeps_the_table(magics, capsys):
    namespace = magics.shell.user_ns
    namespace["sights"] = ["长城", "故宫"]
    magics.wenxin(f"--batch sights -m {V1} -o tbl", "用一句话介绍{item}")
    first = namespace["tbl"]
    capsys.readouterr()

    namespace["slow"] = interrupted_after(3)
    magics.wenxin(f"--batch slow -m {V1} -o tbl", "用一句话介绍{item}")
    out = capsys.readouterr().out
    assert "stopped before it started" in out and "tbl is unchanged" in out
    assert "→" not in out  # no summary of a run
    assert namespace["tbl"] is first and magics.session.last_batch.items == ["长城", "故宫"]


def test_the_magic_with_no_batch_before_stores_nothing(magics, capsys):
    namespace = magics.shell.user_ns
    namespace["slow"] = interrupted_after(0)
    magics.wenxin(f"--batch slow -m {V1}", "{item}")
    assert "stopped before it started" in capsys.readouterr().out
    assert "_wenxin_batch" not in namespace and magics.session.last_batch is None


def test_the_magic_says_what_the_cap_is_and_what_to_do(magics, capsys):
    magics.shell.user_ns["numbers"] = itertools.count()
    magics.wenxin(f"--batch numbers -m {V1}", "{item}")
    err = capsys.readouterr().err
    assert "--batch: numbers has more than 100,000 items" in err and "itertools.islice(numbers" in err
    assert "Traceback" not in err and magics.session.last_batch is None


# -- in a real kernel ------------------------------------------------------------------------------

KERNEL_SETUP = '''
%load_ext wenxin_magic
import time, wenxin_magic
session = wenxin_magic.get_session()
session.backend.emulator_options.update(ttft=0.0, chunk_delay=0.0)
trips = ["长城", "故宫", "颐和园"]
def _slowly(count):
    for i in range(count):
        print(f"READ {i}", flush=True)
        time.sleep(0.2)
        yield i
'''


@pytest.mark.kernel
def test_an_interrupt_while_a_slow_generator_is_read_keeps_the_earlier_table(kernel_factory):
    k = kernel_factory(setup=KERNEL_SETUP)
    first = k.run(f"%%wenxin --batch trips -m {V1} -o tbl\n用一句话介绍{{item}}")
    assert first.error is None and "Traceback" not in first.text, first.text
    assert "3/3" in first.stdout and "→ tbl" in first.stdout
    assert k.value("len(tbl)") == 3

    assert k.run("slow = _slowly(1000)").error is None  # 200 s to read
    timer = threading.Timer(1.5, k.km.interrupt_kernel)
    timer.start()
    try:
        r = k.run(f"%%wenxin --batch slow -m {V1} -o tbl\n用一句话介绍{{item}}", timeout=30)
    finally:
        timer.cancel()
    assert r.error is None, "\n".join(r.error["traceback"])
    assert "Traceback" not in r.text and "KeyboardInterrupt" not in r.text
    assert "READ 0" in r.stdout and "READ 999" not in r.stdout
    assert "stopped before it started" in r.stdout and "tbl is unchanged" in r.stdout
    assert "→" not in r.stdout and r.displays == []
    assert k.value("len(tbl)") == 3 and k.value("tbl.item.tolist()") == ["长城", "故宫", "颐和园"]
    assert k.value("len(session.last_batch.items)") == 3
    assert k.value("6 * 7") == 42
