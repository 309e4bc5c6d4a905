"""The catalog of features and per-tier values, overrides, quotas, the usage ledger and
cache invalidation.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "cache_invalidation",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("topic", sa.String(length=32), nullable=False),
        sa.Column("key", sa.String(length=80), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_cache_invalidation")),
    )
    with op.batch_alter_table("cache_invalidation", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_cache_invalidation_created_at"), ["created_at"], unique=False
        )

    op.create_table(
        "feature",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("service_name", sa.String(length=64), nullable=False),
        sa.Column("feature_key", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("window", sa.String(length=8), nullable=True),
        sa.Column("description", sa.String(length=512), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_feature")),
        sa.UniqueConstraint("service_name", "feature_key", name=op.f("uq_feature_service_name")),
    )
    with op.batch_alter_table("feature", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_feature_service_name"), ["service_name"], unique=False)

    op.create_table(
        "usage_event",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("subject", sa.String(length=80), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=True),
        sa.Column("user_id", sa.Uuid(), nullable=True),
        sa.Column("feature_id", sa.Uuid(), nullable=False),
        sa.Column("service_name", sa.String(length=64), nullable=False),
        sa.Column("feature_key", sa.String(length=64), nullable=False),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("amount", sa.Integer(), nullable=False),
        sa.Column("allowed", sa.Boolean(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("window", sa.String(length=8), nullable=True),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_usage_event")),
    )
    with op.batch_alter_table("usage_event", schema=None) as batch_op:
        batch_op.create_index(
            "ix_usage_event_counter", ["subject", "feature_id", "window_start"], unique=False
        )
        batch_op.create_index("ix_usage_event_customer_seq", ["customer_id", "seq"], unique=False)

    op.create_table(
        "feature_value",
        sa.Column("feature_id", sa.Uuid(), nullable=False),
        sa.Column("tier_id", sa.Uuid(), nullable=False),
        sa.Column("value", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["feature_id"],
            ["feature.id"],
            name=op.f("fk_feature_value_feature_id_feature"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tier_id"], ["tier.id"], name=op.f("fk_feature_value_tier_id_tier"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("feature_id", "tier_id", name=op.f("pk_feature_value")),
    )
    op.create_table(
        "feature_override",
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("feature_id", sa.Uuid(), nullable=False),
        sa.Column("value", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customer.id"],
            name=op.f("fk_feature_override_customer_id_customer"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["feature_id"],
            ["feature.id"],
            name=op.f("fk_feature_override_feature_id_feature"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("customer_id", "feature_id", name=op.f("pk_feature_override")),
    )
    op.create_table(
        "quota_counter",
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("feature_id", sa.Uuid(), nullable=False),
        sa.Column("used", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customer.id"],
            name=op.f("fk_quota_counter_customer_id_customer"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["feature_id"],
            ["feature.id"],
            name=op.f("fk_quota_counter_feature_id_feature"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("customer_id", "feature_id", name=op.f("pk_quota_counter")),
    )


def downgrade() -> None:
    op.drop_table("quota_counter")
    op.drop_table("feature_override")
    op.drop_table("feature_value")
    with op.batch_alter_table("usage_event", schema=None) as batch_op:
        batch_op.drop_index("ix_usage_event_customer_seq")
        batch_op.drop_index("ix_usage_event_counter")

    op.drop_table("usage_event")
    with op.batch_alter_table("feature", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_feature_service_name"))

    op.drop_table("feature")
    with op.batch_alter_table("cache_invalidation", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_cache_invalidation_created_at"))

    op.drop_table("cache_invalidation")
