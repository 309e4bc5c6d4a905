"""Process-local counters allow one serving process per database (SPEC §3.5).

With `memory://`, every process counts alone: two workers would each allow the whole
limit, and an idempotency key would be answered twice. A process serving on
process-local counters therefore holds a lock on its database for as long as it runs,
and another process that finds it taken refuses to start, naming the setting to change.
The lock lives where the processes meet, so it holds whatever starts them (uvicorn or
gunicorn workers, two commands, two hosts on one PostgreSQL):

- SQLite: an exclusive `flock` on a file beside the database file, released by the
  kernel when the process ends, however it ends;
- PostgreSQL: a session advisory lock, on a connection kept open for the purpose.

Apps of one process share the lock (the tests run several on one database).
"""

from __future__ import annotations

import fcntl
import os
from dataclasses import dataclass
from typing import IO

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection

from app.core.db import Database, is_sqlite

# pg_advisory_lock's key: "billing" in ASCII, so that it reads as itself in pg_locks.
ADVISORY_KEY = 0x62696C6C696E67
REFUSAL = (
    "Another process already serves this database with process-local counters "
    "(BILLING_RATE_LIMIT_STORAGE=memory://): each process would count alone and every "
    "limit would be multiplied by the number of processes. Set "
    "BILLING_RATE_LIMIT_STORAGE=redis://<host>:6379/0 to share the counters between "
    "processes, or serve with a single process."
)


class SeveralProcesses(RuntimeError):
    """Another process serves the same database on process-local counters."""

    def __init__(self) -> None:
        super().__init__(REFUSAL)


@dataclass
class _Held:
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
            await self.connection.close()  # ending the session releases the lock


_held: dict[str, _Held] = {}


class SoleProcess:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._holding = False

    async def acquire(self) -> None:
        """Take the database's lock for this process, or raise `SeveralProcesses`."""
        url = self._db.url
        held = _held.get(url)
        if held is not None:
            held.users += 1
        else:
            _held[url] = _Held(await _lock(self._db))
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


async def _lock(db: Database) -> _Release:
    if is_sqlite(db.url):
        return _Release(_flock(db.url), None)
    connection = await db.engine.connect()
    locked = await connection.scalar(
        text("SELECT pg_try_advisory_lock(:key)"), {"key": ADVISORY_KEY}
    )
    await connection.commit()
    if not locked:
        await connection.close()
        raise SeveralProcesses()
    return _Release(None, connection)


def _flock(url: str) -> IO[bytes] | None:
    path = make_url(url).database
    if not path or path == ":memory:":
        return None  # a database no other process can open
    lock_path = f"{os.path.abspath(path)}.counters-lock"
    os.makedirs(os.path.dirname(lock_path), exist_ok=True)
    file = open(lock_path, "ab")  # noqa: SIM115  # held open for the process's life
    try:
        fcntl.flock(file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        file.close()
        raise SeveralProcesses() from None
    return file
