"""Browser apps on the origins `BILLING_CORS_ORIGINS` names (SPEC §6): on /graphql, the
REST paths and the hot paths served ahead of the router; nothing without the setting."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pydantic
import pytest

from tests.graphql.test_endpoint import assert_request_error
from tests.rest.test_errors import assert_error
from tests.support.api import BASE, Api, running_api, settings_for
from tests.support.clock import MovableClock

ALLOWED = "https://app.example"
PATHS = ("/graphql", f"{BASE}/limits/consume", f"{BASE}/customer")


@pytest.fixture
async def cors_api(database_url: str, tmp_path: Path, clock: MovableClock) -> AsyncIterator[Api]:
    settings = settings_for(database_url, tmp_path, cors_origins=f"{ALLOWED}, https://b.example")
    async with running_api(settings, clock) as api:
        yield api


def preflight(origin: str, method: str = "POST") -> dict[str, str]:
    return {
        "Origin": origin,
        "Access-Control-Request-Method": method,
        "Access-Control-Request-Headers": "authorization, content-type",
    }


@pytest.mark.parametrize("path", PATHS)
async def test_a_preflight_from_an_allowed_origin_is_answered(cors_api: Api, path: str) -> None:
    response = await cors_api.client.options(path, headers=preflight(ALLOWED))
    assert response.status_code == 200, response.text
    headers = response.headers
    assert headers["access-control-allow-origin"] == ALLOWED
    assert headers["access-control-allow-credentials"] == "true"
    assert headers["access-control-max-age"] == "600"
    assert "POST" in headers["access-control-allow-methods"]
    allowed = {h.strip().lower() for h in headers["access-control-allow-headers"].split(",")}
    assert {"authorization", "api-key", "api-secret", "content-type", "x-request-id"} <= allowed


async def test_a_preflight_from_another_origin_is_refused(cors_api: Api) -> None:
    graphql = await cors_api.client.options("/graphql", headers=preflight("https://evil.example"))
    assert_request_error(graphql, 400, "INVALID_INPUT")
    assert "access-control-allow-origin" not in graphql.headers
    rest = await cors_api.call("OPTIONS", "/customer", headers=preflight("https://evil.example"))
    assert_error(rest, 400, "INVALID_INPUT")
    assert "access-control-allow-origin" not in rest.headers


async def test_an_actual_request_carries_the_headers_a_client_reads(cors_api: Api) -> None:
    caller = cors_api.user()
    response = await cors_api.call("GET", "/customer", caller, headers={"Origin": ALLOWED})
    assert response.status_code == 404  # no customer yet: an error is readable too
    assert response.headers["access-control-allow-origin"] == ALLOWED
    exposed = {
        h.strip().lower() for h in response.headers["access-control-expose-headers"].split(",")
    }
    assert {"x-error", "x-error-id", "ratelimit", "ratelimit-policy", "retry-after"} <= exposed
    graphql = await cors_api.client.get(
        "/graphql", params={"query": "{ __typename }"}, headers={"Origin": ALLOWED}
    )
    assert graphql.status_code == 200, graphql.text
    assert graphql.headers["access-control-allow-origin"] == ALLOWED
    other = await cors_api.call("GET", "/customer", caller, headers={"Origin": "https://c.example"})
    assert "access-control-allow-origin" not in other.headers


async def test_without_the_setting_there_are_no_cors_headers(api: Api) -> None:
    response = await api.client.options("/graphql", headers=preflight(ALLOWED))
    assert_request_error(response, 405, "METHOD_NOT_ALLOWED")  # GraphQL-shaped, as on /graphql
    assert not [name for name in response.headers if name.startswith("access-control-")]
    actual = await api.call("GET", "/customer", api.user(), headers={"Origin": ALLOWED})
    assert not [name for name in actual.headers if name.startswith("access-control-")]


@pytest.mark.parametrize("origins", ["*", f"{ALLOWED},*", f"{ALLOWED}/app"])
def test_a_wildcard_or_a_path_is_refused_at_start(tmp_path: Path, origins: str) -> None:
    with pytest.raises(pydantic.ValidationError, match="BILLING_CORS_ORIGINS"):
        settings_for("sqlite://", tmp_path, cors_origins=origins)
