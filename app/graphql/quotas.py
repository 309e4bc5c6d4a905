"""Resolvers of quota allocation and release; a refusal is the `AppError` REST renders,
its usage carried in the error's extensions."""

from __future__ import annotations

import strawberry

from app.core.inputs import parse_input
from app.graphql.arguments import present
from app.graphql.context import Info
from app.graphql.usage_types import QuotaFeatureUsage
from app.usage.quotas import QuotaRequest


async def allocate_quota(
    info: Info,
    service_name: str,
    feature_key: str,
    amount: int = 1,
    customer_id: strawberry.ID | None = None,
    user_id: strawberry.ID | None = None,
    idempotency_key: str | None = None,
) -> QuotaFeatureUsage:
    principal = await info.context.principal(
        info.context.services.quotas.allocate, service_name=service_name
    )
    data = _request(amount, customer_id, user_id, idempotency_key)
    usage = await info.context.services.quotas.allocate(
        principal, service_name=service_name, feature_key=feature_key, data=data
    )
    return QuotaFeatureUsage.of(usage)


async def release_quota(
    info: Info,
    service_name: str,
    feature_key: str,
    amount: int = 1,
    customer_id: strawberry.ID | None = None,
    user_id: strawberry.ID | None = None,
    idempotency_key: str | None = None,
) -> QuotaFeatureUsage:
    principal = await info.context.principal(
        info.context.services.quotas.release, service_name=service_name
    )
    data = _request(amount, customer_id, user_id, idempotency_key)
    usage = await info.context.services.quotas.release(
        principal, service_name=service_name, feature_key=feature_key, data=data
    )
    return QuotaFeatureUsage.of(usage)


def _request(
    amount: int,
    customer_id: strawberry.ID | None,
    user_id: strawberry.ID | None,
    idempotency_key: str | None,
) -> QuotaRequest:
    """The arguments under the REST body's names, so validation and `param` are the same."""
    arguments = present(
        amount=amount, customerId=customer_id, userId=user_id, idempotencyKey=idempotency_key
    )
    return parse_input(QuotaRequest, arguments)
