"""A running app driven over HTTP through `/graphql`, with callers holding real tokens."""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from starlette.applications import Starlette

from app.auth.tokens import mint_token
from app.container import Container
from app.main import create_app
from app.settings import Settings

SECRET = "graphql-test-signing-secret-0123456789-0123456789-0123456789-abcdef"
ADDRESS = {
    "street": "1 Main Street",
    "city": "Springfield",
    "state": "IL",
    "postalCode": "62701",
    "country": "US",
}
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


@dataclass(frozen=True)
class Caller:
    id: uuid.UUID | None = None
    email: str | None = None
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def user_id(self) -> str:
        assert self.id is not None
        return str(self.id)


ANONYMOUS = Caller()


class GraphQL:
    def __init__(self, app: Starlette, http: httpx.AsyncClient) -> None:
        self.app = app
        self.http = http

    @property
    def container(self) -> Container:
        container: Container = self.app.state.container
        return container

    def user(self, *roles: str, email: str | None = None) -> Caller:
        user_id = uuid.uuid4()
        email = email or f"user-{user_id.hex[:12]}@example.com"
        token = mint_token(SECRET, user_id=user_id, email=email, roles=list(roles))
        return Caller(user_id, email, {"Authorization": f"Bearer {token}"})

    def admin(self) -> Caller:
        return self.user("billing_admin")

    async def execute(self, query: str, caller: Caller = ANONYMOUS, **variables: Any) -> Any:
        response = await self.http.post(
            "/graphql", json={"query": query, "variables": variables}, headers=caller.headers
        )
        assert response.status_code == 200, response.text
        return response.json()

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


def settings_for(database_url: str, data_dir: Path, **overrides: Any) -> Settings:
    return Settings(
        database_url=database_url,
        jwt_secret=SECRET,
        data_dir=data_dir,
        migrate_on_start=False,
        **overrides,
    )


@asynccontextmanager
async def running(settings: Settings) -> AsyncIterator[GraphQL]:
    app = create_app(settings)
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app, client=("198.51.100.4", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield GraphQL(app, http)


@pytest.fixture
def graphql_app(
    database_url: str, tmp_path: Path
) -> Callable[..., AbstractAsyncContextManager[GraphQL]]:
    """An app with some settings changed, for the tests of limits."""
    return lambda **overrides: running(settings_for(database_url, tmp_path, **overrides))


@pytest.fixture
async def gql(database_url: str, tmp_path: Path) -> AsyncIterator[GraphQL]:
    async with running(settings_for(database_url, tmp_path)) as client:
        yield client


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def error_log() -> Iterator[Records]:
    """What `app.errors` logged (the app's loggers do not propagate to pytest's capture)."""
    records = Records()
    logger = logging.getLogger("app.errors")
    logger.addHandler(records)
    try:
        yield records
    finally:
        logger.removeHandler(records)
