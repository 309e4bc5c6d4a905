"""Every operation x every kind of caller, against SPEC §3.2 and §5.7, over both transports."""

from __future__ import annotations

import pytest

from tests.support.api import Api
from tests.support.operations import ROLES, WITH_STRIPE, WITHOUT_STRIPE, Operation, World

# Who may do what is decided in the services, the same on every database; the
# database-specific paths (conditional writes, constraints, concurrency) are proven on
# both backends by the service, concurrency and migration tests. One backend keeps these
# ~1,000 cells affordable.
pytestmark = pytest.mark.backends("sqlite")


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("operation", WITHOUT_STRIPE, ids=[op.name for op in WITHOUT_STRIPE])
@pytest.mark.parametrize("transport", ["rest", "graphql"])
async def test_role_matrix(api: Api, operation: Operation, role: str, transport: str) -> None:
    await _cell(api, operation, role, transport)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("operation", WITH_STRIPE, ids=[op.name for op in WITH_STRIPE])
@pytest.mark.parametrize("transport", ["rest", "graphql"])
async def test_role_matrix_with_stripe(
    stripe_api: Api, operation: Operation, role: str, transport: str
) -> None:
    await _cell(stripe_api, operation, role, transport)


async def _cell(api: Api, operation: Operation, role: str, transport: str) -> None:
    world = await World.build(api)
    call = operation.rest if transport == "rest" else operation.graphql
    outcome = await call(world, world.callers[role])
    assert outcome.status == operation.expected[role], outcome
