"""Reading a customer's alerts, newest first, filtered and in pages (REST `/customer/alerts`
and its billing_admin variant; GraphQL `alerts` and `Customer.alerts`), and the seam where
their delivery connects: the observers the store hands each new alert to."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import pytest

from app.models import UsageAlert
from tests.rest.test_errors import assert_error
from tests.support.alerts import (
    FEEDS,
    INSTANCES,
    MONTH,
    allocate,
    consume_to,
    crossings,
    limited,
    written_alerts,
)
from tests.support.api import Api, Caller
from tests.support.clock import MovableClock
from tests.support.metering import Meter

ALERTS = "/customer/alerts"
PAGE = """
query($kind: AlertKind, $from: DateTime, $to: DateTime, $page: Int! = 1, $pageSize: Int! = 20) {
  alerts(kind: $kind, from: $from, to: $to, page: $page, pageSize: $pageSize) {
    page pageSize totalCount totalPages hasNext hasPrev
    items { id customerId kind serviceName featureKey window windowStart percent limit usage
            occurredAt }
  }
}
"""
NESTED = "{ customer { alerts(pageSize: 2) { totalCount items { id } } } }"


class History:
    """Five alerts over three moments: the month's chats at t0 (100, 80), the hour's feed
    downloads at t1 (80), the quota at t2 (100, 80)."""

    def __init__(self, meter: Meter, owner: Caller, moments: list[datetime]) -> None:
        self.meter, self.owner, self.moments = meter, owner, moments

    def second(self, n: int) -> int:
        return int(self.moments[n].timestamp())


@pytest.fixture
async def history(api: Api, clock: MovableClock) -> History:
    clock.now = clock.now.replace(minute=10, second=0, microsecond=250_000)  # one hour
    meter, owner = await limited(api, MONTH, FEEDS, INSTANCES)
    moments = []
    for act in (
        lambda: meter.consume(MONTH, amount=10),
        lambda: meter.consume(FEEDS, amount=8),
        lambda: allocate(meter, 10),
    ):
        moments.append(clock.now)
        assert (await act()).status_code == 200
        clock.advance(seconds=100)
    await api.container.alert_writer.flush()  # what the writer behind the decisions holds
    return History(meter, owner, moments)


async def listed(api: Api, history: History, **params: Any) -> list[tuple[str, int, int]]:
    return crossings(await written_alerts(api, history.owner, **params))


class TestFilters:
    async def test_every_alert_newest_first(self, api: Api, history: History) -> None:
        assert await listed(api, history) == [
            (INSTANCES, 100, 10),
            (INSTANCES, 80, 10),
            (FEEDS, 80, 8),
            (MONTH, 100, 10),
            (MONTH, 80, 10),
        ]

    async def test_by_kind_service_and_feature(self, api: Api, history: History) -> None:
        assert [p for _, p, _ in await listed(api, history, kind="quota")] == [100, 80]
        assert len(await listed(api, history, kind="USAGE")) == 3
        assert len(await listed(api, history, serviceName="ai-api")) == 2
        feeds = await listed(api, history, featureKey="feeds_download_per_hour")
        assert feeds == [(FEEDS, 80, 8)]
        assert await listed(api, history, serviceName="ai-api", featureKey="x") == []

    async def test_by_time_both_ends_included(self, api: Api, history: History) -> None:
        t0, t1, t2 = (history.second(n) for n in range(3))
        assert len(await listed(api, history, **{"from": t1})) == 3
        assert len(await listed(api, history, to=t1)) == 3
        assert await listed(api, history, **{"from": t1, "to": t1}) == [(FEEDS, 80, 8)]
        assert len(await listed(api, history, **{"from": t0, "to": t2})) == 5
        assert await listed(api, history, **{"from": t2 + 1}) == []

    @pytest.mark.parametrize(
        ("params", "param"),
        [
            ({"kind": "daily"}, "kind"),
            ({"from": "yesterday"}, "from"),
            ({"to": "1e3"}, "to"),
            ({"from": 10**20}, "from"),
            ({"pageSize": 1000}, "pageSize"),
            ({"page": 0}, "page"),
        ],
    )
    async def test_invalid_parameters_are_named(
        self, api: Api, history: History, params: dict[str, Any], param: str
    ) -> None:
        response = await api.call("GET", ALERTS, history.owner, params=params)
        assert assert_error(response, 400, "INVALID_INPUT")["param"] == param


class TestPages:
    async def test_pages_of_two(self, api: Api, history: History) -> None:
        everything = await written_alerts(api, history.owner)
        pages = [
            (await api.call("GET", ALERTS, history.owner, params={"pageSize": 2, "page": n})).json()
            for n in (1, 2, 3)
        ]

        assert [a["id"] for page in pages for a in page["alerts"]] == [a["id"] for a in everything]
        assert pages[0]["pagination"] == {
            "page": 1,
            "pageSize": 2,
            "totalCount": 5,
            "totalPages": 3,
            "hasNext": True,
            "hasPrev": False,
        }
        assert (pages[2]["pagination"]["hasNext"], pages[2]["pagination"]["hasPrev"]) == (
            False,
            True,
        )
        assert (pages[0]["items"], pages[0]["pages"]) == (5, 3)

    async def test_graphql_gives_the_same_page(self, api: Api, history: History) -> None:
        rest = (await api.call("GET", ALERTS, history.owner, params={"kind": "quota"})).json()
        body = await api.graphql(PAGE, history.owner, kind="QUOTA")
        page = body["data"]["alerts"]

        assert page["totalCount"] == rest["pagination"]["totalCount"] == 2
        for ours, theirs in zip(page["items"], rest["alerts"], strict=True):
            assert {**ours, "kind": ours["kind"].lower()} == theirs

    async def test_graphql_takes_instants_for_from_and_to(self, api: Api, history: History) -> None:
        t1 = history.moments[1].isoformat().replace("+00:00", "Z")
        body = await api.graphql(PAGE, history.owner, **{"from": t1, "to": t1})
        assert [i["featureKey"] for i in body["data"]["alerts"]["items"]] == [
            "feeds_download_per_hour"
        ]


class TestWhoReads:
    async def test_a_plain_member_may_not(self, api: Api, history: History) -> None:
        user = api.user()
        await api.add(history.owner, user, "user")
        assert_error(await api.call("GET", ALERTS, user), 403, "FORBIDDEN")
        assert (await api.graphql(NESTED, user))["data"]["customer"]["alerts"] is None
        assert (await api.graphql(PAGE, user))["errors"][0]["extensions"]["code"] == "FORBIDDEN"
        owners = await api.graphql(NESTED, history.owner)
        assert owners["data"]["customer"]["alerts"]["totalCount"] == 5

    async def test_billing_admin_reads_any_customers(self, api: Api, history: History) -> None:
        admin = api.admin()
        path = f"/admin/customer/{history.meter.customer_id}/alerts"
        response = await api.call("GET", path, admin, params={"kind": "usage"})
        assert response.status_code == 200, response.text
        assert response.json()["pagination"]["totalCount"] == 3

        query = (
            "query($id: ID!) { adminCustomer(customerId: $id) "
            "{ alerts(kind: QUOTA) { totalCount } } }"
        )
        body = await api.graphql(query, admin, id=history.meter.customer_id)
        assert body["data"]["adminCustomer"]["alerts"]["totalCount"] == 2
        assert_error(await api.call("GET", path, history.owner), 403, "ADMIN_ROLE_REQUIRED")


class Observed:
    """What the observers saw: each alert in its transaction, then once committed."""

    def __init__(self, api: Api) -> None:
        self.api = api
        self.inside: list[tuple[uuid.UUID, bool, bool, bool]] = []
        self.after: list[tuple[uuid.UUID, bool]] = []
        self.fail_inside = 0

    async def on_alert(self, session: Any, alert: UsageAlert) -> None:
        if self.fail_inside:
            self.fail_inside -= 1
            raise RuntimeError("the outbox is away")
        seen_in_transaction = await session.get(UsageAlert, alert.id) is not None
        announced = any(alert.id == done for done, _ in self.after)
        self.inside.append((alert.id, session.in_transaction(), seen_in_transaction, announced))

    async def after_commit(self, alert: UsageAlert) -> None:
        async with self.api.container.db.transaction(write=False) as session:
            committed = await session.get(UsageAlert, alert.id) is not None
        self.after.append((alert.id, committed))


@pytest.fixture
def observed(api: Api) -> Observed:
    observed = Observed(api)
    api.container.alert_store.observe(
        on_alert=observed.on_alert, after_commit=observed.after_commit
    )
    return observed


class TestTheObserverSeam:
    async def test_each_alert_once_inside_its_transaction_then_after_commit(
        self, api: Api, observed: Observed
    ) -> None:
        meter, owner = await limited(api, MONTH, INSTANCES)
        await consume_to(meter, MONTH, 12)
        assert (await allocate(meter, 9)).status_code == 200  # quotas: stored in the call

        ids = [uuid.UUID(alert["id"]) for alert in await written_alerts(api, owner)]
        assert len(ids) == 3
        assert sorted(i for i, *_ in observed.inside) == sorted(ids)
        assert all(
            inside and stored and not announced for _, inside, stored, announced in observed.inside
        )
        assert sorted(observed.after) == sorted((i, True) for i in ids)

    async def test_a_failing_in_transaction_observer_holds_the_alert_back(
        self, api: Api, observed: Observed
    ) -> None:
        """Its writes and the alert commit together or not at all: the writer keeps the
        alert and stores it with its next write, then hands it over once."""
        meter, owner = await limited(api, MONTH)
        observed.fail_inside = 1
        await meter.consume(MONTH, amount=8)
        with pytest.raises(RuntimeError):
            await api.container.alert_writer.flush()
        assert api.container.alert_writer.queued == 1
        assert observed.after == []

        [alert] = await written_alerts(api, owner)
        assert [i for i, *_ in observed.inside] == [uuid.UUID(alert["id"])]
        assert observed.after == [(uuid.UUID(alert["id"]), True)]

    async def test_a_failing_after_commit_observer_loses_nothing(self, api: Api) -> None:
        async def broken(alert: UsageAlert) -> None:
            raise RuntimeError("nobody is listening")

        api.container.alert_store.observe(after_commit=broken)
        meter, owner = await limited(api, MONTH)
        await meter.consume(MONTH, amount=10)

        assert len(await written_alerts(api, owner)) == 2
        assert api.container.alert_writer.queued == 0
