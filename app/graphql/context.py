"""What every resolver needs: the caller, the services and a transaction per field."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeAlias

import strawberry
from starlette.requests import Request
from starlette.websockets import WebSocket

from app.auth.principal import Access, Declaration, Principal, declaration_of
from app.auth.seats import admit
from app.container import Container, ContainerCall, caller
from app.core.errors import AppError, MethodNotAllowed
from app.graphql.websocket import Connection, Slot, authenticate, reauthenticate


class GraphQLContext(ContainerCall):
    """Per request, or per WebSocket connection. A request's caller is authenticated on
    first use, once, however many fields ask for it: a document that needs no caller
    (introspection) costs no lookup, and a credential error surfaces as a GraphQL error
    with the code REST would give. A connection's caller is authenticated by its
    `connection_init` (`connect`), before any subscription runs."""

    def __init__(
        self,
        container: Container,
        request: Request | WebSocket,
        connection: Connection | None = None,
    ) -> None:
        self.container = container
        self.request = request
        self.connection = connection
        # A WebSocket's `connection_init` payload, set by Strawberry when it arrives.
        self.connection_params: dict[str, object] | None = None
        self._lock = asyncio.Lock()
        self._principal: Principal | None = None
        self._failure: AppError | None = None

    @property
    def over_websocket(self) -> bool:
        return self.connection is not None

    async def connect(self) -> None:
        """Authenticates a WebSocket connection by its `connection_init` payload; refused
        with `ConnectionRefused`."""
        params = self.connection_params or {}
        self._principal = await authenticate(self.container.self_limit, self.request.scope, params)

    async def reauthenticate(self) -> None:
        """The connection's credentials checked again, as they stand now; refused with
        `ConnectionRefused`."""
        params = self.connection_params or {}
        credentials = self.container.credentials
        self._principal = await reauthenticate(credentials, self.request.scope, params)

    def subscription_slot(self, principal: Principal) -> Slot:
        """Room for one more subscription of this connection and caller."""
        if self.connection is None:
            raise MethodNotAllowed("Subscriptions run over a WebSocket (graphql-transport-ws).")
        return self.connection.take(principal.require_user())

    async def principal(
        self,
        operation: Callable[..., Any],
        *,
        service_name: str | None = None,
        as_admin: bool = False,
    ) -> Principal:
        """The caller, once the declaration of the service `operation` the field runs lets
        them ask for it at all, and their seat on their team allows it where the operation
        declares one: before any of its arguments is read, as REST checks before reading a
        body. `service_name`: the metered service the field names, whose scope is checked
        as well. `as_admin`: the field names a customer of a team operation, which is
        billing_admin's alone (as the REST /admin paths to it)."""
        async with self._lock:
            if self._principal is None and self._failure is None:
                try:
                    self._principal = await caller(self.container, self.request.scope)
                except AppError as exc:
                    self._failure = exc
        if self._failure is not None:
            raise self._failure
        assert self._principal is not None
        declared = Declaration(Access.ADMIN) if as_admin else declaration_of(operation)
        await admit(self.container.db, self._principal, declared, service_name=service_name)
        return self._principal


Info: TypeAlias = strawberry.Info[GraphQLContext, None]
