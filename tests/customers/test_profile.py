"""Updating the customer's profile: who may, what is checked, what is kept (SPEC §5.1)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import select
from sqlmodel import col

from app.core.db import Database
from app.models import AuditEvent, StripeTask
from tests.support.api import ADDRESS, ANONYMOUS, Api, Caller

UPDATE = """mutation($input: UpdateCustomerInput!) {
  updateCustomer(input: $input) { id name email billingAddress { street city country } }
}"""


async def patch(api: Api, caller: Caller, body: Any) -> Any:
    return await api.call("PATCH", "/customer", caller, json=body)


async def audit_changes(api: Api, customer_id: str) -> list[dict[str, Any]]:
    db: Database = api.container.db
    async with db.transaction(write=False) as session:
        events = await session.scalars(
            select(AuditEvent).where(col(AuditEvent.action) == "customer.updated")
        )
        return [e.details["changes"] for e in events if str(e.customer_id) == customer_id]


async def update_tasks(api: Api) -> int:
    db: Database = api.container.db
    async with db.transaction(write=False) as session:
        kind = col(StripeTask.kind) == "update_customer"
        tasks = await session.scalars(select(StripeTask).where(kind))
        return len(list(tasks))


class TestWho:
    @pytest.mark.parametrize("role", ["admin"])
    async def test_owner_and_admin_may(self, api: Api, role: str) -> None:
        team = await api.team(role)
        for caller, name in ((team.owner, "By owner"), (team.members[0], "By admin")):
            response = await patch(api, caller, {"name": name})
            assert response.status_code == 200, response.text
            assert response.json()["name"] == name

    async def test_a_plain_member_may_not(self, api: Api) -> None:
        team = await api.team("user")
        response = await patch(api, team.members[0], {"name": "Mine now"})
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "FORBIDDEN"
        assert (await api.call("GET", "/customer", team.owner)).json()["name"] == "Acme"

    async def test_a_caller_without_a_customer_gets_404(self, api: Api) -> None:
        response = await patch(api, api.user(), {"name": "X"})
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "NO_CUSTOMER"

    async def test_anonymous_callers_must_authenticate(self, api: Api) -> None:
        response = await patch(api, ANONYMOUS, {"name": "X"})
        assert response.status_code == 401

    async def test_billing_admin_updates_any_customer(self, api: Api) -> None:
        owner = api.user()
        created = await api.customer(owner)
        path = f"/admin/customer/{created['id']}"
        response = await api.call("PATCH", path, api.admin(), json={"email": "ap@acme.example"})
        assert response.status_code == 200, response.text
        assert response.json()["email"] == "ap@acme.example"
        assert response.json()["memberCount"] == 1
        assert (await api.call("GET", "/customer", owner)).json()["email"] == "ap@acme.example"
        assert (await api.call("PATCH", path, owner, json={"name": "X"})).status_code == 403

    async def test_billing_admin_on_an_unknown_customer_gets_404(self, api: Api) -> None:
        path = "/admin/customer/00000000-0000-0000-0000-000000000000"
        response = await api.call("PATCH", path, api.admin(), json={"name": "X"})
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "CUSTOMER_NOT_FOUND"


class TestWhat:
    async def test_fields_left_out_keep_their_values(self, api: Api) -> None:
        owner = api.user()
        created = await api.customer(owner)
        response = await patch(api, owner, {"name": "Acme GmbH"})
        body = response.json()
        assert body["name"] == "Acme GmbH"
        assert body["email"] == created["email"]
        assert body["billingAddress"] == created["billingAddress"]
        assert (await api.call("GET", "/customer", owner)).json() == body

    async def test_the_billing_address_is_replaced_whole(self, api: Api) -> None:
        owner = api.user()
        await api.customer(owner)
        response = await patch(api, owner, {"billingAddress": {"country": "DE", "city": "Berlin"}})
        assert response.json()["billingAddress"] == {
            "street": "",
            "city": "Berlin",
            "state": "",
            "postalCode": "",
            "country": "DE",
        }

    @pytest.mark.parametrize(
        ("body", "param"),
        [
            ({"name": ""}, "name"),
            ({"name": None}, "name"),
            ({"name": "x" * 201}, "name"),
            ({"email": "not an address"}, "email"),
            ({"email": None}, "email"),
            ({"billingAddress": {**ADDRESS, "country": "XX"}}, "billingAddress.country"),
            ({"billingAddress": {"city": "Berlin"}}, "billingAddress.country"),
            ({"billingAddress": None}, "billingAddress"),
            ({"name": 5}, "name"),
        ],
    )
    async def test_validated_as_on_create_and_nothing_written(
        self, api: Api, body: dict[str, Any], param: str
    ) -> None:
        owner = api.user()
        created = await api.customer(owner)
        response = await patch(api, owner, {"email": "new@acme.example", **body})
        assert response.status_code == 400, response.text
        assert response.json()["error"]["code"] == "INVALID_INPUT"
        assert response.json()["error"]["param"] == param
        assert response.headers["x-error"] and response.headers["x-error-id"]
        after = (await api.call("GET", "/customer", owner)).json()
        assert after["email"] == created["email"] and after["name"] == created["name"]
        assert await audit_changes(api, created["id"]) == []

    @pytest.mark.parametrize("body", [b"{", b"[]", b'"name"', b"null"])
    async def test_a_body_that_is_not_an_object_is_refused(self, api: Api, body: bytes) -> None:
        owner = api.user()
        await api.customer(owner)
        response = await api.call(
            "PATCH", "/customer", owner, content=body, headers={"content-type": "application/json"}
        )
        assert response.status_code == 400
        assert response.json()["error"]["code"] in {"MALFORMED_JSON", "INVALID_INPUT"}
        assert response.headers["x-error"] and response.headers["x-error-id"]

    async def test_a_change_is_audited_and_sent_to_stripe_once(self, api: Api) -> None:
        owner = api.user()
        created = await api.customer(owner)
        await patch(api, owner, {"name": "Acme GmbH", "email": created["email"]})
        assert await audit_changes(api, created["id"]) == [
            {"name": {"from": "Acme", "to": "Acme GmbH"}}
        ]
        assert await update_tasks(api) == 1

    async def test_no_change_writes_nothing(self, api: Api) -> None:
        owner = api.user()
        created = await api.customer(owner)
        stored = (await api.call("GET", "/customer", owner)).json()
        for body in ({}, {"name": created["name"]}):
            response = await patch(api, owner, body)
            assert response.status_code == 200
            assert response.json() == stored
        assert await audit_changes(api, created["id"]) == []
        assert await update_tasks(api) == 0

    async def test_concurrent_updates_each_keep_their_field(self, api: Api) -> None:
        owner = api.user()
        await api.customer(owner)
        bodies = [{"name": "Acme A"}, {"email": "b@acme.example"}] * 5
        responses = await asyncio.gather(*(patch(api, owner, body) for body in bodies))
        assert {r.status_code for r in responses} == {200}
        after = (await api.call("GET", "/customer", owner)).json()
        assert (after["name"], after["email"]) == ("Acme A", "b@acme.example")


class TestGraphQL:
    async def test_same_rules_as_rest(self, api: Api) -> None:
        owner = api.user()
        await api.customer(owner)
        ok = await api.graphql(UPDATE, owner, input={"billingAddress": {"country": "FR"}})
        assert ok["data"]["updateCustomer"]["billingAddress"] == {
            "street": "",
            "city": "",
            "country": "FR",
        }
        bad = await api.graphql(UPDATE, owner, input={"email": "nope"})
        [error] = bad["errors"]
        assert error["extensions"]["code"] == "INVALID_INPUT"
        assert error["extensions"]["param"] == "email"

    async def test_null_leaves_a_field_as_it_is(self, api: Api) -> None:
        owner = api.user()
        await api.customer(owner)
        result = await api.graphql(UPDATE, owner, input={"name": "Renamed", "email": None})
        assert result["data"]["updateCustomer"]["name"] == "Renamed"
        assert result["data"]["updateCustomer"]["email"] == "billing@acme.example"


class TestLocale:
    async def test_set_on_create_and_update_in_its_standard_form(self, api: Api) -> None:
        owner = api.user()
        response = await api.call(
            "POST",
            "/customer",
            owner,
            json={
                "name": "Acme",
                "email": "billing@acme.example",
                "billingAddress": ADDRESS,
                "locale": "en-us",
            },
        )
        assert response.json()["locale"] == "en-US"
        assert (await patch(api, owner, {"locale": "zh-hant-tw"})).json()["locale"] == "zh-Hant-TW"
        assert (await api.call("GET", "/customer", owner)).json()["locale"] == "zh-Hant-TW"

    async def test_none_until_set(self, api: Api) -> None:
        owner = api.user()
        assert (await api.customer(owner))["locale"] is None

    @pytest.mark.parametrize("locale", ["english", "en_US", "xx", "", "e" * 36, "fr-", 7])
    async def test_only_a_bcp_47_tag(self, api: Api, locale: object) -> None:
        owner = api.user()
        await api.customer(owner)
        response = await patch(api, owner, {"locale": locale})
        assert response.status_code == 400, response.text
        assert response.json()["error"]["code"] == "INVALID_INPUT"
        assert response.json()["error"]["param"] == "locale"
        assert (await api.call("GET", "/customer", owner)).json()["locale"] is None

    async def test_over_graphql(self, api: Api) -> None:
        owner = api.user()
        await api.customer(owner)
        changed = await api.graphql(
            'mutation { updateCustomer(input: {locale: "fr-ca"}) { locale } }', owner
        )
        assert changed["data"]["updateCustomer"] == {"locale": "fr-CA"}
        read = await api.graphql("{ customer { locale } }", owner)
        assert read["data"]["customer"] == {"locale": "fr-CA"}
        bad = await api.graphql(
            'mutation { updateCustomer(input: {locale: "nope!"}) { id } }', owner
        )
        assert bad["errors"][0]["extensions"]["param"] == "locale"

    async def test_billing_admin_sets_it_for_any_customer(self, api: Api) -> None:
        owner = api.user()
        created = await api.customer(owner)
        path = f"/admin/customer/{created['id']}"
        response = await api.call("PATCH", path, api.admin(), json={"locale": "de-CH"})
        assert response.json()["locale"] == "de-CH"
        admin_read = await api.graphql(
            "query($id: ID!) { adminCustomer(customerId: $id) { locale } }",
            api.admin(),
            id=created["id"],
        )
        assert admin_read["data"]["adminCustomer"] == {"locale": "de-CH"}
