"""Process-local counters allow one serving process per database (SPEC §3.5).

With `memory://`, every process counts alone: two workers would each allow the whole
limit, and an idempotency key would be answered twice. So every serving process holds a
lock on its database for as long as it runs: exclusive on process-local counters, shared
on counters shared through Redis. A process that cannot take its lock refuses to start,
naming the setting to change. The lock lives where the processes meet, so it holds
whatever starts them (uvicorn or gunicorn workers, two commands, two hosts on one
PostgreSQL):

- SQLite: a `flock` on a file beside the database file, released by the kernel when the
  process ends, however it ends;
- PostgreSQL: a session advisory lock, on a connection kept open for the purpose, whose
  TCP keepalives let the server notice a host that died within half a minute. The
  connection is the lock's own, outside the pool, so that the pool is all the requests'
  (`BILLING_DB_POOL_SIZE`): each process opens one more connection than its pool.

Apps of one process share the lock (the tests run several on one database).
"""

from __future__ import annotations

import fcntl
import os
from dataclasses import dataclass
from typing import IO

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from app.core.db import Database, is_sqlite

# The advisory lock's key: "billing" in ASCII, so that it reads as itself in pg_locks.
ADVISORY_KEY = 0x62696C6C696E67
KEEPALIVES = ("SET tcp_keepalives_idle = 10", "SET tcp_keepalives_interval = 5")
SET_STORAGE = (
    "Set BILLING_RATE_LIMIT_STORAGE=redis://<host>:6379/0 on every process to share the "
    "counters, or serve with a single process."
)
ALONE_REFUSED = (
    "Another process already serves this database, and this one would keep its counters "
    "to itself (BILLING_RATE_LIMIT_STORAGE=memory://): each process would count alone and "
    "every limit would be multiplied by the number of processes. " + SET_STORAGE
)
SHARED_REFUSED = (
    "A process serving this database keeps its counters to itself "
    "(BILLING_RATE_LIMIT_STORAGE=memory://): it would count alone beside this one. " + SET_STORAGE
)


class SeveralProcesses(RuntimeError):
    """Processes would serve the same database without sharing their counters."""


@dataclass
class _Held:
    exclusive: bool
    release: _Release
    users: int = 1


class _Release:
    def __init__(self, file: IO[bytes] | None, connection: AsyncConnection | None) -> None:
        self.file = file
        self.connection = connection

    async def __call__(self) -> None:
        if self.file is not None:
            self.file.close()  # closing the descriptor releases the flock
        if self.connection is not None:
            await _close(self.connection)  # ending the session releases the lock


async def _close(connection: AsyncConnection) -> None:
    engine: AsyncEngine = connection.engine
    try:
        await connection.close()
    finally:
        await engine.dispose()


_held: dict[str, _Held] = {}


class ServingLock:
    def __init__(self, db: Database, *, exclusive: bool) -> None:
        self._db = db
        self._exclusive = exclusive
        self._holding = False

    async def acquire(self) -> None:
        """Take the database's lock for this process, or raise `SeveralProcesses`."""
        url = self._db.url
        held = _held.get(url)
        if held is None:
            _held[url] = _Held(self._exclusive, await self._lock())
        elif held.exclusive != self._exclusive:
            raise SeveralProcesses(SHARED_REFUSED if held.exclusive else ALONE_REFUSED)
        else:
            held.users += 1
        self._holding = True

    async def release(self) -> None:
        if not self._holding:
            return
        self._holding = False
        held = _held[self._db.url]
        held.users -= 1
        if held.users == 0:
            del _held[self._db.url]
            await held.release()

    def _refusal(self) -> SeveralProcesses:
        return SeveralProcesses(ALONE_REFUSED if self._exclusive else SHARED_REFUSED)

    async def _lock(self) -> _Release:
        if is_sqlite(self._db.url):
            return _Release(self._flock(), None)
        connection = await create_async_engine(self._db.url, poolclass=NullPool).connect()
        for setting in KEEPALIVES:
            await connection.execute(text(setting))
        function = "pg_try_advisory_lock" if self._exclusive else "pg_try_advisory_lock_shared"
        locked = await connection.scalar(text(f"SELECT {function}(:key)"), {"key": ADVISORY_KEY})
        await connection.commit()
        if not locked:
            await _close(connection)
            raise self._refusal()
        return _Release(None, connection)

    def _flock(self) -> IO[bytes] | None:
        path = make_url(self._db.url).database
        if not path or path == ":memory:":
            return None  # a database no other process can open
        lock_path = f"{os.path.abspath(path)}.counters-lock"
        os.makedirs(os.path.dirname(lock_path), exist_ok=True)
        file = open(lock_path, "ab")  # noqa: SIM115  # held open for the process's life
        mode = fcntl.LOCK_EX if self._exclusive else fcntl.LOCK_SH
        try:
            fcntl.flock(file.fileno(), mode | fcntl.LOCK_NB)
        except BlockingIOError:
            file.close()
            raise self._refusal() from None
        return file
