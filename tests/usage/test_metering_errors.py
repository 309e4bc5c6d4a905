"""Bad input on `/limits/consume` and `/limits/check`, which are served ahead of the router:
the documented status and error shape (SPEC §4), and nothing counted."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.auth.principal import PlatformRole
from app.auth.tokens import mint_token
from tests.rest.test_errors import assert_error
from tests.support.api import ANONYMOUS, SECRET, Api, Caller, running_api, settings_for
from tests.support.clock import MovableClock
from tests.support.deep_json import assert_no_failure_logged, too_deep
from tests.support.logs import Records
from tests.support.metering import Meter, decision, ledger_events, metered_customer
from tests.support.redis import own_redis

FEATURE = "ai-api/chat_completions_per_minute"
PATHS = ["/limits/consume", "/limits/check"]


@pytest.fixture
async def api(sqlite_database_url: str, tmp_path: Path, clock: MovableClock) -> AsyncIterator[Api]:
    clock.now = clock.now.replace(second=20, microsecond=0)
    async with running_api(settings_for(sqlite_database_url, tmp_path), clock) as api:
        yield api


@pytest.fixture
async def meter(api: Api) -> Meter:
    return await metered_customer(api, "free")


async def post(
    meter: Meter, path: str, caller: Caller | None = None, **kwargs: Any
) -> httpx.Response:
    return await meter.api.call("POST", path, caller or meter.service, **kwargs)


async def assert_nothing_counted(meter: Meter) -> None:
    assert decision(await meter.check(FEATURE))["currentUsage"] == 0


@pytest.mark.parametrize("path", PATHS)
class TestBadInput:
    async def test_malformed_json(self, meter: Meter, path: str) -> None:
        for body in (b"{", b"", b"  ", b"\xff\xfe", b'{"serviceName": "ai-api",}'):
            response = await post(meter, path, content=body)
            assert_error(response, 400, "MALFORMED_JSON")
        await assert_nothing_counted(meter)

    async def test_json_nested_deeper_than_allowed(
        self, meter: Meter, path: str, error_log: Records
    ) -> None:
        for body in too_deep('"serviceName"'):
            assert_error(await post(meter, path, content=body), 400, "MALFORMED_JSON")
        assert_no_failure_logged(error_log)
        await assert_nothing_counted(meter)

    async def test_wrong_types_name_the_field(self, meter: Meter, path: str) -> None:
        cases: list[tuple[Any, str | None]] = [
            ([1], None),
            ("consume", None),
            ({**meter.body(FEATURE), "amount": "many"}, "amount"),
            (meter.body(FEATURE, amount=0), "amount"),
            (meter.body(FEATURE, customerId="not-a-uuid"), "customerId"),
            ({**meter.body(FEATURE), "serviceName": 7}, "serviceName"),
            ({"serviceName": "ai-api", "featureKey": "chat_completions_per_minute"}, None),
        ]
        for body, param in cases:
            response = await post(meter, path, content=json.dumps(body))
            error = assert_error(response, 400, "INVALID_INPUT")
            assert error.get("param") == param, error
        await assert_nothing_counted(meter)

    @pytest.mark.parametrize("amount", ["1", True, 1.5, 1.0])
    async def test_numbers_are_strict(
        self, meter: Meter, path: str, amount: Any, sqlite_database_url: str
    ) -> None:
        """SPEC §7: a number sent as a string, a boolean or a fraction is not read as one."""
        response = await post(meter, path, json=meter.body(FEATURE, amount=amount))
        assert assert_error(response, 400, "INVALID_INPUT")["param"] == "amount"
        await assert_nothing_counted(meter)
        await meter.api.container.ledger.flush()
        assert await ledger_events(sqlite_database_url, meter.customer_id) == []

    async def test_unknown_things_are_404(self, meter: Meter, path: str) -> None:
        cases = [
            (meter.body(FEATURE, customerId=str(uuid.uuid4())), "CUSTOMER_NOT_FOUND"),
            (meter.body("nothing-api/x"), "SERVICE_NOT_FOUND"),
            (meter.body("ai-api/nothing"), "FEATURE_NOT_FOUND"),
        ]
        for body, code in cases:
            assert_error(await post(meter, path, json=body), 404, code)

    async def test_a_quota_is_not_consumed_here(self, meter: Meter, path: str) -> None:
        response = await post(meter, path, json=meter.body("compute-api/max_instances"))
        assert assert_error(response, 400, "INVALID_INPUT")["param"] == "featureKey"

    async def test_a_body_over_the_limit_is_413(self, meter: Meter, path: str) -> None:
        oversize = json.dumps({**meter.body(FEATURE), "pad": "x" * (1024 * 1024)}).encode()
        assert_error(await post(meter, path, content=oversize), 413, "PAYLOAD_TOO_LARGE")

        async def streamed() -> AsyncIterator[bytes]:
            for start in range(0, len(oversize), 64 * 1024):
                yield oversize[start : start + 64 * 1024]

        assert_error(await post(meter, path, content=streamed()), 413, "PAYLOAD_TOO_LARGE")
        await assert_nothing_counted(meter)


@pytest.mark.parametrize("path", PATHS)
class TestCallers:
    async def test_only_metered_services_may_call(self, api: Api, meter: Meter, path: str) -> None:
        body = meter.body(FEATURE)
        assert_error(await post(meter, path, ANONYMOUS, json=body), 401, "AUTHENTICATION_REQUIRED")
        assert_error(await post(meter, path, api.user(), json=body), 403, "FORBIDDEN")
        admin = await post(meter, path, api.user(PlatformRole.BILLING_ADMIN), json=body)
        assert admin.status_code == 200, admin.text

    async def test_bad_credentials(self, meter: Meter, path: str) -> None:
        expired = mint_token(
            SECRET,
            user_id=uuid.uuid4(),
            email=None,
            roles=["billing_service"],
            ttl=timedelta(seconds=-120),
        )
        tampered = meter.service.headers["Authorization"][:-2] + "xx"
        both = {**meter.service.headers, "api-key": "k", "api-secret": "s"}
        cases = [
            ({"Authorization": f"Bearer {expired}"}, 401, "TOKEN_EXPIRED"),
            ({"Authorization": tampered}, 401, "INVALID_TOKEN"),
            (both, 400, "AMBIGUOUS_CREDENTIALS"),
        ]
        for headers, status, code in cases:
            caller = Caller(None, None, headers)
            assert_error(await post(meter, path, caller, json=meter.body(FEATURE)), status, code)
        await assert_nothing_counted(meter)

    async def test_other_methods_go_to_the_router(self, meter: Meter, path: str) -> None:
        response = await meter.api.call("PUT", path, meter.service, json=meter.body(FEATURE))
        assert_error(response, 405, "METHOD_NOT_ALLOWED")

    async def test_answers_carry_the_features_rate_limit(self, meter: Meter, path: str) -> None:
        """A metered service has no budget of the service's own limit by default
        (`BILLING_SELF_LIMIT_SERVICE`), so only the feature's policy is answered."""
        response = await post(meter, path, json=meter.body(FEATURE))
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "application/json"
        policies = response.headers.get_list("RateLimit-Policy")
        assert [policy.split(";")[0] for policy in policies] == ['"feature"']


class TestCounterStorageAway:
    async def test_a_redis_that_went_away_is_503_and_admits_nothing(
        self, sqlite_database_url: str, tmp_path: Path, error_log: Records
    ) -> None:
        """Decisions need the counters: without them the answer is a 503 the client may
        retry, never a 500 and never an allowed consume."""
        with own_redis() as redis:
            settings = settings_for(sqlite_database_url, tmp_path, rate_limit_storage=redis.url())
            async with running_api(settings) as api:
                meter = await metered_customer(api, "free")
                assert (await meter.consume(FEATURE)).status_code == 200
                redis.stop()
                for path in ("/limits/consume", "/limits/check"):
                    response = await post(meter, path, json=meter.body(FEATURE))
                    assert_error(response, 503, "COUNTERS_UNAVAILABLE")
                batch = await post(
                    meter, "/limits/consume/batch", json={"requests": [meter.body(FEATURE)]}
                )
                # Each request is decided on its own: each is that error, in a 200.
                assert batch.status_code == 200
                assert batch.json()["decisions"][0]["error"]["code"] == "COUNTERS_UNAVAILABLE"
                api.expect_server_errors = True
        assert not [r for r in error_log.records if r.exc_info], "an unexpected error"
