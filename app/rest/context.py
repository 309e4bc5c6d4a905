"""What every REST handler needs: the caller, the services, parsed input, a transaction."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import BaseModel
from starlette.requests import Request

from app.auth.principal import Principal
from app.container import Container, ContainerCall, caller
from app.core.errors import InvalidInput
from app.core.inputs import parse_input, parse_uuid
from app.core.json import read_json
from app.core.pagination import DEFAULT_PAGE_SIZE, PageRequest

M = TypeVar("M", bound=BaseModel)
# ASCII digits only: int() would also take other scripts' digits or "1_000".
_INTEGER = re.compile(r"[+-]?[0-9]{1,100}")


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
        return parse_uuid(self.request.path_params[name], name)

    def query(self, name: str) -> str | None:
        return self.request.query_params.get(name)

    def query_uuid(self, name: str) -> uuid.UUID | None:
        value = self.request.query_params.get(name)
        return None if value is None else parse_uuid(value, name)

    def query_int(self, name: str) -> int | None:
        value = self.request.query_params.get(name)
        if value is None:
            return None
        if not _INTEGER.fullmatch(value):
            raise InvalidInput(f"{name} must be an integer.", param=name)
        return int(value)

    def query_bool(self, name: str) -> bool | None:
        value = self.request.query_params.get(name)
        if value is None:
            return None
        if value.lower() in ("true", "1"):
            return True
        if value.lower() in ("false", "0"):
            return False
        raise InvalidInput(f"{name} must be true or false.", param=name)

    def page(self) -> PageRequest:
        page, page_size, limit = map(self.query_int, ("page", "pageSize", "limit"))
        if page_size is not None and limit is not None and page_size != limit:
            raise InvalidInput("limit is another name of pageSize: send one.", param="limit")
        size = page_size if page_size is not None else limit
        return PageRequest(
            page=1 if page is None else page,
            page_size=DEFAULT_PAGE_SIZE if size is None else size,
        )
