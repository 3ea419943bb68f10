"""The gateway's state in Redis, so that every replica shares one quota, one ledger and one exam switch.

    state = RedisState("redis://127.0.0.1:6379/0", rpm=300, tpm=300000)
    grant = await state.acquire("alice", 2600, timeout=30)     # waits its turn; QuotaTimeout after 30 s
    ...                                                        # forward the request
    await state.settle(grant, used_tokens=812)                 # the service's usage replaces the estimate

The quota: a sliding 60-second log in Redis, one member per granted request (never one per token), each with the
tokens it reserved. A request fits when the requests of the last 60 s are under the RPM and their tokens plus its
own are within the TPM; ``settle`` rewrites its tokens to the real usage. A sliding log rather than GCRA or fixed
windows alone because the service (and the emulator) count a sliding 60-second window: GCRA lets a full burst
follow a minute of steady use, up to twice the RPM in one window, which the service would answer with 429s. The
log holds at most RPM members, so a check costs O(RPM) at worst and O(expired) as a rule (a running token total
is kept). Grants are also paced, GCRA-style, one every 60/RPM seconds after a burst of ``burst`` (RPM/20, at
least 1): the throughput bound is the same, but a minute's quota is no longer handed out in one instant, to
whoever happens to be waiting then, and again 60 s later.

Fairness: a fair queue. A request that does not fit waits; the waiting students are ordered by least recent
service (each one's share of the quota used, decaying over the window: 1/RPM + tokens/TPM per grant), and a
request goes only if the quota also has room for one request of every student ahead of it. The first in line
is never delayed by those behind, and what it leaves is used: a batch of a thousand from one student waits
behind every other student who asks, yet takes every slot they do not want, where a fixed per-student share
would leave slots idle. A waiter sleeps the wait the script returns (when the room it needs frees), at most
``POLL_SECONDS``; a student who stops looking for ``STALE_SECONDS`` (its replica killed) leaves the queue. One Lua
script decides and records a grant in one round trip, on Redis's clock, so replicas whose clocks differ agree.

The ledger lives in Redis hashes, one per (day, student, model), with a per-day total per student for the daily
budgets. It is as durable as Redis is told to be: run Redis with ``appendonly yes`` (the default ``appendfsync
everysec`` loses at most the last second, and only if the machine itself fails: a killed Redis loses nothing
it answered). Without AOF, a Redis restart loses the ledger back to its last snapshot.

If Redis cannot be reached, ``acquire``, ``used_today``, ``ledger``, ``paused`` and ``set_paused`` raise
``RedisUnavailable`` (a ``ConnectionError``) naming the server (never its password) and what to do: the gateway
then refuses new requests rather than spend beyond the quota unseen. The two calls made for a request already
sent do not raise: ``settle`` leaves the estimate counted (more than was used, never less), and ``add_usage``
keeps the counts in this process until Redis answers again (the next call that reaches it writes them first;
``close`` logs any it could not write).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import time
from urllib.parse import urlsplit

from ._state import Grant, QuotaTimeout

__all__ = ["RedisState", "RedisUnavailable"]

# The service's window is 60 s, counted from when a request arrives there, a little after the gateway granted it.
# A grant is held one second longer, so that the forwarding's jitter never lets the service see RPM + 1 in a minute.
WINDOW_SECONDS = 61.0
POLL_SECONDS = 0.25      # the longest a waiter sleeps between two looks at the queue
BURST_DIVISOR = 20       # requests granted back to back: a twentieth of the RPM (15 of 300), at least one
STALE_SECONDS = 1.0      # a waiting student unseen this long has gone (4 polls missed)
MIN_TURN_SECONDS = 0.02  # a waiter that is not first looks again this soon at the earliest
CONNECT_TIMEOUT = 2.0
COMMAND_TIMEOUT = 5.0
_log = logging.getLogger("wenxin_magic.gateway")
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")

# KEYS: log (zset id -> granted at), reserved (hash id -> tokens), total (tokens in the log), seq, waiting (hash
# student -> last poll), served (hash student -> decayed share), served_at (hash student -> when it was decayed),
# waiters (hash student -> how many of its requests wait), wanting (hash student -> tokens its last look asked for),
# paced (the pacing's theoretical arrival time)
# ARGV: student, tokens, rpm, tpm, window, stale, min_turn, entering (1 on a request's first look), burst
# Returns {1, id, granted_at} | {0, wait_ms, ""}; tokens are at most the TPM (the caller caps them)
_ACQUIRE = """
local log, reserved, total_key, seq, waiting, served, served_at, waiters, wanting, paced =
  KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8], KEYS[9], KEYS[10]
local student, cost = ARGV[1], tonumber(ARGV[2])
local rpm, tpm, window = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local stale, min_turn = tonumber(ARGV[6]), tonumber(ARGV[7])
-- a student stays in the queue while any of its requests waits, though they look in turn
if ARGV[8] == '1' then redis.call('HINCRBY', waiters, student, 1) end
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000

local old = redis.call('ZRANGEBYSCORE', log, '-inf', '(' .. string.format('%.6f', now - window))
for first = 1, #old, 500 do
  local chunk = {unpack(old, first, math.min(first + 499, #old))}
  local freed = 0
  for _, amount in ipairs(redis.call('HMGET', reserved, unpack(chunk))) do freed = freed + (tonumber(amount) or 0) end
  redis.call('ZREM', log, unpack(chunk))
  redis.call('HDEL', reserved, unpack(chunk))
  redis.call('DECRBY', total_key, freed)
end

local function share(name)
  local value = tonumber(redis.call('HGET', served, name)) or 0
  local at = tonumber(redis.call('HGET', served_at, name)) or now
  return value * math.exp(-(now - at) / window)
end

-- the queue: waiting students by least recent service; those ahead keep room for one request each
redis.call('HSET', waiting, student, string.format('%.6f', now))
redis.call('HSET', wanting, student, cost)
local line = {}
local queue = redis.call('HGETALL', waiting)
for i = 1, #queue, 2 do
  local name, seen = queue[i], tonumber(queue[i + 1])
  if now - seen > stale then
    redis.call('HDEL', waiting, name)
    redis.call('HDEL', waiters, name)
    redis.call('HDEL', wanting, name)
  else
    line[#line + 1] = {name, share(name)}
  end
end
table.sort(line, function(a, b) if a[2] ~= b[2] then return a[2] < b[2] end return a[1] < b[1] end)
local ahead_requests, ahead_tokens = 0, 0
for _, entry in ipairs(line) do
  if entry[1] == student then break end
  ahead_requests = ahead_requests + 1
  ahead_tokens = ahead_tokens + (tonumber(redis.call('HGET', wanting, entry[1])) or 0)
end

-- when the log will have room for those ahead and this request (if it cannot, when the log empties)
local wait, blocked = 0, false
local count = redis.call('ZCARD', log)
local leave = count + ahead_requests + 1 - rpm
if leave > count then
  blocked = true
  leave = count
end
if leave > 0 then
  local entry = redis.call('ZRANGE', log, leave - 1, leave - 1, 'WITHSCORES')
  wait = math.max(wait, tonumber(entry[2]) + window - now)
end
local used = tonumber(redis.call('GET', total_key)) or 0
local needed = used + ahead_tokens + cost - tpm
if needed > 0 then
  local freed, until_ = 0, nil
  local entries = redis.call('ZRANGE', log, 0, -1, 'WITHSCORES')
  for i = 1, #entries, 2 do
    freed = freed + (tonumber(redis.call('HGET', reserved, entries[i])) or 0)
    until_ = tonumber(entries[i + 1]) + window - now
    if freed >= needed then break end
  end
  if freed < needed then blocked = true end
  if until_ ~= nil then wait = math.max(wait, until_) end
end
-- the pacing (GCRA, one request every window / rpm, a burst of a few), with room for those ahead
local interval = window / rpm
local tat = math.max(tonumber(redis.call('GET', paced)) or now, now)
wait = math.max(wait, tat + ahead_requests * interval - interval * (tonumber(ARGV[9]) - 1) - now)
if blocked then wait = math.max(wait, min_turn) end
if wait > 0 then return {0, math.ceil(wait * 1000), ''} end

local id = tostring(redis.call('INCR', seq))
redis.call('ZADD', log, string.format('%.6f', now), id)
redis.call('HSET', reserved, id, cost)
redis.call('INCRBY', total_key, cost)
if redis.call('HINCRBY', waiters, student, -1) <= 0 then
  redis.call('HDEL', waiters, student)
  redis.call('HDEL', waiting, student)
  redis.call('HDEL', wanting, student)
end
redis.call('HSET', served, student, tostring(share(student) + 1 / rpm + cost / tpm))
redis.call('HSET', served_at, student, string.format('%.6f', now))
redis.call('SET', paced, string.format('%.6f', tat + interval))
local keep = math.ceil(window * 2000)
for _, key in ipairs({log, reserved, total_key, served, served_at, paced}) do redis.call('PEXPIRE', key, keep) end
return {1, id, string.format('%.6f', now)}
"""

# KEYS: waiting, waiters, wanting; ARGV: student
_LEAVE = """
if redis.call('HINCRBY', KEYS[2], ARGV[1], -1) <= 0 then
  redis.call('HDEL', KEYS[2], ARGV[1])
  redis.call('HDEL', KEYS[1], ARGV[1])
  redis.call('HDEL', KEYS[3], ARGV[1])
end
"""

# KEYS: reserved, total, served, served_at; ARGV: id, used tokens, student, tpm, window
_SETTLE = """
local reserved, total_key, served, served_at = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local id, used, student, tpm, window = ARGV[1], tonumber(ARGV[2]), ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5])
local before = tonumber(redis.call('HGET', reserved, id))
if before == nil then return 0 end
redis.call('HSET', reserved, id, used)
redis.call('INCRBY', total_key, used - before)
local value = tonumber(redis.call('HGET', served, student))
if value ~= nil then redis.call('HSET', served, student, tostring(math.max(0, value + (used - before) / tpm))) end
return 1
"""

_COUNTS = ("requests", "input_tokens", "output_tokens", "errors")


def _where(url: str) -> str:
    """The server a URL names, without its password."""
    parts = urlsplit(url)
    host = parts.hostname or parts.path or "?"
    return f"{parts.scheme}://{host}{':' + str(parts.port) if parts.port else ''}{parts.path if parts.hostname else ''}"


def _positive_int(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"[quota] {name} must be a positive whole number, not {value!r}")
    return value


def _check_day(day: str) -> str:
    if not isinstance(day, str) or not _DAY.fullmatch(day):
        raise ValueError(f"a day is written YYYY-MM-DD (for example 2026-12-07), not {day!r}")
    return day


class RedisUnavailable(ConnectionError):
    """Redis did not answer: nothing can be granted or counted until it does."""


class RedisState:
    """The ``State`` of every replica that names the same Redis (and ``prefix``): see the module's docstring."""

    def __init__(self, url: str, *, rpm: int, tpm: int, prefix: str = "wenxin-gateway:",
                 window: float = WINDOW_SECONDS, burst: int | None = None):
        import redis.asyncio  # lazily: only a gateway with [redis] needs it

        self.rpm = _positive_int("rpm", rpm)
        self.tpm = _positive_int("tpm", tpm)
        if not window > 0:
            raise ValueError(f"the quota's window must be a positive number of seconds, not {window!r}")
        self.window = float(window)
        self.burst = max(1, self.rpm // BURST_DIVISOR) if burst is None else _positive_int("burst", burst)
        self.where = _where(url)
        try:
            self._redis = redis.asyncio.from_url(url, decode_responses=True, socket_connect_timeout=CONNECT_TIMEOUT,
                                                 socket_timeout=COMMAND_TIMEOUT)
        except ValueError as exc:
            raise ValueError(f"[redis] url must look like redis://HOST:PORT/DB (or rediss://, unix://), not "
                             f"{self.where!r}: {exc}") from None
        # one hash tag, so a Redis Cluster keeps every key a script touches on one node
        quota = f"{prefix}{{quota}}:"
        self._quota_keys = [quota + name for name in ("log", "reserved", "total", "seq", "waiting", "served",
                                                      "served_at", "waiters", "wanting", "paced")]
        self._prefix = prefix
        self._acquire_script = self._redis.register_script(_ACQUIRE)
        self._settle_script = self._redis.register_script(_SETTLE)
        self._leave_script = self._redis.register_script(_LEAVE)
        self.round_trips = 0  # commands and pipelines sent: the benchmark's figure
        self._unsaved: list[tuple] = []  # ledger counts Redis has not taken yet (it was down)

    # -- talking to Redis ----------------------------------------------------------------------------------

    async def _run(self, call):
        """Await one command, script or pipeline; Redis's absence becomes one clear error."""
        from redis.exceptions import BusyLoadingError, ConnectionError as RedisConnectionError, TimeoutError

        self.round_trips += 1
        try:
            return await call
        except (RedisConnectionError, TimeoutError, BusyLoadingError, OSError) as exc:
            raise RedisUnavailable(
                f"the gateway's Redis at {self.where} does not answer ({type(exc).__name__}); no request is sent "
                f"until it does: start Redis, or check [redis] url") from None

    # -- the quota -----------------------------------------------------------------------------------------

    async def acquire(self, student: str, tokens: int, *, timeout: float) -> Grant:
        # an estimate over the whole TPM (the output cap is an upper bound) reserves all of it: the request goes
        # alone, into an empty window, rather than never
        tokens = min(max(0, int(tokens)), self.tpm)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max(0.0, timeout)
        args = [student, tokens, self.rpm, self.tpm, self.window, STALE_SECONDS, MIN_TURN_SECONDS, 1, self.burst]
        try:
            while True:
                status, value, granted_at = await self._run(self._acquire_script(keys=self._quota_keys, args=args))
                if status == 1:
                    return Grant(student=student, tokens=tokens, at=float(granted_at), key=str(value))
                args[7] = 0
                left = deadline - loop.time()
                if left <= 0:
                    raise QuotaTimeout(f"the class's shared quota ({self.rpm} requests, {self.tpm} tokens a minute) "
                                       f"did not free up within {timeout:g} s; try again shortly")
                await asyncio.sleep(min(int(value) / 1000, POLL_SECONDS, left))
        except BaseException:
            if args[7] == 0:  # it had entered the queue: out at once, so others need not wait for it to go stale
                with contextlib.suppress(Exception):
                    await asyncio.shield(self._run(self._leave_script(keys=[self._quota_keys[i] for i in (4, 7, 8)],
                                                                      args=[student])))
            raise

    async def settle(self, grant: Grant, used_tokens: int) -> None:
        """Correct a reservation; with Redis gone the estimate stays counted (it leaves the window with it)."""
        used = max(0, int(used_tokens))
        if not grant.key or used == grant.tokens:
            return  # nothing to correct: no round trip
        try:
            await self._run(self._settle_script(keys=[self._quota_keys[i] for i in (1, 2, 5, 6)],
                                                args=[grant.key, used, grant.student, self.tpm, self.window]))
        except RedisUnavailable as exc:
            _log.warning("%s; the reservation of %d tokens stays as estimated", exc, grant.tokens)

    # -- the ledger ----------------------------------------------------------------------------------------

    def _row_key(self, row: str) -> str:
        return f"{self._prefix}ledger:{row}"

    async def add_usage(self, student: str, model: str, day: str, *, requests: int = 1, input_tokens: int = 0,
                        output_tokens: int = 0, yuan: float = 0.0, errors: int = 0) -> None:
        """Count a request. With Redis gone the counts wait in this process and reach Redis with the next call
        that does: what a request used is not lost because Redis went away while it streamed."""
        _check_day(day)
        self._unsaved.append((student, model, day, int(requests), int(input_tokens), int(output_tokens),
                              float(yuan), int(errors)))
        try:
            await self._save_unsaved()
        except RedisUnavailable as exc:
            _log.warning("%s; %d ledger entries wait in this process for it", exc, len(self._unsaved))

    async def _save_unsaved(self) -> None:
        """Write the counts not yet in Redis, all in one transaction: all of them, or none."""
        if not self._unsaved:
            return
        # taken out while they are sent, so a call running beside this one cannot send them twice
        entries, self._unsaved = self._unsaved, []
        pipe = self._redis.pipeline(transaction=True)
        for student, model, day, requests, input_tokens, output_tokens, yuan, errors in entries:
            row = json.dumps([day, student, model], ensure_ascii=False)
            key = self._row_key(row)
            for name, amount in zip(_COUNTS, (requests, input_tokens, output_tokens, errors), strict=True):
                pipe.hincrby(key, name, amount)
            pipe.hincrbyfloat(key, "yuan", yuan)
            pipe.zadd(f"{self._prefix}ledger-rows", {row: int(day.replace("-", ""))})
            pipe.hincrby(f"{self._prefix}day-tokens:{day}", student, input_tokens + output_tokens)
            pipe.hincrbyfloat(f"{self._prefix}day-yuan:{day}", student, yuan)
        try:
            await self._run(pipe.execute())
        except BaseException:
            self._unsaved[:0] = entries
            raise

    async def used_today(self, student: str, day: str) -> tuple[int, float]:
        _check_day(day)
        await self._save_unsaved()
        pipe = self._redis.pipeline(transaction=False)
        pipe.hget(f"{self._prefix}day-tokens:{day}", student)
        pipe.hget(f"{self._prefix}day-yuan:{day}", student)
        tokens, yuan = await self._run(pipe.execute())
        return int(tokens or 0), float(yuan or 0.0)

    async def ledger(self, since_day: str | None = None) -> list[dict]:
        low = int(_check_day(since_day).replace("-", "")) if since_day is not None else "-inf"
        await self._save_unsaved()
        rows = await self._run(self._redis.zrangebyscore(f"{self._prefix}ledger-rows", low, "+inf"))
        if not rows:
            return []
        pipe = self._redis.pipeline(transaction=False)
        for row in rows:
            pipe.hgetall(self._row_key(row))
        counts = await self._run(pipe.execute())
        out = []
        for row, fields in zip(rows, counts, strict=True):
            day, student, model = json.loads(row)
            out.append({"student": student, "model": model, "day": day,
                        **{name: int(fields.get(name, 0)) for name in _COUNTS[:3]},
                        "yuan": float(fields.get("yuan", 0.0)), "errors": int(fields.get("errors", 0))})
        return sorted(out, key=lambda r: (r["day"], r["student"], r["model"]))

    # -- the exam switch -----------------------------------------------------------------------------------

    async def paused(self, group: str | None) -> bool:
        """The class's switch pauses every group; a group's switch pauses that group only."""
        pipe = self._redis.pipeline(transaction=False)
        pipe.hexists(f"{self._prefix}paused", "class")
        if group is not None:
            pipe.hexists(f"{self._prefix}paused", f"group:{group}")
        return any(await self._run(pipe.execute()))

    async def set_paused(self, group: str | None, paused: bool) -> None:
        field = "class" if group is None else f"group:{group}"
        if paused:
            await self._run(self._redis.hset(f"{self._prefix}paused", field, str(time.time())))
        else:
            await self._run(self._redis.hdel(f"{self._prefix}paused", field))

    async def close(self) -> None:
        try:
            await self._save_unsaved()
        except RedisUnavailable as exc:
            _log.error("%s; %d ledger entries are lost with this process: %s", exc, len(self._unsaved),
                       self._unsaved)
        closing = getattr(self._redis, "aclose", None) or self._redis.close
        with contextlib.suppress(Exception):
            await closing()

