"""A real ``redis-server`` (Debian's) for the tests: started on a free port in a temporary directory, stopped after.

    with RedisServer(tmp_path) as server:     # --port N --dir D --save '' --appendonly yes
        server.url                            # "redis://127.0.0.1:N/0"
        server.kill(); server.start()         # SIGKILL, then the same port and directory: the AOF is replayed

Fixtures (make them a test module's: ``redis_server = _redis.redis_server``, and the same for the others it needs):
- ``redis_server``: the module's one server (``redis_server_module``), emptied (FLUSHALL) before each test.
- ``redis_factory``: ``start()`` a fresh server in its own directory, stopped at the end of the test.

Never fakeredis: the limiter is a Lua script, and only Redis runs it as Redis does.
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

REDIS_SERVER = "redis-server"
START_TIMEOUT = 20.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _ask(port: int, command: bytes, timeout: float = 1.0) -> bytes:
    """One inline command over a raw socket: the harness must not depend on the client it tests."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(command + b"\r\n")
        return sock.recv(4096)


class RedisServer:
    def __init__(self, directory: Path, *, appendonly: bool = True):
        if shutil.which(REDIS_SERVER) is None:
            raise RuntimeError("redis-server is not installed: apt-get install -y redis-server")
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.appendonly = appendonly
        self.port = 0
        self.process: subprocess.Popen | None = None
        self._log = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        """Start it (again): on the port it had, or a free one the first time."""
        for _ in range(5):
            port = self.port or free_port()
            self._log = open(self.directory / "redis.log", "ab")  # kept open while it runs
            self.process = subprocess.Popen(
                [REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(self.directory),
                 "--save", "", "--appendonly", "yes" if self.appendonly else "no", "--daemonize", "no"],
                stdout=self._log, stderr=subprocess.STDOUT)
            if self._wait_ready(port):
                self.port = port
                return self
            self._reap()
            if self.port:  # a restart must keep its port (the clients know it): wait and retry the same one
                time.sleep(0.5)
        raise RuntimeError(f"redis-server did not start; see {self.directory / 'redis.log'}")

    def _wait_ready(self, port: int) -> bool:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            with contextlib.suppress(OSError):
                if _ask(port, b"PING").startswith(b"+PONG"):
                    return True
            time.sleep(0.02)
        return False

    def command(self, *words: str) -> bytes:
        return _ask(self.port, " ".join(words).encode())

    def flush(self) -> None:
        assert self.command("FLUSHALL").startswith(b"+OK")

    def kill(self) -> None:
        """SIGKILL: no shutdown, no final save; what survives is what the AOF already had."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        self._reap()

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
        self._reap()

    def _reap(self) -> None:
        if self.process is not None:
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
            self.process = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


@contextlib.contextmanager
def started_redis(directory: Path | None = None, **options):
    with contextlib.ExitStack() as stack:
        if directory is None:
            directory = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="wenxin-redis-")))
        yield stack.enter_context(RedisServer(directory, **options))


@pytest.fixture(scope="module")
def redis_server_module(tmp_path_factory):
    with started_redis(tmp_path_factory.mktemp("redis")) as server:
        yield server


@pytest.fixture
def redis_server(redis_server_module) -> RedisServer:
    redis_server_module.flush()
    return redis_server_module


@pytest.fixture
def redis_factory(tmp_path):
    with contextlib.ExitStack() as stack:
        count = 0

        def start(**options) -> RedisServer:
            nonlocal count
            count += 1
            return stack.enter_context(started_redis(tmp_path / f"redis-{count}", **options))

        yield start
