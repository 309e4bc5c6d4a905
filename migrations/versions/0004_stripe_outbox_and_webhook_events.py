"""The Stripe outbox (calls still to make), the webhook events already applied, and the
end of a past_due customer's grace period.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("customer", schema=None) as batch_op:
        batch_op.add_column(sa.Column("grace_ends_at", sa.DateTime(timezone=True), nullable=True))

    op.create_table(
        "stripe_event",
        sa.Column("id", sa.String(length=255), nullable=False),
        sa.Column("type", sa.String(length=100), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stripe_event")),
    )
    with op.batch_alter_table("stripe_event", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_stripe_event_received_at"), ["received_at"], unique=False
        )

    op.create_table(
        "stripe_task",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=True),
        sa.Column("stripe_customer_id", sa.String(length=255), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stripe_task")),
    )
    with op.batch_alter_table("stripe_task", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_stripe_task_customer_id"), ["customer_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_stripe_task_next_attempt_at"), ["next_attempt_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("stripe_task", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_stripe_task_next_attempt_at"))
        batch_op.drop_index(batch_op.f("ix_stripe_task_customer_id"))
    op.drop_table("stripe_task")
    with op.batch_alter_table("stripe_event", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_stripe_event_received_at"))
    op.drop_table("stripe_event")
    with op.batch_alter_table("customer", schema=None) as batch_op:
        batch_op.drop_column("grace_ends_at")
