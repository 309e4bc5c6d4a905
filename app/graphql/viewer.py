"""The `viewer` query: what a front end asks first, to decide what to show."""

from __future__ import annotations

import strawberry

from app.customers.schemas import Viewer as ViewerResult
from app.graphql.context import Info
from app.graphql.customer import Customer, customer_of
from app.graphql.domain_types import DomainType, domain_type
from app.graphql.enums import Role


def _customer(root: strawberry.Parent[ViewerResult]) -> Customer | None:
    return customer_of(root.customer) if root.customer is not None else None


@domain_type(ViewerResult, description="Who the caller is here, and what it may do.")
class Viewer(DomainType):
    user_id: strawberry.ID
    customer: Customer | None = strawberry.field(
        resolver=_customer, description="The caller's customer; null when it has none."
    )
    role: Role | None = strawberry.field(description="The caller's role on its team.")
    payments_configured: bool = strawberry.field(
        description="Whether this deployment takes payments (Stripe is configured)."
    )


async def viewer(info: Info) -> Viewer:
    services = info.context.services
    principal = await info.context.principal(services.customers.viewer)
    async with info.context.read() as session:
        return Viewer.of(await services.customers.viewer(session, principal))
