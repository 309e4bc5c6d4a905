"""What clients send, read by a real `uvicorn app.main:app` (SPEC §7): numbers are strict."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.rest.test_errors import assert_error
from tests.support.metering import decision, ledger_events
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
