"""Checking the audit trail: every chain walked in seq order, each record's hash computed
again, its seq and its link to the record before checked, and the chain's head compared
with its last record (`billing audit verify`).

Chains are found one at a time from the indexes (the next chain key after the last one),
and each chain is read in pages, so a large trail never loads at once. Each chain is read
in one transaction: on PostgreSQL a REPEATABLE READ one (`snapshot_database`), so that
records appended meanwhile do not make its head and its records disagree.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import func
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from app.core.audit import chain_key, digest
from app.core.db import Database, is_sqlite
from app.models import AuditChain, AuditEvent

PAGE_SIZE = 500


@dataclass(frozen=True, slots=True)
class Break:
    """Where a chain stops being intact: its first bad record (the last one when the
    records are sound but the head disagrees), and what is wrong."""

    chain: str
    problem: str
    record_id: uuid.UUID | None = None
    seq: int | None = None
    customer_id: uuid.UUID | None = None

    def describe(self) -> str:
        if self.record_id is None:
            return f"chain {self.chain}: {self.problem}"
        customer = self.customer_id or "none (platform)"
        return (
            f"chain {self.chain}: record {self.record_id} (seq {self.seq}, customer "
            f"{customer}): {self.problem}"
        )


@dataclass(slots=True)
class Verification:
    chains: int = 0
    records: int = 0
    breaks: list[Break] = field(default_factory=list)

    @property
    def intact(self) -> bool:
        return not self.breaks


def snapshot_database(url: str) -> Database:
    """A database whose transactions each read one snapshot (SQLite's already do)."""
    return Database(url) if is_sqlite(url) else Database(url, isolation_level="REPEATABLE READ")


async def verify_trail(
    db: Database, *, customer_id: uuid.UUID | None = None, page_size: int = PAGE_SIZE
) -> Verification:
    """Every chain, or only `customer_id`'s."""
    result = Verification()
    chain: str | None = chain_key(customer_id) if customer_id is not None else None
    if chain is None:
        chain = await _next_chain(db, None)
    while chain is not None:
        async with db.transaction(write=False) as session:
            records, broken = await _verify_chain(session, chain, page_size)
        result.records += records
        if records or broken:
            result.chains += 1
        if broken is not None:
            result.breaks.append(broken)
        chain = None if customer_id is not None else await _next_chain(db, chain)
    return result


async def _next_chain(db: Database, after: str | None) -> str | None:
    """The first chain key after `after`, in the records or in the heads (a chain may have
    lost either): two index lookups, so listing chains costs nothing however many."""
    found: list[str] = []
    async with db.transaction(write=False) as session:
        for column in (col(AuditEvent.chain_key), col(AuditChain.chain_key)):
            query = select(func.min(column))
            if after is not None:
                query = query.where(column > after)
            key = await session.scalar(query)
            if key is not None:
                found.append(key)
    return min(found) if found else None


async def _verify_chain(
    session: AsyncSession, chain: str, page_size: int
) -> tuple[int, Break | None]:
    """How many records were read, and the chain's first break if it has one."""
    head = await session.get(AuditChain, chain)
    read, last = 0, None
    while True:
        rows = await _records(session, chain, after=last.seq if last else 0, limit=page_size)
        for row in rows:
            read += 1
            problem = _problem(chain, row, last)
            if problem is not None:
                return read, _break(chain, problem, row)
            last = row
        session.expunge_all()  # only `last` is needed from here on
        if len(rows) < page_size:
            return read, _head_break(chain, head, last)


async def _records(
    session: AsyncSession, chain: str, *, after: int, limit: int
) -> Sequence[AuditEvent]:
    rows = await session.scalars(
        select(AuditEvent)
        .where(col(AuditEvent.chain_key) == chain, col(AuditEvent.seq) > after)
        .order_by(col(AuditEvent.seq))
        .limit(limit)
    )
    return rows.all()


def _problem(chain: str, row: AuditEvent, previous: AuditEvent | None) -> str | None:
    expected = previous.seq + 1 if previous else 1
    if row.seq != expected:
        missing = f"{expected}" if row.seq == expected + 1 else f"{expected} to {row.seq - 1}"
        before = f"follows seq {previous.seq}" if previous else "starts the chain"
        return f"seq {row.seq} {before}: the record(s) of seq {missing} are missing"
    if digest(row) != row.hash:
        return "its hash does not match its contents: the record or its hash was changed"
    if row.prev_hash != (previous.hash if previous else None):
        link = f"the hash of seq {previous.seq}" if previous else "empty, as a first record's"
        return f"its prev_hash is not {link}: a record was replaced or inserted before it"
    if chain_key(row.customer_id) != chain:
        return "its customer is not the chain's"
    return None


def _head_break(chain: str, head: AuditChain | None, last: AuditEvent | None) -> Break | None:
    """The head must name the last record: records removed from the end of a chain, or
    added to it other than by the service, show here."""
    if last is None:
        if head is None:
            return None
        return Break(chain, f"the head says seq {head.seq}, but the chain has no records")
    if head is None:
        return _break(chain, "the chain has no head row (audit_chain)", last)
    if head.seq != last.seq:
        return _break(
            chain,
            f"the head says the chain ends at seq {head.seq}, but its last record is "
            f"seq {last.seq}: records were removed from its end or added outside the service",
            last,
        )
    if head.hash != last.hash:
        return _break(chain, "the head's hash is not the last record's", last)
    return None


def _break(chain: str, problem: str, row: AuditEvent) -> Break:
    return Break(chain, problem, row.id, row.seq, row.customer_id)
