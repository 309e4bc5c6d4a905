"""The service's own rate limit (SPEC §3.5): every endpoint, GraphQL included, per caller.

The test client's address is a trusted proxy here, so each test picks its callers'
addresses with `X-Forwarded-For`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from app.settings import Settings
from tests.graphql.test_endpoint import assert_request_error
from tests.support.api import ANONYMOUS, Api, Caller, running_api, settings_for
from tests.support.clock import MovableClock

ANONYMOUS_BUDGET = 4
USER_BUDGET = 6
PROXY = "203.0.113.7"  # the address the test client connects from
NOW = datetime(2027, 3, 10, 12, 34, 15, tzinfo=UTC)  # 45 s before the window ends
POLICY = '"self";q={budget};w=60'


@pytest.fixture(params=["memory", "redis"])
def settings(
    request: pytest.FixtureRequest, database_url: str, tmp_path: Path, clock: MovableClock
) -> Settings:
    clock.now = NOW
    storage = "memory://" if request.param == "memory" else request.getfixturevalue("redis_url")
    return settings_for(
        database_url,
        tmp_path,
        rate_limit_storage=storage,
        self_limit_anonymous=f"{ANONYMOUS_BUDGET}/minute",
        self_limit_user=f"{USER_BUDGET} per 1 minute",
        trusted_proxies=[PROXY],
    )


@pytest.fixture
async def api(settings: Settings, clock: MovableClock) -> AsyncIterator[Api]:
    async with running_api(settings, clock) as api:
        yield api


async def rest(api: Api, caller: Caller, ip: str) -> httpx.Response:
    return await api.call("GET", "/limits/ip", caller, headers={"X-Forwarded-For": ip})


async def graphql(
    api: Api, caller: Caller, ip: str, query: str = "{ __typename }"
) -> httpx.Response:
    headers = {**caller.headers, "X-Forwarded-For": ip}
    return await api.client.post("/graphql", json={"query": query}, headers=headers)


async def spend(api: Api, caller: Caller, ip: str, budget: int, *, spent: int = 0) -> None:
    """The rest of the budget, alternating between the transports: they share it."""
    for used in range(spent + 1, budget + 1):
        transport = rest if used % 2 else graphql
        response = await transport(api, caller, ip)
        assert response.status_code == 200, response.text
        assert response.headers["RateLimit-Policy"] == POLICY.format(budget=budget)
        assert response.headers["RateLimit"] == f'"self";r={budget - used};t=45'


def assert_refused(response: httpx.Response, budget: int) -> None:
    """HTTP 429, in the REST error shape or, on /graphql, GraphQL-shaped (SPEC §4, §6)."""
    if response.request.url.path == "/graphql":
        assert_request_error(response, 429, "TOO_MANY_REQUESTS")
    else:
        assert response.status_code == 429, response.text
        error = response.json()["error"]
        assert (error["code"], error["status"]) == ("TOO_MANY_REQUESTS", 429)
        assert error["error_id"] == response.headers["x-error-id"]
    assert response.headers["Retry-After"] == "45"
    assert response.headers["RateLimit-Policy"] == POLICY.format(budget=budget)
    assert response.headers["RateLimit"] == '"self";r=0;t=45'


class TestBudgets:
    async def test_anonymous_callers_are_limited_by_address(self, api: Api) -> None:
        await spend(api, ANONYMOUS, "198.51.100.1", ANONYMOUS_BUDGET)
        assert_refused(await rest(api, ANONYMOUS, "198.51.100.1"), ANONYMOUS_BUDGET)
        assert_refused(await graphql(api, ANONYMOUS, "198.51.100.1"), ANONYMOUS_BUDGET)
        assert (await rest(api, ANONYMOUS, "198.51.100.2")).status_code == 200
        assert (await graphql(api, ANONYMOUS, "198.51.100.2")).status_code == 200

    async def test_ipv6_callers_share_the_budget_of_their_64(self, api: Api) -> None:
        await spend(api, ANONYMOUS, "2001:db8:1:2::1", ANONYMOUS_BUDGET)
        assert_refused(await rest(api, ANONYMOUS, "2001:db8:1:2::ffff"), ANONYMOUS_BUDGET)
        assert (await rest(api, ANONYMOUS, "2001:db8:1:3::1")).status_code == 200

    async def test_users_are_limited_per_user_wherever_they_call_from(self, api: Api) -> None:
        alice, bob = api.user(), api.user()
        await spend(api, alice, "198.51.100.1", USER_BUDGET)
        assert_refused(await rest(api, alice, "198.51.100.1"), USER_BUDGET)
        assert_refused(await graphql(api, alice, "198.51.100.9"), USER_BUDGET)
        # Another user, and anonymous callers, at the same address have budgets of their own.
        assert (await rest(api, bob, "198.51.100.1")).status_code == 200
        assert (await graphql(api, bob, "198.51.100.1")).status_code == 200
        assert (await rest(api, ANONYMOUS, "198.51.100.1")).status_code == 200

    async def test_the_budget_is_renewed_by_the_next_window(
        self, api: Api, clock: MovableClock
    ) -> None:
        await spend(api, ANONYMOUS, "198.51.100.1", ANONYMOUS_BUDGET)
        clock.advance(seconds=45)
        renewed = await rest(api, ANONYMOUS, "198.51.100.1")
        assert renewed.status_code == 200
        assert renewed.headers["RateLimit"] == f'"self";r={ANONYMOUS_BUDGET - 1};t=60'

    async def test_health_and_readiness_are_not_limited(self, api: Api) -> None:
        await spend(api, ANONYMOUS, PROXY, ANONYMOUS_BUDGET)
        for path in ("/healthz", "/readyz"):
            response = await api.client.get(path)
            assert response.status_code == 200
            assert "RateLimit" not in response.headers


class TestCredentials:
    async def test_failed_credentials_count_as_anonymous_and_fail_in_each_transport(
        self, api: Api
    ) -> None:
        forged = Caller(None, None, {"Authorization": "Bearer not-a-jwt"})
        response = await rest(api, forged, "198.51.100.1")
        assert (response.status_code, response.json()["error"]["code"]) == (401, "INVALID_TOKEN")
        assert response.headers["RateLimit"] == f'"self";r={ANONYMOUS_BUDGET - 1};t=45'
        response = await graphql(api, forged, "198.51.100.1", "{ customer { id } }")
        assert response.status_code == 200
        assert response.json()["errors"][0]["extensions"]["code"] == "INVALID_TOKEN"
        assert response.headers["RateLimit"] == f'"self";r={ANONYMOUS_BUDGET - 2};t=45'

    async def test_an_api_key_spends_its_users_budget(self, api: Api) -> None:
        user = api.user()
        issued = (await api.call("POST", "/apikeys", user, json={"name": "k"})).json()
        key = Caller(None, None, {"api-key": issued["key"], "api-secret": issued["secret"]})
        await spend(api, key, "198.51.100.1", USER_BUDGET, spent=1)
        assert_refused(await rest(api, user, "198.51.100.1"), USER_BUDGET)


class TestMeteredServices:
    """billing_service callers sit on other services' hot paths: a budget of their own,
    none by default (SPEC §2.1 `BILLING_SELF_LIMIT_SERVICE`)."""

    async def consume(self, api: Api, caller: Caller) -> httpx.Response:
        body = {
            "serviceName": "ai-api",
            "featureKey": "chat_completions_per_month",
            "ip": "198.51.100.3",
        }
        return await api.call("POST", "/limits/consume", caller, json=body)

    async def test_no_budget_by_default(self, api: Api) -> None:
        service = api.service()
        for _ in range(USER_BUDGET * 3):
            response = await self.consume(api, service)
            # The public tier disables the feature: the feature answers, never the service.
            assert response.json()["error"]["code"] == "FEATURE_DISABLED", response.text
            assert '"self"' not in response.headers.get("RateLimit-Policy", "")

    async def test_a_budget_of_their_own_when_set(
        self, settings: Settings, clock: MovableClock
    ) -> None:
        budgeted = settings.model_copy(update={"self_limit_service": "3/minute"})
        async with running_api(budgeted, clock) as api:
            service, user = api.service(), api.user()
            for _ in range(3):
                assert (await self.consume(api, service)).status_code == 403  # the feature's
            assert_refused(await self.consume(api, service), 3)
            # A user's budget is another.
            await spend(api, user, "198.51.100.1", USER_BUDGET)

    async def test_a_budget_that_is_not_limits_notation_is_refused(self) -> None:
        with pytest.raises(ValueError, match="rate limit"):
            Settings(self_limit_service="lots")
        assert Settings(self_limit_service="").self_limit_service is None


async def test_behind_a_root_path_the_hot_paths_count_once(
    settings: Settings, clock: MovableClock
) -> None:
    """Served under a prefix (`--root-path`), consume is still served ahead of the
    middleware: one count and one set of RateLimit headers, as everywhere else."""
    async with running_api(settings, clock, root_path="/billing") as api:
        body = {"serviceName": "ai-api", "featureKey": "models_list_per_minute", "ip": "1.2.3.4"}
        response = await api.call(
            "POST",
            "/limits/consume",
            api.admin(),
            json=body,
            headers={"X-Forwarded-For": "198.51.100.1"},
        )
    assert response.json()["error"]["code"] == "FEATURE_DISABLED", response.text
    assert response.headers.get_list("RateLimit") == [f'"self";r={USER_BUDGET - 1};t=45']


async def test_processes_share_budgets_through_redis_only(
    settings: Settings, clock: MovableClock
) -> None:
    async with running_api(settings, clock) as first, running_api(settings, clock) as second:
        await spend(first, ANONYMOUS, "198.51.100.1", ANONYMOUS_BUDGET)
        elsewhere = await rest(second, ANONYMOUS, "198.51.100.1")
    if settings.rate_limit_storage == "memory://":
        assert elsewhere.status_code == 200
    else:
        assert_refused(elsewhere, ANONYMOUS_BUDGET)


async def test_a_failing_counter_storage_lets_requests_through(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The limit protects the service: it must not take down what does not need counters."""

    async def unreachable(*_args: object, **_kwargs: object) -> int:
        raise ConnectionError("counter storage down")

    monkeypatch.setattr(api.container.counters, "hit", unreachable)
    response = await rest(api, ANONYMOUS, "198.51.100.1")
    assert response.status_code == 200, response.text
    assert "RateLimit" not in response.headers


@pytest.mark.parametrize("strategy", ["moving-window", "sliding-window-counter"])
async def test_a_strategy_chosen_by_name_keeps_the_budget(
    settings: Settings, clock: MovableClock, strategy: str
) -> None:
    """`limits`' own strategies, over the same storage (the clock they read is the real one)."""
    chosen = settings.model_copy(update={"self_limit_strategy": strategy})
    async with running_api(chosen, clock) as api:
        for used in range(1, ANONYMOUS_BUDGET + 1):
            response = await rest(api, ANONYMOUS, "198.51.100.1")
            assert response.status_code == 200, response.text
            assert response.headers["RateLimit"].startswith(f'"self";r={ANONYMOUS_BUDGET - used};')
        refused = await rest(api, ANONYMOUS, "198.51.100.1")
        assert refused.status_code == 429, refused.text
        assert 1 <= int(refused.headers["Retry-After"]) <= 60
        assert (await rest(api, ANONYMOUS, "198.51.100.2")).status_code == 200


def test_an_unknown_strategy_is_refused_by_the_settings() -> None:
    with pytest.raises(ValueError, match="moving-window"):
        Settings(self_limit_strategy="leaky-bucket")
