"""RedisState on a real redis-server: one quota shared by replicas, fair waiting, the ledger, the exam switch, faults.

Two RedisState objects on one Redis are two gateway replicas. Nothing here asserts a speed (the machine is shared):
counts, order and shares only. The quota's window is shortened (``window=``) so that waits end within a test.
"""

from __future__ import annotations

import pytest

import _redis
from _redis import RedisServer

# the harness's fixtures, made this module's
redis_server_module, redis_server, redis_factory = _redis.redis_server_module, _redis.redis_server, _redis.redis_factory


def test_the_harness_starts_a_redis_with_appendonly_and_stops_it(redis_factory):
    server = redis_factory()
    assert server.command("PING").startswith(b"+PONG")
    assert b"yes" in server.command("CONFIG", "GET", "appendonly")
    assert server.process.pid > 0
    server.stop()
    with pytest.raises(OSError):
        server.command("PING")
    server.start()
    assert server.command("PING").startswith(b"+PONG")


def test_the_module_server_is_emptied_for_each_test(redis_server: RedisServer):
    assert redis_server.command("DBSIZE").strip() == b":0"
    assert redis_server.command("SET", "left-behind", "1").startswith(b"+OK")
