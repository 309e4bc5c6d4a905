"""Concurrent changes of the default tier (SPEC §5.7): the last one to commit wins.

Every call answers 200 — never a deadlock (500) or a unique-index conflict (409) — and
exactly one tier is the default afterwards, on both backends.
"""

from __future__ import annotations

import asyncio
from collections import Counter

from tests.support.api import Api

CALLS = 36


async def test_concurrent_default_changes_all_succeed(api: Api) -> None:
    admin = api.admin()
    tiers = (await api.call("GET", "/admin/tiers", admin)).json()["tiers"]
    assignable = [tier for tier in tiers if tier["name"] != "public"]
    assert len(assignable) == 9
    responses = await asyncio.gather(
        *(
            api.call("PUT", f"/admin/tiers/{assignable[n % 9]['id']}/default", admin)
            for n in range(CALLS)
        )
    )
    statuses = Counter(response.status_code for response in responses)
    assert statuses == {200: CALLS}, [r.text for r in responses if r.status_code != 200]
    assert all(response.json()["isDefault"] is True for response in responses)
    after = (await api.call("GET", "/admin/tiers", admin)).json()["tiers"]
    defaults = [tier["name"] for tier in after if tier["isDefault"]]
    assert len(defaults) == 1, defaults
    # A new customer lands on that default.
    assert (await api.customer(api.user()))["tierName"] == defaults[0]
