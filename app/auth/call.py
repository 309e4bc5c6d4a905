"""What a request needs of the container on either transport: its caller, the services and
a transaction. Each transport's per-request object mixes this in beside its `container`."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.principal import Principal, known_principal

if TYPE_CHECKING:
    from app.container import Container, Services


async def caller(container: Container, scope: Mapping[str, Any]) -> Principal:
    """The caller of an ASGI request: as the own rate limit authenticated them, when it did."""
    known = known_principal(scope)
    if known is not None:
        return known
    return await container.credentials.of_scope(scope)


class ContainerCall:
    __slots__ = ()
    container: Container

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
