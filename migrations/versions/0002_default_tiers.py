"""The ten tiers shipped with the service (shared/spec/tiers.csv at the time of writing).

Only tiers whose name is missing are inserted, so a database that already has them (or
has changed their prices or limits since) is left as it is.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21
"""

import uuid
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import context, op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

tier = sa.table(
    "tier",
    sa.column("id", sa.Uuid()),
    sa.column("name", sa.String()),
    sa.column("display_name", sa.String()),
    sa.column("description", sa.String()),
    sa.column("stripe_price_id", sa.String()),
    sa.column("price", sa.Integer()),
    sa.column("member_limit", sa.Integer()),
    sa.column("is_active", sa.Boolean()),
    sa.column("is_default", sa.Boolean()),
    sa.column("is_assignable", sa.Boolean()),
    sa.column("sort_order", sa.Integer()),
)

# name, display_name, description (audience), sort_order, price in cents per month,
# member_limit (-1 unlimited), is_default, is_assignable
TIERS: list[tuple[str, str, str, int, int, int, bool, bool]] = [
    ("public", "Public", "Unauthenticated / IP-based access", 0, 0, 0, False, False),
    ("free", "Free", "Individual users getting started", 1, 0, 3, True, True),
    ("pro", "Pro", "Individual professionals", 2, 2900, 3, False, True),
    ("pro_plus", "Pro Plus", "Power users", 3, 7900, 5, False, True),
    ("business", "Business", "Small teams", 4, 19900, 10, False, True),
    ("business_plus", "Business Plus", "Growing teams", 5, 49900, 25, False, True),
    ("business_max", "Business Max", "Large teams", 6, 99900, 50, False, True),
    ("enterprise", "Enterprise", "Organizations", 7, 249900, 100, False, True),
    ("enterprise_plus", "Enterprise Plus", "Large organizations", 8, 499900, 500, False, True),
    ("enterprise_max", "Enterprise Max", "Custom / highest tier", 9, 0, -1, False, True),
]


def tier_id(name: str) -> uuid.UUID:
    """The same id on every installation, so other systems may refer to it."""
    return uuid.uuid5(uuid.NAMESPACE_URL, "billing-api/tier/" + name)


def existing_tiers() -> tuple[set[str], bool]:
    """Names present, and whether some tier is already the default.

    A generated SQL script (`alembic upgrade --sql`) is meant for an empty database.
    """
    if context.is_offline_mode():
        return set(), False
    bind = op.get_bind()
    names = set(bind.scalars(sa.select(tier.c.name)))
    has_default = bind.scalar(sa.select(sa.func.count()).where(tier.c.is_default)) > 0
    return names, has_default


def upgrade() -> None:
    present, has_default = existing_tiers()
    # An operator may already have chosen another default, and there can be only one.
    rows: list[dict[str, Any]] = [
        {
            "id": tier_id(name),
            "name": name,
            "display_name": display_name,
            "description": description,
            "stripe_price_id": None,
            "price": price,
            "member_limit": member_limit,
            "is_active": True,
            "is_default": is_default and not has_default,
            "is_assignable": is_assignable,
            "sort_order": sort_order,
        }
        for (
            name,
            display_name,
            description,
            sort_order,
            price,
            member_limit,
            is_default,
            is_assignable,
        ) in TIERS
        if name not in present
    ]
    if rows:
        op.bulk_insert(tier, rows)


def downgrade() -> None:
    op.execute(tier.delete().where(tier.c.name.in_([row[0] for row in TIERS])))
