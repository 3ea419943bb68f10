"""The kernel's interrupt button for answers that run outside a cell (the chat panel's).

Why this exists: ipykernel ignores SIGINT while no cell runs, so the interrupt button would not reach an answer
that a panel's Send started: it runs as a task on the session's loop, after its cell has ended. While such an
answer runs, a SIGINT handler of ours cancels it (and stops a tool function that the answer is running in the
kernel's main thread); when none runs, the handler found before decides, as without us. A signal handler belongs
to the whole process, so this state is the module's, shared by every panel, and the handler is only ever
installed from the main thread, as Python requires.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import signal
import threading

_RUNNING: set[concurrent.futures.Future] = set()  # answers the interrupt button cancels
_TOOLS_RUNNING: set[int] = set()  # ids of tool calls running in the kernel's main thread, for those answers
_previous_sigint = None


def _on_sigint(signum, frame):
    if _RUNNING:
        for future in list(_RUNNING):
            future.cancel()
        if _TOOLS_RUNNING:  # the handler runs inside the function: stop it there
            raise KeyboardInterrupt
        return
    if callable(_previous_sigint):
        _previous_sigint(signum, frame)
    elif _previous_sigint == signal.SIG_DFL:
        raise KeyboardInterrupt


def _watch_sigint() -> None:
    """Install the handler; again after a cell, which restores the one it found when it began."""
    global _previous_sigint
    if threading.current_thread() is threading.main_thread():
        current = signal.getsignal(signal.SIGINT)
        if current is not _on_sigint:
            _previous_sigint = current
            signal.signal(signal.SIGINT, _on_sigint)


def cancel_on_interrupt(future: concurrent.futures.Future) -> None:
    """Let the interrupt button cancel ``future`` until it is done; from the main thread, the handler goes in now."""
    _RUNNING.add(future)
    future.add_done_callback(_forget)
    _watch_sigint()


def _forget(future: concurrent.futures.Future) -> None:
    _RUNNING.discard(future)
    if (not _RUNNING and threading.current_thread() is threading.main_thread()
            and signal.getsignal(signal.SIGINT) is _on_sigint):
        signal.signal(signal.SIGINT, _previous_sigint)


def rewatch_if_lost(loop: asyncio.AbstractEventLoop | None) -> None:
    """A cell that ran meanwhile restored the handler it found: install ours again, on the main thread's ``loop``."""
    if loop is not None and signal.getsignal(signal.SIGINT) is not _on_sigint:
        loop.call_soon_threadsafe(_watch_sigint)


def note_tool_call(reply, call) -> None:
    """An ``on_call`` callback: while a tool call runs, the interrupt button also stops the function itself."""
    if call.status == "running":
        _TOOLS_RUNNING.add(id(call))
    else:
        _TOOLS_RUNNING.discard(id(call))


def main_thread_loop() -> asyncio.AbstractEventLoop | None:
    """The event loop running in the main thread, when called from it (a cell, a click on the shell): the thread
    where the handler can be installed and where the notebook's tool functions run."""
    if threading.current_thread() is not threading.main_thread():
        return None
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None
