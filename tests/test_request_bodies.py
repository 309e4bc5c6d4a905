"""What clients send, read by a real `uvicorn app.main:app` (SPEC §7): numbers are strict,
and JSON nested too deep is malformed, never a failure of the service."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.graphql.test_endpoint import assert_request_error
from tests.rest.test_errors import assert_error
from tests.support.api import ANONYMOUS, Api
from tests.support.deep_json import too_deep
from tests.support.metering import decision, ledger_events, metered_customer
from tests.support.servers import run_server_processes
from tests.test_limits_concurrency import LIMITED, metered_servers, server_env

pytestmark = pytest.mark.slow

NOT_INTEGERS: list[Any] = ["1", True, 1.5]
QUOTA = "/quotas/compute-api/max_instances"  # 3 on `pro`


async def test_numbers_sent_as_text_or_booleans_are_refused_and_count_nothing(
    sqlite_database_url: str, tmp_path: Path
) -> None:
    env = server_env(sqlite_database_url, tmp_path, "memory://")
    async with metered_servers(1, env) as (meter,):
        holder = {"customerId": meter.customer_id}
        calls = [(path, meter.body(LIMITED)) for path in ("/limits/consume", "/limits/check")]
        calls += [(f"{QUOTA}/{verb}", holder) for verb in ("allocate", "release")]
        for path, body in calls:
            for amount in NOT_INTEGERS:
                call = meter.api.call("POST", path, meter.service, json={**body, "amount": amount})
                assert assert_error(await call, 400, "INVALID_INPUT")["param"] == "amount"
        assert decision(await meter.consume(LIMITED))["currentUsage"] == 1
        allocated = await meter.api.call("POST", f"{QUOTA}/allocate", meter.service, json=holder)
        assert allocated.json()["currentUsage"] == 1
    # Stopped gracefully: the ledger holds every decision the server made.
    events = await ledger_events(sqlite_database_url, meter.customer_id)
    assert [(e["amount"], e["allowed"]) for e in events] == [(1, True)]


async def test_json_nested_too_deep_is_malformed_and_logs_no_failure(
    sqlite_database_url: str, tmp_path: Path
) -> None:
    env = server_env(sqlite_database_url, tmp_path, "memory://")
    with run_server_processes(1, env) as (server,):
        async with httpx.AsyncClient(base_url=server.url) as client:
            meter = await metered_customer(Api(client), "pro")
            for caller in (ANONYMOUS, meter.service):
                for body in too_deep('"query"'):
                    headers = {**caller.headers, "content-type": "application/json"}
                    response = await client.post("/graphql", content=body, headers=headers)
                    assert_request_error(response, 400, "MALFORMED_JSON")
                for variables in too_deep('"input"'):
                    params = {"query": "{ __typename }", "variables": variables.decode()}
                    response = await client.get("/graphql", params=params, headers=caller.headers)
                    assert_request_error(response, 400, "MALFORMED_JSON")
            for body in too_deep('"serviceName"'):
                response = await meter.api.call(
                    "POST", "/limits/consume", meter.service, content=body
                )
                assert_error(response, 400, "MALFORMED_JSON")
            assert await meter.usage(LIMITED) == 0
        logged = server.error_output()
    assert '"level": "error"' not in logged and "Traceback" not in logged, logged
