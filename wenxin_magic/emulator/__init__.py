"""A faithful local Qianfan server (v1 and v2) for offline tests, demos and benchmarks.

    from wenxin_magic.emulator import Emulator
    with Emulator() as emu:
        emu.base_url          # "http://127.0.0.1:<port>": v1 under /rpc/2.0/..., v2 under /v2,
                              # OAuth at /oauth/2.0/token, IAM bearer tokens at /v1/BCE-BEARER/token

v2 serves the catalog's model ids (``wenxin_magic.api.V2_MODELS``) and those given as ``Emulator(models=[…])``
(``--model ID`` on the command line); any other id gets 401 ``invalid_model``, and ``GET /v2/models`` lists them.

Starlette and uvicorn load only when an emulator starts, so importing this
package is cheap.
"""

from __future__ import annotations

import logging
import socket
import threading

from ._faults import FAULTS
from ._lesson import (LESSON_FORMAT, LESSON_VERSION, Lesson, LessonError, answered_from_lesson,
                      normalise_question, question_text)

__all__ = ["Emulator", "FAULTS", "LOOPBACK_HOSTS", "Lesson", "LessonError", "LESSON_FORMAT", "LESSON_VERSION",
           "answered_from_lesson", "normalise_question", "question_text"]

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")



class _QuietAborts(logging.Filter):
    """Drop uvicorn's reports of the connections the emulator cuts on purpose."""

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        if record.exc_info and isinstance(record.exc_info[1], (ConnectionAbortedError, ConnectionResetError)):
            return False
        return not any(s in text for s in ("drop_stream", "returned without", "socket.send() raised"))


_filter_installed = False


def _install_log_filter() -> None:
    global _filter_installed
    if not _filter_installed:
        for name in ("uvicorn.error", "uvicorn", "asyncio"):
            logging.getLogger(name).addFilter(_QuietAborts())
        _filter_installed = True


def _protocol_class():
    """uvicorn's h11 protocol, remembering each connection's transport so a handler can cut it."""
    from uvicorn.protocols.http.h11_impl import H11Protocol

    from ._exchange import CONNECTIONS

    class EmulatorProtocol(H11Protocol):
        def connection_made(self, transport):
            super().connection_made(transport)
            self._emu_key = (tuple(self.server) if self.server else None,
                             tuple(self.client) if self.client else None)
            CONNECTIONS[self._emu_key] = transport

        def connection_lost(self, exc):
            CONNECTIONS.pop(getattr(self, "_emu_key", None), None)
            super().connection_lost(exc)

    return EmulatorProtocol


def make_server(app, sock: socket.socket, *, log_level: str = "warning"):
    import uvicorn

    _install_log_filter()
    config = uvicorn.Config(app, log_level=log_level, access_log=False, lifespan="off",
                            http=_protocol_class(), timeout_graceful_shutdown=1, timeout_keep_alive=5)
    return _server_class()(config)


def _server_class():
    import asyncio

    import uvicorn

    class Server(uvicorn.Server):
        """uvicorn's server, woken at once by ``stop``: its own main loop looks for ``should_exit`` every 0.1 s, a
        wait that every stopped emulator (one per session in tests) would otherwise sit out."""

        wake = None
        loop = None

        async def main_loop(self) -> None:
            self.loop, self.wake = asyncio.get_running_loop(), asyncio.Event()
            counter = 0
            while not await self.on_tick(counter):
                counter = (counter + 1) % 864000
                try:
                    await asyncio.wait_for(self.wake.wait(), 0.1)
                except asyncio.TimeoutError:
                    pass

        def exit_now(self) -> None:
            self.should_exit = True
            try:
                if self.loop is not None:
                    self.loop.call_soon_threadsafe(self.wake.set)
            except RuntimeError:  # its loop has already ended
                pass

    return Server


def bind(host: str = "127.0.0.1", port: int = 0) -> socket.socket:
    if host not in LOOPBACK_HOSTS:
        raise ValueError(f"the emulator only listens on loopback (127.0.0.1, localhost or ::1), not {host!r}")
    family = socket.AF_INET6 if host == "::1" else socket.AF_INET
    # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on sockets that say so, and without it a kept-alive
    # connection's body (written after its headers) waits ~40 ms for the client's delayed ACK
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1" if host == "localhost" else host, port))
    sock.listen(128)
    sock.setblocking(False)
    return sock


class Emulator:
    """A local Qianfan server (v1 and v2) on 127.0.0.1, run by uvicorn in a daemon thread.

    ``credentials`` (application keys) and ``iam_credentials`` (IAM keys, which also mint v2 bearer tokens)
    lock the emulator to those keys; ``v2_keys`` does the same for v2 API keys (``bce-v3/ALTAK-…/…``).
    None, the default, accepts any (well-formed) key. ``request_log_size`` is how many of the newest requests
    ``requests`` keeps (None: 1,000). ``models``: v2 ids served beside the catalog's (``V2_MODELS``); as the
    service does, v2 answers any other id with 401 ``invalid_model``, and ``GET /v2/models`` lists them all.
    ``lesson``: a :class:`Lesson` whose recorded answers answer the questions it holds, at the recorded pace
    times ``lesson_speed`` (0: at once); any other question gets the emulator's answer after a notice.
    """

    def __init__(self, port: int = 0, ttft: float = 0.0, chunk_delay: float = 0.0, credentials: dict | None = None,
                 iam_credentials: dict | None = None, rpm: int = 300, tpm: int = 300000, token_ttl: int = 2592000,
                 deployments: dict | None = None, strict_endpoints: bool = False, answer_chars: int | None = None,
                 host: str = "127.0.0.1", v2_keys=None, request_log_size: int | None = None, models=None,
                 lesson: Lesson | None = None, lesson_speed: float = 1.0):
        if host not in LOOPBACK_HOSTS:
            raise ValueError(f"the emulator only listens on loopback, not {host!r}")
        self._host = host
        self._port = port
        self._options = dict(ttft=ttft, chunk_delay=chunk_delay, credentials=credentials,
                             iam_credentials=iam_credentials, rpm=rpm, tpm=tpm, token_ttl=token_ttl,
                             deployments=deployments, strict_endpoints=strict_endpoints, answer_chars=answer_chars,
                             v2_keys=v2_keys, request_log_size=request_log_size, models=models, lesson=lesson,
                             lesson_speed=lesson_speed)
        self._state = None
        self._server = None
        self._thread = None
        self._sock = None
        self._lock = threading.Lock()
        self.base_url: str | None = None
        self.port: int | None = None

    # -- lifecycle
    def start(self) -> Emulator:
        with self._lock:
            if self._thread is not None:
                return self
            from ._app import build_app
            from ._state import EmulatorState

            if self._state is None:
                self._state = EmulatorState(**self._options)
            sock = bind(self._host, self._port)
            self.port = sock.getsockname()[1]
            host = sock.getsockname()[0]
            self.base_url = f"http://[{host}]:{self.port}" if ":" in host else f"http://{host}:{self.port}"
            server = make_server(build_app(self._state), sock)
            server.install_signal_handlers = lambda: None  # older uvicorn: never from a thread
            errors: list[BaseException] = []

            def run():
                import asyncio

                try:
                    asyncio.run(server.serve(sockets=[sock]))
                except BaseException as exc:  # pragma: no cover - reported to start()
                    errors.append(exc)

            thread = threading.Thread(target=run, name=f"wenxin-emulator-{self.port}", daemon=True)
            thread.start()
            while not server.started:
                if not thread.is_alive():
                    sock.close()
                    raise RuntimeError(f"the emulator failed to start: {errors[0] if errors else 'unknown error'}")
                thread.join(0.005)
            self._server, self._thread, self._sock = server, thread, sock
            return self

    def stop(self) -> None:
        with self._lock:
            server, thread, sock = self._server, self._thread, self._sock
            self._server = self._thread = self._sock = None
        if server is None:
            return
        server.exit_now()
        thread.join(5)
        if thread.is_alive():
            server.force_exit = True
            thread.join(2)
        try:
            sock.close()
        except OSError:
            pass

    close = stop

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def __del__(self):
        try:
            self.stop()
        except Exception:
            pass

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # -- controls
    def state(self):
        """The server's shared state (request log, tokens, faults, limits), made on first use."""
        if self._state is None:
            from ._state import EmulatorState

            self._state = EmulatorState(**self._options)
        return self._state

    _st = state  # the older name

    @property
    def requests(self) -> list[dict]:
        """One dict per request received (method, path, query, headers, json, status), secrets masked; the
        newest ``request_log_size`` only. A body over 256 KiB is not kept: its entry has ``json`` None,
        ``body_cut`` True and ``body_size``; a client that hung up mid-body, ``client_closed`` True."""
        return self.state().snapshot_requests()

    def inject(self, fault: str, times: int = 1, **kw) -> None:
        """Queue a fault for the next ``times`` matching chat/completions requests (``path=`` narrows it:
        ``path="/v2/"`` for v2 only). v2 requests meet each fault in v2's form (an HTTP status and
        ``{"error": {code, message, type}}``); ``error`` takes ``code`` (a v2 string code or a v1 number),
        ``message`` and, on v2, ``status``; on v2 any error fault takes ``retry_after`` (a Retry-After header).
        ``flag_hide`` / ``flag_withdraw`` flag a v2 answer 3 (do not display) / 4 (withdraw what was shown), with
        ``ban_round`` (default -1); ``usage_on_last_chunk`` puts a v2 stream's usage on its last choice chunk;
        ``schema_miss`` drops the first key of a JSON answer (a required field of the schema it was asked for)."""
        self.state().inject(fault, times, **kw)

    def expire_tokens(self) -> None:
        """Every token issued so far now answers 111 (expired); every minted v2 bearer token, 401."""
        self.state().expire_tokens()

    def revoke_tokens(self) -> None:
        """Every token issued so far now answers 110 (invalid); every minted v2 bearer token, 401."""
        self.state().revoke_tokens()

    def clear(self) -> None:
        """Forget the request log and any pending faults."""
        self.state().clear()

    def set_limits(self, rpm: int | None = None, tpm: int | None = None) -> None:
        self.state().set_limits(rpm=rpm, tpm=tpm)

    def reset_limits(self) -> None:
        """Empty the RPM/TPM windows."""
        self.state().reset_limits()

    @property
    def ttft(self) -> float:
        return self.state().ttft

    @ttft.setter
    def ttft(self, value: float) -> None:
        self.state().ttft = float(value)

    @property
    def chunk_delay(self) -> float:
        return self.state().chunk_delay

    @chunk_delay.setter
    def chunk_delay(self, value: float) -> None:
        self.state().chunk_delay = float(value)

    @property
    def lesson(self) -> Lesson | None:
        return self.state().lesson

    @lesson.setter
    def lesson(self, value: Lesson | None) -> None:
        self.state().lesson = value

    @property
    def lesson_speed(self) -> float:
        return self.state().lesson_speed

    @lesson_speed.setter
    def lesson_speed(self, value: float) -> None:
        self.state().lesson_speed = float(value)

    def __repr__(self) -> str:
        return f"Emulator({self.base_url or 'not started'})"
