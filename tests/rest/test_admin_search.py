"""The admin customer list: search (part of a name or e-mail, or an id) and sort."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.api import ADDRESS, Api
from tests.support.clock import MovableClock


async def company(api: Api, name: str, email: str) -> str:
    response = await api.call(
        "POST",
        "/customer",
        api.user(),
        json={"name": name, "email": email, "billingAddress": ADDRESS},
    )
    assert response.status_code == 201, response.text
    customer_id: str = response.json()["id"]
    return customer_id


async def names(api: Api, **params: Any) -> list[str]:
    response = await api.call("GET", "/admin/customers", api.admin(), params=params)
    assert response.status_code == 200, response.text
    return [customer["name"] for customer in response.json()["customers"]]


@pytest.fixture
async def companies(api: Api, clock: MovableClock) -> dict[str, str]:
    """Created a minute apart, oldest first."""
    created = {}
    for name, email in (
        ("Initech", "billing@initech.example"),
        ("acme 100%", "ap@acme.example"),
        ("Globex", "finance@globex.example"),
    ):
        created[name] = await company(api, name, email)
        clock.advance(minutes=1)
    return created


async def test_search_by_part_of_a_name_or_email_in_any_case(
    api: Api, companies: dict[str, str]
) -> None:
    assert await names(api, search="GLOB") == ["Globex"]
    assert await names(api, search="finance@") == ["Globex"]
    assert await names(api, search="init") == ["Initech"]
    assert await names(api, search="nobody") == []


async def test_search_by_id(api: Api, companies: dict[str, str]) -> None:
    assert await names(api, search=companies["Initech"]) == ["Initech"]


async def test_search_wildcards_are_plain_text(api: Api, companies: dict[str, str]) -> None:
    assert await names(api, search="100%") == ["acme 100%"]
    assert await names(api, search="_") == []


async def test_sort(api: Api, companies: dict[str, str]) -> None:
    assert await names(api) == ["Globex", "acme 100%", "Initech"]  # newest first
    assert await names(api, sort="oldest") == ["Initech", "acme 100%", "Globex"]
    assert await names(api, sort="name") == ["acme 100%", "Globex", "Initech"]
    assert await names(api, sort="name", search="e", pageSize=1, page=2) == ["Globex"]


async def test_an_unknown_sort_is_refused(api: Api) -> None:
    response = await api.call("GET", "/admin/customers", api.admin(), params={"sort": "size"})
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "sort"


async def test_over_graphql(api: Api, companies: dict[str, str]) -> None:
    body = await api.graphql(
        '{ adminCustomers(search: "E", sort: NAME) { items { name } totalCount } }', api.admin()
    )
    page = body["data"]["adminCustomers"]
    assert [item["name"] for item in page["items"]] == ["acme 100%", "Globex", "Initech"]
    assert page["totalCount"] == 3


async def test_search_over_graphql(api: Api, companies: dict[str, str]) -> None:
    body = await api.graphql('{ adminCustomers(search: "glob") { items { name } } }', api.admin())
    assert body["data"]["adminCustomers"]["items"] == [{"name": "Globex"}]
