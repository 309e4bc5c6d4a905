"""The audit trail as hash chains: a seq, prev_hash and hash on each record, one chain per
customer and one for the platform, and the chains' heads; existing records are chained in
the order they happened (occurred_at, id).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-16
"""

import hashlib
import json
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 1000
# The canonical encoding of `app.core.audit` as this migration wrote it (kept here so that
# the migration never changes with the code).
TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"

audit_event = sa.table(
    "audit_event",
    sa.column("id", sa.Uuid()),
    sa.column("occurred_at", sa.DateTime(timezone=True)),
    sa.column("actor_user_id", sa.Uuid()),
    sa.column("action", sa.String()),
    sa.column("customer_id", sa.Uuid()),
    sa.column("details", sa.JSON()),
    sa.column("chain_key", sa.String()),
    sa.column("seq", sa.Integer()),
    sa.column("prev_hash", sa.String()),
    sa.column("hash", sa.String()),
)
audit_chain = sa.table(
    "audit_chain",
    sa.column("chain_key", sa.String()),
    sa.column("seq", sa.Integer()),
    sa.column("hash", sa.String()),
)


def upgrade() -> None:
    op.create_table(
        "audit_chain",
        sa.Column("chain_key", sa.String(length=64), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("chain_key", name=op.f("pk_audit_chain")),
    )
    with op.batch_alter_table("audit_event") as batch:
        batch.add_column(sa.Column("chain_key", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("seq", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("prev_hash", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("hash", sa.String(length=64), nullable=True))
    heads = _chain_existing_records(op.get_bind())
    if heads:
        op.bulk_insert(
            audit_chain,
            [{"chain_key": key, "seq": seq, "hash": hash_} for key, (seq, hash_) in heads.items()],
        )
    with op.batch_alter_table("audit_event") as batch:
        batch.alter_column("chain_key", existing_type=sa.String(length=64), nullable=False)
        batch.alter_column("seq", existing_type=sa.Integer(), nullable=False)
        batch.alter_column("hash", existing_type=sa.String(length=64), nullable=False)
        batch.create_unique_constraint(op.f("uq_audit_event_chain_key"), ["chain_key", "seq"])


def downgrade() -> None:
    with op.batch_alter_table("audit_event") as batch:
        batch.drop_constraint(op.f("uq_audit_event_chain_key"), type_="unique")
        batch.drop_column("hash")
        batch.drop_column("prev_hash")
        batch.drop_column("seq")
        batch.drop_column("chain_key")
    op.drop_table("audit_chain")


def _chain_existing_records(connection: sa.Connection) -> dict[str, tuple[int, str]]:
    """Each existing record, in (occurred_at, id) order, becomes the next link of its
    chain; read in batches after the last (occurred_at, id) seen. The heads it leaves."""
    heads: dict[str, tuple[int, str]] = {}
    columns = [audit_event.c[name] for name in _READ]
    order = (audit_event.c.occurred_at, audit_event.c.id)
    after: tuple[Any, Any] | None = None
    while True:
        query = sa.select(*columns).order_by(*order).limit(BATCH)
        if after is not None:
            last = sa.tuple_(
                sa.literal(after[0], sa.DateTime(timezone=True)), sa.literal(after[1], sa.Uuid())
            )
            query = query.where(sa.tuple_(*order) > last)
        rows = connection.execute(query).mappings().all()
        if not rows:
            return heads
        updates = []
        for row in rows:
            chain = "platform" if row["customer_id"] is None else f"customer:{row['customer_id']}"
            seq, prev_hash = heads.get(chain, (0, None))
            link = {"chain_key": chain, "seq": seq + 1, "prev_hash": prev_hash}
            link["hash"] = _digest({**row, **link})
            heads[chain] = (link["seq"], link["hash"])
            updates.append({"row_id": row["id"], **link})
        connection.execute(
            audit_event.update()
            .where(audit_event.c.id == sa.bindparam("row_id"))
            .values(
                chain_key=sa.bindparam("chain_key"),
                seq=sa.bindparam("seq"),
                prev_hash=sa.bindparam("prev_hash"),
                hash=sa.bindparam("hash"),
            ),
            updates,
        )
        after = (rows[-1]["occurred_at"], rows[-1]["id"])


_READ = ("id", "occurred_at", "actor_user_id", "action", "customer_id", "details")


def _digest(record: dict[str, Any]) -> str:
    occurred: datetime = record["occurred_at"]
    if occurred.tzinfo is None:  # SQLite keeps UTC without an offset
        occurred = occurred.replace(tzinfo=UTC)
    fields = {
        "chain": record["chain_key"],
        "seq": record["seq"],
        "id": str(record["id"]),
        "occurred_at": occurred.astimezone(UTC).strftime(TIME_FORMAT),
        "actor": _text(record["actor_user_id"]),
        "action": record["action"],
        "customer": _text(record["customer_id"]),
        "details": record["details"],
        "prev_hash": record["prev_hash"],
    }
    encoded = json.dumps(
        fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )
    return hashlib.sha256(encoded.encode()).hexdigest()


def _text(value: uuid.UUID | None) -> str | None:
    return None if value is None else str(value)
