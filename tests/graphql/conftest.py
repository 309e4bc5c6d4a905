"""GraphQL documents sent to the running app of `tests.support.api`, over `/graphql`."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from app.auth.principal import PlatformRole
from tests.support.api import ADDRESS, ANONYMOUS, Api, Caller, running_api, settings_for
from tests.support.clock import MovableClock

CREATE_CUSTOMER = """
mutation Create($input: CustomerInput!) {
  createCustomer(input: $input) { id name tier { name } }
}
"""
ADD_MEMBER = """
mutation Add($userId: ID, $email: String, $role: Role! = USER) {
  addMember(userId: $userId, email: $email, role: $role) {
    __typename
    ... on Member { userId email role joinedAt }
    ... on Invitation { id invitedEmail: email role status expiresAt }
  }
}
"""


class GraphQL:
    """The shared `Api`, spoken to in GraphQL documents rather than REST calls."""

    def __init__(self, api: Api) -> None:
        self.api = api

    def user(self, *roles: PlatformRole, email: str | None = None) -> Caller:
        return self.api.user(*roles, email=email)

    def admin(self) -> Caller:
        return self.api.admin()

    async def execute(self, query: str, caller: Caller = ANONYMOUS, **variables: Any) -> Any:
        return await self.api.graphql(query, caller, **variables)

    async def data(self, query: str, caller: Caller = ANONYMOUS, **variables: Any) -> Any:
        body = await self.execute(query, caller, **variables)
        assert "errors" not in body, body
        return body["data"]

    async def error(self, query: str, caller: Caller = ANONYMOUS, **variables: Any) -> Any:
        """The one error of a document whose fields all failed."""
        body = await self.execute(query, caller, **variables)
        assert len(body.get("errors", [])) == 1, body
        assert not any((body.get("data") or {}).values()), body
        return body["errors"][0]

    async def customer(self, owner: Caller, name: str = "Acme") -> str:
        data = await self.data(
            CREATE_CUSTOMER,
            owner,
            input={"name": name, "email": "billing@acme.example", "billingAddress": ADDRESS},
        )
        customer_id: str = data["createCustomer"]["id"]
        return customer_id

    async def add(self, manager: Caller, member: Caller, role: str = "USER") -> None:
        data = await self.data(ADD_MEMBER, manager, userId=member.user_id, role=role)
        assert data["addMember"]["__typename"] == "Member"


@pytest.fixture
def gql(api: Api) -> GraphQL:
    return GraphQL(api)


@pytest.fixture
def graphql_app(
    database_url: str, tmp_path: Path, clock: MovableClock
) -> Callable[..., AbstractAsyncContextManager[GraphQL]]:
    """An app with some settings changed, for the tests of limits."""

    @asynccontextmanager
    async def running(**overrides: Any) -> AsyncIterator[GraphQL]:
        async with running_api(settings_for(database_url, tmp_path, **overrides), clock) as api:
            yield GraphQL(api)

    return running
