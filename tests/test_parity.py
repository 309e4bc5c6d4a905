"""REST and GraphQL give the same data and the same error codes for every operation."""

from __future__ import annotations

import re
from collections import defaultdict
from types import SimpleNamespace
from typing import Any, cast

import pytest
from starlette.routing import Match

from app.graphql.schema import schema
from app.rest.endpoint import BASE_PATH
from app.rest.router import rest_routes
from app.rest.routes import ENDPOINTS
from tests.support.api import Api
from tests.support.operations import (
    OPERATIONS,
    ROLES,
    WITH_STRIPE,
    WITHOUT_STRIPE,
    Operation,
    Outcome,
    World,
)

# The two transports share the services; the database under them cannot make them
# differ, so one backend is enough (see tests/test_role_matrix.py).
pytestmark = pytest.mark.backends("sqlite")


@pytest.mark.parametrize("operation", WITHOUT_STRIPE, ids=[op.name for op in WITHOUT_STRIPE])
async def test_same_outcome_on_both_transports(api: Api, operation: Operation) -> None:
    await _same_outcome(api, operation)


@pytest.mark.parametrize("operation", WITH_STRIPE, ids=[op.name for op in WITH_STRIPE])
async def test_same_outcome_with_stripe(stripe_api: Api, operation: Operation) -> None:
    await _same_outcome(stripe_api, operation)


async def _same_outcome(api: Api, operation: Operation) -> None:
    """Reads run on one world; writes on two identical ones (ids compared by name)."""
    shared = await World.build(api) if operation.reads_only else None
    for role in ROLES:
        outcomes: list[Outcome] = []
        for call in (operation.rest, operation.graphql):
            world = shared or await World.build(api)
            outcomes.append(await call(world, world.callers[role]))
        by_rest, by_graphql = outcomes
        assert by_rest == by_graphql, role
        assert by_rest.status == operation.expected[role]
        if by_rest.status < 300:
            assert by_rest.data is not None or operation.name.startswith(
                ("delete", "leave", "remove", "revoke", "admin delete", "admin remove")
            )


# REST operations with no GraphQL counterpart: Stripe is the caller of its webhook, and
# signs it instead of holding a credential.
WITHOUT_PARITY = frozenset({("POST", "/stripe/webhook")})
# A world's names, enough to resolve the rows' paths to the table's.
SAMPLE_WORLD = SimpleNamespace(
    customer_id="sample-customer",
    victim=SimpleNamespace(user_id="sample-user"),
    invitation_id="sample-invitation",
    tier_ids=defaultdict(lambda: "sample-tier"),
    api_key_id="sample-key",
    webhook_id="sample-webhook",
    delivery_id="sample-delivery",
)


def _documented_route(method: str, path: str) -> tuple[str, str]:
    scope = {"type": "http", "method": method, "path": BASE_PATH + path, "root_path": ""}
    for route in rest_routes():
        match, _ = route.matches(scope)
        if match is Match.FULL:
            return method, route.path.removeprefix(BASE_PATH)
    raise AssertionError(f"{method} {path} is no documented path")


def _rest_route(operation: Operation) -> tuple[str, str]:
    call: Any = operation.rest
    path = call.path(SAMPLE_WORLD) if callable(call.path) else call.path
    return _documented_route(call.method, path.split("?")[0])


def _mutation(operation: Operation) -> str | None:
    match = re.match(r"\s*mutation\b[^{]*{\s*(\w+)", cast(Any, operation.graphql).document)
    return match.group(1) if match else None


def test_every_rest_operation_has_a_row() -> None:
    documented = {(endpoint.method, endpoint.path) for endpoint in ENDPOINTS}
    covered = {_rest_route(operation) for operation in OPERATIONS}
    assert documented - WITHOUT_PARITY - covered == set()
    assert covered & WITHOUT_PARITY == set()


def test_every_mutation_has_a_row() -> None:
    mutation_type = schema._schema.mutation_type
    assert mutation_type is not None
    mutations = set(mutation_type.fields)
    assert mutations - {_mutation(operation) for operation in OPERATIONS} == set()
