"""What every REST handler needs: the caller, the services, parsed input, a transaction."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import BaseModel
from starlette.requests import Request

from app.auth.principal import Principal
from app.container import Container, ContainerCall, caller
from app.core.inputs import parse_input, parse_uuid
from app.core.json import read_json
from app.core.pagination import PageRequest
from app.rest.params import path_param
from app.rest.query import QueryParam, page_of

M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class RestCall(ContainerCall):
    request: Request
    container: Container
    principal: Principal

    @classmethod
    async def of(cls, request: Request) -> RestCall:
        return cls(request, request.app.state.container, await cls.principal_of(request))

    @staticmethod
    async def principal_of(request: Request) -> Principal:
        """The caller, as the own rate limit authenticated them for this request."""
        return await caller(request.app.state.container, request.scope)

    async def body(self, model: type[M]) -> M:
        return parse_input(model, await self.json())

    async def json(self) -> Any:
        return read_json(await self.request.body())

    def path_uuid(self, name: str) -> uuid.UUID:
        return parse_uuid(self.request.path_params[name], path_param(name))

    def query(self, param: QueryParam[T]) -> T | None:
        return param.of(self.request)

    def page(self) -> PageRequest:
        return page_of(self.request)
