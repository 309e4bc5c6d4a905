"""The queries of usage alerts: thresholds read and replaced, alerts stored and listed."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, delete, func
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from app.alerts.thresholds import EVERY, ThresholdScope
from app.core.db import upsert
from app.core.pagination import Page, PageRequest
from app.models import AlertThreshold, UsageAlert

# The columns of the unique constraint: one alert per customer, feature, window, threshold.
ONE_ALERT = ["customer_id", "service_name", "feature_key", "window_start", "percent"]


async def scopes_of(session: AsyncSession, customer_id: uuid.UUID) -> list[ThresholdScope]:
    rows = await session.scalars(
        select(AlertThreshold).where(col(AlertThreshold.customer_id) == customer_id)
    )
    return [
        ThresholdScope(
            row.service_name or None, row.feature_key or None, tuple(sorted(row.percents))
        )
        for row in rows
    ]


async def replace_scopes(
    session: AsyncSession, customer_id: uuid.UUID, scopes: Sequence[ThresholdScope]
) -> None:
    await session.execute(
        delete(AlertThreshold).where(col(AlertThreshold.customer_id) == customer_id)
    )
    session.add_all(
        AlertThreshold(
            customer_id=customer_id,
            service_name=scope.service_name or EVERY,
            feature_key=scope.feature_key or EVERY,
            percents=list(scope.percents),
        )
        for scope in scopes
    )
    await session.flush()


async def insert_new(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> set[uuid.UUID]:
    """Insert the alerts (their columns) none like which is stored yet: the unique
    constraint decides, so concurrent writers and retries never store one twice. The ids
    of those inserted."""
    if not rows:
        return set()
    statement = (
        upsert(session, UsageAlert)
        .values(list(rows))
        .on_conflict_do_nothing(index_elements=ONE_ALERT)
        .returning(col(UsageAlert.id))
    )
    return set(await session.scalars(statement))


async def alert_page(
    session: AsyncSession,
    customer_id: uuid.UUID,
    filters: Sequence[ColumnElement[bool]],
    page: PageRequest,
) -> Page[UsageAlert]:
    """The customer's alerts, newest first; those raised together, highest threshold first."""
    where = [col(UsageAlert.customer_id) == customer_id, *filters]
    total = await session.scalar(select(func.count()).select_from(UsageAlert).where(*where))
    rows = await session.scalars(
        select(UsageAlert)
        .where(*where)
        .order_by(
            col(UsageAlert.occurred_at).desc(),
            col(UsageAlert.percent).desc(),
            col(UsageAlert.id),
        )
        .offset(page.offset)
        .limit(page.page_size)
    )
    return Page(list(rows), int(total or 0), page)
