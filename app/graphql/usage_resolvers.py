"""Resolvers of limits, quotas and usage, and of consume and check.

Rate-limit reports and consumes need no transaction (caches and the counter storage
answer them); only quota usage reads the database. A refused consume is the same
`AppError` REST renders, its decision carried in the error's extensions.
"""

from __future__ import annotations

import uuid

import strawberry

from app.core.inputs import parse_input
from app.graphql.arguments import present
from app.graphql.context import Info
from app.graphql.domain_types import given
from app.graphql.usage_types import (
    ConsumeOutcome,
    Decision,
    Limit,
    Quota,
    QuotaUsage,
    Usage,
    consume_outcome,
)
from app.http.decisions import refusal
from app.usage.consume import ConsumeBatch, ConsumeRequest
from app.usage.consume import Decision as DecisionResult  # the domain's; `Decision` is the type


async def limits(info: Info, service_name: str | None = None) -> list[Limit]:
    return await limits_of(info, service_name, None)


async def limits_of(
    info: Info, service_name: str | None, customer_id: uuid.UUID | None
) -> list[Limit]:
    """The caller's customer's (`customer_id` None), or the one billing_admin names."""
    reports = info.context.services.reports
    principal = await info.context.principal(reports.limits)
    report = await reports.limits(principal, service_name=service_name, customer_id=customer_id)
    return [Limit.of(item) for item in report.items]


async def limit(info: Info, service_name: str, feature_key: str) -> Limit:
    principal = await info.context.principal(info.context.services.reports.limit)
    item = await info.context.services.reports.limit(
        principal, service_name=service_name, feature_key=feature_key
    )
    return Limit.of(item)


async def ip_limits(info: Info, service_name: str | None = None) -> list[Limit]:
    principal = await info.context.principal(info.context.services.reports.ip_limits)
    report = await info.context.services.reports.ip_limits(principal, service_name=service_name)
    return [Limit.of(item) for item in report.items]


async def usage(info: Info, service_name: str | None = None) -> Usage:
    return await usage_of(info, service_name, None)


async def usage_of(info: Info, service_name: str | None, customer_id: uuid.UUID | None) -> Usage:
    reports = info.context.services.reports
    principal = await info.context.principal(reports.usage)
    report = await reports.usage(principal, service_name=service_name, customer_id=customer_id)
    return Usage.of(report)


async def ip_usage(info: Info, service_name: str | None = None) -> Usage:
    principal = await info.context.principal(info.context.services.reports.ip_usage)
    report = await info.context.services.reports.ip_usage(principal, service_name=service_name)
    return Usage.of(report)


async def quotas(info: Info, service_name: str | None = None) -> list[Quota]:
    return await quotas_of(info, service_name, None)


async def quotas_of(
    info: Info, service_name: str | None, customer_id: uuid.UUID | None
) -> list[Quota]:
    reports = info.context.services.reports
    principal = await info.context.principal(reports.quotas)
    report = await reports.quotas(principal, service_name=service_name, customer_id=customer_id)
    return [Quota.of(item) for item in report.items]


async def quota(info: Info, service_name: str, feature_key: str) -> Quota:
    principal = await info.context.principal(info.context.services.reports.quota)
    item = await info.context.services.reports.quota(
        principal, service_name=service_name, feature_key=feature_key
    )
    return Quota.of(item)


async def quota_usage(info: Info) -> QuotaUsage:
    return await quota_usage_of(info, None)


async def quota_usage_of(info: Info, customer_id: uuid.UUID | None) -> QuotaUsage:
    reports = info.context.services.reports
    principal = await info.context.principal(reports.quota_usage)
    async with info.context.read() as session:
        report = await reports.quota_usage(session, principal, customer_id=customer_id)
    return QuotaUsage.of(report)


async def consume(
    info: Info,
    service_name: str,
    feature_key: str,
    amount: int = 1,
    user_id: strawberry.ID | None = None,
    customer_id: strawberry.ID | None = None,
    ip: str | None = None,
    idempotency_key: str | None = None,
) -> Decision:
    principal = await info.context.principal(info.context.services.consume.consume)
    data = _consume_request(
        serviceName=service_name,
        featureKey=feature_key,
        amount=amount,
        userId=user_id,
        customerId=customer_id,
        ip=ip,
        idempotencyKey=idempotency_key,
    )
    return _allowed(await info.context.services.consume.consume(principal, data=data))


async def check(
    info: Info,
    service_name: str,
    feature_key: str,
    amount: int = 1,
    user_id: strawberry.ID | None = None,
    customer_id: strawberry.ID | None = None,
    ip: str | None = None,
) -> Decision:
    principal = await info.context.principal(info.context.services.consume.check)
    data = _consume_request(
        serviceName=service_name,
        featureKey=feature_key,
        amount=amount,
        userId=user_id,
        customerId=customer_id,
        ip=ip,
    )
    return _allowed(await info.context.services.consume.check(principal, data=data))


@strawberry.input(description="One consume of a batch; the arguments of `consume`.")
class ConsumeInput:
    service_name: str
    feature_key: str
    amount: int = 1
    user_id: strawberry.ID | None = None
    customer_id: strawberry.ID | None = None
    ip: str | None = None
    idempotency_key: str | None = None


async def consume_batch(info: Info, requests: list[ConsumeInput]) -> list[ConsumeOutcome]:
    principal = await info.context.principal(info.context.services.consume.consume_batch)
    data = parse_input(ConsumeBatch, {"requests": [given(request) for request in requests]})
    outcomes = await info.context.services.consume.consume_batch(principal, data=data)
    return [consume_outcome(outcome) for outcome in outcomes]


def _allowed(decision: DecisionResult) -> Decision:
    """A refused decision is the error it carries, in the error's extensions."""
    refused = refusal(decision)
    if refused is not None:
        raise refused
    return Decision.of(decision)


def _consume_request(**arguments: object) -> ConsumeRequest:
    """The arguments under the REST body's names, so validation and `param` are the same."""
    return parse_input(ConsumeRequest, present(**arguments))
