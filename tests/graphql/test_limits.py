"""Depth, alias and cost limits: the measures on the schema alone, the refusal over /graphql."""

from __future__ import annotations

import re
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import pytest
from graphql import parse, validate

from app.admin.service import AdminService
from app.graphql.limits import Limits, QueryTooCostly, limits_rule
from app.graphql.schema import build_schema
from app.settings import Settings
from tests.graphql.conftest import CREATE_CUSTOMER, GraphQL
from tests.support.api import ADDRESS

AppWith = Callable[..., AbstractAsyncContextManager[GraphQL]]
PAGE = "page pageSize totalCount totalPages hasNext hasPrev"
SUMMARY = "id name tierName subscriptionStatus memberCount createdAt"
ABUSIVE = (
    "{ "
    + " ".join(
        f"a{i}: adminCustomers(pageSize: 100) {{ items {{ {SUMMARY} }} {PAGE} }}" for i in range(30)
    )
    + " }"
)
TEAM = """
{ ...Team }
fragment Team on Query { members(pageSize: 5) { items { ...Who } } }
fragment Who on Member { userId role }
"""
# Spreads nested deeper than 200 are refused by graphql-core before any rule counts them.
LEVELS = 90
TWO = "query Cheap { __typename } query Dear { members(pageSize: 100) { items { userId } } }"


async def cost_of(document: str, operation_name: str | None = None) -> int:
    """The cost the limit computes, read from the refusal of a schema that allows none."""
    limited = build_schema(Settings.model_construct(graphql_max_cost=0))
    result = await limited.execute(document, operation_name=operation_name)
    assert result.errors, result
    costly = [
        e for e in result.errors if e.extensions and e.extensions["code"] == "QUERY_TOO_COSTLY"
    ]
    assert len(costly) == 1, result.errors
    assert costly[0].extensions is not None
    cost: int = costly[0].extensions["cost"]
    return cost


class TestCostModel:
    @pytest.mark.parametrize(
        ("document", "cost"),
        [
            ("{ __typename }", 1),
            ("{ customer { id name tier { name } } }", 5),
            # No size given: the field's default page (20).
            ("{ members { items { userId } totalCount } }", 1 + 20 * 3),
            ("{ members(pageSize: 5) { items { userId } } }", 1 + 5 * 2),
            ("{ adminCustomerMembers(customerId: 1, pageSize: 7) { items { userId } } }", 15),
            # A page is never larger than 100; a larger size is refused when the field runs.
            ("{ members(pageSize: 1000) { items { userId } } }", 1 + 100 * 2),
            ("{ members(pageSize: 1" + "0" * 400 + ") { items { userId } } }", 1 + 100 * 2),
            # A variable may be anything up to the largest page.
            ("query($n: Int!) { members(pageSize: $n) { items { userId } } }", 1 + 100 * 2),
            ("query($n: Int! = 1) { members(pageSize: $n) { items { userId } } }", 1 + 100 * 2),
            # Lists without a size argument cost their fields once.
            ("{ tiers { name features { featureKey value } } }", 5),
            (TEAM, 1 + 5 * (1 + 2)),
            (
                'mutation { addMember(userId: "u") { __typename ... on Member { userId role } '
                "... on Invitation { id } } }",
                5,
            ),
            ("{ ... on Query { customer { id } } ... { __typename } }", 3),
            # A fragment spread twice in one selection runs once; in two selections, twice.
            ("{ ...C ...C } fragment C on Query { customer { id } }", 2),
            ("{ a: customer { ...T } b: customer { ...T } } fragment T on Customer { id name }", 6),
            (ABUSIVE, 30 * (1 + 100 * (1 + 6 + 6))),
        ],
    )
    async def test_cost(self, document: str, cost: int) -> None:
        assert await cost_of(document) == cost

    async def test_only_the_operation_named_counts(self) -> None:
        assert await cost_of(TWO, "Dear") == 201
        limited = build_schema(Settings.model_construct(graphql_max_cost=1))
        result = await limited.execute(TWO, operation_name="Cheap")
        assert (result.errors, result.data) == (None, {"__typename": "Query"})

    async def test_each_operation_counts_when_none_is_named(self) -> None:
        limited = build_schema(Settings.model_construct(graphql_max_cost=1))
        result = await limited.execute(TWO)
        assert result.errors is not None
        [error] = result.errors
        assert error.extensions is not None
        assert (error.extensions["code"], error.extensions["cost"]) == ("QUERY_TOO_COSTLY", 201)
        assert error.locations is not None
        assert error.locations[0].column == TWO.index("query Dear") + 1

    async def test_a_cycle_of_fragments_ends(self) -> None:
        limited = build_schema(Settings.model_construct(graphql_max_cost=0))
        result = await limited.execute(
            "{ ...A } fragment A on Query { customer { id } ...B } fragment B on Query { ...A }"
        )
        assert result.errors is not None
        assert any("Cannot spread fragment" in e.message for e in result.errors)

    @pytest.mark.parametrize(
        ("fragment", "cost"),
        [
            # Spread twice at one level: graphql-core runs it once.
            ("fragment F{i} on Query {{ ...F{j} ... {{ ...F{j} }} }}", 1),
            # Reached through two fragments at every level: an upper bound of 2**LEVELS,
            # worked out once per fragment.
            (
                "fragment F{i} on Query {{ ...A{i} ...B{i} }} "
                "fragment A{i} on Query {{ ...F{j} }} fragment B{i} on Query {{ ...F{j} }}",
                2**LEVELS,
            ),
        ],
    )
    def test_nested_spreads_are_counted_without_walking_every_path(
        self, fragment: str, cost: int
    ) -> None:
        fragments = " ".join(fragment.format(i=i, j=i + 1) for i in range(LEVELS))
        document = parse(f"{{ ...F0 }} {fragments} fragment F{LEVELS} on Query {{ __typename }}")
        graphql_schema = build_schema()._schema
        [error] = validate(graphql_schema, document, [limits_rule(Limits(10**9, 10**9, 0), None)])
        assert isinstance(error.original_error, QueryTooCostly)
        assert error.original_error.details["cost"] == cost


async def test_aliases_and_depth_through_nested_spreads_are_measured_once_per_fragment() -> None:
    """Each level spreads the next through two fragments: 2**LEVELS paths, which a limiter
    walking every path would never finish."""
    fragments = " ".join(
        f"fragment F{i} on Query {{ x{i}: __typename ...A{i} ...B{i} }} "
        f"fragment A{i} on Query {{ ...F{i + 1} }} fragment B{i} on Query {{ ...F{i + 1} }}"
        for i in range(LEVELS)
    )
    nested = f"fragment F{LEVELS} on Query {{ customer {{ tier {{ name }} }} }}"
    result = await build_schema().execute(f"{{ ...F0 }} {fragments} {nested}")
    assert result.errors is not None
    messages = {error.message for error in result.errors}
    assert f"{2**LEVELS - 1} aliases found. Allowed: 30" in messages
    assert not any("depth" in message for message in messages)  # a depth of 2 is allowed


class TestEndpoint:
    async def test_ordinary_queries_pass_the_default_limit(self, gql: GraphQL) -> None:
        admin = gql.admin()
        full = f"{{ adminCustomers(pageSize: 100) {{ items {{ {SUMMARY} }} {PAGE} }} }}"
        assert gql.api.container.settings.graphql_max_cost >= 3 * await cost_of(full)
        assert (await gql.data(full, admin))["adminCustomers"]["pageSize"] == 100

    async def test_an_abusive_query_is_refused_and_nothing_runs(
        self, gql: GraphQL, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        calls: list[Any] = []

        async def recorded(*args: Any, **kwargs: Any) -> None:
            calls.append(args)

        monkeypatch.setattr(AdminService, "list_customers", recorded)
        error = await gql.error(ABUSIVE, gql.admin())
        limit = gql.api.container.settings.graphql_max_cost
        assert (error["extensions"]["code"], error["extensions"]["status"]) == (
            "QUERY_TOO_COSTLY",
            400,
        )
        assert error["extensions"]["errorId"]
        assert (error["extensions"]["cost"], error["extensions"]["limit"]) == (39030, limit)
        assert error["message"] == f"The operation costs 39030, more than the limit of {limit}."
        assert calls == []

    async def test_a_cost_at_the_limit_passes_and_one_more_is_refused(
        self, graphql_app: AppWith
    ) -> None:
        async with graphql_app(graphql_max_cost=11) as gql:
            owner = gql.user()
            await gql.customer(owner)
            at = await gql.data("{ members(pageSize: 5) { items { userId } } }", owner)
            assert len(at["members"]["items"]) == 1
            over = await gql.error("{ members(pageSize: 6) { items { userId } } }", owner)
            assert over["extensions"]["code"] == "QUERY_TOO_COSTLY"
            assert re.search(r"\bcosts 13\b.*\blimit of 11\b", over["message"])

    async def test_variables_count_as_the_largest_page(self, graphql_app: AppWith) -> None:
        async with graphql_app(graphql_max_cost=200) as gql:
            owner = gql.user()
            await gql.customer(owner)
            query = "query($n: Int!) { members(pageSize: $n) { items { userId } } }"
            error = await gql.error(query, owner, n=1)
            assert (error["extensions"]["code"], error["extensions"]["cost"]) == (
                "QUERY_TOO_COSTLY",
                201,
            )

    async def test_a_refused_mutation_changes_nothing(self, graphql_app: AppWith) -> None:
        async with graphql_app(graphql_max_cost=4) as gql:
            owner = gql.user()
            assert await cost_of(CREATE_CUSTOMER) == 5
            variables = {"name": "Acme", "email": "billing@acme.example", "billingAddress": ADDRESS}
            error = await gql.error(CREATE_CUSTOMER, owner, input=variables)
            assert error["extensions"]["code"] == "QUERY_TOO_COSTLY"
            refused = await gql.error("{ customer { id } }", owner)
            assert refused["extensions"]["code"] == "NO_CUSTOMER"
