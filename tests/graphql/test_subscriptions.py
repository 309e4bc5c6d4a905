"""Subscriptions over a WebSocket on /graphql (`graphql-transport-ws`), against the app in
this process on process-local counters (`memory://`): authentication at
`connection_init`, who may subscribe, the caps, live usage and alerts.

Across processes on Redis: `tests/usage/test_live_usage_across_processes.py`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from app.auth.tokens import mint_token
from app.catalog.model import Window
from app.graphql import websocket
from app.usage.notifier import UsageAlert
from tests.support.alerts import MONTH as MONTH_FEATURE
from tests.support.alerts import consume_to, limited
from tests.support.api import SECRET, Api, Caller, Team, running_api, settings_for
from tests.support.clock import MovableClock
from tests.support.metering import Meter
from tests.support.websocket import PROTOCOL, Closed, GraphQLWS, asgi_websocket

# A month window: no window ends while a test runs (a minute's might).
FEATURE = "ai-api/chat_completions_per_month"
USAGE = """
subscription Usage($service: String) {
  usageChanged(serviceName: $service) {
    identifier
    features { serviceName featureKey currentUsage limit }
  }
}
"""
ALERTS = """
subscription {
  alerts {
    customerId serviceName featureKey window thresholdPercent usage limit occurredAt
  }
}
"""


def usage_of(payload: dict[str, Any], feature: str = FEATURE) -> int:
    assert "errors" not in payload, payload
    service_name, feature_key = feature.split("/")
    [found] = [
        f
        for f in payload["data"]["usageChanged"]["features"]
        if (f["serviceName"], f["featureKey"]) == (service_name, feature_key)
    ]
    usage: int = found["currentUsage"]
    return usage


def alert(customer_id: str, percent: int = 80) -> UsageAlert:
    return UsageAlert(
        customer_id=uuid.UUID(customer_id),
        service_name="ai-api",
        feature_key="chat_completions_per_month",
        window=Window.MONTH,
        threshold_percent=percent,
        usage=percent * 10,
        limit=1000,
        occurred_at=datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC),
    )


@pytest.fixture
def clock() -> MovableClock:
    """Still, half a minute before its minute ends: no window ends unless a test says so."""
    return MovableClock(datetime.now(UTC).replace(second=30, microsecond=0))


@pytest.fixture
async def api(sqlite_database_url: str, tmp_path: Path, clock: MovableClock) -> AsyncIterator[Api]:
    """The app in this process; what is tested here does not depend on the database."""
    async with running_api(settings_for(sqlite_database_url, tmp_path), clock) as api:
        yield api


@pytest.fixture
async def team(api: Api) -> Team:
    """A customer with its owner, an admin and a plain member."""
    return await api.team("admin", "user")


@asynccontextmanager
async def session(api: Api, caller: Caller) -> AsyncIterator[GraphQLWS]:
    """A connection acknowledged for `caller`."""
    async with asgi_websocket(api.app, "/graphql") as socket:
        live = GraphQLWS(socket)
        assert (await live.init(caller.headers))["type"] == "connection_ack"
        yield live


async def refused_at_init(api: Api, params: dict[str, Any]) -> Closed:
    async with asgi_websocket(api.app, "/graphql") as socket:
        live = GraphQLWS(socket)
        await live.send({"type": "connection_init", "payload": params})
        return await socket.wait_closed()


async def error_of(live: GraphQLWS, id: str) -> dict[str, Any]:
    """The one error of a subscription refused before it started."""
    message = await live.receive()
    assert (message["id"], message["type"]) == (id, "error"), message
    [error] = message["payload"]
    return error  # type: ignore[no-any-return]


class TestTransport:
    async def test_only_graphql_transport_ws(self, api: Api) -> None:
        async with asgi_websocket(api.app, "/graphql", subprotocols=["graphql-ws"]) as socket:
            closed = await socket.wait_closed()
        assert closed.code == 4406
        async with asgi_websocket(api.app, "/graphql", subprotocols=[]) as socket:
            assert (await socket.wait_closed()).code == 4406
        both = ["graphql-ws", PROTOCOL]
        async with asgi_websocket(api.app, "/graphql", subprotocols=both) as socket:
            assert socket.subprotocol == PROTOCOL

    async def test_no_other_path_takes_a_websocket(self, api: Api) -> None:
        with pytest.raises(Closed) as refused:
            async with asgi_websocket(api.app, "/api/billing/v1/customer"):
                pass
        assert not refused.value.accepted

    async def test_queries_and_mutations_go_over_http(self, api: Api, team: Team) -> None:
        async with session(api, team.owner) as live:
            await live.subscribe("q", "{ viewer { userId } }")
            error = await error_of(live, "q")
            assert error["extensions"]["code"] == "METHOD_NOT_ALLOWED"
            assert "queries over HTTP" in error["message"]

    async def test_a_document_that_does_not_validate_is_the_subscriptions_error(
        self, api: Api, team: Team
    ) -> None:
        async with session(api, team.owner) as live:
            await live.subscribe("1", "subscription { usageChanged { nope } }")
            error = await error_of(live, "1")
            assert error["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
            await live.subscribe("2", "subscription {")
            assert (await error_of(live, "2"))["extensions"]["code"] == "GRAPHQL_PARSE_FAILED"
            await live.subscribe("3", USAGE)  # the connection goes on
            assert usage_of(await live.next_of("3")) == 0

    async def test_a_subscription_over_http_is_refused(self, api: Api, team: Team) -> None:
        response = await api.client.post(
            "/graphql", json={"query": USAGE}, headers=team.owner.headers
        )
        body = response.json()
        [error] = body["errors"]
        assert error["extensions"]["code"] == "METHOD_NOT_ALLOWED", body
        assert "WebSocket" in error["message"]


class TestConnectionInit:
    async def test_a_bearer_token_or_an_api_key_in_any_case(self, api: Api, team: Team) -> None:
        token = team.owner.headers["Authorization"]
        async with session(api, Caller(team.owner.id, None, {"authorization": token})) as live:
            await live.subscribe("1", USAGE)
            assert usage_of(await live.next_of("1")) == 0
        created = await api.call("POST", "/apikeys", team.owner, json={"name": "live"})
        key = created.json()
        headers = {"API-Key": key["key"], "api-secret": key["secret"]}
        async with session(api, Caller(team.owner.id, None, headers)) as live:
            await live.subscribe("1", USAGE)
            assert usage_of(await live.next_of("1")) == 0

    @pytest.mark.parametrize(
        "params",
        [
            {},
            {"Authorization": "Bearer not-a-token"},
            {"Authorization": "Basic dXNlcjpwYXNz"},
            {"Authorization": 42},
            {"api-key": "bk_missing"},
            {"api-key": "bk_unknown", "api-secret": "nope"},
        ],
        ids=["none", "invalid", "not-bearer", "not-text", "half-a-key", "unknown-key"],
    )
    async def test_bad_or_missing_credentials_close_with_4401(
        self, api: Api, params: dict[str, Any]
    ) -> None:
        closed = await refused_at_init(api, params)
        assert closed.code == 4401, closed
        assert closed.reason

    async def test_an_expired_token_closes_with_4401(self, api: Api) -> None:
        token = mint_token(
            SECRET, user_id=uuid.uuid4(), email="x@example.com", ttl=timedelta(minutes=-5)
        )
        closed = await refused_at_init(api, {"Authorization": f"Bearer {token}"})
        assert (closed.code, closed.reason) == (4401, "The bearer token has expired.")

    async def test_a_subscribe_before_the_ack_closes_with_4401(self, api: Api) -> None:
        async with asgi_websocket(api.app, "/graphql") as socket:
            await GraphQLWS(socket).subscribe("1", USAGE)
            assert (await socket.wait_closed()).code == 4401

    def test_only_credentials_are_read_from_the_payload(self) -> None:
        """The client address is the handshake's, through the proxies in front: an
        `X-Forwarded-For` in the payload was written by the client and is never believed."""
        handshake = {
            "path": "/graphql",
            "headers": [(b"x-forwarded-for", b"198.51.100.7"), (b"authorization", b"Bearer h")],
            "client": ("10.0.0.2", 5000),
        }
        params = {
            "Authorization": "Bearer p",
            "API-KEY": "k",
            "x-forwarded-for": "203.0.113.99",
            "Cookie": "session=1",
        }
        scope = websocket.credential_scope(handshake, params)
        assert scope["headers"] == [
            (b"x-forwarded-for", b"198.51.100.7"),
            (b"authorization", b"Bearer p"),
            (b"api-key", b"k"),
        ]
        assert scope["client"] == ("10.0.0.2", 5000)

    async def test_a_connection_spends_the_callers_own_rate_limit(
        self, sqlite_database_url: str, tmp_path: Path
    ) -> None:
        settings = settings_for(sqlite_database_url, tmp_path, self_limit_user="2/minute")
        async with running_api(settings) as api:
            caller = api.user()
            async with session(api, caller), session(api, caller):
                pass
            closed = await refused_at_init(api, caller.headers)
            assert closed.code == 1013
            assert closed.reason.startswith("Too many requests: retry in ")
            response = await api.call("GET", "/tiers", caller)
            assert response.status_code == 429  # the same budget as its requests


class TestCredentialsGoOnBeingChecked:
    @pytest.fixture(autouse=True)
    def often(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(websocket, "RECHECK_SECONDS", 0.2)

    async def test_a_revoked_api_key_ends_the_connection(self, api: Api, team: Team) -> None:
        key = (await api.call("POST", "/apikeys", team.owner, json={"name": "live"})).json()
        headers = {"api-key": key["key"], "api-secret": key["secret"]}
        async with session(api, Caller(team.owner.id, None, headers)) as live:
            await live.subscribe("1", USAGE)
            await live.next_of("1")
            revoked = await api.call("DELETE", f"/apikeys/{key['id']}", team.owner)
            assert revoked.status_code == 204, revoked.text
            closed = await live.socket.wait_closed(within=3)
            assert closed.code == 4401, closed

    async def test_an_expired_token_ends_the_connection(
        self, sqlite_database_url: str, tmp_path: Path
    ) -> None:
        settings = settings_for(sqlite_database_url, tmp_path, jwt_leeway_seconds=0)
        async with running_api(settings) as api:
            user = uuid.uuid4()
            token = mint_token(SECRET, user_id=user, email=None, ttl=timedelta(seconds=2))
            async with session(
                api, Caller(user, None, {"Authorization": f"Bearer {token}"})
            ) as live:
                with pytest.raises(TimeoutError):
                    await live.receive(within=0.5)  # still open while the token holds
                closed = await live.socket.wait_closed(within=4)
                assert (closed.code, closed.reason) == (4401, "The bearer token has expired.")


class TestOrigin:
    @pytest.mark.parametrize("origin", ["http://testserver", "https://testserver"])
    async def test_the_pages_of_this_server_may_connect(self, api: Api, origin: str) -> None:
        async with asgi_websocket(api.app, "/graphql", headers={"Origin": origin}) as socket:
            assert socket.subprotocol == PROTOCOL

    async def test_a_page_on_another_origin_is_refused(self, api: Api) -> None:
        with pytest.raises(Closed) as refused:
            async with asgi_websocket(
                api.app, "/graphql", headers={"Origin": "https://evil.example"}
            ):
                pass
        assert not refused.value.accepted

    async def test_an_origin_allowed_for_cors_may(
        self, sqlite_database_url: str, tmp_path: Path
    ) -> None:
        settings = settings_for(sqlite_database_url, tmp_path, cors_origins=["https://app.example"])
        async with running_api(settings) as api:
            headers = {"Origin": "https://app.example"}
            async with asgi_websocket(api.app, "/graphql", headers=headers) as socket:
                assert socket.subprotocol == PROTOCOL
            with pytest.raises(Closed):
                headers = {"Origin": "https://other.example"}
                async with asgi_websocket(api.app, "/graphql", headers=headers):
                    pass


class TestUsageChanged:
    async def test_the_current_usage_first_then_each_change(self, api: Api, team: Team) -> None:
        meter = Meter(api, team.customer_id)
        await meter.consume(FEATURE)
        async with session(api, team.owner) as live:
            await live.subscribe("1", USAGE)
            first = await live.next_of("1")
            assert usage_of(first) == 1
            assert first["data"]["usageChanged"]["identifier"] == team.owner.user_id
            started = time.monotonic()
            assert (await meter.consume(FEATURE, 2)).status_code == 200
            assert usage_of(await live.next_of("1")) == 3
            assert time.monotonic() - started < 1.0

    async def test_a_batch_is_a_change(self, api: Api, team: Team) -> None:
        meter = Meter(api, team.customer_id)
        async with session(api, team.owner) as live:
            await live.subscribe("1", USAGE)
            assert usage_of(await live.next_of("1")) == 0
            batch = {"requests": [meter.body(FEATURE), meter.body(FEATURE, 4)]}
            response = await api.call("POST", "/limits/consume/batch", meter.service, json=batch)
            assert response.status_code == 200, response.text
            assert usage_of(await live.next_of("1")) == 5

    async def test_changes_are_coalesced(self, api: Api, team: Team) -> None:
        meter = Meter(api, team.customer_id)
        async with session(api, team.owner) as live:
            await live.subscribe("1", USAGE)
            assert usage_of(await live.next_of("1")) == 0
            for _ in range(20):
                await meter.consume(FEATURE)
            seen = [usage_of(await live.next_of("1"))]
            while seen[-1] < 20:
                seen.append(usage_of(await live.next_of("1")))
            assert len(seen) <= 3, seen  # 20 changes in well under a second
            with pytest.raises(TimeoutError):
                await live.receive(within=0.6)  # nothing changed since

    async def test_the_end_of_a_window_is_a_change(
        self, api: Api, team: Team, clock: MovableClock
    ) -> None:
        per_minute = "ai-api/chat_completions_per_minute"
        clock.advance(seconds=29)  # a second before the minute ends
        await Meter(api, team.customer_id).consume(per_minute)
        async with session(api, team.owner) as live:
            await live.subscribe("1", USAGE, {"service": "ai-api"})
            assert usage_of(await live.next_of("1"), per_minute) == 1
            clock.advance(seconds=2)
            assert usage_of(await live.next_of("1", within=3), per_minute) == 0

    async def test_a_plain_member_may_subscribe_to_one_service(self, api: Api, team: Team) -> None:
        member = team.members[1]
        async with session(api, member) as live:
            await live.subscribe("1", USAGE, {"service": "ai-api"})
            payload = await live.next_of("1")
            features = payload["data"]["usageChanged"]["features"]
            assert features and {f["serviceName"] for f in features} == {"ai-api"}

    async def test_a_user_with_no_customer_gets_no_customer(self, api: Api) -> None:
        async with session(api, api.user()) as live:
            await live.subscribe("1", USAGE)
            error = await error_of(live, "1")
            assert error["extensions"]["code"] == "NO_CUSTOMER"
            assert error["extensions"]["status"] == 404
            assert error["path"] == ["usageChanged"]

    async def test_an_unknown_service_is_not_found(self, api: Api, team: Team) -> None:
        async with session(api, team.owner) as live:
            await live.subscribe("1", USAGE, {"service": "nope"})
            error = await error_of(live, "1")
            assert error["extensions"]["code"] == "SERVICE_NOT_FOUND"

    async def test_another_customers_changes_are_not_sent(self, api: Api, team: Team) -> None:
        other = await api.team()
        async with session(api, team.owner) as live:
            await live.subscribe("1", USAGE)
            assert usage_of(await live.next_of("1")) == 0
            await Meter(api, other.customer_id).consume(FEATURE)
            with pytest.raises(TimeoutError):
                await live.receive(within=0.6)

    async def test_complete_ends_it(self, api: Api, team: Team) -> None:
        async with session(api, team.owner) as live:
            await live.subscribe("1", USAGE)
            await live.next_of("1")
            await live.complete("1")
            await Meter(api, team.customer_id).consume(FEATURE)
            with pytest.raises(TimeoutError):
                await live.receive(within=0.6)
            assert api.container.notifier._listeners == {}

    async def test_a_member_who_left_is_told_at_the_next_change(self, api: Api, team: Team) -> None:
        member = team.members[1]
        async with session(api, member) as live:
            await live.subscribe("1", USAGE)
            await live.next_of("1")
            left = await api.call("DELETE", "/customer/leave", member)
            assert left.status_code in (200, 204), left.text
            await asyncio.sleep(0.5)  # the membership caches hear of it
            await Meter(api, team.customer_id).consume(FEATURE)
            payload = await live.next_of("1")
            [error] = payload["errors"]
            assert error["extensions"]["code"] == "NO_CUSTOMER"
            assert (await live.receive())["type"] == "complete"

    async def test_shutting_down_completes_open_subscriptions(self, api: Api, team: Team) -> None:
        async with session(api, team.owner) as live:
            await live.subscribe("1", USAGE)
            await live.next_of("1")
            await api.container.notifier.stop()
            assert await live.receive() == {"id": "1", "type": "complete"}


class TestAlerts:
    @pytest.mark.parametrize("role", ["owner", "admin"])
    async def test_an_alert_published_reaches_its_customers_managers(
        self, api: Api, team: Team, role: str
    ) -> None:
        caller = team.owner if role == "owner" else team.members[0]
        other = await api.team()
        async with session(api, caller) as live:
            await live.subscribe("a", ALERTS)
            await asyncio.sleep(0.05)  # subscribed
            api.container.notifier.publish_alert(alert(other.customer_id, 50))
            api.container.notifier.publish_alert(alert(team.customer_id, 80))
            payload = await live.next_of("a")
            assert payload["data"]["alerts"] == {
                "customerId": team.customer_id,
                "serviceName": "ai-api",
                "featureKey": "chat_completions_per_month",
                "window": "MONTH",
                "thresholdPercent": 80,
                "usage": 800,
                "limit": 1000,
                "occurredAt": "2030-01-02T03:04:05Z",
            }
            with pytest.raises(TimeoutError):
                await live.receive(within=0.5)  # the other customer's never comes

    async def test_consumes_crossing_a_threshold_are_streamed_once_stored(self, api: Api) -> None:
        """The alerts feature raises them: the default 80 % of a limit of 10, then 100 %."""
        meter, owner = await limited(api, MONTH_FEATURE)
        async with session(api, owner) as live:
            await live.subscribe("a", ALERTS)
            await asyncio.sleep(0.05)  # subscribed
            await consume_to(meter, MONTH_FEATURE, 10)
            streamed = [(await live.next_of("a"))["data"]["alerts"] for _ in range(2)]
        assert sorted((a["thresholdPercent"], a["usage"], a["limit"]) for a in streamed) == [
            (80, 8, 10),
            (100, 10, 10),
        ]
        assert {a["customerId"] for a in streamed} == {meter.customer_id}

    async def test_a_plain_member_may_not(self, api: Api, team: Team) -> None:
        async with session(api, team.members[1]) as live:
            await live.subscribe("a", ALERTS)
            error = await error_of(live, "a")
            assert error["extensions"]["code"] == "FORBIDDEN"

    async def test_a_user_with_no_customer_gets_no_customer(self, api: Api) -> None:
        async with session(api, api.user()) as live:
            await live.subscribe("a", ALERTS)
            assert (await error_of(live, "a"))["extensions"]["code"] == "NO_CUSTOMER"

    async def test_a_quota_alert_has_no_window(self, api: Api, team: Team) -> None:
        async with session(api, team.owner) as live:
            await live.subscribe("a", ALERTS)
            await asyncio.sleep(0.05)
            quota = dataclasses.replace(alert(team.customer_id), window=None)
            api.container.notifier.publish_alert(quota)
            assert (await live.next_of("a"))["data"]["alerts"]["window"] is None


class TestCaps:
    async def test_per_connection(self, sqlite_database_url: str, tmp_path: Path) -> None:
        settings = settings_for(
            sqlite_database_url, tmp_path, graphql_subscriptions_per_connection=2
        )
        async with running_api(settings) as api:
            team = await api.team()
            async with session(api, team.owner) as live:
                for id in ("1", "2"):
                    await live.subscribe(id, USAGE)
                    await live.next_of(id)
                await live.subscribe("3", USAGE)
                error = await error_of(live, "3")
                assert error["extensions"]["code"] == "TOO_MANY_SUBSCRIPTIONS"
                assert error["extensions"]["status"] == 429
                await live.complete("1")
                await asyncio.sleep(0.05)
                await live.subscribe("4", USAGE)
                await live.next_of("4")  # room again
                async with session(api, team.owner) as another:  # a connection of its own
                    await another.subscribe("1", USAGE)
                    await another.next_of("1")

    async def test_per_caller_across_connections(
        self, sqlite_database_url: str, tmp_path: Path
    ) -> None:
        settings = settings_for(sqlite_database_url, tmp_path, graphql_subscriptions_per_caller=3)
        async with running_api(settings) as api:
            team = await api.team("admin")
            async with session(api, team.owner) as first, session(api, team.owner) as second:
                for id in ("1", "2"):
                    await first.subscribe(id, USAGE)
                    await first.next_of(id)
                await second.subscribe("1", USAGE)
                await second.next_of("1")
                await second.subscribe("2", ALERTS)
                error = await error_of(second, "2")
                assert error["extensions"]["code"] == "TOO_MANY_SUBSCRIPTIONS"
                async with session(api, team.members[0]) as admin:  # another caller
                    await admin.subscribe("1", USAGE)
                    await admin.next_of("1")
            # Every slot is given back when the connections close.
            async with session(api, team.owner) as again:
                for id in ("1", "2", "3"):
                    await again.subscribe(id, USAGE)
                    await again.next_of(id)

    async def test_a_refused_subscription_gives_its_slot_back(
        self, sqlite_database_url: str, tmp_path: Path
    ) -> None:
        settings = settings_for(
            sqlite_database_url, tmp_path, graphql_subscriptions_per_connection=1
        )
        async with running_api(settings) as api:
            team = await api.team()
            async with session(api, team.owner) as live:
                await live.subscribe("1", USAGE, {"service": "nope"})
                assert (await error_of(live, "1"))["extensions"]["code"] == "SERVICE_NOT_FOUND"
                await live.subscribe("2", USAGE)
                assert usage_of(await live.next_of("2")) == 0
