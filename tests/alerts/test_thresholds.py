"""Setting and reading a customer's alert thresholds: who may, what is valid, and the
answer both transports give (REST `/customer/alerts/thresholds` and its billing_admin
variant; GraphQL `alertThresholds`, `Customer.alertThresholds`, `setAlertThresholds`)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.rest.test_errors import assert_error
from tests.support.alerts import EMBEDDINGS, MONTH, scope, set_thresholds
from tests.support.api import Api, Caller

THRESHOLDS = "/customer/alerts/thresholds"
SET = """
mutation($thresholds: [AlertThresholdInput!]!, $customerId: ID) {
  setAlertThresholds(thresholds: $thresholds, customerId: $customerId) {
    id customerId defaultPercents thresholds { serviceName featureKey percents }
  }
}
"""
NESTED = "{ customer { id alertThresholds { id thresholds { serviceName percents } } } }"
DEFAULTS = {"defaultPercents": [80, 100], "thresholds": []}


def admin_path(customer_id: str) -> str:
    return f"/admin/customer/{customer_id}/alerts/thresholds"


class TestReadingAndReplacing:
    async def test_nothing_set_is_the_default_of_80_and_100(self, api: Api) -> None:
        team = await api.team()
        response = await api.call("GET", THRESHOLDS, team.owner)

        assert response.status_code == 200, response.text
        assert response.json() == {"customerId": team.customer_id, **DEFAULTS}

    async def test_a_put_replaces_the_whole_set_most_general_scope_first(self, api: Api) -> None:
        team = await api.team()
        first = await set_thresholds(
            api,
            team.owner,
            scope(MONTH, 90, 50),
            scope("search-api"),
            scope(None, 60),
            scope("ai-api", 25),
        )
        assert first["thresholds"] == [
            {"serviceName": None, "featureKey": None, "percents": [60]},
            {"serviceName": "ai-api", "featureKey": None, "percents": [25]},
            {
                "serviceName": "ai-api",
                "featureKey": "chat_completions_per_month",
                "percents": [50, 90],
            },
            {"serviceName": "search-api", "featureKey": None, "percents": []},
        ]
        assert (await api.call("GET", THRESHOLDS, team.owner)).json() == first

        second = await set_thresholds(api, team.owner, scope(EMBEDDINGS, 100))
        assert second["thresholds"] == [
            {"serviceName": "ai-api", "featureKey": "embeddings_per_month", "percents": [100]}
        ]
        assert (await api.call("GET", THRESHOLDS, team.owner)).json() == second

        cleared = await set_thresholds(api, team.owner)
        assert cleared == {"customerId": team.customer_id, **DEFAULTS}

    async def test_a_change_is_audited_on_the_customers_chain(self, api: Api) -> None:
        team = await api.team()
        await set_thresholds(api, team.owner, scope(None, 50))
        await set_thresholds(api, team.owner, scope("ai-api"))

        trail = await api.call("GET", "/customer/audit?action=alert.", team.owner)
        records = trail.json()["records"]
        assert [r["details"] for r in records] == [
            {
                "thresholds": [{"service_name": "ai-api", "feature_key": None, "percents": []}],
                "previous": [{"service_name": None, "feature_key": None, "percents": [50]}],
            },
            {
                "thresholds": [{"service_name": None, "feature_key": None, "percents": [50]}],
                "previous": [],
            },
        ]
        assert {r["actorUserId"] for r in records} == {team.owner.user_id}


class TestWhoMay:
    async def test_owner_and_admin_set_and_read_a_plain_user_may_not(self, api: Api) -> None:
        team = await api.team("admin", "user")
        owner, admin, user = team.owner, *team.members
        body = {"thresholds": [scope(None, 50)]}

        assert (await api.call("PUT", THRESHOLDS, admin, json=body)).status_code == 200
        assert (await api.call("GET", THRESHOLDS, owner)).json()["thresholds"][0]["percents"] == [
            50
        ]
        assert_error(await api.call("GET", THRESHOLDS, user), 403, "FORBIDDEN")
        assert_error(await api.call("PUT", THRESHOLDS, user, json=body), 403, "FORBIDDEN")

    async def test_callers_outside_a_team(self, api: Api) -> None:
        assert_error(await api.call("GET", THRESHOLDS), 401, "AUTHENTICATION_REQUIRED")
        assert_error(await api.call("GET", THRESHOLDS, api.user()), 404, "NO_CUSTOMER")
        assert_error(await api.call("GET", THRESHOLDS, api.admin()), 404, "NO_CUSTOMER")

    async def test_billing_admin_reads_and_sets_any_customers(self, api: Api) -> None:
        team = await api.team()
        admin = api.admin()
        body = {"thresholds": [scope("ai-api", 10, 20)]}

        put = await api.call("PUT", admin_path(team.customer_id), admin, json=body)
        assert put.status_code == 200, put.text
        got = await api.call("GET", admin_path(team.customer_id), admin)
        assert got.json() == put.json() == (await api.call("GET", THRESHOLDS, team.owner)).json()

    async def test_only_billing_admin_uses_the_admin_paths(self, api: Api) -> None:
        team = await api.team("admin")
        path = admin_path(team.customer_id)
        body: dict[str, list[Any]] = {"thresholds": []}
        for caller in (team.owner, team.members[0]):
            assert_error(await api.call("GET", path, caller), 403, "ADMIN_ROLE_REQUIRED")
            assert_error(await api.call("PUT", path, caller, json=body), 403, "ADMIN_ROLE_REQUIRED")

    async def test_the_admin_paths_name_the_customer(self, api: Api) -> None:
        admin = api.admin()
        unknown = await api.call("GET", admin_path(str(uuid.uuid4())), admin)
        assert_error(unknown, 404, "CUSTOMER_NOT_FOUND")
        malformed = await api.call("PUT", admin_path("nope"), admin, json={"thresholds": []})
        assert assert_error(malformed, 400, "INVALID_INPUT")["param"] == "customerID"


INVALID: list[tuple[list[dict[str, Any]], str]] = [
    ([{"percents": [0]}], "thresholds.0.percents.0"),
    ([{"percents": [101]}], "thresholds.0.percents.0"),
    ([{"percents": ["80"]}], "thresholds.0.percents.0"),
    ([{"percents": list(range(1, 12))}], "thresholds.0.percents"),
    ([{"percents": [50, 80, 50]}], "thresholds.0.percents"),
    (
        [{"percents": [50]}, {"featureKey": "chat_completions_per_month", "percents": []}],
        "thresholds.1.featureKey",
    ),
    ([{"serviceName": "nope-api", "percents": [50]}], "thresholds.0.serviceName"),
    (
        [{"serviceName": "ai-api", "featureKey": "nope", "percents": [50]}],
        "thresholds.0.featureKey",
    ),
    (
        [{"serviceName": "ai-api", "percents": [50]}, {"serviceName": "ai-api", "percents": []}],
        "thresholds.1",
    ),
    ([{"serviceName": "", "percents": [50]}], "thresholds.0.serviceName"),
    ([{"serviceName": "ai-api"}], "thresholds.0.percents"),
]


class TestValidation:
    @pytest.mark.parametrize(("thresholds", "param"), INVALID)
    async def test_rest_names_the_param(self, api: Api, thresholds: Any, param: str) -> None:
        team = await api.team()
        response = await api.call("PUT", THRESHOLDS, team.owner, json={"thresholds": thresholds})

        assert assert_error(response, 400, "INVALID_INPUT")["param"] == param
        assert (await api.call("GET", THRESHOLDS, team.owner)).json()["thresholds"] == []

    async def test_a_missing_or_oversized_list(self, api: Api) -> None:
        team = await api.team()
        missing = await api.call("PUT", THRESHOLDS, team.owner, json={})
        assert assert_error(missing, 400, "INVALID_INPUT")["param"] == "thresholds"
        many = {"thresholds": [{"serviceName": "ai-api", "percents": [1]}] * 201}
        oversized = await api.call("PUT", THRESHOLDS, team.owner, json=many)
        assert assert_error(oversized, 400, "INVALID_INPUT")["param"] == "thresholds"

    async def test_graphql_names_the_same_params(self, api: Api) -> None:
        team = await api.team()
        for thresholds, param in INVALID:
            if any(not isinstance(p, int) for item in thresholds for p in item.get("percents", [])):
                continue  # a string is no Int: GraphQL refuses it before any resolver
            if any("percents" not in item for item in thresholds):
                continue  # a required argument: the same
            body = await api.graphql(SET, team.owner, thresholds=thresholds)
            [error] = body["errors"]
            assert error["extensions"]["code"] == "INVALID_INPUT", error
            assert error["extensions"]["param"] == param


class TestGraphQL:
    async def test_the_mutation_answers_what_a_cache_applies(self, api: Api) -> None:
        team = await api.team()
        body = await api.graphql(SET, team.owner, thresholds=[scope(MONTH, 95)])

        assert body["data"]["setAlertThresholds"] == {
            "id": team.customer_id,
            "customerId": team.customer_id,
            "defaultPercents": [80, 100],
            "thresholds": [
                {
                    "serviceName": "ai-api",
                    "featureKey": "chat_completions_per_month",
                    "percents": [95],
                }
            ],
        }
        query = "{ alertThresholds { thresholds { featureKey percents } } }"
        read = await api.graphql(query, team.owner)
        assert read["data"]["alertThresholds"]["thresholds"] == [
            {"featureKey": "chat_completions_per_month", "percents": [95]}
        ]

    async def test_the_customers_field_is_null_for_a_plain_user(self, api: Api) -> None:
        team = await api.team("user")
        await set_thresholds(api, team.owner, scope(None, 70))

        owners = await api.graphql(NESTED, team.owner)
        assert owners["data"]["customer"]["alertThresholds"] == {
            "id": team.customer_id,
            "thresholds": [{"serviceName": None, "percents": [70]}],
        }
        users = await api.graphql(NESTED, team.members[0])
        assert "errors" not in users
        assert users["data"]["customer"]["alertThresholds"] is None

    async def test_billing_admin_through_admin_customer_and_the_mutation(self, api: Api) -> None:
        team = await api.team()
        admin = api.admin()
        changed = await api.graphql(
            SET, admin, thresholds=[scope("feeds-api", 40)], customerId=team.customer_id
        )
        assert changed["data"]["setAlertThresholds"]["customerId"] == team.customer_id

        query = (
            "query($id: ID!) { adminCustomer(customerId: $id) "
            "{ alertThresholds { thresholds { serviceName percents } } } }"
        )
        read = await api.graphql(query, admin, id=team.customer_id)
        assert read["data"]["adminCustomer"]["alertThresholds"]["thresholds"] == [
            {"serviceName": "feeds-api", "percents": [40]}
        ]

    async def test_only_billing_admin_names_a_customer(self, api: Api) -> None:
        team = await api.team()
        owner: Caller = team.owner
        body = await api.graphql(SET, owner, thresholds=[], customerId=team.customer_id)
        assert body["errors"][0]["extensions"]["code"] == "ADMIN_ROLE_REQUIRED"
