"""An endpoint of the REST shim, as the route table declares it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp

from app.auth.principal import Access, Declaration, declaration_of
from app.rest.query import QueryParam

BASE_PATH = "/api/billing/v1"
RequestHandler = Callable[[Request], Awaitable[Response]]
# A request handler, or (on the hot paths) an ASGI app that renders its own errors.
Handler = RequestHandler | ASGIApp


@dataclass(frozen=True, slots=True)
class Endpoint:
    method: str
    path: str
    handler: Handler
    summary: str
    response: object | None
    status: int = 200
    body: object | None = None  # the request body's shape: a model, or a type
    query: tuple[QueryParam[Any], ...] = ()
    headers: tuple[str, ...] = ()  # required request headers beyond the credentials
    errors: tuple[int, ...] = (400, 401, 403, 404)
    # The service operation the endpoint runs, whose declaration says who may call it.
    operation: Callable[..., Any] = field(kw_only=True)
    # An /admin path to an operation a team runs on itself, where billing_admin names the
    # customer: for billing_admin only, whatever the operation lets a team do.
    admin_only: bool = field(default=False, kw_only=True)

    @property
    def declaration(self) -> Declaration:
        if self.admin_only:
            return Declaration(Access.ADMIN)
        return declaration_of(self.operation)

    @property
    def access(self) -> Access:
        return self.declaration.access
