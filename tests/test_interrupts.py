"""The interrupt button for answers that run outside a cell: while one runs, SIGINT cancels it; then the
handler found before is back, and decides again."""

from __future__ import annotations

import asyncio
import concurrent.futures
import signal

from wenxin_magic.interrupts import cancel_on_interrupt, main_thread_loop, note_tool_call, rewatch_if_lost


def test_sigint_cancels_the_running_answer_and_then_gives_the_handler_back():
    seen = []

    def before(signum, frame):
        seen.append(signum)
    previous = signal.signal(signal.SIGINT, before)
    try:
        answer = concurrent.futures.Future()
        cancel_on_interrupt(answer)
        assert signal.getsignal(signal.SIGINT) is not before
        signal.raise_signal(signal.SIGINT)
        assert answer.cancelled() and seen == []
        assert signal.getsignal(signal.SIGINT) is before  # nothing runs: the handler found before is back
        signal.raise_signal(signal.SIGINT)
        assert seen == [signal.SIGINT]
    finally:
        signal.signal(signal.SIGINT, previous)


def test_a_running_tool_call_is_stopped_where_it_runs():
    class Call:
        status = "running"

    previous = signal.getsignal(signal.SIGINT)
    answer, call = concurrent.futures.Future(), Call()
    try:
        cancel_on_interrupt(answer)
        note_tool_call(None, call)
        try:
            signal.raise_signal(signal.SIGINT)
            raise AssertionError("the tool function was not stopped")
        except KeyboardInterrupt:
            pass
        assert answer.cancelled()
    finally:
        call.status = "ok"
        note_tool_call(None, call)
        answer.cancel()
        signal.signal(signal.SIGINT, previous)


async def test_a_handler_a_cell_restored_is_replaced_on_the_main_loop():
    loop = main_thread_loop()
    assert loop is asyncio.get_running_loop()
    previous = signal.getsignal(signal.SIGINT)
    answer = concurrent.futures.Future()
    try:
        cancel_on_interrupt(answer)
        mine = signal.getsignal(signal.SIGINT)
        signal.signal(signal.SIGINT, previous)  # what a cell does when it ends
        rewatch_if_lost(loop)
        await asyncio.sleep(0)
        assert signal.getsignal(signal.SIGINT) is mine and not answer.done()
    finally:
        answer.cancel()
        signal.signal(signal.SIGINT, previous)


def test_no_main_loop_outside_a_running_loop():
    assert main_thread_loop() is None
