"""Batch decisions (SPEC §5.8): `POST /limits/consume/batch` and `consumeBatch`, on every
counter storage. Each request is decided on its own, atomically and in order; the answer
is 200 with one entry per request, in order, whatever each came to."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.api import Api, Caller, running_api, settings_for
from tests.support.clock import MovableClock
from tests.support.metering import Meter, ledger_events, metered_customer

PER_MINUTE = "ai-api/chat_completions_per_minute"  # free 5
PER_MONTH = "ai-api/chat_completions_per_month"  # free 100
TRANSCRIPTIONS = "ai-api/audio_transcriptions_per_month"  # free 0 (disabled)
SEARCHES = "search-api/simple_search_per_minute"  # free 30
BATCH = """
mutation($requests: [ConsumeInput!]!) {
  consumeBatch(requests: $requests) {
    __typename
    ... on Decision { allowed currentUsage limit remaining resetAt }
    ... on ConsumeError {
      code message status param
      decision { allowed currentUsage limit remaining resetAt }
    }
  }
}
"""


@pytest.fixture
async def api(
    sqlite_database_url: str, tmp_path: Path, clock: MovableClock, storage: str
) -> AsyncIterator[Api]:
    settings = settings_for(sqlite_database_url, tmp_path, rate_limit_storage=storage)
    async with running_api(settings, clock) as api:
        yield api


@pytest.fixture
async def meter(api: Api, clock: MovableClock) -> Meter:
    clock.now = clock.now.replace(second=20, microsecond=0)  # mid-window
    return await metered_customer(api, "free")


async def batch(meter: Meter, requests: list[Any], caller: Caller | None = None) -> httpx.Response:
    return await meter.api.call(
        "POST", "/limits/consume/batch", caller or meter.service, json={"requests": requests}
    )


def decisions(response: httpx.Response) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.text
    answers: list[dict[str, Any]] = response.json()["decisions"]
    return answers


def codes(answers: list[dict[str, Any]]) -> list[str]:
    return [answer["error"]["code"] if "error" in answer else "OK" for answer in answers]


class TestDecisions:
    async def test_each_request_in_order_against_the_same_counter(self, meter: Meter) -> None:
        answers = decisions(await batch(meter, [meter.body(PER_MINUTE)] * 8))

        assert codes(answers) == ["OK"] * 5 + ["RATE_LIMITED"] * 3
        assert [a["currentUsage"] for a in answers[:5]] == [1, 2, 3, 4, 5]
        assert [a["remaining"] for a in answers[:5]] == [4, 3, 2, 1, 0]
        for refused in answers[5:]:
            error = refused["error"]
            assert (error["status"], error["allowed"], error["currentUsage"]) == (429, False, 5)
            assert (error["limit"], error["remaining"]) == (5, 0)
            assert error["resetAt"] == answers[0]["resetAt"]
            assert "error_id" not in error
        assert await meter.usage(PER_MINUTE) == 5

    async def test_an_amount_that_does_not_fit_leaves_room_for_a_smaller_one(
        self, meter: Meter
    ) -> None:
        requests = [meter.body(PER_MINUTE, 3), meter.body(PER_MINUTE, 3), meter.body(PER_MINUTE, 2)]
        answers = decisions(await batch(meter, requests))
        assert codes(answers) == ["OK", "RATE_LIMITED", "OK"]
        assert [answers[0]["currentUsage"], answers[2]["currentUsage"]] == [3, 5]

    async def test_every_kind_of_refusal_and_error_in_its_place(
        self, meter: Meter, api: Api
    ) -> None:
        other = await metered_customer(api, "free")
        requests = [
            meter.body(PER_MONTH),
            {"featureKey": "chat_completions_per_minute", "customerId": meter.customer_id},
            meter.body(TRANSCRIPTIONS),
            meter.body("ai-api/nothing_per_minute"),
            meter.body("nothing-api/x"),
            meter.body("compute-api/max_instances"),
            {**meter.body(PER_MONTH), "customerId": "7d0c1f4e-0000-4000-8000-0000000000ff"},
            {**meter.body(PER_MONTH), "amount": 0},
            "not an object",
            {**other.body(SEARCHES)},
            meter.body(PER_MONTH, 2),
        ]
        answers = decisions(await batch(meter, requests))

        assert codes(answers) == [
            "OK",
            "INVALID_INPUT",
            "FEATURE_DISABLED",
            "FEATURE_NOT_FOUND",
            "SERVICE_NOT_FOUND",
            "INVALID_INPUT",
            "CUSTOMER_NOT_FOUND",
            "INVALID_INPUT",
            "INVALID_INPUT",
            "OK",
            "OK",
        ]
        assert answers[1]["error"]["param"] == "serviceName"
        assert answers[5]["error"]["param"] == "featureKey"
        assert answers[7]["error"]["param"] == "amount"
        assert [answers[2]["error"][k] for k in ("status", "allowed", "limit")] == [403, False, 0]
        assert [answers[i]["currentUsage"] for i in (0, 9, 10)] == [1, 1, 3]

    async def test_numbers_are_strict_in_each_request(self, meter: Meter) -> None:
        loose = [{**meter.body(PER_MONTH), "amount": value} for value in ("1", True, 1.5)]
        answers = decisions(await batch(meter, [*loose, meter.body(PER_MONTH)]))
        assert codes(answers) == ["INVALID_INPUT"] * 3 + ["OK"]
        assert {answer["error"]["param"] for answer in answers[:3]} == {"amount"}
        assert answers[3]["currentUsage"] == 1

    async def test_the_answer_is_200_when_every_request_is_refused(self, meter: Meter) -> None:
        answers = decisions(await batch(meter, [meter.body(TRANSCRIPTIONS)] * 3))
        assert codes(answers) == ["FEATURE_DISABLED"] * 3


class TestIdempotency:
    async def test_a_key_is_counted_once_within_a_batch_and_across_batches(
        self, meter: Meter
    ) -> None:
        keyed = meter.body(PER_MONTH, 4, idempotencyKey="order-7")
        first = decisions(await batch(meter, [keyed, meter.body(PER_MONTH), keyed]))
        again = decisions(await batch(meter, [keyed]))

        assert [a["currentUsage"] for a in first] == [4, 5, 4]
        assert again == [first[0]]
        assert await meter.usage(PER_MONTH) == 5

    async def test_the_key_is_shared_with_single_consumes(self, meter: Meter) -> None:
        single = await meter.consume(PER_MONTH, 2, idempotencyKey="job-1")
        answers = decisions(await batch(meter, [meter.body(PER_MONTH, 2, idempotencyKey="job-1")]))
        assert answers == [single.json()]
        assert await meter.usage(PER_MONTH) == 2


class TestLedger:
    async def test_every_decision_is_recorded_with_its_outcome(
        self, meter: Meter, api: Api
    ) -> None:
        decisions(await batch(meter, [meter.body(PER_MINUTE, 2)] * 4))
        await api.container.ledger.flush()
        events = await ledger_events(api.container.db.url, meter.customer_id)
        assert [(e["amount"], e["allowed"]) for e in events] == [
            (2, True),
            (2, True),
            (2, False),
            (2, False),
        ]

    async def test_one_append_for_a_batch(self, meter: Meter, api: Api) -> None:
        ledger = api.container.ledger
        appends: list[int] = []
        record_many = ledger.record_many

        def counted(rows: list[dict[str, Any]], started: float | None = None) -> None:
            appends.append(len(rows))
            record_many(rows, started)

        ledger.record_many = counted  # type: ignore[method-assign]
        decisions(await batch(meter, [meter.body(PER_MONTH)] * 50))
        assert appends == [50]
        assert ledger.lag().rows == 50


class TestEnvelope:
    @pytest.mark.parametrize(
        "body",
        [
            {"requests": []},
            {"requests": [{}] * 1001},
            {"requests": {"serviceName": "ai-api"}},
            {},
            [],
        ],
        ids=["empty", "over-1000", "not-a-list", "missing", "not-an-object"],
    )
    async def test_a_malformed_batch_is_400_and_counts_nothing(
        self, meter: Meter, body: Any
    ) -> None:
        response = await meter.api.call("POST", "/limits/consume/batch", meter.service, json=body)
        assert response.status_code == 400, response.text
        assert response.json()["error"]["code"] == "INVALID_INPUT"
        assert await meter.usage(PER_MONTH) == 0

    async def test_1000_requests_are_decided(self, meter: Meter, api: Api) -> None:
        await api.set_tier(meter.customer_id, "enterprise")
        answers = decisions(await batch(meter, [meter.body(SEARCHES)] * 1000))
        assert [a["currentUsage"] for a in answers] == list(range(1, 1001))

    async def test_only_metered_services_and_each_request_in_scope(
        self, meter: Meter, api: Api
    ) -> None:
        user = await batch(meter, [meter.body(PER_MONTH)], api.user())
        assert (user.status_code, user.json()["error"]["code"]) == (403, "FORBIDDEN")
        anonymous = await batch(meter, [meter.body(PER_MONTH)], Caller(None, None))
        assert anonymous.status_code == 401

        scoped = api.service("search-api")
        answers = decisions(
            await batch(meter, [meter.body(PER_MONTH), meter.body(SEARCHES)], scoped)
        )
        assert codes(answers) == ["FORBIDDEN", "OK"]
        assert answers[0]["error"]["status"] == 403
        assert await meter.usage(PER_MONTH) == 0


class TestGraphQL:
    async def test_the_same_decisions_as_rest(self, meter: Meter, api: Api) -> None:
        requests = [meter.body(PER_MINUTE)] * 6 + [
            meter.body(TRANSCRIPTIONS),
            meter.body("ai-api/nope"),
        ]
        body = await api.graphql(BATCH, meter.service, requests=requests)

        answers = body["data"]["consumeBatch"]
        assert [a["__typename"] for a in answers] == ["Decision"] * 5 + ["ConsumeError"] * 3
        assert [a["currentUsage"] for a in answers[:5]] == [1, 2, 3, 4, 5]
        limited, disabled, unknown = answers[5:]
        assert (limited["code"], limited["status"]) == ("RATE_LIMITED", 429)
        assert limited["decision"] == {
            "allowed": False,
            "currentUsage": 5,
            "limit": 5,
            "remaining": 0,
            "resetAt": answers[0]["resetAt"],
        }
        assert (disabled["code"], disabled["decision"]["limit"]) == ("FEATURE_DISABLED", 0)
        assert (unknown["code"], unknown["param"], unknown["decision"]) == (
            "FEATURE_NOT_FOUND",
            "featureKey",
            None,
        )

    async def test_out_of_bounds_and_unscoped(self, meter: Meter, api: Api) -> None:
        empty = await api.graphql(BATCH, meter.service, requests=[])
        assert empty["errors"][0]["extensions"]["code"] == "INVALID_INPUT"
        scoped = await api.graphql(
            BATCH, api.service("search-api"), requests=[meter.body(PER_MONTH)]
        )
        assert scoped["data"]["consumeBatch"][0]["code"] == "FORBIDDEN"
        counted = Counter(a["__typename"] for a in scoped["data"]["consumeBatch"])
        assert counted == {"ConsumeError": 1}
