"""Acting as a metered service: consume and check a customer's features, read the ledger.

    meter = await metered_customer(api, "free")
    response = await meter.consume("ai-api/chat_completions_per_minute")
    decision(response)["currentUsage"]

`with_day_feature(directory)` writes the shipped catalog plus `tests-api/exports_per_day`
(a `day` window, which the shipped catalog does not have) for `BILLING_CATALOG_FILE`.
"""

from __future__ import annotations

import uuid
from importlib import resources
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select
from sqlmodel import col

from app.core.db import create_engine
from app.models import UsageEvent
from tests.support.api import BASE, Api, Caller
from tests.support.load import Reply, Request, post_json

DAY_FEATURE = "tests-api/exports_per_day"
# public, free, pro, pro_plus, business, business_plus, business_max, enterprise, ...
DAY_FEATURE_ROW = (
    "rate,tests-api,exports_per_day,day,Exports per day,0,3,100,300,1000,3000,10000,30000,100000,-1"
)


def with_day_feature(directory: Path) -> Path:
    shipped = resources.files("app.catalog").joinpath("default_catalog.csv").read_text("utf-8")
    path = directory / "catalog.csv"
    path.write_text(shipped.rstrip("\n") + "\n" + DAY_FEATURE_ROW + "\n", "utf-8")
    return path


def decision(response: httpx.Response | Reply) -> dict[str, Any]:
    """The decision in a consume or check answer: the body, or its `error` on a refusal."""
    body: dict[str, Any] = response.json()
    refusal: dict[str, Any] | None = body.get("error")
    return body if refusal is None else refusal


class Meter:
    """A `billing_service` caller consuming one customer's features."""

    def __init__(self, api: Api, customer_id: str, service: Caller | None = None) -> None:
        self.api = api
        self.customer_id = customer_id
        self.service = service or api.service()

    def body(self, feature: str, amount: int = 1, **fields: Any) -> dict[str, Any]:
        service_name, feature_key = feature.split("/")
        return {
            "serviceName": service_name,
            "featureKey": feature_key,
            "amount": amount,
            "customerId": self.customer_id,
            **fields,
        }

    def consume_request(self, feature: str, amount: int = 1, **fields: Any) -> Request:
        """The same consume, prepared for `tests.support.load.send_all`."""
        return post_json(
            BASE + "/limits/consume", self.body(feature, amount, **fields), self.service.headers
        )

    async def consume(self, feature: str, amount: int = 1, **fields: Any) -> httpx.Response:
        return await self.api.call(
            "POST", "/limits/consume", self.service, json=self.body(feature, amount, **fields)
        )

    async def check(self, feature: str, amount: int = 1) -> httpx.Response:
        return await self.api.call(
            "POST", "/limits/check", self.service, json=self.body(feature, amount)
        )

    async def usage(self, feature: str) -> int:
        """The feature's counter in the current window, read without consuming."""
        response = await self.check(feature)
        assert response.status_code in (200, 429), response.text
        usage: int = decision(response)["currentUsage"]
        return usage


async def metered_customer(api: Api, tier: str) -> Meter:
    team = await api.team()
    await api.set_tier(team.customer_id, tier)
    return Meter(api, team.customer_id)


async def ledger_events(database_url: str, customer_id: str) -> list[dict[str, Any]]:
    """The customer's rate-limit events (columns of `usage_event`), oldest first, read
    straight from the ledger table."""
    engine = create_engine(database_url)
    try:
        async with engine.connect() as connection:
            rows = await connection.execute(
                select(UsageEvent)
                .where(
                    col(UsageEvent.customer_id) == uuid.UUID(customer_id),
                    col(UsageEvent.type) == "rate_limit",
                )
                .order_by(col(UsageEvent.seq))
            )
            return [dict(row) for row in rows.mappings()]
    finally:
        await engine.dispose()


async def ledger_total(database_url: str, customer_id: str, feature: str) -> int:
    """The allowed amount the ledger holds for one of the customer's features."""
    service_name, feature_key = feature.split("/")
    engine = create_engine(database_url)
    try:
        async with engine.connect() as connection:
            total = await connection.scalar(
                select(func.coalesce(func.sum(UsageEvent.amount), 0)).where(
                    col(UsageEvent.customer_id) == uuid.UUID(customer_id),
                    col(UsageEvent.service_name) == service_name,
                    col(UsageEvent.feature_key) == feature_key,
                    col(UsageEvent.allowed),
                )
            )
            return int(total or 0)
    finally:
        await engine.dispose()
