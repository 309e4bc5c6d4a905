"""The audit trail: what happened to an account, kept after the account is gone.

The trail is tamper-evident. Records form hash chains: one per customer, and one for the
platform, which holds the records without a customer (catalog and tier changes, the API
keys of users without a customer). Each record takes the next `seq` of its chain and
stores `prev_hash`, the hash of the record before it, and `hash`, SHA-256 over its
canonical encoding (`canonical`), `prev_hash` included. Editing a record, removing one or
inserting one breaks the chain at that point; `billing audit verify` finds where.

One chain per customer rather than one for everything: appending takes the chain head's
row lock until the transaction ends, so a single chain would serialise every audited write
of every customer. Per customer, only writes to the same account wait for each other, and
they already contend for that account's rows. The head (`audit_chain`) is advanced by one
upsert whose row lock orders concurrent appends on PostgreSQL, and the unique constraint
on (chain_key, seq) refuses a second record in the same place whatever happens; SQLite
serialises writers already (`BEGIN IMMEDIATE`).

`record` is called last in each operation, after the rows the operation changes: the head
is then locked for the shortest time and always after those rows, so two operations never
wait on each other's locks in opposite orders.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from enum import Enum
from typing import Any

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.core.clock import Clock, iso_z
from app.core.db import upsert
from app.models import AuditChain, AuditEvent
from app.models.base import new_id

PLATFORM_CHAIN = "platform"
_CUSTOMER_CHAIN = "customer:"
# Microseconds, as both databases keep them: the hash of a record read back is the same.
TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def chain_key(customer_id: uuid.UUID | None) -> str:
    """The chain of a customer's records, or the platform's for records without one."""
    return PLATFORM_CHAIN if customer_id is None else f"{_CUSTOMER_CHAIN}{customer_id}"


def canonical(event: AuditEvent) -> bytes:
    """The bytes a record's hash covers: these fields, as sorted-key compact JSON. Never
    change it: every stored hash was computed from it (migration 0008 has its own copy)."""
    fields = {
        "chain": event.chain_key,
        "seq": event.seq,
        "id": str(event.id),
        "occurred_at": event.occurred_at.astimezone(UTC).strftime(TIME_FORMAT),
        "actor": _text(event.actor_user_id),
        "action": event.action,
        "customer": _text(event.customer_id),
        "details": event.details,
        "prev_hash": event.prev_hash,
    }
    return json.dumps(
        fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode()


def digest(event: AuditEvent) -> str:
    return hashlib.sha256(canonical(event)).hexdigest()


async def record(
    session: AsyncSession,
    action: str,
    *,
    at: datetime | None = None,
    actor: uuid.UUID | None,
    customer_id: uuid.UUID | None,
    **details: Any,
) -> AuditEvent:
    """Append a record to its chain, in the caller's transaction. `at`: when it happened,
    the transaction's clock when not given. `details` are kept as JSON: never a secret."""
    clock: Clock = session.info["clock"]
    chain = chain_key(customer_id)
    seq, prev_hash = await _advance(session, chain)
    event = AuditEvent(
        id=new_id(),
        chain_key=chain,
        seq=seq,
        occurred_at=at or clock(),
        actor_user_id=actor,
        action=action,
        customer_id=customer_id,
        details=_plain(details),
        prev_hash=prev_hash,
        hash="",
    )
    event.hash = digest(event)
    await session.execute(
        update(AuditChain).where(col(AuditChain.chain_key) == chain).values(hash=event.hash)
    )
    session.add(event)
    return event


async def _advance(session: AsyncSession, chain: str) -> tuple[int, str | None]:
    """Take the chain's next seq, holding its head's row lock until the transaction ends;
    and the hash of the record before (None for the first). The head's hash is not in the
    update, so RETURNING gives the previous record's."""
    insert = upsert(session, AuditChain).values(chain_key=chain, seq=1, hash="")
    advanced = insert.on_conflict_do_update(
        index_elements=["chain_key"], set_={"seq": col(AuditChain.seq) + 1}
    ).returning(col(AuditChain.seq), col(AuditChain.hash))
    seq, head_hash = (await session.execute(advanced)).one()
    return int(seq), (head_hash if seq > 1 else None)


def _plain(value: Any) -> Any:
    """JSON as the database gives it back: ids and instants as text, tuples as lists, so
    that the hash of a record read back is the hash computed here."""
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime):
        return iso_z(value)
    if isinstance(value, Enum):
        return _plain(value.value)
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_plain(item) for item in value]
    return value


def _text(value: uuid.UUID | None) -> str | None:
    return None if value is None else str(value)
