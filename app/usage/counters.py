"""Windowed counters over the `limits` library's storage, chosen by URI.

`memory://` keeps counters in the process; `redis://` shares them between processes
through the redis-py asyncio client. A consume is one atomic conditional increment: the
counter never passes its limit, whatever the concurrency (a Lua script on Redis; on the
in-process storage nothing else runs between the read and the write).

Redis can lose its counters under a running server (a flush, a restart). A flag kept
beside them says they are intact, and every decision reads it in the same script or
round trip as the counters: a decision never counts on lost counters. It asks the
`recover` hook (the counter guard's rebuild from the ledger) and tries again.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol

from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from redis.asyncio import BlockingConnectionPool
from redis.exceptions import RedisError

from app.core import metrics
from app.core.errors import CountersUnavailable

logger = logging.getLogger(__name__)
UNLIMITED = -1
REDIS_CONNECTIONS = 64
REDIS_TIMEOUT_SECONDS = 5.0
# Present while the counters are intact (see `app.usage.reseed`).
INTACT_FLAG = "rl:intact"
# A decision that finds the counters lost again after this many rebuilds gives up.
RECOVERIES_PER_DECISION = 3

# KEYS[1] the intact flag, KEYS[2..] counters; ARGV amount, limit (-1: none) and expiry
# seconds of each counter in turn. Each counter is decided on its own, in order, all in
# one atomic call. Returns {-1} when the flag is missing (nothing counted), otherwise
# {allowed (1/0), count after the call} for each counter.
CONSUME_SCRIPT = """
if redis.call('EXISTS', KEYS[1]) == 0 then
  return {-1}
end
local answers = {}
for i = 2, #KEYS do
  local at = (i - 2) * 3
  local amount = tonumber(ARGV[at + 1])
  local limit = tonumber(ARGV[at + 2])
  local current = tonumber(redis.call('GET', KEYS[i]) or '0')
  if limit >= 0 and current + amount > limit then
    answers[#answers + 1] = 0
    answers[#answers + 1] = current
  else
    local updated = redis.call('INCRBY', KEYS[i], amount)
    if updated == amount then
      redis.call('EXPIRE', KEYS[i], ARGV[at + 3])
    end
    answers[#answers + 1] = 1
    answers[#answers + 1] = updated
  end
end
return answers
"""
# KEYS[1] counter; ARGV total, expiry seconds: raise a counter to at least the ledger's
# total. Hits counted since the loss are in that total once written, and a counter that
# was not lost (only the flag was) already holds it: adding would count them twice.
SEED_SCRIPT = """
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
local total = tonumber(ARGV[1])
if current < total then
  redis.call('INCRBY', KEYS[1], total - current)
  if redis.call('TTL', KEYS[1]) < 0 then
    redis.call('EXPIRE', KEYS[1], ARGV[2])
  end
end
return math.max(current, total)
"""

# KEYS[1] flag, KEYS[2] lock; ARGV token, expiry seconds: set the flag only while the
# lock holds the token.
FLAG_HOLDING_SCRIPT = """
if redis.call('GET', KEYS[2]) == ARGV[1] then
  redis.call('SET', KEYS[1], 1, 'EX', ARGV[2])
  return 1
end
return 0
"""


@dataclass(slots=True)  # one for every decision: not frozen, which costs more to build
class Consumed:
    allowed: bool
    count: int


@dataclass(slots=True)
class Charge:
    """One counter to consume from: `amount` more, unless that passes `limit`."""

    key: str
    amount: int
    limit: int
    expiry: int


Recover = Callable[[], Awaitable[None]]


class CounterStore(Protocol):
    shared: bool  # seen by every process that serves, so it can be lost under them
    recover: Recover | None  # rebuilds lost counters (shared storage only)

    async def consume(self, key: str, amount: int, limit: int, expiry: int) -> Consumed: ...
    async def consume_many(self, charges: Sequence[Charge]) -> list[Consumed]: ...
    async def hit(self, key: str, expiry: int) -> int: ...
    async def read(self, keys: Sequence[str]) -> list[int]: ...
    async def seed(self, key: str, total: int, expiry: int) -> None: ...
    async def set_flag(self, key: str, expiry: int) -> bool: ...
    async def has_flag(self, key: str) -> bool: ...
    async def put_text(self, key: str, value: str, expiry: int) -> bool: ...
    async def replace_text(self, key: str, value: str, expiry: int) -> None: ...
    async def get_text(self, key: str) -> str | None: ...
    async def delete(self, key: str) -> None: ...
    async def put_field(self, table: str, field: str, value: str) -> None: ...
    async def fields(self, table: str) -> dict[str, str]: ...
    async def drop_fields(self, table: str, fields: Sequence[str]) -> None: ...
    def oldest_call(self) -> float | None: ...
    async def server_time(self) -> float: ...
    async def set_flag_holding(self, key: str, expiry: int, *, lock: str, token: str) -> bool: ...
    async def eviction_policy(self) -> str | None: ...
    async def restarted(self) -> bool: ...
    async def close(self) -> None: ...


def counter_store(uri: str) -> CounterStore:
    scheme = uri.split("://", 1)[0]
    if scheme == "memory":
        return MemoryCounters()
    if scheme in ("redis", "rediss"):
        # A blocking pool: a burst of requests waits for a connection instead of failing.
        pool = BlockingConnectionPool.from_url(
            uri,
            max_connections=REDIS_CONNECTIONS,
            timeout=10,
            # An unreachable host fails a decision in seconds, not minutes.
            socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
            socket_timeout=REDIS_TIMEOUT_SECONDS,
        )
        storage = RedisStorage(
            f"async+{uri}",
            implementation="redispy",
            connection_pool=pool,  # type: ignore[arg-type]  # handed on to redis-py
        )
        return RedisCounters(storage)
    raise ValueError(f"unsupported counter storage {uri!r}: use memory:// or redis://")


class InProcessStorage(MemoryStorage):
    """`limits`' in-process storage with a synchronous counter core.

    Counting needs no lock and no await: on one event loop nothing else runs between a
    read and the write that follows it, and this is the hot path of every consume.
    `limits`' strategies reach the same counters through `incr` and `get`.

    The stock storage starts a task that walks every key after each increment, which
    makes an increment cost grow with the number of live counters. A read drops an
    expired key itself, so sweeping only bounds memory: once a second is plenty.
    """

    SWEEP_SECONDS = 1.0
    _next_sweep = 0.0

    def count(self, key: str) -> int:
        if self.expirations.get(key, 0.0) <= time.time():
            self.storage.pop(key, None)
            self.expirations.pop(key, None)
            return 0
        return self.storage[key]

    def add(self, key: str, expiry: float, amount: int) -> int:
        """Add to a counter, starting its expiry if it is new; the count after it."""
        count = self.count(key) + amount
        self.storage[key] = count
        if count == amount:
            now = time.time()
            self.expirations[key] = now + expiry
            if now >= self._next_sweep:
                self._next_sweep = now + self.SWEEP_SECONDS
                self._sweep(now)
        return count

    def _sweep(self, now: float) -> None:
        expired = [key for key, at in self.expirations.items() if at <= now]
        for key in expired:
            self.storage.pop(key, None)
            self.locks.pop(key, None)
            del self.expirations[key]

    async def get(self, key: str) -> int:
        return self.count(key)

    async def incr(self, key: str, expiry: float, amount: int = 1) -> int:
        return self.add(key, expiry, amount)

    async def _MemoryStorage__schedule_expiry(self) -> None:
        """The moving window's entries: swept on the same once-a-second budget."""
        now = time.time()
        if now >= self._next_sweep:
            self._next_sweep = now + self.SWEEP_SECONDS
            await MemoryStorage._MemoryStorage__schedule_expiry(self)  # type: ignore[attr-defined]


class MemoryCounters:
    """Counters of this process alone: lost only with it, and rebuilt when it starts."""

    shared = False
    recover: Recover | None = None

    def __init__(self) -> None:
        self.storage = InProcessStorage()
        self._texts: dict[str, tuple[float, str]] = {}
        self._tables: dict[str, dict[str, str]] = {}

    async def consume(self, key: str, amount: int, limit: int, expiry: int) -> Consumed:
        return self._consume(key, amount, limit, expiry)

    async def consume_many(self, charges: Sequence[Charge]) -> list[Consumed]:
        consume = self._consume
        return [consume(c.key, c.amount, c.limit, c.expiry) for c in charges]

    def _consume(self, key: str, amount: int, limit: int, expiry: int) -> Consumed:
        current = self.storage.count(key)
        if limit != UNLIMITED and current + amount > limit:
            return Consumed(False, current)
        return Consumed(True, self.storage.add(key, expiry, amount))

    async def hit(self, key: str, expiry: int) -> int:
        return self.storage.add(key, expiry, 1)

    async def read(self, keys: Sequence[str]) -> list[int]:
        count = self.storage.count
        return [count(key) for key in keys]

    async def seed(self, key: str, total: int, expiry: int) -> None:
        current = self.storage.count(key)
        if total > current:
            self.storage.add(key, expiry, total - current)

    async def set_flag(self, key: str, expiry: int) -> bool:
        return self.storage.add(key, expiry, 1) == 1

    async def has_flag(self, key: str) -> bool:
        return self.storage.count(key) > 0

    async def put_text(self, key: str, value: str, expiry: int) -> bool:
        if await self.get_text(key) is not None:
            return False
        self._texts[key] = (time.monotonic() + expiry, value)
        return True

    async def replace_text(self, key: str, value: str, expiry: int) -> None:
        self._texts[key] = (time.monotonic() + expiry, value)

    async def get_text(self, key: str) -> str | None:
        entry = self._texts.get(key)
        if entry is None or entry[0] <= time.monotonic():
            self._texts.pop(key, None)
            return None
        return entry[1]

    async def delete(self, key: str) -> None:
        self._texts.pop(key, None)

    async def put_field(self, table: str, field: str, value: str) -> None:
        self._tables.setdefault(table, {})[field] = value

    async def fields(self, table: str) -> dict[str, str]:
        return dict(self._tables.get(table, {}))

    async def drop_fields(self, table: str, fields: Sequence[str]) -> None:
        for field in fields:
            self._tables.get(table, {}).pop(field, None)

    def oldest_call(self) -> None:
        """Never awaiting: a decision and its ledger row happen in one step."""
        return None

    async def server_time(self) -> float:
        return time.time()

    async def set_flag_holding(self, key: str, expiry: int, *, lock: str, token: str) -> bool:
        return await self.get_text(lock) == token and await self.set_flag(key, expiry)

    async def eviction_policy(self) -> None:
        return None  # it keeps what it is given for as long as the process lives

    async def restarted(self) -> bool:
        return False  # it restarts with the process, which rebuilds it at start

    async def close(self) -> None:
        await self.storage.reset()


class RedisCounters:
    shared = True

    def __init__(self, storage: RedisStorage) -> None:
        self.storage = storage
        # redis-py's client beneath `limits`: scripts and MGET are not in its interface.
        self.client: Any = storage.bridge.get_connection()  # type: ignore[attr-defined]
        self._consume = self.client.register_script(CONSUME_SCRIPT)
        self._seed = self.client.register_script(SEED_SCRIPT)
        self._flag_holding = self.client.register_script(FLAG_HOLDING_SCRIPT)
        self._run_id: str | None = None
        self._flag = self._key(INTACT_FLAG)
        self.recover: Recover | None = None
        # When each decision now waiting for Redis started: its ledger row is not written
        # yet, and a rebuild after a loss must wait for it (see `oldest_call`).
        self._calls: dict[int, float] = {}
        self._call_ids = itertools.count()

    def _key(self, key: str) -> str:
        return str(self.storage.bridge.prefixed_key(key))

    async def consume(self, key: str, amount: int, limit: int, expiry: int) -> Consumed:
        return (await self.consume_many([Charge(key, amount, limit, expiry)]))[0]

    async def consume_many(self, charges: Sequence[Charge]) -> list[Consumed]:
        if not charges:
            return []
        keys = [self._flag, *(self._key(charge.key) for charge in charges)]
        arguments = [value for c in charges for value in (c.amount, c.limit, c.expiry)]
        answer = await self._decide(lambda: self._consume(keys, arguments))
        return [Consumed(bool(answer[i]), int(answer[i + 1])) for i in range(0, len(answer), 2)]

    async def read(self, keys: Sequence[str]) -> list[int]:
        """All counters in one round trip, with the flag that says they are intact."""
        names = [self._flag, *(self._key(key) for key in keys)]
        values = await self._decide(lambda: self.client.mget(names))
        return [int(value or 0) for value in values[1:]]

    async def _decide(self, call: Callable[[], Awaitable[list[Any]]]) -> list[Any]:
        """`call`'s answer once it was made on intact counters. A first element of -1
        (a script's) or None (MGET's flag) says they were lost: rebuilt, then tried again."""
        try:
            for _ in range(RECOVERIES_PER_DECISION):
                answer = await self._call(call)
                if answer and answer[0] not in (-1, None):
                    return answer
                if self.recover is None:
                    raise CountersUnavailable("The counter storage lost its counters.")
                await self.recover()
        except RedisError as exc:  # Redis is away: nothing is decided, and it says so
            metrics.COUNTER_STORAGE_ERRORS.inc()
            raise CountersUnavailable("The counter storage cannot be reached.") from exc
        raise CountersUnavailable("The counter storage keeps losing its counters.")

    async def _call(self, call: Callable[[], Awaitable[list[Any]]]) -> list[Any]:
        """`call`, known to be under way until it returns: a call that found the counters
        lost is over before its decision waits for their rebuild."""
        call_id = next(self._call_ids)
        self._calls[call_id] = time.time()
        try:
            return await call()
        finally:
            del self._calls[call_id]

    def oldest_call(self) -> float | None:
        """When the oldest decision still waiting for Redis started (unix seconds)."""
        return min(self._calls.values(), default=None)

    async def server_time(self) -> float:
        """Redis's clock (unix seconds): one clock for every process that shares it."""
        seconds, microseconds = await self.client.time()
        return float(seconds) + float(microseconds) / 1e6

    async def set_flag_holding(self, key: str, expiry: int, *, lock: str, token: str) -> bool:
        return bool(await self._flag_holding([self._key(key), self._key(lock)], [token, expiry]))

    async def eviction_policy(self) -> str | None:
        """The maxmemory policy when Redis may evict keys (a memory limit and a policy
        other than `noeviction`); None when it keeps everything, or will not say."""
        try:
            config = await self.client.config_get("maxmemory*")
        except RedisError:  # CONFIG is disabled on some managed servers
            logger.warning("the counter storage's eviction policy could not be read")
            return None
        values = {_text(name): _text(value) for name, value in config.items()}
        policy = values.get("maxmemory-policy", "noeviction")
        limited = values.get("maxmemory", "0") != "0"
        return policy if limited and policy != "noeviction" else None

    async def restarted(self) -> bool:
        """Whether Redis restarted since this was last asked (its run id changed)."""
        run_id = (await self.client.info("server")).get("run_id")
        restarted = self._run_id is not None and run_id != self._run_id
        self._run_id = run_id
        return restarted

    async def hit(self, key: str, expiry: int) -> int:
        """One more hit on a counter without a limit of its own; the count after it."""
        count: int = await self.storage.incr(key, expiry)
        return count

    async def seed(self, key: str, total: int, expiry: int) -> None:
        await self._seed([self._key(key)], [total, expiry])

    async def set_flag(self, key: str, expiry: int) -> bool:
        return bool(await self.client.set(self._key(key), 1, ex=expiry, nx=True))

    async def has_flag(self, key: str) -> bool:
        return bool(await self.client.exists(self._key(key)))

    # Texts keep the answers to idempotency keys: a request fails with 503 without them.

    async def put_text(self, key: str, value: str, expiry: int) -> bool:
        with _reachable():
            return bool(await self.client.set(self._key(key), value, ex=expiry, nx=True))

    async def replace_text(self, key: str, value: str, expiry: int) -> None:
        with _reachable():
            await self.client.set(self._key(key), value, ex=expiry)

    async def get_text(self, key: str) -> str | None:
        with _reachable():
            value = await self.client.get(self._key(key))
        return value.decode() if isinstance(value, bytes) else value

    async def delete(self, key: str) -> None:
        with _reachable():
            await self.client.delete(self._key(key))

    async def put_field(self, table: str, field: str, value: str) -> None:
        await self.client.hset(self._key(table), field, value)

    async def fields(self, table: str) -> dict[str, str]:
        raw = await self.client.hgetall(self._key(table))
        return {_text(name): _text(value) for name, value in raw.items()}

    async def drop_fields(self, table: str, fields: Sequence[str]) -> None:
        if fields:
            await self.client.hdel(self._key(table), *fields)

    async def close(self) -> None:
        await self.client.aclose()


@contextmanager
def _reachable() -> Iterator[None]:
    try:
        yield
    except RedisError as exc:
        metrics.COUNTER_STORAGE_ERRORS.inc()
        raise CountersUnavailable("The counter storage cannot be reached.") from exc


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def storage_of(store: CounterStore) -> Storage:
    """The underlying `limits` storage, for the strategies of the service's own limit."""
    assert isinstance(store, MemoryCounters | RedisCounters)
    return store.storage
