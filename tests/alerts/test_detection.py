"""Alerts raised by decisions: a customer's usage of a limited feature crossing its
thresholds, once per feature, window and threshold, on the decision path without the
database (rate limits) or in the allocation's transaction (quotas)."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, func, select

from app.models import UsageAlert
from tests.support.alerts import (
    EMBEDDINGS,
    FEEDS,
    INSTANCES,
    MONTH,
    SEARCH,
    allocate,
    consume_to,
    crossings,
    limited,
    release,
    scope,
    set_thresholds,
    written_alerts,
)
from tests.support.api import Api, running_api, settings_for
from tests.support.clock import MovableClock


def month_start(clock: MovableClock) -> str:
    start = clock.now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    return start.astimezone(UTC).isoformat().replace("+00:00", "Z")


class TestDefaults:
    async def test_a_limit_of_10_consumed_to_the_end_alerts_twice(
        self, api: Api, clock: MovableClock
    ) -> None:
        meter, owner = await limited(api, MONTH)
        await consume_to(meter, MONTH, 12)  # the last two are refused

        alerts = await written_alerts(api, owner)
        assert crossings(alerts) == [(MONTH, 100, 10), (MONTH, 80, 8)]
        for alert in alerts:
            assert alert["customerId"] == meter.customer_id
            assert (alert["kind"], alert["window"], alert["limit"]) == ("usage", "month", 10)
            assert alert["windowStart"] == month_start(clock)

    async def test_one_decision_may_cross_several_and_a_refusal_none(self, api: Api) -> None:
        meter, owner = await limited(api, MONTH)
        assert (await meter.consume(MONTH, amount=7)).status_code == 200
        assert (await meter.consume(MONTH, amount=4)).status_code == 429
        assert (await meter.consume(MONTH, amount=3)).status_code == 200

        assert crossings(await written_alerts(api, owner)) == [(MONTH, 100, 10), (MONTH, 80, 10)]

    async def test_only_a_customers_limited_features_alert(self, api: Api) -> None:
        meter, _ = await limited(api, MONTH, value=-1)  # unlimited
        assert (await meter.consume(MONTH, amount=1000)).status_code == 200
        loner = api.user()  # in no customer: counts alone, on the default tier (5)
        await api.call("GET", "/customer", loner)
        alone = meter.body("ai-api/chat_completions_per_minute", 5, userId=loner.user_id)
        del alone["customerId"]
        anonymous = meter.body(SEARCH, 10, ip="198.51.100.7")  # the public tier's 10
        del anonymous["customerId"]
        for body in (alone, anonymous):
            reply = await api.call("POST", "/limits/consume", meter.service, json=body)
            assert reply.status_code == 200, reply.text

        await api.container.alert_writer.flush()
        assert await stored_alerts(api) == 0

    async def test_each_window_alerts_again(self, api: Api, clock: MovableClock) -> None:
        meter, owner = await limited(api, FEEDS)
        await meter.consume(FEEDS, amount=10)
        clock.advance(hours=1)
        await meter.consume(FEEDS, amount=10)

        alerts = await written_alerts(api, owner)
        assert crossings(alerts) == [(FEEDS, 100, 10), (FEEDS, 80, 10)] * 2
        assert len({alert["windowStart"] for alert in alerts}) == 2


class TestCustomThresholds:
    async def test_the_customers_own_replace_the_default(self, api: Api) -> None:
        meter, owner = await limited(api, MONTH)
        await set_thresholds(api, owner, scope(None, 25, 50))
        await consume_to(meter, MONTH, 10)

        assert crossings(await written_alerts(api, owner)) == [(MONTH, 50, 5), (MONTH, 25, 3)]

    async def test_the_most_specific_scope_wins(self, api: Api) -> None:
        meter, owner = await limited(api, MONTH, EMBEDDINGS, SEARCH, FEEDS)
        await set_thresholds(
            api,
            owner,
            scope(None, 50),
            scope("ai-api", 30),
            scope(MONTH, 90),
            scope("search-api"),  # off
        )
        for feature in (MONTH, EMBEDDINGS, SEARCH, FEEDS):
            assert (await meter.consume(feature, amount=10)).status_code == 200

        assert sorted(crossings(await written_alerts(api, owner))) == [
            (MONTH, 90, 10),
            (EMBEDDINGS, 30, 10),
            (FEEDS, 50, 10),
        ]

    async def test_a_change_applies_to_the_next_decision(self, api: Api) -> None:
        meter, owner = await limited(api, MONTH)
        await consume_to(meter, MONTH, 2)  # the default is loaded and watched
        await set_thresholds(api, owner, scope(MONTH, 30, 60))
        await consume_to(meter, MONTH, 8)
        assert crossings(await written_alerts(api, owner)) == [(MONTH, 60, 6), (MONTH, 30, 3)]

        await set_thresholds(api, owner, scope("ai-api"))  # off
        assert (await meter.consume(EMBEDDINGS, amount=5000)).status_code == 200
        assert len(await written_alerts(api, owner)) == 2


class TestExactlyOnce:
    @pytest.fixture
    async def stored_api(
        self, database_url: str, tmp_path: Path, clock: MovableClock, storage: str
    ) -> AsyncIterator[Api]:
        settings = settings_for(database_url, tmp_path, rate_limit_storage=storage)
        async with running_api(settings, clock) as api:
            yield api

    async def test_concurrent_consumes_crossing_together_alert_once_per_threshold(
        self, stored_api: Api
    ) -> None:
        api = stored_api
        meter, owner = await limited(api, MONTH, value=40)
        await set_thresholds(api, owner, scope(MONTH, 25, 50, 75, 100))

        replies = await asyncio.gather(*(meter.consume(MONTH) for _ in range(60)))

        assert Counter(r.status_code for r in replies) == {200: 40, 429: 20}
        assert crossings(await written_alerts(api, owner)) == [
            (MONTH, 100, 40),
            (MONTH, 75, 30),
            (MONTH, 50, 20),
            (MONTH, 25, 10),
        ]

    async def test_an_alert_stored_again_is_still_one(self, api: Api) -> None:
        """A write retried after a commit that was not acknowledged, or a crossing seen
        again after the counters were rebuilt: the unique constraint keeps one."""
        meter, owner = await limited(api, MONTH)
        await meter.consume(MONTH, amount=8)
        [first] = await written_alerts(api, owner)

        async with api.container.db.transaction(write=False) as session:
            row = await session.get(UsageAlert, uuid.UUID(first["id"]))
        assert row is not None
        copies = [{**row.model_dump(), "id": uuid.uuid4()} for _ in range(2)]
        api.container.alert_writer.enqueue(copies)

        assert [alert["id"] for alert in await written_alerts(api, owner)] == [first["id"]]


class TestBatches:
    async def test_a_batch_alerts_as_its_requests_one_by_one_would(self, api: Api) -> None:
        meter, owner = await limited(api, MONTH, EMBEDDINGS, FEEDS)
        requests = [
            *[meter.body(MONTH)] * 12,
            meter.body(EMBEDDINGS, 5),
            meter.body(EMBEDDINGS, 5),
            meter.body(FEEDS, 9, idempotencyKey="k-1"),
            meter.body(FEEDS, 9, idempotencyKey="k-1"),  # answered from the first
        ]
        reply = await api.call(
            "POST", "/limits/consume/batch", meter.service, json={"requests": requests}
        )
        assert reply.status_code == 200, reply.text

        assert sorted(crossings(await written_alerts(api, owner))) == [
            (MONTH, 80, 8),
            (MONTH, 100, 10),
            (EMBEDDINGS, 80, 10),
            (EMBEDDINGS, 100, 10),
            (FEEDS, 80, 9),
        ]


class TestQuotas:
    async def test_up_alerts_and_down_below_a_threshold_rearms_it(
        self, api: Api, clock: MovableClock
    ) -> None:
        meter, owner = await limited(api, INSTANCES)
        steps = [(allocate, 8, 200), (allocate, 2, 200), (allocate, 1, 403), (release, 3, 200)]
        steps += [(allocate, 1, 200), (allocate, 1, 200)]
        for action, amount, status in steps:
            clock.advance(seconds=1)
            assert (await action(meter, amount)).status_code == status

        # Stored with the allocation, not behind it.
        alerts = await written_alerts(api, owner, kind="quota")
        assert crossings(alerts) == [(INSTANCES, 80, 8), (INSTANCES, 100, 10), (INSTANCES, 80, 8)]
        for alert in alerts:
            assert (alert["window"], alert["windowStart"], alert["limit"]) == (None, None, 10)

    async def test_the_customers_thresholds_apply_to_quotas(self, api: Api) -> None:
        meter, owner = await limited(api, INSTANCES)
        await set_thresholds(api, owner, scope(None), scope("compute-api", 50))
        assert (await allocate(meter, 10)).status_code == 200

        assert crossings(await written_alerts(api, owner)) == [(INSTANCES, 50, 10)]


# The database statements made in the context of the test's burst of requests: the
# background writers run in tasks of their own, outside it.
IN_BURST: ContextVar[list[str] | None] = ContextVar("in_burst", default=None)


@contextmanager
def statements_in_burst(api: Api) -> Iterator[list[str]]:
    made: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        recorded = IN_BURST.get()
        if recorded is not None:
            recorded.append(statement)

    engine = api.container.db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", seen)
    token = IN_BURST.set(made)
    try:
        yield made
    finally:
        IN_BURST.reset(token)
        event.remove(engine, "before_cursor_execute", seen)


class TestTheDecisionPath:
    async def test_no_statement_once_warm_crossings_included(self, api: Api) -> None:
        meter, owner = await limited(api, MONTH, value=100)
        await set_thresholds(api, owner, scope(MONTH, *range(10, 70, 10)))
        assert (await meter.consume(MONTH)).status_code == 200  # loads what it needs

        with statements_in_burst(api) as statements:
            replies = await asyncio.gather(*(meter.consume(MONTH) for _ in range(49)))
            batch = await api.call(
                "POST",
                "/limits/consume/batch",
                meter.service,
                json={"requests": [meter.body(MONTH)] * 10},
            )

        assert {r.status_code for r in [*replies, batch]} == {200}
        assert statements == []
        assert [percent for _, percent, _ in crossings(await written_alerts(api, owner))] == [
            60,
            50,
            40,
            30,
            20,
            10,
        ]

    async def test_the_burst_counter_sees_a_cold_customers_loads(self, api: Api) -> None:
        """The listener does see statements made for a request (the check above would
        pass for nothing otherwise)."""
        meter, _ = await limited(api, MONTH)
        with statements_in_burst(api) as statements:
            await meter.consume(MONTH)
        assert any("alert_threshold" in statement for statement in statements)


async def stored_alerts(api: Api) -> int:
    async with api.container.db.transaction(write=False) as session:
        return int(await session.scalar(select(func.count()).select_from(UsageAlert)) or 0)
