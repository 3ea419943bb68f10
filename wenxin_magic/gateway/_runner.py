"""Starting a gateway: its state from the config, and uvicorn, in the foreground (the CLI) or in a thread."""

from __future__ import annotations

import asyncio
import importlib
import os
import socket
import threading

from ._config import GatewayConfig
from ._state import MemoryState
from ._tokens import read_roster


def make_state(config: GatewayConfig):
    """RedisState when ``[redis] url`` is set (replicas share it), else MemoryState (this process only)."""
    if config.redis_url:
        # by name: the Redis backend (and redis-py) load only for a class that has Redis
        module = importlib.import_module("wenxin_magic.gateway._redis_state")
        return module.RedisState(config.redis_url, rpm=config.rpm, tpm=config.tpm, prefix=config.redis_prefix)
    return MemoryState(rpm=config.rpm, tpm=config.tpm, ledger_path=config.ledger_path)


def make_gateway(config: GatewayConfig, *, environ=None, state=None):
    from ._server import Gateway

    environ = os.environ if environ is None else environ
    key = environ.get(config.key_env, "")
    if not key:
        raise ValueError(f"The teacher's key is missing: set the environment variable {config.key_env} "
                         "([upstream] key_env) where the gateway runs.")
    return Gateway(config, state if state is not None else make_state(config), read_roster(config.roster), key,
                   admin_token=environ.get(config.admin_token_env) or None)


def bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(512)
    sock.setblocking(False)
    return sock


def base_url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def make_server(gateway, sock: socket.socket):
    import uvicorn

    from ._server import build_app

    app = build_app(gateway)
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off", timeout_graceful_shutdown=2,
                            timeout_keep_alive=5)
    server = uvicorn.Server(config)

    original = server.shutdown

    async def shutdown(sockets=None):
        await original(sockets)
        await gateway.aclose()

    server.shutdown = shutdown
    return server


class GatewayServer:
    """A gateway on ``host`` (127.0.0.1) in a daemon thread, for notebooks and tests:

        with GatewayServer(load_config("class.toml")) as gw:
            gw.base_url      # give it to students as QIANFAN_BASE_URL
    """

    def __init__(self, config: GatewayConfig, *, host: str = "127.0.0.1", port: int = 0, environ=None, state=None):
        self.config = config
        self._host, self._port = host, port
        self._environ, self._state = environ, state
        self._server = self._thread = None
        self.gateway = None
        self.base_url: str | None = None

    def start(self) -> GatewayServer:
        if self._thread is not None:
            return self
        self.gateway = make_gateway(self.config, environ=self._environ, state=self._state)
        sock = bind(self._host, self._port)
        self.base_url = base_url_of(sock)
        server = make_server(self.gateway, sock)
        server.install_signal_handlers = lambda: None
        errors: list[BaseException] = []

        def run():
            try:
                asyncio.run(server.serve(sockets=[sock]))
            except BaseException as exc:  # reported to start()
                errors.append(exc)

        thread = threading.Thread(target=run, name="wenxin-gateway", daemon=True)
        thread.start()
        while not server.started:
            if not thread.is_alive():
                sock.close()
                raise RuntimeError(f"the gateway failed to start: {errors[0] if errors else 'unknown error'}")
            thread.join(0.005)
        self._server, self._thread = server, thread
        return self

    def stop(self) -> None:
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is not None:
            server.should_exit = True
            thread.join(10)

    def __enter__(self) -> GatewayServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
