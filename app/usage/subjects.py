"""Whose counters a hit goes to, and on which tier, from in-process caches.

A member's hits count against their customer's pool on the customer's tier; a caller
with no customer counts alone on the default tier; an anonymous caller counts by address
on the `public` tier. Entries are loaded on first use and dropped when a membership or a
customer's tier changes (see `app.core.invalidation`).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, select
from sqlmodel import col

from app.auth.client_ip import rate_key
from app.core.db import Database
from app.models import Customer, Membership, Tier

PUBLIC_TIER = "public"


@dataclass(frozen=True, slots=True)
class Subject:
    """The owner of a set of counters."""

    key: str  # customer:<id>, user:<id> or ip:<address or /64>
    tier_name: str
    customer_id: uuid.UUID | None = None
    user_id: uuid.UUID | None = None

    @property
    def identifier(self) -> str:
        return self.key.split(":", 1)[1]


class SubjectCache:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._customer_of: dict[uuid.UUID, uuid.UUID | None] = {}
        self._customers: dict[uuid.UUID, Subject] = {}
        self._default_tier: str | None = None
        # Bumped by every drop: a value read while a drop arrived may already be stale,
        # so it is returned but not kept.
        self._generation = 0

    def drop_membership(self, user_id: str) -> None:
        self._generation += 1
        self._customer_of.pop(uuid.UUID(user_id), None)

    def drop_customer(self, customer_id: str) -> None:
        self._generation += 1
        self._customers.pop(uuid.UUID(customer_id), None)

    def drop_tiers(self, _key: str = "") -> None:
        self._generation += 1
        self._default_tier = None
        self._customers.clear()

    def anonymous(self, ip: str) -> Subject:
        return Subject(f"ip:{rate_key(ip)}", PUBLIC_TIER)

    async def for_user(self, user_id: uuid.UUID) -> Subject:
        customer_id = await self.customer_of(user_id)
        if customer_id is None:
            return Subject(f"user:{user_id}", await self.default_tier(), None, user_id)
        subject = await self.for_customer(customer_id)
        return Subject(subject.key, subject.tier_name, customer_id, user_id)

    async def for_customer(self, customer_id: uuid.UUID) -> Subject:
        """The customer's counters on its tier; a customer that does not exist raises
        `LookupError`. Kept, as every consume for the customer asks."""
        subject = self._customers.get(customer_id)
        if subject is not None:
            return subject
        generation = self._generation
        name: str | None = await self._read(
            select(col(Tier.name))
            .join(Customer, col(Customer.tier_id) == col(Tier.id))
            .where(col(Customer.id) == customer_id)
        )
        if name is None:
            raise LookupError(customer_id)
        subject = Subject(f"customer:{customer_id}", name, customer_id)
        if generation == self._generation:
            self._customers[customer_id] = subject
        return subject

    async def customer_of(self, user_id: uuid.UUID) -> uuid.UUID | None:
        if user_id in self._customer_of:
            return self._customer_of[user_id]
        generation = self._generation
        customer_id: uuid.UUID | None = await self._read(
            select(col(Membership.customer_id)).where(col(Membership.user_id) == user_id)
        )
        if generation == self._generation:
            self._customer_of[user_id] = customer_id
        return customer_id

    async def default_tier(self) -> str:
        if self._default_tier is not None:
            return self._default_tier
        generation = self._generation
        name: str = await self._read(select(col(Tier.name)).where(col(Tier.is_default))) or "free"
        if generation == self._generation:
            self._default_tier = name
        return name

    async def _read(self, statement: Select[Any]) -> Any:
        async with self._db.transaction(write=False) as session:
            return await session.scalar(statement)
