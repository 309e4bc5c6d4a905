"""`/metrics` after known traffic: the counts are exact, per route template, decision
outcome, GraphQL operation, credential failure, Stripe call and webhook event; with two
workers they are the sum of both; and only the callers the setting allows may read it."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import httpx
import pytest
from prometheus_client.mmap_dict import MmapedDict
from prometheus_client.parser import text_string_to_metric_families

from app.core.metrics import FLUSH_SECONDS
from tests.support.api import BASE, Api, running_api, settings_for
from tests.support.clock import MovableClock
from tests.support.fake_stripe import FakeStripe
from tests.support.metering import metered_customer
from tests.support.stripe import deliver_all, paying_customer, sync_tiers
from tests.usage.test_metering_in_production import (
    MONTH,
    STORAGE,
    apis,
    consumes,
    limited_to,
    server_env,
    serving_workers,
)

Labels = tuple[tuple[str, str], ...]
CONSUME_ROUTE = BASE + "/limits/consume"
SERVICE, FEATURE = MONTH.split("/")


class Scrape:
    """One reading of `/metrics`: every sample by name and labels."""

    def __init__(self, text: str) -> None:
        self.values: dict[tuple[str, Labels], float] = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                self.values[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value

    def value(self, name: str, **labels: str) -> float:
        return self.values.get((name, tuple(sorted(labels.items()))), 0.0)

    def names(self) -> set[str]:
        return {name for name, _ in self.values}


async def scrape(api: Api | httpx.AsyncClient, **headers: str) -> Scrape:
    """`/metrics` as a scraper on the server's own host reads it (the test app's client
    calls from elsewhere), or through `api` when it is a real server's client."""
    if isinstance(api, httpx.AsyncClient):
        response = await api.get("/metrics", headers=headers)
    else:
        transport = httpx.ASGITransport(
            app=api.client._transport.app,  # type: ignore[attr-defined]
            client=("127.0.0.1", 40001),
        )
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as local:
            response = await local.get("/metrics", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return Scrape(response.text)


def grew(before: Scrape, after: Scrape, name: str, **labels: str) -> float:
    return after.value(name, **labels) - before.value(name, **labels)


async def test_requests_are_counted_by_route_template_method_and_status(api: Api) -> None:
    owner = api.user()
    before = await scrape(api)
    await api.customer(owner)
    for _ in range(3):
        response = await api.call("DELETE", f"/customer/member/{owner.user_id}", owner)
        assert response.status_code == 403  # the owner cannot be removed
    after = await scrape(api)
    route = BASE + "/customer/member/{userID}"
    requests = "billing_http_requests_total"
    assert grew(before, after, requests, route=route, method="DELETE", status="403") == 3
    assert grew(before, after, requests, route=BASE + "/customer", method="POST", status="201") == 1
    assert not any(owner.user_id in labels for _, raw in after.values for labels in raw)
    count = "billing_http_request_duration_seconds_count"
    assert grew(before, after, count, route=route, method="DELETE") == 3


async def test_decisions_are_counted_by_outcome(api: Api) -> None:
    meter = await metered_customer(api, "pro")
    admin = api.admin()
    limit = f"/admin/customer/{meter.customer_id}/limits/{SERVICE}/{FEATURE}"
    assert (await api.call("PUT", limit, admin, json={"value": 2})).status_code == 200
    before = await scrape(api)
    statuses = Counter([(await meter.consume(MONTH)).status_code for _ in range(5)])
    assert statuses == {200: 2, 429: 3}
    assert (await api.call("PUT", limit, admin, json={"value": 0})).status_code == 200
    assert (await meter.consume(MONTH)).status_code == 403
    for _ in range(2):  # one decision, then its replay
        await meter.consume(MONTH, idempotencyKey="invoice-1")
    after = await scrape(api)
    decisions = "billing_limit_decisions_total"
    by = {"service": SERVICE, "feature": FEATURE}
    assert grew(before, after, decisions, **by, outcome="allowed") == 2
    assert grew(before, after, decisions, **by, outcome="rate_limited") == 3
    assert grew(before, after, decisions, **by, outcome="disabled") == 2
    assert grew(before, after, "billing_idempotent_replays_total") == 1
    assert grew(before, after, "billing_http_requests_total", route=CONSUME_ROUTE,
                method="POST", status="429") == 3  # fmt: skip


async def test_graphql_operations_and_their_error_codes(api: Api) -> None:
    user = api.user()
    before = await scrape(api)
    for _ in range(2):
        await api.graphql("query Home { viewer { userId } }", user)
    await api.graphql("query Mine { customer { id } }", user)  # NO_CUSTOMER
    await api.graphql("mutation { createApiKey(name: 1) { secret } }", user)  # invalid
    after = await scrape(api)
    operations = "billing_graphql_operations_total"
    assert grew(before, after, operations, operation="Home", type="query") == 2
    assert grew(before, after, operations, operation="Mine", type="query") == 1
    errors = "billing_graphql_errors_total"
    assert grew(before, after, errors, operation="Mine", code="NO_CUSTOMER") == 1
    assert grew(before, after, errors, operation="Home", code="NO_CUSTOMER") == 0
    assert grew(before, after, errors, operation="anonymous", code="GRAPHQL_VALIDATION_FAILED") == 1


async def test_credential_failures_are_counted_by_reason(api: Api) -> None:
    before = await scrape(api)
    await api.client.get(BASE + "/customer", headers={"Authorization": "Bearer not-a-token"})
    await api.client.get(BASE + "/customer", headers={"api-key": "k"})
    after = await scrape(api)
    failures = "billing_auth_failures_total"
    assert grew(before, after, failures, reason="INVALID_TOKEN") == 1
    assert grew(before, after, failures, reason="INCOMPLETE_API_KEY") == 1


async def test_the_services_own_limit_counts_its_refusals(
    database_url: str, tmp_path: Path, clock: MovableClock
) -> None:
    settings = settings_for(database_url, tmp_path, self_limit_anonymous="2/minute")
    async with running_api(settings, clock) as api:
        before = await scrape(api)
        statuses = [(await api.client.get(BASE + "/limits/ip")).status_code for _ in range(5)]
        after = await scrape(api)  # /metrics itself is not limited
    assert statuses == [200, 200, 429, 429, 429]
    assert grew(before, after, "billing_self_limit_refusals_total", caller="ip") == 3


async def test_stripe_calls_webhook_events_and_the_outbox(
    stripe_api: Api, fake_stripe: FakeStripe
) -> None:
    await sync_tiers(stripe_api)
    before = await scrape(stripe_api)
    _, events = await paying_customer(stripe_api, fake_stripe)
    await deliver_all(stripe_api, fake_stripe, events)
    await deliver_all(stripe_api, fake_stripe, events)  # Stripe's redelivery
    after = await scrape(stripe_api)
    calls = "billing_stripe_call_duration_seconds_count"
    assert grew(before, after, calls, operation="customers.create") >= 1
    assert grew(before, after, calls, operation="checkout.sessions.create") >= 1
    webhooks = "billing_stripe_webhook_events_total"
    types = Counter(event["type"] for event in events)
    for event_type, count in types.items():
        duplicate = grew(before, after, webhooks, type=event_type, outcome="duplicate")
        assert duplicate == count, event_type


async def test_the_outbox_is_read_from_the_database(api: Api, clock: MovableClock) -> None:
    """Without Stripe the calls it must receive wait: each customer's creation is one."""
    before = await scrape(api)
    for _ in range(2):
        await api.customer(api.user())
    clock.advance(seconds=90)
    after = await scrape(api)
    assert grew(before, after, "billing_stripe_outbox_depth") == 2
    assert after.value("billing_stripe_outbox_oldest_age_seconds") >= 90


async def test_every_family_is_exposed(api: Api) -> None:
    """What an operator's dashboards and alerts are built on."""
    names = (await scrape(api)).names()
    for family in (
        "billing_http_request_duration_seconds_bucket",
        "billing_consume_batch_size_count",
        "billing_idempotent_replays_total",
        "billing_ledger_buffered_rows",
        "billing_ledger_lag_seconds",
        "billing_ledger_flush_duration_seconds_count",
        "billing_counter_storage_errors_total",
        "billing_counter_reseeds_total",
        "billing_stripe_outbox_depth",
        "billing_stripe_outbox_oldest_age_seconds",
        "billing_db_pool_connections_in_use",
        "billing_db_pool_wait_seconds_count",
    ):
        assert family in names, family


class TestWhoMayRead:
    async def test_a_caller_on_another_host_is_refused_without_a_token(self, api: Api) -> None:
        response = await api.client.get("/metrics")  # from 203.0.113.7
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "FORBIDDEN"
        assert "BILLING_METRICS_TOKEN" in response.headers["x-error"]

    async def test_a_request_through_a_proxy_is_refused_without_a_token(self, api: Api) -> None:
        with pytest.raises(AssertionError, match="BILLING_METRICS_TOKEN"):
            await scrape(api, **{"X-Forwarded-For": "203.0.113.9"})

    async def test_with_a_token_only_its_bearer_reads(
        self, database_url: str, tmp_path: Path, clock: MovableClock
    ) -> None:
        settings = settings_for(database_url, tmp_path, metrics_token="scrape-secret")
        async with running_api(settings, clock) as api:
            assert (await api.client.get("/metrics")).status_code == 403
            wrong = await api.client.get("/metrics", headers={"Authorization": "Bearer nope"})
            assert wrong.status_code == 403
            await scrape(api.client, Authorization="Bearer scrape-secret")  # from elsewhere

    async def test_metrics_can_be_turned_off(
        self, database_url: str, tmp_path: Path, clock: MovableClock
    ) -> None:
        async with running_api(settings_for(database_url, tmp_path, metrics=False), clock) as api:
            assert (await api.client.get("/metrics")).status_code == 404


@pytest.mark.slow
async def test_two_workers_report_the_sum_of_their_counts(
    sqlite_database_url: str, redis_url: str, tmp_path: Path
) -> None:
    shared = tmp_path / "metrics"
    shared.mkdir()
    env = server_env(
        sqlite_database_url,
        tmp_path,
        **{STORAGE: redis_url, "PROMETHEUS_MULTIPROC_DIR": str(shared)},
        BILLING_SELF_LIMIT_USER="1000000/minute",
    )
    with serving_workers(env, workers=2) as url:
        async with apis([url]) as (api,):
            meter = await limited_to(api, MONTH, 50)
            replies = await consumes(meter, 100)
            keyed = await limited_to(api, MONTH, 50)
            repeats = await consumes(keyed, 40, idempotencyKey="invoice-9")
            await asyncio.sleep(FLUSH_SECONDS + 0.5)  # the other worker's tallies flushed
            after = await scrape(api.client)
    assert Counter(r.status_code for r in replies) == {200: 50, 429: 50}
    assert {r.status_code for r in repeats} == {200}
    by = {"service": SERVICE, "feature": FEATURE}
    assert after.value("billing_limit_decisions_total", **by, outcome="allowed") == 51
    assert after.value("billing_limit_decisions_total", **by, outcome="rate_limited") == 50
    assert after.value("billing_idempotent_replays_total") == 39
    requests = "billing_http_requests_total"
    assert after.value(requests, route=CONSUME_ROUTE, method="POST", status="200") == 90
    assert after.value(requests, route=CONSUME_ROUTE, method="POST", status="429") == 50
    # Both workers decided some of it, each in its own file: the scrape summed them.
    counts = decided_per_worker(shared)
    assert len(counts) == 2 and all(counts) and sum(counts) == 101, counts


def decided_per_worker(directory: Path) -> list[float]:
    """Each worker's count of decisions, from its own file."""
    counts = []
    for path in directory.glob("counter_*.db"):
        values = MmapedDict.read_all_values_from_file(str(path))  # type: ignore[no-untyped-call]
        counts.append(sum(entry[1] for entry in values if '"billing_limit_decisions"' in entry[0]))
    return counts
