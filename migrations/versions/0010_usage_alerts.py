"""Usage alerts: the thresholds a customer sets per feature, service or for every feature,
and the alerts raised, one per customer, feature, window start and threshold.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-18
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "alert_threshold",
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("service_name", sa.String(length=64), nullable=False),
        sa.Column("feature_key", sa.String(length=64), nullable=False),
        sa.Column("percents", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customer.id"],
            name=op.f("fk_alert_threshold_customer_id_customer"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "customer_id", "service_name", "feature_key", name=op.f("pk_alert_threshold")
        ),
    )
    op.create_table(
        "usage_alert",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("service_name", sa.String(length=64), nullable=False),
        sa.Column("feature_key", sa.String(length=64), nullable=False),
        sa.Column("window", sa.String(length=8), nullable=True),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=True),
        sa.Column("percent", sa.Integer(), nullable=False),
        sa.Column("limit", sa.Integer(), nullable=False),
        sa.Column("usage", sa.Integer(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_usage_alert")),
        sa.UniqueConstraint(
            "customer_id",
            "service_name",
            "feature_key",
            "window_start",
            "percent",
            name=op.f("uq_usage_alert_customer_id"),
        ),
    )
    with op.batch_alter_table("usage_alert", schema=None) as batch_op:
        batch_op.create_index(
            "ix_usage_alert_customer_occurred", ["customer_id", "occurred_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("usage_alert", schema=None) as batch_op:
        batch_op.drop_index("ix_usage_alert_customer_occurred")
    op.drop_table("usage_alert")
    op.drop_table("alert_threshold")
