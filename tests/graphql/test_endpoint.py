"""/graphql as an endpoint: error rendering and masking, the document limits, HTTP handling."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import AbstractAsyncContextManager

import httpx
import pytest
from strawberry.extensions import ValidationCache

from app.auth.principal import access_of, requires
from app.customers.service import CustomerService
from tests.graphql.conftest import CREATE_CUSTOMER, GraphQL
from tests.support.api import ANONYMOUS
from tests.support.deep_json import PAST_THE_PARSERS, assert_no_failure_logged, nested, too_deep
from tests.support.logs import Records

AppWith = Callable[..., AbstractAsyncContextManager[GraphQL]]


def assert_request_error(response: httpx.Response, status: int, code: str) -> None:
    """Refused at the HTTP level: GraphQL-shaped, with REST's headers too."""
    assert response.status_code == status, response.text
    [error] = response.json()["errors"]
    assert (error["extensions"]["code"], error["extensions"]["status"]) == (code, status)
    assert response.headers["x-error-id"] == error["extensions"]["errorId"]
    assert response.headers["x-error"] == error["message"]


class TestErrors:
    async def test_an_unexpected_exception_is_masked_and_logged(
        self, gql: GraphQL, monkeypatch: pytest.MonkeyPatch, error_log: Records
    ) -> None:
        owner = gql.user()
        await gql.customer(owner)

        @requires(access_of(CustomerService.get))
        async def broken(*_args: object, **_kwargs: object) -> None:
            raise RuntimeError("secret internals")

        monkeypatch.setattr(CustomerService, "get", broken)
        error = await gql.error("{ customer { id } }", owner)
        assert error["message"] == "An internal error occurred."
        assert (error["extensions"]["code"], error["extensions"]["status"]) == (
            "INTERNAL_ERROR",
            500,
        )
        records = [
            r
            for r in error_log.records
            if getattr(r, "error_id", None) == error["extensions"]["errorId"]
        ]
        assert len(records) == 1
        assert records[0].exc_info and isinstance(records[0].exc_info[1], RuntimeError)

    async def test_a_failure_outside_any_resolver_is_masked_too(
        self, gql: GraphQL, monkeypatch: pytest.MonkeyPatch, error_log: Records
    ) -> None:
        def broken(_self: object) -> Iterator[None]:
            raise RuntimeError("secret internals")
            yield

        monkeypatch.setattr(ValidationCache, "on_validate", broken)
        error = await gql.error("{ __typename }")
        assert (error["message"], error["extensions"]["code"]) == (
            "An internal error occurred.",
            "INTERNAL_ERROR",
        )
        assert [getattr(r, "error_id", None) for r in error_log.records] == [
            error["extensions"]["errorId"]
        ]

    async def test_client_errors_are_logged_at_info_with_their_id(
        self, gql: GraphQL, error_log: Records
    ) -> None:
        refused = await gql.error("{ customer { id } }", gql.user())
        malformed = await gql.error("{ customer { id }", gql.user())
        logged = [(r.levelname, getattr(r, "error_id", None)) for r in error_log.records]
        assert logged == [
            ("INFO", refused["extensions"]["errorId"]),
            ("INFO", malformed["extensions"]["errorId"]),
        ]

    async def test_syntax_and_validation_errors(self, gql: GraphQL) -> None:
        syntax = await gql.error("{ customer { id }", gql.user())
        assert (syntax["extensions"]["code"], syntax["extensions"]["status"]) == (
            "GRAPHQL_PARSE_FAILED",
            400,
        )
        unknown = await gql.error("{ customer { shoeSize } }", gql.user())
        assert unknown["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
        assert "shoeSize" in unknown["message"]
        role = await gql.error(
            'mutation($r: Role!) { changeMemberRole(userId: "x", role: $r) { role } }',
            gql.user(),
            r="KING",
        )
        assert role["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
        moment = await gql.error(
            'mutation($e: DateTime) { createApiKey(name: "k", expiresAt: $e) { secret } }',
            gql.user(),
            e="yesterday",
        )
        assert (moment["extensions"]["code"], moment["extensions"]["status"]) == (
            "GRAPHQL_VALIDATION_FAILED",
            400,
        )

    async def test_every_occurrence_has_its_own_error_id(self, gql: GraphQL) -> None:
        first = await gql.error("{ customer { shoeSize } }")
        second = await gql.error("{ customer { shoeSize } }")
        assert first["message"] == second["message"]
        assert first["extensions"]["errorId"] != second["extensions"]["errorId"]


class TestLimits:
    async def test_depth(self, graphql_app: AppWith) -> None:
        async with graphql_app(graphql_max_depth=1) as gql:
            owner = gql.user()
            assert (await gql.execute("{ customer { id } }", owner))["errors"][0]["extensions"][
                "code"
            ] == "NO_CUSTOMER"
            for document in (
                "{ customer { tier { name } } }",
                "{ ...C } fragment C on Query { customer { ...T } } fragment T on Customer "
                "{ ... on Customer { tier { name } } }",
            ):
                error = await gql.error(document, owner)
                assert error["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
                assert "exceeds maximum operation depth of 1" in error["message"]
            # Introspection is not counted: GraphiQL's own query nests far deeper.
            assert await gql.data("{ __schema { queryType { fields { type { name } } } } }")

    async def test_aliases(self, graphql_app: AppWith) -> None:
        async with graphql_app(graphql_max_aliases=2) as gql:
            assert await gql.data("{ a: __typename b: __typename }") == {"a": "Query", "b": "Query"}
            error = await gql.error("{ a: __typename b: __typename c: __typename }")
            assert error["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
            assert "3 aliases found. Allowed: 2" in error["message"]

    async def test_tokens(self, graphql_app: AppWith) -> None:
        async with graphql_app(graphql_max_tokens=10) as gql:
            assert await gql.data("{ __typename }") == {"__typename": "Query"}
            error = await gql.error("{ " + "__typename " * 20 + "}")
            assert error["extensions"]["code"] == "GRAPHQL_PARSE_FAILED"


class TestHttp:
    async def test_queries_over_get(self, gql: GraphQL) -> None:
        response = await gql.api.client.get("/graphql", params={"query": "{ __typename }"})
        assert (response.status_code, response.json()) == (200, {"data": {"__typename": "Query"}})

    async def test_mutations_over_get_are_refused(self, gql: GraphQL) -> None:
        owner = gql.user()
        response = await gql.api.client.get(
            "/graphql",
            headers=owner.headers,
            params={
                "query": 'mutation { createCustomer(input: {name: "A", email: "a@a.example", '
                'billingAddress: {country: "US"}}) { id } }'
            },
        )
        assert response.status_code == 405
        assert response.headers["allow"] == "POST"
        error = response.json()["errors"][0]
        assert error["extensions"]["code"] == "METHOD_NOT_ALLOWED"
        assert response.headers["x-error-id"] == error["extensions"]["errorId"]
        assert (await gql.error("{ customer { id } }", owner))["extensions"]["code"] == (
            "NO_CUSTOMER"
        )

    async def test_graphiql_for_browsers(self, gql: GraphQL) -> None:
        response = await gql.api.client.get("/graphql", headers={"Accept": "text/html"})
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/html")
        assert "graphiql" in response.text.lower()

    @pytest.mark.parametrize(
        ("content", "content_type", "code"),
        [
            (b"{not json", "application/json", "MALFORMED_JSON"),
            (b"\xff\xfe\xfa", "application/json", "MALFORMED_JSON"),
            (b'"a string"', "application/json", "INVALID_INPUT"),
            (b"{}", "application/json", "INVALID_INPUT"),
            (b'{"query": 42}', "application/json", "INVALID_INPUT"),
            (b"query=%7B__typename%7D", "application/x-www-form-urlencoded", "INVALID_INPUT"),
        ],
    )
    async def test_bodies_that_are_not_graphql_requests(
        self, gql: GraphQL, content: bytes, content_type: str, code: str
    ) -> None:
        response = await gql.api.client.post(
            "/graphql", content=content, headers={"content-type": content_type}
        )
        assert response.status_code == 400, response.text
        error = response.json()["errors"][0]
        assert (error["extensions"]["code"], error["extensions"]["status"]) == (code, 400)
        # Refused at the HTTP level: with REST's headers too.
        assert response.headers["x-error-id"] == error["extensions"]["errorId"]
        assert response.headers["x-error"] == error["message"]

    @pytest.mark.parametrize("signed_in", [False, True], ids=["anonymous", "signed-in"])
    async def test_json_nested_deeper_than_allowed(
        self, gql: GraphQL, error_log: Records, signed_in: bool
    ) -> None:
        caller = gql.user() if signed_in else ANONYMOUS
        create = b'{"query": %s, "variables": {"input": {"name": %s}}}' % (
            json.dumps(CREATE_CUSTOMER).encode(),
            nested(PAST_THE_PARSERS),
        )
        bodies = [*too_deep('"query"'), create]
        headers = {**caller.headers, "content-type": "application/json"}
        for body in bodies:
            response = await gql.api.client.post("/graphql", content=body, headers=headers)
            assert_request_error(response, 400, "MALFORMED_JSON")
        for variables in too_deep('"input"'):
            params = {"query": "{ __typename }", "variables": variables.decode()}
            response = await gql.api.client.get("/graphql", params=params, headers=caller.headers)
            assert_request_error(response, 400, "MALFORMED_JSON")
        assert_no_failure_logged(error_log)
        if signed_in:
            error = await gql.error("{ customer { id } }", caller)
            assert error["extensions"]["code"] == "NO_CUSTOMER"

    async def test_other_methods(self, gql: GraphQL) -> None:
        response = await gql.api.client.put("/graphql", json={"query": "{ __typename }"})
        assert response.status_code == 405
