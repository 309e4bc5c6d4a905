"""REST and GraphQL give the same data and the same error codes for every operation."""

from __future__ import annotations

import pytest

from tests.support.api import Api
from tests.support.operations import OPERATIONS, ROLES, Operation, Outcome, World

# The two transports share the services; the database under them cannot make them
# differ, so one backend is enough (see tests/test_role_matrix.py).
pytestmark = pytest.mark.backends("sqlite")


@pytest.mark.parametrize("operation", OPERATIONS, ids=[op.name for op in OPERATIONS])
async def test_same_outcome_on_both_transports(api: Api, operation: Operation) -> None:
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
