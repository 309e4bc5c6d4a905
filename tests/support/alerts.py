"""Usage alerts as the tests reach them: a customer whose features have small limits, its
thresholds set, its alerts read (after the writer behind the decisions has run)."""

from __future__ import annotations

from typing import Any

from tests.support.api import Api, Caller
from tests.support.metering import Meter

MONTH = "ai-api/chat_completions_per_month"
EMBEDDINGS = "ai-api/embeddings_per_month"
SEARCH = "search-api/simple_search_per_minute"
FEEDS = "feeds-api/feeds_download_per_hour"
INSTANCES = "compute-api/max_instances"  # a quota


async def set_limit(api: Api, customer_id: str, feature: str, value: int) -> None:
    """billing_admin's override of one of the customer's features."""
    service, key = feature.split("/")
    response = await api.call(
        "PUT",
        f"/admin/customer/{customer_id}/limits/{service}/{key}",
        api.admin(),
        json={"value": value},
    )
    assert response.status_code == 200, response.text


async def limited(api: Api, *features: str, value: int = 10) -> tuple[Meter, Caller]:
    """A customer on the pro tier whose `features` allow `value` each, and its owner."""
    team = await api.team()
    await api.set_tier(team.customer_id, "pro")
    for feature in features:
        await set_limit(api, team.customer_id, feature, value)
    return Meter(api, team.customer_id), team.owner


def scope(feature: str | None, *percents: int) -> dict[str, Any]:
    """A scope's thresholds: `service/feature`, `service`, or None for every feature."""
    body: dict[str, Any] = {"percents": list(percents)}
    if feature is not None:
        service, _, key = feature.partition("/")
        body["serviceName"] = service
        if key:
            body["featureKey"] = key
    return body


async def set_thresholds(api: Api, owner: Caller, *scopes: dict[str, Any]) -> dict[str, Any]:
    response = await api.call(
        "PUT", "/customer/alerts/thresholds", owner, json={"thresholds": list(scopes)}
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def written_alerts(api: Api, owner: Caller, **params: Any) -> list[dict[str, Any]]:
    """The customer's alerts, newest first, once the writer stored what was queued."""
    await api.container.alert_writer.flush()
    response = await api.call("GET", "/customer/alerts", owner, params={"pageSize": 100, **params})
    assert response.status_code == 200, response.text
    alerts: list[dict[str, Any]] = response.json()["alerts"]
    return alerts


def crossings(alerts: list[dict[str, Any]]) -> list[tuple[str, int, int]]:
    """(feature, percent, usage) of each alert, in the listing's order."""
    return [(f"{a['serviceName']}/{a['featureKey']}", a["percent"], a["usage"]) for a in alerts]


async def consume_to(meter: Meter, feature: str, total: int) -> None:
    """`total` consumes of 1, one after the other."""
    for _ in range(total):
        response = await meter.consume(feature)
        assert response.status_code in (200, 429), response.text


async def allocate(meter: Meter, amount: int) -> Any:
    return await meter.api.call(
        "POST",
        f"/quotas/{INSTANCES}/allocate",
        meter.service,
        json={"customerId": meter.customer_id, "amount": amount},
    )


async def release(meter: Meter, amount: int) -> Any:
    return await meter.api.call(
        "POST",
        f"/quotas/{INSTANCES}/release",
        meter.service,
        json={"customerId": meter.customer_id, "amount": amount},
    )
