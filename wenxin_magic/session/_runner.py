"""The session's own event loop, in a daemon thread, and the ways to run work on it.

Running turns on the kernel's loop instead (nested with nest-asyncio) lets
ipykernel step its own message tasks inside a cell: with queued cells ("Run
All") that fails with "cannot enter context" and stalls the kernel. With a loop
of its own, a cell simply waits for its answer while its display is drawn in
the kernel's thread, and the chat panel's answers run while the kernel is idle.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import queue
import threading


class Runner:
    """One event loop in one daemon thread, started by ``start()`` (or by the first work submitted)."""

    def __init__(self, name: str = "wenxin-session"):
        self._name = name
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()

    @property
    def loop(self) -> asyncio.AbstractEventLoop | None:
        """The running loop, or None before ``start()``."""
        return self._loop

    @property
    def running(self) -> bool:
        return self._loop is not None

    def in_loop_thread(self) -> bool:
        return self._thread is not None and threading.current_thread() is self._thread

    def start(self) -> asyncio.AbstractEventLoop:
        """Start the loop's thread unless it runs already; returns the loop."""
        with self._start_lock:
            if self._loop is None:
                self._loop, self._thread = _start_loop_thread(self._name)
            return self._loop

    def submit(self, coro) -> concurrent.futures.Future:
        """Start ``coro`` on the loop; ``future.finished`` is set once it has really ended."""
        finished = threading.Event()

        async def guarded():
            try:
                return await coro
            finally:
                finished.set()

        future = asyncio.run_coroutine_threadsafe(guarded(), self.start())
        future.finished = finished
        return future

    def wait(self, coro, calls: queue.SimpleQueue | None = None):
        """Run ``coro`` on the loop and wait, running the callbacks queued on ``calls`` in this thread.

        An interrupt (or a failing callback) cancels the work, waits for it to wind
        down (its HTTP stream closed, its partial answer kept) and re-raises.
        """
        if self.in_loop_thread():
            raise RuntimeError("ask()/compare() wait for the session's loop: on it, use await aask()/acompare()")
        calls = calls if calls is not None else queue.SimpleQueue()
        future = self.submit(coro)
        future.add_done_callback(lambda _: calls.put(None))
        try:
            _drain(calls)
            return future.result()
        except BaseException:  # an interrupt, or a callback that failed: the work stops with the caller
            future.cancel()
            future.finished.wait(timeout=5)
            raise

    async def relay(self, coro):
        """Await ``coro`` on the session's loop from any other loop; cancelling the wait cancels it."""
        if asyncio.get_running_loop() is self._loop:
            return await coro
        future = self.submit(coro)
        try:
            return await asyncio.wrap_future(future)
        except asyncio.CancelledError:
            # return once the work has kept what arrived
            future.cancel()
            await asyncio.to_thread(future.finished.wait, 5)
            raise

    def finish(self, coro, timeout: float = 2.0) -> None:
        """Run a clean-up coroutine on the loop, if it runs; wait for it unless called from the loop."""
        if self._loop is None:
            coro.close()
            return
        done = asyncio.run_coroutine_threadsafe(coro, self._loop)
        if not self.in_loop_thread():
            try:
                done.result(timeout=timeout)
            except Exception:  # clean-up is best effort: the loop may be closing
                pass

    def close(self, timeout: float = 5.0) -> None:
        """Stop the loop and its thread; abandoned stream generators are closed first."""
        loop, thread = self._loop, self._thread
        self._loop = self._thread = None
        if loop is None:
            return

        async def finish():  # as asyncio.run does: let abandoned stream generators close
            await loop.shutdown_asyncgens()
            loop.stop()

        loop.call_soon_threadsafe(lambda: loop.create_task(finish()))
        if thread is not threading.current_thread():
            thread.join(timeout=timeout)
        if not loop.is_running():
            loop.close()


def _start_loop_thread(name: str) -> tuple[asyncio.AbstractEventLoop, threading.Thread]:
    loop = asyncio.new_event_loop()
    ready = threading.Event()

    def serve():
        asyncio.set_event_loop(loop)
        loop.call_soon(ready.set)
        loop.run_forever()

    thread = threading.Thread(target=serve, name=name, daemon=True)
    thread.start()
    ready.wait()
    return loop, thread


def _drain(calls: queue.SimpleQueue) -> None:
    """Run queued callbacks until the ``None`` that marks the end of the work."""
    while True:
        try:
            item = calls.get(timeout=0.5)
        except queue.Empty:  # wake up now and then so the thread can take an interrupt
            continue
        if item is None:
            return
        item()


def in_caller_thread(calls: queue.SimpleQueue, callback):
    """``callback``, run in the thread that drains ``calls`` instead of the session's."""
    if callback is None:
        return None
    return lambda *args: calls.put(lambda: callback(*args))


def on_caller_loop(callback):
    """``callback``, run on the loop of the code that calls this (from the session's thread)."""
    if callback is None:
        return None
    loop = asyncio.get_running_loop()
    return lambda *args: loop.call_soon_threadsafe(callback, *args)
