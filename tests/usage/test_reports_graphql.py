"""Limits, usage and quotas over GraphQL, and the consume and check mutations: the same
numbers and codes as REST."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.api import ANONYMOUS, Api, Caller
from tests.support.clock import unix_seconds
from tests.usage.test_reports import CHAT, CLIENT_IP, FEEDS, consume, customer_on, get, hold

USAGE_FIELDS = (
    "identifier identifierType totalFeatures fetchedAt features { serviceName featureKey "
    "tierName window description currentUsage limit remaining resetAt isLocked }"
)
CONSUME = """
mutation Consume($s: String!, $f: String!, $amount: Int! = 1, $c: ID, $u: ID, $ip: String,
                 $key: String) {
  consume(serviceName: $s, featureKey: $f, amount: $amount, customerId: $c, userId: $u, ip: $ip,
          idempotencyKey: $key) { allowed currentUsage limit remaining resetAt window }
}
"""
CHECK = """
mutation Check($s: String!, $f: String!, $amount: Int! = 1, $c: ID) {
  check(serviceName: $s, featureKey: $f, amount: $amount, customerId: $c) {
    allowed currentUsage limit remaining resetAt window
  }
}
"""


async def data(api: Api, query: str, caller: Caller = ANONYMOUS, **variables: Any) -> Any:
    body = await api.graphql(query, caller, **variables)
    assert "errors" not in body, body
    (value,) = body["data"].values()
    return value


async def error(api: Api, query: str, caller: Caller = ANONYMOUS, /, **variables: Any) -> Any:
    body = await api.graphql(query, caller, **variables)
    assert len(body.get("errors", [])) == 1, body
    return body["errors"][0]["extensions"]


def rest_usage(report: dict[str, Any]) -> list[dict[str, Any]]:
    """REST's grouped features, flattened as GraphQL lists them (enums in lower case)."""
    return [
        {
            "serviceName": service,
            **{k: v for k, v in row.items() if k not in ("identifier", "identifierType")},
        }
        for service, group in report["services"].items()
        for row in group["features"]
    ]


def graphql_usage(report: dict[str, Any]) -> list[dict[str, Any]]:
    """GraphQL's features as REST gives them: enums in lower case, instants in unix seconds."""
    return [
        {**row, "window": row["window"].lower(), "resetAt": unix_seconds(row["resetAt"])}
        for row in report["features"]
    ]


class TestReports:
    async def test_limits_as_rest_gives_them(self, api: Api) -> None:
        owner, _ = await customer_on(api, "pro")
        rows = await data(
            api, "{ limits { serviceName featureKey value window description } }", owner
        )
        rest = (await get(api, "/limits", owner))["limits"]
        assert {
            (r["serviceName"], r["featureKey"]): (r["value"], r["window"].lower(), r["description"])
            for r in rows
        } == {
            (service, key): (limit["value"], limit["window"], limit["description"])
            for service, features in rest.items()
            for key, limit in features.items()
        }

    async def test_one_service_and_one_feature(self, api: Api) -> None:
        owner, _ = await customer_on(api)
        rows = await data(api, '{ limits(serviceName: "feeds-api") { featureKey } }', owner)
        assert sorted(r["featureKey"] for r in rows) == sorted(
            (await get(api, "/limits/feeds-api", owner))["limits"]
        )
        one = await data(
            api,
            '{ limit(serviceName: "feeds-api", featureKey: "feeds_download_per_hour") '
            "{ value window } }",
            owner,
        )
        assert one == {"value": 10, "window": "HOUR"}

    async def test_ip_limits(self, api: Api) -> None:
        rows = await data(api, "{ ipLimits { serviceName featureKey value } }")
        rest = (await get(api, "/limits/ip"))["ipLimits"]
        assert {(r["serviceName"], r["featureKey"]): r["value"] for r in rows} == {
            (service, key): limit["value"]
            for service, features in rest.items()
            for key, limit in features.items()
        }

    async def test_usage_as_rest_gives_it(self, api: Api) -> None:
        owner, customer_id = await customer_on(api)
        await consume(api, CHAT, 5, customerId=customer_id)
        report = await data(api, f"{{ usage {{ {USAGE_FIELDS} }} }}", owner)
        rest = await get(api, "/limits/usage", owner)
        assert (report["identifier"], report["identifierType"]) == (owner.user_id, "USER")
        assert (report["totalFeatures"], unix_seconds(report["fetchedAt"])) == (
            rest["totalFeatures"],
            rest["fetchedAt"],
        )
        assert graphql_usage(report) == rest_usage(rest)
        chat = [f for f in report["features"] if f["featureKey"] == CHAT[1]]
        assert [(f["currentUsage"], f["isLocked"]) for f in chat] == [(5, True)]

    async def test_ip_usage_as_rest_gives_it(self, api: Api) -> None:
        await consume(api, FEEDS, ip=CLIENT_IP)
        query = f'{{ ipUsage(serviceName: "feeds-api") {{ {USAGE_FIELDS} }} }}'
        report = await data(api, query)
        rest = await get(api, "/limits/usage/ip?serviceName=feeds-api")
        assert (report["identifier"], report["identifierType"]) == (CLIENT_IP, "IP")
        assert graphql_usage(report) == rest_usage(rest)

    async def test_quotas_and_quota_usage(self, api: Api) -> None:
        owner, customer_id = await customer_on(api, "pro")
        await hold(api, customer_id, "compute-api", "max_instances", 1)
        rows = await data(api, "{ quotas { serviceName featureKey value description } }", owner)
        assert rows == [
            {
                "serviceName": "compute-api",
                "featureKey": "max_instances",
                "value": 3,
                "description": "Maximum compute instances",
            }
        ]
        query = '{ quota(serviceName: "compute-api", featureKey: "max_instances") { value } }'
        one = await data(api, query, owner)
        assert one == {"value": 3}
        report = await data(
            api,
            "{ quotaUsage { customerId totalFeatures features { serviceName featureKey "
            "currentUsage limit remaining resetAt } } }",
            owner,
        )
        assert (report["customerId"], report["totalFeatures"]) == (customer_id, 1)
        assert report["features"] == [
            {
                "serviceName": "compute-api",
                "featureKey": "max_instances",
                "currentUsage": 1,
                "limit": 3,
                "remaining": 2,
                "resetAt": None,
            }
        ]

    async def test_quota_usage_says_what_it_is_and_when_it_is_full(self, api: Api) -> None:
        query = "{ quotaUsage { features { description currentUsage isLocked } } }"
        with_room, with_room_id = await customer_on(api, "pro")
        await hold(api, with_room_id, "compute-api", "max_instances", 2)
        [room] = (await data(api, query, with_room))["features"]
        assert room == {
            "description": "Maximum compute instances",
            "currentUsage": 2,
            "isLocked": False,
        }
        full_one, full_id = await customer_on(api, "pro")
        await hold(api, full_id, "compute-api", "max_instances", 3)
        [full] = (await data(api, query, full_one))["features"]
        assert (full["currentUsage"], full["isLocked"]) == (3, True)

    @pytest.mark.parametrize(
        ("query", "code"),
        [
            ('{ limits(serviceName: "nope") { value } }', "SERVICE_NOT_FOUND"),
            ('{ limit(serviceName: "ai-api", featureKey: "nope") { value } }', "FEATURE_NOT_FOUND"),
            ('{ ipLimits(serviceName: "nope") { value } }', "SERVICE_NOT_FOUND"),
            ('{ usage(serviceName: "nope") { totalFeatures } }', "SERVICE_NOT_FOUND"),
            ('{ quota(serviceName: "ai-api", featureKey: "nope") { value } }', "FEATURE_NOT_FOUND"),
        ],
    )
    async def test_unknown_names_are_404(self, api: Api, query: str, code: str) -> None:
        owner, _ = await customer_on(api)
        assert (await error(api, query, owner))["code"] == code

    @pytest.mark.parametrize(
        "query",
        ["{ limits { value } }", "{ usage { totalFeatures } }", "{ quotaUsage { totalFeatures } }"],
    )
    async def test_no_team_and_no_caller(self, api: Api, query: str) -> None:
        assert (await error(api, query, api.user()))["code"] == "NO_CUSTOMER"
        assert (await error(api, query))["code"] == "AUTHENTICATION_REQUIRED"


class TestConsume:
    async def test_allowed_then_refused_with_the_decision(self, api: Api) -> None:
        _, customer_id = await customer_on(api)
        service = api.service()
        decision = await data(api, CONSUME, service, s=CHAT[0], f=CHAT[1], amount=5, c=customer_id)
        assert decision["allowed"] is True
        assert (decision["currentUsage"], decision["limit"], decision["remaining"]) == (5, 5, 0)
        assert decision["window"] == "MINUTE"
        refused = await error(api, CONSUME, service, s=CHAT[0], f=CHAT[1], c=customer_id)
        assert refused["code"] == "RATE_LIMITED"
        assert refused["status"] == 429
        assert refused["allowed"] is False
        assert (refused["currentUsage"], refused["limit"], refused["remaining"]) == (5, 5, 0)
        assert refused["resetAt"] == decision["resetAt"]

    async def test_a_disabled_feature(self, api: Api) -> None:
        _, customer_id = await customer_on(api)
        service = api.service()
        refused = await error(
            api, CONSUME, service, s="ai-api", f="audio_transcriptions_per_month", c=customer_id
        )
        assert (refused["code"], refused["status"]) == ("FEATURE_DISABLED", 403)
        assert (refused["allowed"], refused["limit"]) == (False, 0)

    async def test_same_numbers_as_rest(self, api: Api) -> None:
        owner, customer_id = await customer_on(api)
        service = api.service()
        await data(api, CONSUME, service, s=CHAT[0], f=CHAT[1], amount=2, c=customer_id)
        rest = (await consume(api, CHAT, customerId=customer_id)).json()
        assert rest["currentUsage"] == 3
        report = await data(api, f'{{ usage(serviceName: "ai-api") {{ {USAGE_FIELDS} }} }}', owner)
        (chat,) = [f for f in report["features"] if f["featureKey"] == CHAT[1]]
        assert (chat["currentUsage"], chat["remaining"], unix_seconds(chat["resetAt"])) == (
            3,
            2,
            rest["resetAt"],
        )

    async def test_an_idempotency_key_counts_once(self, api: Api) -> None:
        _, customer_id = await customer_on(api)
        service = api.service()
        variables = {"s": CHAT[0], "f": CHAT[1], "c": customer_id, "key": "job-1"}
        first = await data(api, CONSUME, service, **variables)
        again = await data(api, CONSUME, service, **variables)
        assert first == again
        assert first["currentUsage"] == 1

    async def test_check_consumes_nothing(self, api: Api) -> None:
        _, customer_id = await customer_on(api)
        service = api.service()
        await consume(api, CHAT, 2, customerId=customer_id)
        checked = await data(api, CHECK, service, s=CHAT[0], f=CHAT[1], amount=3, c=customer_id)
        assert (checked["allowed"], checked["currentUsage"]) == (True, 2)
        refused = await error(api, CHECK, service, s=CHAT[0], f=CHAT[1], amount=4, c=customer_id)
        assert (refused["code"], refused["currentUsage"]) == ("RATE_LIMITED", 2)

    async def test_only_metered_services_consume(self, api: Api) -> None:
        owner, customer_id = await customer_on(api)
        variables = {"s": CHAT[0], "f": CHAT[1], "c": customer_id}
        assert (await error(api, CONSUME, owner, **variables))["code"] == "FORBIDDEN"
        assert (await error(api, CONSUME, **variables))["code"] == "AUTHENTICATION_REQUIRED"

    async def test_input_is_validated_as_rest_does(self, api: Api) -> None:
        service = api.service()
        zero = await error(api, CONSUME, service, s=CHAT[0], f=CHAT[1], amount=0, ip=CLIENT_IP)
        assert (zero["code"], zero["param"]) == ("INVALID_INPUT", "amount")
        nobody = await error(api, CONSUME, service, s=CHAT[0], f=CHAT[1])
        assert nobody["code"] == "INVALID_INPUT"
        unknown = await error(api, CONSUME, service, s="ai-api", f="nope", ip=CLIENT_IP)
        assert unknown["code"] == "FEATURE_NOT_FOUND"
