"""Migration 0008 chains the records written before it, in the order they happened."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool
from sqlmodel import col, select

from app.audit.verify import verify_trail
from app.core import audit
from app.core.db import Database
from app.core.migrate import downgrade_database, upgrade_database
from app.models import AuditChain, AuditEvent
from app.models.base import UtcDateTime

OLD_AUDIT_EVENT = sa.table(
    "audit_event",
    sa.column("id", sa.Uuid()),
    sa.column("occurred_at", UtcDateTime()),
    sa.column("actor_user_id", sa.Uuid()),
    sa.column("action", sa.String()),
    sa.column("customer_id", sa.Uuid()),
    sa.column("details", sa.JSON()),
)
START = datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)


def _row(
    customer: uuid.UUID | None, minutes: int, action: str, **details: object
) -> dict[str, Any]:
    return {
        "id": uuid.uuid4(),
        "occurred_at": START + timedelta(minutes=minutes),
        "actor_user_id": uuid.uuid4(),
        "action": action,
        "customer_id": customer,
        "details": details,
    }


async def test_existing_records_are_chained_in_order(database_url: str) -> None:
    first, second = uuid.uuid4(), uuid.uuid4()
    tied = [_row(first, 5, "member.added", user_id=str(uuid.uuid4())) for _ in range(2)]
    rows = [
        _row(first, 10, "member.removed", user_id="u"),
        _row(first, 0, "customer.created", name="Acme ü"),
        *tied,
        _row(second, 3, "customer.created", name="Other"),
        _row(None, 1, "tier.default_changed", tier_name="pro"),
    ]
    await downgrade_database(database_url, "0007")
    engine = create_async_engine(database_url, poolclass=NullPool)
    async with engine.begin() as connection:
        await connection.execute(sa.insert(OLD_AUDIT_EVENT), rows)
    await engine.dispose()

    await upgrade_database(database_url)

    db = Database(database_url)
    try:
        async with db.transaction(write=False) as session:
            chained = {
                row.id: row
                for row in await session.scalars(select(AuditEvent).order_by(col(AuditEvent.seq)))
            }
            heads = {head.chain_key: head for head in await session.scalars(select(AuditChain))}
        # By occurred_at, then by id: the two records of one instant in id order.
        in_order = [rows[1], *sorted(tied, key=lambda row: row["id"]), rows[0]]
        assert [chained[row["id"]].seq for row in in_order] == [1, 2, 3, 4]
        assert chained[rows[4]["id"]].chain_key == audit.chain_key(second)
        assert chained[rows[5]["id"]].chain_key == audit.PLATFORM_CHAIN
        assert {key: head.seq for key, head in heads.items()} == {
            audit.chain_key(first): 4,
            audit.chain_key(second): 1,
            audit.PLATFORM_CHAIN: 1,
        }
        assert (await verify_trail(db)).intact

        async with db.transaction() as session:
            appended = await audit.record(session, "member.left", actor=None, customer_id=first)
        assert (appended.seq, appended.prev_hash) == (5, heads[audit.chain_key(first)].hash)
        result = await verify_trail(db)
        assert (result.intact, result.chains, result.records) == (True, 3, 7)
    finally:
        await db.dispose()
