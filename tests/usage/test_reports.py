"""The limits, usage and quota reports over REST (SPEC §5.3, §5.4)."""

from __future__ import annotations

import csv
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import event

from app.models import QuotaCounter
from tests.support.api import ANONYMOUS, Api, Caller, running_api, settings_for
from tests.support.clock import MovableClock
from tests.support.redis import RedisServer

CHAT = ("ai-api", "chat_completions_per_minute")  # free: 5 a minute
CHAT_MONTH = ("ai-api", "chat_completions_per_month")  # free: 100 a month
AUDIO = ("ai-api", "audio_transcriptions_per_month")  # free: disabled
FEEDS = ("feeds-api", "feeds_download_per_hour")  # public: 2 an hour
CLIENT_IP = "203.0.113.7"  # the address the test client connects from


def catalog() -> list[dict[str, str]]:
    text = resources.files("app.catalog").joinpath("default_catalog.csv").read_text("utf-8")
    return list(csv.DictReader(text.splitlines()))


RATES = [row for row in catalog() if row["kind"] == "rate"]
QUOTAS = [row for row in catalog() if row["kind"] == "quota"]


def tier_values(tier: str, rows: list[dict[str, str]] = RATES) -> dict[str, dict[str, int]]:
    values: dict[str, dict[str, int]] = {}
    for row in rows:
        values.setdefault(row["service"], {})[row["feature_key"]] = int(row[tier])
    return values


async def consume(
    api: Api, feature: tuple[str, str], amount: int = 1, **caller: str
) -> httpx.Response:
    """A consume by a metered service, for `customerId=` or `ip=`."""
    service_name, feature_key = feature
    body = {"serviceName": service_name, "featureKey": feature_key, "amount": amount, **caller}
    return await api.call("POST", "/limits/consume", api.service(), json=body)


async def customer_on(api: Api, tier: str | None = None) -> tuple[Caller, str]:
    """An owner and their customer, on the default tier unless `tier` is given."""
    owner = api.user()
    customer_id = (await api.customer(owner))["id"]
    if tier is not None:
        await api.set_tier(customer_id, tier)
    return owner, customer_id


async def get(api: Api, path: str, caller: Caller = ANONYMOUS, status: int = 200) -> Any:
    response = await api.call("GET", path, caller)
    assert response.status_code == status, response.text
    return response.json()


def feature_of(report: dict[str, Any], feature: tuple[str, str]) -> dict[str, Any]:
    service_name, feature_key = feature
    features: list[dict[str, Any]] = report["services"][service_name]["features"]
    (found,) = [row for row in features if row["featureKey"] == feature_key]
    return found


def window_end(now: datetime, length: timedelta) -> int:
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    return int((epoch + ((now - epoch) // length + 1) * length).timestamp())


def next_month(now: datetime) -> int:
    year, month = (now.year + 1, 1) if now.month == 12 else (now.year, now.month + 1)
    return int(datetime(year, month, 1, tzinfo=UTC).timestamp())


class TestLimits:
    async def test_every_rate_limit_of_the_customers_tier(self, api: Api) -> None:
        owner, customer_id = await customer_on(api)
        body = await get(api, "/limits", owner)
        assert (body["customerId"], body["tierName"]) == (customer_id, "free")
        values = {
            service: {key: limit["value"] for key, limit in features.items()}
            for service, features in body["limits"].items()
        }
        assert values == tier_values("free")
        assert body["limits"]["ai-api"]["chat_completions_per_month"] == {
            "value": 100,
            "window": "month",
            "description": "Chat completions per month",
        }

    async def test_values_follow_the_customers_tier(self, api: Api) -> None:
        owner, customer_id = await customer_on(api)
        await get(api, "/limits", owner)
        await api.set_tier(customer_id, "pro")
        body = await get(api, "/limits/ai-api", owner)
        assert body["tierName"] == "pro"
        assert body["limits"]["chat_completions_per_minute"]["value"] == 30

    async def test_one_service(self, api: Api) -> None:
        owner, customer_id = await customer_on(api)
        body = await get(api, "/limits/search-api", owner)
        assert (body["customerId"], body["tierName"], body["serviceName"]) == (
            customer_id,
            "free",
            "search-api",
        )
        assert {key: v["value"] for key, v in body["limits"].items()} == tier_values("free")[
            "search-api"
        ]

    async def test_one_feature(self, api: Api) -> None:
        owner, _ = await customer_on(api)
        body = await get(api, "/limits/feeds-api/feeds_download_per_hour", owner)
        assert body == {"value": 10, "window": "hour", "description": "Feed downloads per hour"}

    async def test_every_member_sees_the_customers_limits(self, api: Api) -> None:
        team = await api.team("user")
        body = await get(api, "/limits/ai-api/chat_completions_per_minute", team.members[0])
        assert body["value"] == 1200  # enterprise

    @pytest.mark.parametrize(
        ("path", "code"),
        [
            ("/limits/no-such-api", "SERVICE_NOT_FOUND"),
            ("/limits/no-such-api/chat_completions_per_minute", "SERVICE_NOT_FOUND"),
            ("/limits/ai-api/no_such_feature", "FEATURE_NOT_FOUND"),
            ("/limits/compute-api/max_instances", "FEATURE_NOT_FOUND"),  # a quota
        ],
    )
    async def test_unknown_names_are_404(self, api: Api, path: str, code: str) -> None:
        owner, _ = await customer_on(api)
        body = await get(api, path, owner, 404)
        assert body["error"]["code"] == code

    @pytest.mark.parametrize(
        "path", ["/limits", "/limits/ai-api", "/limits/ai-api/chat_completions_per_minute"]
    )
    async def test_a_caller_without_a_team_is_404_and_anonymous_401(
        self, api: Api, path: str
    ) -> None:
        assert (await get(api, path, api.user(), 404))["error"]["code"] == "NO_CUSTOMER"
        assert (await get(api, path, ANONYMOUS, 401))["error"]["code"] == (
            "AUTHENTICATION_REQUIRED"
        )


class TestIpLimits:
    async def test_every_feature_of_the_public_tier_zeros_included(self, api: Api) -> None:
        body = await get(api, "/limits/ip")
        values = {
            service: {key: limit["value"] for key, limit in features.items()}
            for service, features in body["ipLimits"].items()
        }
        assert values == tier_values("public")
        assert sum(len(features) for features in values.values()) == len(RATES)
        assert body["ipLimits"]["ai-api"]["chat_completions_per_minute"]["value"] == 0

    async def test_one_service(self, api: Api) -> None:
        body = await get(api, "/limits/ip/feeds-api")
        assert body["limits"]["feeds_download_per_hour"] == {
            "value": 2,
            "window": "hour",
            "description": "Feed downloads per hour",
        }
        assert set(body) == {"limits"}

    async def test_signed_in_callers_see_the_public_tier_too(self, api: Api) -> None:
        owner, _ = await customer_on(api, "pro")
        assert await get(api, "/limits/ip", owner) == await get(api, "/limits/ip")

    async def test_unknown_service_is_404(self, api: Api) -> None:
        body = await get(api, "/limits/ip/no-such-api", ANONYMOUS, 404)
        assert body["error"]["code"] == "SERVICE_NOT_FOUND"


class TestUsage:
    async def test_counts_after_consumes(self, api: Api, clock: MovableClock) -> None:
        owner, customer_id = await customer_on(api)
        for _ in range(3):
            assert (await consume(api, CHAT, customerId=customer_id)).status_code == 200
        await consume(api, CHAT_MONTH, 40, customerId=customer_id)
        body = await get(api, "/limits/usage", owner)
        assert (body["identifier"], body["identifierType"]) == (owner.user_id, "user")
        assert body["fetchedAt"] == int(clock.now.timestamp())
        assert body["totalFeatures"] == len(RATES)
        assert set(body["services"]) == set(tier_values("free"))
        assert feature_of(body, CHAT) == {
            "identifier": owner.user_id,
            "identifierType": "user",
            "featureKey": "chat_completions_per_minute",
            "tierName": "free",
            "window": "minute",
            "description": "Chat completion requests per minute",
            "currentUsage": 3,
            "limit": 5,
            "remaining": 2,
            "resetAt": window_end(clock.now, timedelta(minutes=1)),
            "isLocked": False,
        }
        month = feature_of(body, CHAT_MONTH)
        assert (month["currentUsage"], month["remaining"]) == (40, 60)
        assert month["resetAt"] == next_month(clock.now)

    async def test_the_team_shares_one_pool(self, api: Api) -> None:
        team = await api.team("user")
        member = team.members[0]
        await consume(api, CHAT, 7, customerId=team.customer_id, userId=team.owner.user_id)
        body = await get(api, "/limits/usage?serviceName=ai-api", member)
        assert body["identifier"] == member.user_id
        assert feature_of(body, CHAT)["currentUsage"] == 7

    async def test_locked_at_the_limit(self, api: Api) -> None:
        owner, customer_id = await customer_on(api)
        await consume(api, CHAT, 4, customerId=customer_id)
        assert not feature_of(await get(api, "/limits/usage", owner), CHAT)["isLocked"]
        await consume(api, CHAT, customerId=customer_id)
        assert (await consume(api, CHAT, customerId=customer_id)).status_code == 429
        usage = feature_of(await get(api, "/limits/usage", owner), CHAT)
        assert (usage["currentUsage"], usage["remaining"], usage["isLocked"]) == (5, 0, True)

    async def test_a_disabled_feature_is_locked(self, api: Api) -> None:
        owner, _ = await customer_on(api)
        usage = feature_of(await get(api, "/limits/usage", owner), AUDIO)
        assert (usage["limit"], usage["remaining"], usage["isLocked"]) == (0, 0, True)

    async def test_unlimited_has_remaining_minus_one(self, api: Api) -> None:
        owner, customer_id = await customer_on(api, "enterprise_max")
        await consume(api, CHAT, 1000, customerId=customer_id)
        usage = feature_of(await get(api, "/limits/usage", owner), CHAT)
        assert (usage["currentUsage"], usage["limit"], usage["remaining"]) == (1000, -1, -1)
        assert usage["isLocked"] is False

    async def test_a_new_window_starts_from_zero(self, api: Api, clock: MovableClock) -> None:
        owner, customer_id = await customer_on(api)
        await consume(api, CHAT, 5, customerId=customer_id)
        locked = feature_of(await get(api, "/limits/usage", owner), CHAT)
        clock.advance(minutes=1)
        usage = feature_of(await get(api, "/limits/usage", owner), CHAT)
        assert (usage["currentUsage"], usage["isLocked"]) == (0, False)
        assert usage["resetAt"] == locked["resetAt"] + 60

    async def test_filter_by_service(self, api: Api) -> None:
        owner, _ = await customer_on(api)
        body = await get(api, "/limits/usage?serviceName=feeds-api", owner)
        assert list(body["services"]) == ["feeds-api"]
        assert body["totalFeatures"] == len(tier_values("free")["feeds-api"])
        assert body["services"]["feeds-api"]["serviceName"] == "feeds-api"

    async def test_filter_by_unknown_service_is_404(self, api: Api) -> None:
        owner, _ = await customer_on(api)
        body = await get(api, "/limits/usage?serviceName=no-such-api", owner, 404)
        assert (body["error"]["code"], body["error"]["param"]) == (
            "SERVICE_NOT_FOUND",
            "serviceName",
        )

    async def test_a_caller_without_a_team_is_404_and_anonymous_401(self, api: Api) -> None:
        assert (await get(api, "/limits/usage", api.user(), 404))["error"]["code"] == (
            "NO_CUSTOMER"
        )
        await get(api, "/limits/usage", ANONYMOUS, 401)


class TestIpUsage:
    async def test_the_callers_address_counts(self, api: Api, clock: MovableClock) -> None:
        await consume(api, FEEDS, ip=CLIENT_IP)
        body = await get(api, "/limits/usage/ip")
        assert (body["identifier"], body["identifierType"]) == (CLIENT_IP, "ip")
        assert body["totalFeatures"] == len(RATES)
        usage = feature_of(body, FEEDS)
        assert (usage["identifier"], usage["identifierType"], usage["tierName"]) == (
            CLIENT_IP,
            "ip",
            "public",
        )
        assert (usage["currentUsage"], usage["limit"], usage["remaining"]) == (1, 2, 1)
        assert usage["resetAt"] == window_end(clock.now, timedelta(hours=1))

    async def test_other_addresses_do_not_count(self, api: Api) -> None:
        await consume(api, FEEDS, 2, ip="198.51.100.9")
        usage = feature_of(await get(api, "/limits/usage/ip"), FEEDS)
        assert (usage["currentUsage"], usage["isLocked"]) == (0, False)

    async def test_public_tier_zeros_are_locked(self, api: Api) -> None:
        usage = feature_of(await get(api, "/limits/usage/ip?serviceName=ai-api"), CHAT)
        assert (usage["limit"], usage["isLocked"]) == (0, True)

    async def test_signed_in_callers_get_their_address(self, api: Api) -> None:
        owner, _ = await customer_on(api)
        body = await get(api, "/limits/usage/ip", owner)
        assert (body["identifier"], body["identifierType"]) == (CLIENT_IP, "ip")

    async def test_filter_by_unknown_service_is_404(self, api: Api) -> None:
        await get(api, "/limits/usage/ip?serviceName=no-such-api", ANONYMOUS, 404)


class TestOneCounterRead:
    async def test_thirty_features_are_read_in_one_pass_without_sql(self, api: Api) -> None:
        owner, customer_id = await customer_on(api)
        await consume(api, CHAT, customerId=customer_id)
        await get(api, "/limits/usage", owner)  # caches warm, as for any returning caller
        reads = count_calls(api.container.counters, "read")
        statements = record_statements(api)
        body = await get(api, "/limits/usage", owner)
        assert body["totalFeatures"] == len(RATES) == 30
        assert [len(keys) for keys in reads] == [30]
        assert own_statements(statements) == []

    async def test_one_mget_on_redis(
        self,
        database_url: str,
        redis_url: str,
        redis_server: RedisServer,
        tmp_path: Path,
        clock: MovableClock,
    ) -> None:
        settings = settings_for(database_url, tmp_path, rate_limit_storage=redis_url)
        async with running_api(settings, clock) as api:
            owner, customer_id = await customer_on(api)
            await consume(api, CHAT, 2, customerId=customer_id)
            await get(api, "/limits/usage", owner)
            with redis_server.client() as client:
                client.config_resetstat()
            body = await get(api, "/limits/usage", owner)
            with redis_server.client() as client:
                commands = client.info("commandstats")
        assert feature_of(body, CHAT)["currentUsage"] == 2
        assert commands["cmdstat_mget"]["calls"] == 1
        assert "cmdstat_get" not in commands


def count_calls(target: object, name: str) -> list[Any]:
    """Every first argument `target.name` is called with, from now on."""
    calls: list[Any] = []
    original: Callable[..., Any] = getattr(target, name)

    async def counting(first: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(first)
        return await original(first, *args, **kwargs)

    setattr(target, name, counting)
    return calls


def record_statements(api: Api) -> list[str]:
    statements: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    event.listen(api.container.db.engine.sync_engine, "before_cursor_execute", record)
    return statements


def own_statements(statements: list[str]) -> list[str]:
    """Leaves out the background work running beside the request (the cache invalidation
    poll, the ledger's writes) and transaction bookkeeping."""
    background = ("cache_invalidation", "usage_event")
    return [
        s
        for s in statements
        if not any(table in s for table in background)
        and s.strip().upper() not in ("BEGIN", "COMMIT", "ROLLBACK")
    ]


class TestQuotas:
    async def test_every_quota_of_the_customers_tier(self, api: Api) -> None:
        owner, customer_id = await customer_on(api, "pro")
        body = await get(api, "/quotas", owner)
        assert (body["customerId"], body["tierName"]) == (customer_id, "pro")
        max_instances = {"value": 3, "description": "Maximum compute instances"}
        assert body["quotas"] == {"compute-api": {"max_instances": max_instances}}
        assert {s: {k: v["value"] for k, v in f.items()} for s, f in body["quotas"].items()} == (
            tier_values("pro", QUOTAS)
        )

    async def test_one_service_and_one_feature(self, api: Api) -> None:
        owner, customer_id = await customer_on(api, "business")
        body = await get(api, "/quotas/compute-api", owner)
        assert (body["customerId"], body["serviceName"], body["tierName"]) == (
            customer_id,
            "compute-api",
            "business",
        )
        assert body["quotas"]["max_instances"]["value"] == 10
        one = await get(api, "/quotas/compute-api/max_instances", owner)
        assert one == {"value": 10, "description": "Maximum compute instances"}

    async def test_a_service_without_quotas_has_none(self, api: Api) -> None:
        owner, _ = await customer_on(api)
        assert (await get(api, "/quotas/ai-api", owner))["quotas"] == {}

    @pytest.mark.parametrize(
        ("path", "code"),
        [
            ("/quotas/no-such-api", "SERVICE_NOT_FOUND"),
            ("/quotas/no-such-api/max_instances", "SERVICE_NOT_FOUND"),
            ("/quotas/compute-api/no_such_quota", "FEATURE_NOT_FOUND"),
            ("/quotas/ai-api/chat_completions_per_minute", "FEATURE_NOT_FOUND"),  # a rate
        ],
    )
    async def test_unknown_names_are_404(self, api: Api, path: str, code: str) -> None:
        owner, _ = await customer_on(api)
        assert (await get(api, path, owner, 404))["error"]["code"] == code

    @pytest.mark.parametrize(
        "path", ["/quotas", "/quotas/compute-api", "/quotas/compute-api/max_instances"]
    )
    async def test_a_caller_without_a_team_is_404_and_anonymous_401(
        self, api: Api, path: str
    ) -> None:
        assert (await get(api, path, api.user(), 404))["error"]["code"] == "NO_CUSTOMER"
        await get(api, path, ANONYMOUS, 401)


class TestQuotaUsage:
    async def test_nothing_held(self, api: Api, clock: MovableClock) -> None:
        owner, customer_id = await customer_on(api, "pro")
        body = await get(api, "/quotas/usage", owner)
        assert body == {
            "customerId": customer_id,
            "totalFeatures": 1,
            "fetchedAt": int(clock.now.timestamp()),
            "services": {
                "compute-api": {
                    "serviceName": "compute-api",
                    "features": [
                        {
                            "featureKey": "max_instances",
                            "currentUsage": 0,
                            "limit": 3,
                            "remaining": 3,
                            "resetAt": 0,
                        }
                    ],
                }
            },
        }

    async def test_what_the_customer_holds(self, api: Api) -> None:
        owner, customer_id = await customer_on(api, "pro")
        await hold(api, customer_id, "compute-api", "max_instances", 2)
        body = await get(api, "/quotas/usage", owner)
        usage = body["services"]["compute-api"]["features"][0]
        assert (usage["currentUsage"], usage["limit"], usage["remaining"]) == (2, 3, 1)

    async def test_unlimited_has_remaining_minus_one(self, api: Api) -> None:
        owner, customer_id = await customer_on(api, "enterprise_max")
        await hold(api, customer_id, "compute-api", "max_instances", 500)
        usage = (await get(api, "/quotas/usage", owner))["services"]["compute-api"]["features"][0]
        assert (usage["currentUsage"], usage["limit"], usage["remaining"]) == (500, -1, -1)

    async def test_a_caller_without_a_team_is_404_and_anonymous_401(self, api: Api) -> None:
        assert (await get(api, "/quotas/usage", api.user(), 404))["error"]["code"] == (
            "NO_CUSTOMER"
        )
        await get(api, "/quotas/usage", ANONYMOUS, 401)


async def hold(api: Api, customer_id: str, service: str, feature: str, used: int) -> None:
    """Resources the customer holds, written where allocations keep them."""
    entry = await api.container.catalog.require(service, feature)
    async with api.container.db.transaction() as session:
        row = QuotaCounter(customer_id=uuid.UUID(customer_id), feature_id=entry.id, used=used)
        session.add(row)
