"""What every REST handler needs: the caller, the services, parsed input, a transaction."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request

from app.auth.principal import Principal, known_principal
from app.container import Container, Services
from app.core.inputs import parse_input, parse_uuid
from app.core.json import read_json
from app.core.pagination import PageRequest
from app.rest.query import QueryParam, page_of

M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class RestCall:
    request: Request
    container: Container
    principal: Principal

    @classmethod
    async def of(cls, request: Request) -> RestCall:
        return cls(request, request.app.state.container, await cls.principal_of(request))

    @staticmethod
    async def principal_of(request: Request) -> Principal:
        """The caller, as the own rate limit authenticated them for this request."""
        known = known_principal(request.scope)
        if known is not None:
            return known
        container: Container = request.app.state.container
        return await container.credentials.of_scope(request.scope)

    @property
    def services(self) -> Services:
        return self.container.services

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncSession]:
        async with self.container.db.transaction() as session:
            yield session

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        async with self.container.db.transaction(write=False) as session:
            yield session

    async def body(self, model: type[M]) -> M:
        return parse_input(model, await self.json())

    async def json(self) -> Any:
        return read_json(await self.request.body())

    def path_uuid(self, name: str) -> uuid.UUID:
        return parse_uuid(self.request.path_params[name], name)

    def query(self, param: QueryParam[T]) -> T | None:
        return param.of(self.request)

    def page(self) -> PageRequest:
        return page_of(self.request)
