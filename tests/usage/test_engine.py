"""The limits engine through `POST /limits/consume` and `/limits/check` (SPEC §3.4, §5.8),
on every counter storage: in-process memory and a real Redis.

A consume is one atomic conditional increment: a counter never passes its limit, refusals
leave it where it is, and a repeated `idempotencyKey` is answered with the first decision
and counted once, however many arrive together.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from app.usage import idempotency
from tests.support.api import Api, running_api, settings_for
from tests.support.clock import MovableClock
from tests.support.metering import Meter, decision, ledger_events, metered_customer
from tests.support.redis import RedisServer

PER_MINUTE = "ai-api/chat_completions_per_minute"  # free 5, enterprise_max unlimited
PER_MONTH = "ai-api/chat_completions_per_month"  # free 100
TRANSCRIPTIONS = "ai-api/audio_transcriptions_per_month"  # free 0 (disabled), pro 100


@pytest.fixture
async def api(
    sqlite_database_url: str, tmp_path: Path, clock: MovableClock, storage: str
) -> AsyncIterator[Api]:
    settings = settings_for(sqlite_database_url, tmp_path, rate_limit_storage=storage)
    async with running_api(settings, clock) as api:
        yield api


@pytest.fixture
async def meter(api: Api, clock: MovableClock) -> Meter:
    # Mid-window, so that no test straddles a boundary.
    clock.now = clock.now.replace(second=20, microsecond=0)
    return await metered_customer(api, "free")


async def flushed_ledger(api: Api, customer_id: str) -> list[dict[str, object]]:
    """The customer's events in the ledger table, once everything buffered is written."""
    await api.container.ledger.flush()
    return await ledger_events(api.container.db.url, customer_id)


class TestConsume:
    async def test_allows_up_to_the_limit_then_refuses_with_429(self, meter: Meter) -> None:
        for used in range(1, 6):
            response = await meter.consume(PER_MINUTE)
            assert response.status_code == 200, response.text
            body = response.json()
            assert (body["allowed"], body["currentUsage"], body["limit"], body["remaining"]) == (
                True,
                used,
                5,
                5 - used,
            )

        refused = await meter.consume(PER_MINUTE)

        assert refused.status_code == 429
        error = decision(refused)
        assert error["code"] == "RATE_LIMITED"
        assert error["status"] == 429
        assert refused.headers["x-error-id"] == error["error_id"]
        assert (error["allowed"], error["currentUsage"], error["limit"], error["remaining"]) == (
            False,
            5,
            5,
            0,
        )
        assert int(refused.headers["Retry-After"]) >= 1
        assert '"feature";q=5;w=60' in refused.headers["RateLimit-Policy"]
        assert '"feature";r=0;' in refused.headers["RateLimit"]

    async def test_refusals_leave_the_counter_at_the_limit(self, meter: Meter) -> None:
        await meter.consume(PER_MINUTE, 5)
        for _ in range(3):
            assert (await meter.consume(PER_MINUTE)).status_code == 429
        assert await meter.usage(PER_MINUTE) == 5

    async def test_an_amount_counts_whole_or_not_at_all(self, meter: Meter) -> None:
        assert decision(await meter.consume(PER_MINUTE, 3))["currentUsage"] == 3
        too_many = await meter.consume(PER_MINUTE, 3)
        assert too_many.status_code == 429
        assert decision(too_many)["currentUsage"] == 3
        exact = await meter.consume(PER_MINUTE, 2)
        assert exact.status_code == 200
        assert exact.json()["remaining"] == 0

    async def test_the_team_shares_one_pool_and_other_customers_have_their_own(
        self, api: Api, meter: Meter
    ) -> None:
        team = await api.team("admin", "user")
        await api.set_tier(team.customer_id, "free")
        for member in (team.owner, *team.members):
            response = await api.call(
                "POST",
                "/limits/consume",
                meter.service,
                json={**meter.body(PER_MINUTE), "customerId": None, "userId": member.user_id},
            )
            assert response.status_code == 200, response.text
        assert await Meter(api, team.customer_id, meter.service).usage(PER_MINUTE) == 3
        assert await meter.usage(PER_MINUTE) == 0

    async def test_check_consumes_nothing(self, meter: Meter) -> None:
        for _ in range(3):
            checked = await meter.check(PER_MINUTE, 5)
            assert checked.status_code == 200
            assert checked.json()["currentUsage"] == 0
        await meter.consume(PER_MINUTE, 5)
        over = await meter.check(PER_MINUTE)
        assert over.status_code == 429
        assert decision(over)["currentUsage"] == 5

    async def test_a_disabled_feature_is_refused_with_403(self, meter: Meter) -> None:
        response = await meter.consume(TRANSCRIPTIONS)
        assert response.status_code == 403
        assert decision(response)["code"] == "FEATURE_DISABLED"

    async def test_an_unlimited_feature_counts_without_refusing(
        self, api: Api, meter: Meter
    ) -> None:
        await api.set_tier(meter.customer_id, "enterprise_max")
        await meter.consume(PER_MINUTE, 1_000_000)
        response = await meter.consume(PER_MINUTE)
        assert response.status_code == 200
        assert response.json() | {"resetAt": 0} == {
            "allowed": True,
            "currentUsage": 1_000_001,
            "limit": -1,
            "remaining": -1,
            "resetAt": 0,
        }

    async def test_a_tier_change_applies_to_the_next_consume(self, api: Api, meter: Meter) -> None:
        await meter.consume(PER_MINUTE, 5)
        assert (await meter.consume(PER_MINUTE)).status_code == 429
        await api.set_tier(meter.customer_id, "pro")  # 30 a minute
        response = await meter.consume(PER_MINUTE)
        assert response.status_code == 200
        assert (response.json()["currentUsage"], response.json()["limit"]) == (6, 30)

    async def test_every_decision_goes_to_the_ledger(self, api: Api, meter: Meter) -> None:
        await meter.consume(PER_MINUTE, 4)
        await meter.consume(PER_MINUTE, 2)
        await meter.consume(PER_MINUTE, 1)
        events = await flushed_ledger(api, meter.customer_id)
        assert [(e["amount"], e["allowed"], e["window"]) for e in events] == [
            (4, True, "minute"),
            (2, False, "minute"),
            (1, True, "minute"),
        ]

    async def test_counters_live_in_the_configured_storage(
        self, meter: Meter, storage: str, request: pytest.FixtureRequest
    ) -> None:
        await meter.consume(PER_MONTH, 7)
        if storage.startswith("redis"):
            server: RedisServer = request.getfixturevalue("redis_server")
            with server.client() as client:
                keys = [key.decode() for key in client.keys(f"*{meter.customer_id}*")]
                assert len(keys) == 1, keys
                assert int(client.get(keys[0]) or 0) == 7
        assert await meter.usage(PER_MONTH) == 7


class TestConcurrency:
    async def test_concurrent_consumes_never_pass_the_limit(self, api: Api, meter: Meter) -> None:
        responses = await asyncio.gather(*(meter.consume(PER_MINUTE) for _ in range(60)))

        assert Counter(r.status_code for r in responses) == {200: 5, 429: 55}
        allowed = sorted(r.json()["currentUsage"] for r in responses if r.status_code == 200)
        assert allowed == [1, 2, 3, 4, 5]
        assert await meter.usage(PER_MINUTE) == 5
        events = await flushed_ledger(api, meter.customer_id)
        assert Counter(e["allowed"] for e in events) == {True: 5, False: 55}

    async def test_concurrent_amounts_fill_the_limit_and_no_more(self, meter: Meter) -> None:
        amounts = [7, 13, 1, 29, 3] * 10
        responses = await asyncio.gather(*(meter.consume(PER_MONTH, n) for n in amounts))
        assert {r.status_code for r in responses} == {200, 429}
        allowed = sum(n for n, r in zip(amounts, responses, strict=True) if r.status_code == 200)
        assert allowed <= 100
        assert await meter.usage(PER_MONTH) == allowed
        for amount, response in zip(amounts, responses, strict=True):
            if response.status_code == 429:  # refused only when it did not fit at that moment
                assert decision(response)["currentUsage"] + amount > 100


class TestIdempotency:
    async def test_a_repeated_key_counts_once_and_gets_the_first_answer(self, meter: Meter) -> None:
        first = await meter.consume(PER_MONTH, 3, idempotencyKey="order-1")
        repeats = [await meter.consume(PER_MONTH, 3, idempotencyKey="order-1") for _ in range(3)]
        assert first.status_code == 200
        assert all(r.status_code == 200 and r.json() == first.json() for r in repeats)
        assert await meter.usage(PER_MONTH) == 3
        other = await meter.consume(PER_MONTH, 3, idempotencyKey="order-2")
        assert other.json()["currentUsage"] == 6

    async def test_concurrent_repeats_count_once_and_share_the_first_decision(
        self, api: Api, meter: Meter
    ) -> None:
        await meter.consume(PER_MONTH, 10)
        responses = await asyncio.gather(
            *(meter.consume(PER_MONTH, 5, idempotencyKey="burst") for _ in range(60))
        )
        assert {r.status_code for r in responses} == {200}
        first = responses[0].json()
        assert (first["currentUsage"], first["remaining"]) == (15, 85)
        assert all(r.json() == first for r in responses)
        assert await meter.usage(PER_MONTH) == 15
        events = await flushed_ledger(api, meter.customer_id)
        assert [e["amount"] for e in events] == [10, 5]

    async def test_a_repeated_refusal_is_refused_again_with_the_same_body(
        self, meter: Meter, clock: MovableClock
    ) -> None:
        await meter.consume(PER_MINUTE, 5)
        first = await meter.consume(PER_MINUTE, idempotencyKey="late")
        assert first.status_code == 429
        clock.advance(minutes=1)  # a new window: the same request would now fit
        repeat = await meter.consume(PER_MINUTE, idempotencyKey="late")
        assert repeat.status_code == 429
        keep = ("allowed", "currentUsage", "limit", "remaining", "resetAt", "code")
        assert {k: decision(repeat)[k] for k in keep} == {k: decision(first)[k] for k in keep}
        assert await meter.usage(PER_MINUTE) == 0

    async def test_keys_belong_to_one_customer_and_one_feature(
        self, api: Api, meter: Meter
    ) -> None:
        other = Meter(api, (await metered_customer(api, "free")).customer_id, meter.service)
        for target, feature in ((meter, PER_MONTH), (other, PER_MONTH), (meter, PER_MINUTE)):
            response = await target.consume(feature, 2, idempotencyKey="shared")
            assert response.json()["currentUsage"] == 2

    async def test_a_repeat_while_the_first_is_still_deciding_is_a_retryable_conflict(
        self, api: Api, meter: Meter, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A first attempt still under way (its mark kept beside the counters) past the
        repeat's patience: 409, never a second decision and never a 500."""
        monkeypatch.setattr(idempotency, "WAIT_SECONDS", 0.2)
        repeat = meter.body(PER_MONTH, idempotencyKey="slow")
        customer = f"customer:{meter.customer_id}"
        key = f"idem:{customer}:ai-api:chat_completions_per_month:slow"
        await api.container.counters.put_text(key, idempotency.PENDING, 60)

        single = await api.call("POST", "/limits/consume", meter.service, json=repeat)
        batch = await api.call(
            "POST", "/limits/consume/batch", meter.service, json={"requests": [repeat]}
        )

        assert (single.status_code, decision(single)["code"]) == (409, "CONFLICT")
        assert batch.json()["decisions"][0]["error"]["code"] == "CONFLICT"
        assert await meter.usage(PER_MONTH) == 0

    async def test_a_first_attempt_that_never_stored_its_answer_does_not_block_the_key(
        self, api: Api, meter: Meter, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(idempotency, "PENDING_SECONDS", 1)
        counters = api.container.counters
        store_answer = counters.replace_text

        async def lost(key: str, value: str, expiry: int) -> None:
            monkeypatch.setattr(counters, "replace_text", store_answer)
            raise ConnectionError("the counter storage went away")

        monkeypatch.setattr(counters, "replace_text", lost)
        api.expect_server_errors = True
        assert (await meter.consume(PER_MONTH, idempotencyKey="retried")).status_code == 500

        retry = await meter.consume(PER_MONTH, idempotencyKey="retried")
        assert retry.status_code == 200, retry.text
        again = await meter.consume(PER_MONTH, idempotencyKey="retried")
        assert again.json() == retry.json()
