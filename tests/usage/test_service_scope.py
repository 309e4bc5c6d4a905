"""Service credentials are scoped (SPEC §2): a billing_service caller meters, allocates and
registers only the services its credential names."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest

from app.auth.principal import PlatformRole
from app.auth.tokens import mint_token
from tests.support.api import SECRET, Api, Caller, running_api, settings_for
from tests.support.metering import metered_customer

CHAT = {"serviceName": "ai-api", "featureKey": "chat_completions_per_minute"}
SEARCH = {"serviceName": "search-api", "featureKey": "simple_search_per_minute"}
INSTANCES = "/quotas/compute-api/max_instances"
FEATURE = {
    "featureKey": "chat_completions_per_minute",
    "kind": "rate",
    "window": "minute",
    "values": {"free": 999},
}
GRAPHQL_FEATURE = {
    "featureKey": "chat_completions_per_minute",
    "kind": "RATE",
    "window": "MINUTE",
    "values": [{"tierName": "free", "value": 999}],
}
CONSUME = """
mutation($service: String!, $feature: String!, $customerId: ID!) {
  consume(serviceName: $service, featureKey: $feature, customerId: $customerId) {
    currentUsage
  }
}
"""
ALLOCATE = """
mutation($customerId: ID!) {
  allocateQuota(serviceName: "compute-api", featureKey: "max_instances",
                customerId: $customerId) { currentUsage }
}
"""
REGISTER = """
mutation($features: [FeatureInput!]!) {
  registerService(serviceName: "ai-api", features: $features) { serviceName }
}
"""


def code_of(response: httpx.Response) -> tuple[int, str | None]:
    body = response.json()
    return response.status_code, body["error"]["code"] if "error" in body else None


async def scope_calls(api: Api, caller: Caller, customer_id: str) -> dict[str, tuple[int, Any]]:
    """Every metered operation of the REST shim, as `caller`."""
    body = {"customerId": customer_id}
    calls = {
        "consume ai-api": ("POST", "/limits/consume", {**CHAT, **body}),
        "check ai-api": ("POST", "/limits/check", {**CHAT, **body}),
        "consume search-api": ("POST", "/limits/consume", {**SEARCH, **body}),
        "check search-api": ("POST", "/limits/check", {**SEARCH, **body}),
        "allocate compute-api": ("POST", f"{INSTANCES}/allocate", body),
        "release compute-api": ("POST", f"{INSTANCES}/release", body),
        "register ai-api": ("PUT", "/admin/services/ai-api", {"features": [FEATURE]}),
    }
    return {
        name: code_of(await api.call(method, path, caller, json=json))
        for name, (method, path, json) in calls.items()
    }


@pytest.fixture
async def customer_id(api: Api) -> str:
    return (await metered_customer(api, "pro")).customer_id


class TestTokens:
    async def test_a_token_meters_only_the_services_it_names(
        self, api: Api, customer_id: str
    ) -> None:
        caller = api.service("ai-api")
        answers = await scope_calls(api, caller, customer_id)
        assert answers == {
            "consume ai-api": (200, None),
            "check ai-api": (200, None),
            "consume search-api": (403, "FORBIDDEN"),
            "check search-api": (403, "FORBIDDEN"),
            "allocate compute-api": (403, "FORBIDDEN"),
            "release compute-api": (403, "FORBIDDEN"),
            "register ai-api": (200, None),
        }

    async def test_the_whole_catalog_for_a_star(self, api: Api, customer_id: str) -> None:
        answers = await scope_calls(api, api.service("*"), customer_id)
        assert {status for status, _ in answers.values()} == {200}

    async def test_several_services(self, api: Api, customer_id: str) -> None:
        answers = await scope_calls(api, api.service("search-api", "compute-api"), customer_id)
        assert {name for name, (status, _) in answers.items() if status == 200} == {
            "consume search-api",
            "check search-api",
            "allocate compute-api",
            "release compute-api",
        }

    async def test_a_service_credential_naming_none_meters_nothing(
        self, api: Api, customer_id: str
    ) -> None:
        unscoped = api.user(PlatformRole.BILLING_SERVICE)
        answers = await scope_calls(api, unscoped, customer_id)
        assert set(answers.values()) == {(403, "FORBIDDEN")}
        body = {**CHAT, "customerId": customer_id}
        response = await api.call("POST", "/limits/consume", unscoped, json=body)
        assert "names no services" in response.json()["error"]["message"]

    async def test_billing_admin_meters_every_service(self, api: Api, customer_id: str) -> None:
        answers = await scope_calls(api, api.admin(), customer_id)
        assert {status for status, _ in answers.values()} == {200}

    async def test_the_scope_is_checked_before_the_input(self, api: Api) -> None:
        """403 before 400 (SPEC §7): the service a path names is the caller's business
        before the body is."""
        caller = api.service("ai-api")
        allocate = await api.call("POST", f"{INSTANCES}/allocate", caller, content=b"{nope")
        register = await api.call("PUT", "/admin/services/search-api", caller, json={})
        assert code_of(allocate) == (403, "FORBIDDEN")
        assert code_of(register) == (403, "FORBIDDEN")

    async def test_a_scope_that_is_not_a_list_of_names_is_an_invalid_token(self, api: Api) -> None:
        token = jwt.encode(
            {"sub": "7d0c1f4e-0000-4000-8000-000000000009", "exp": 2**40, "services": "ai-api"},
            SECRET,
            algorithm="HS256",
        )
        response = await api.call("GET", "/limits/ip", Caller(None, None, bearer(token)))
        assert code_of(response) == (401, "INVALID_TOKEN")


class TestGraphQL:
    async def test_the_same_scope(self, api: Api, customer_id: str) -> None:
        caller = api.service("search-api")
        variables = {"customerId": customer_id}
        outside = [
            await api.graphql(
                CONSUME, caller, service="ai-api", feature=CHAT["featureKey"], **variables
            ),
            await api.graphql(ALLOCATE, caller, **variables),
            await api.graphql(REGISTER, caller, features=[GRAPHQL_FEATURE]),
        ]
        for body in outside:
            assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN", body
        inside = await api.graphql(
            CONSUME, caller, service="search-api", feature=SEARCH["featureKey"], **variables
        )
        assert inside["data"]["consume"]["currentUsage"] == 1, inside


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def token_of(user: Caller, services: list[str] | None = None) -> Caller:
    """A billing_service token of `user`, naming `services` (or none)."""
    user_id = uuid.UUID(user.user_id)
    token = mint_token(
        SECRET, user_id=user_id, email=None, roles=["billing_service"], services=services
    )
    return Caller(user_id, None, bearer(token))


def billing(*arguments: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *arguments],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=False,
    )


class TestOperatorCommands:
    async def test_billing_token_mints_a_scoped_service_token(self, tmp_path: Path) -> None:
        env = {"BILLING_JWT_SECRET": SECRET, "BILLING_DATA_DIR": str(tmp_path)}
        minted = await asyncio.to_thread(
            billing,
            "token",
            "--user-id",
            "7d0c1f4e-0000-4000-8000-000000000003",
            "--service",
            "ai-api",
            "--service",
            "search-api",
            env=env,
        )
        assert minted.returncode == 0, minted.stderr
        claims = jwt.decode(minted.stdout.strip(), SECRET, algorithms=["HS256"])
        assert claims["roles"] == ["billing_service"]
        assert claims["services"] == ["ai-api", "search-api"]

    async def test_services_granted_to_an_api_key_user(
        self, api: Api, database_url: str, tmp_path: Path, customer_id: str
    ) -> None:
        user = api.user()
        issued = (await api.call("POST", "/apikeys", user, json={"name": "meter"})).json()
        key = Caller(None, None, {"api-key": issued["key"], "api-secret": issued["secret"]})
        env = {"BILLING_DATABASE_URL": database_url, "BILLING_DATA_DIR": str(tmp_path)}
        grant = ["grant-role", "--user-id", user.user_id, "--role", "billing_service"]

        unscoped = await asyncio.to_thread(billing, *grant, env=env)
        assert unscoped.returncode != 0 and "--service" in unscoped.stderr
        granted = await asyncio.to_thread(billing, *grant, "--service", "ai-api", env=env)
        assert granted.returncode == 0, granted.stderr

        # A server started after the grant (this one learns of it within a quarter second).
        async with running_api(settings_for(database_url, tmp_path)) as fresh:
            answers = await scope_calls(fresh, key, customer_id)
            assert answers["consume ai-api"] == (200, None)
            assert answers["consume search-api"] == (403, "FORBIDDEN")

        # Tokens of that same user: one naming its services keeps to them, whatever the
        # user was granted for its API keys; one naming none meters what was granted.
        naming, naming_none = token_of(user, services=["search-api"]), token_of(user)
        month = {"serviceName": "ai-api", "featureKey": "chat_completions_per_month"}
        body = {**month, "customerId": customer_id}
        async with running_api(settings_for(database_url, tmp_path)) as fresh:
            kept = await fresh.call("POST", "/limits/consume", naming, json=body)
            by_grant = await fresh.call("POST", "/limits/consume", naming_none, json=body)
        assert code_of(kept) == (403, "FORBIDDEN")
        assert code_of(by_grant) == (200, None)

        revoked = await asyncio.to_thread(
            billing, *grant, "--service", "ai-api", "--revoke", env=env
        )
        assert revoked.returncode == 0, revoked.stderr
        async with running_api(settings_for(database_url, tmp_path)) as fresh:
            answers = await scope_calls(fresh, key, customer_id)
            assert answers["consume ai-api"] == (403, "FORBIDDEN")
