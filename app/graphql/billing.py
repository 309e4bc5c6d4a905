"""GraphQL over the Stripe integration: portal and checkout sessions, the billing status."""

from __future__ import annotations

from datetime import datetime

import strawberry

from app.billing import service
from app.core.inputs import parse_input
from app.graphql.arguments import present
from app.graphql.context import Info
from app.graphql.enums import SubscriptionStatus


@strawberry.type(description="A Stripe-hosted page to send the owner to.")
class BillingSession:
    url: str


@strawberry.type(description="How many customers have a subscription status.")
class StatusCount:
    status: SubscriptionStatus
    customers: int


@strawberry.type(description="How many customers are on a tier.")
class TierCount:
    tier_name: str
    customers: int


@strawberry.type(description="The Stripe integration at a glance.")
class BillingStatus:
    stripe_configured: bool
    webhook_last_received_at: datetime | None
    customers: int
    subscriptions_by_status: list[StatusCount] = strawberry.field(
        description="Every status, those with no customer included."
    )
    tiers: list[TierCount]

    @classmethod
    def of(cls, status: service.BillingStatus) -> BillingStatus:
        return cls(
            stripe_configured=status.stripe_configured,
            webhook_last_received_at=status.webhook_last_received_at,
            customers=status.customers,
            subscriptions_by_status=[
                StatusCount(status=SubscriptionStatus(name), customers=count)
                for name, count in status.subscriptions_by_status.items()
            ],
            tiers=[
                TierCount(tier_name=name, customers=count)
                for name, count in status.customers_by_tier.items()
            ],
        )


async def create_portal_session(info: Info) -> BillingSession:
    ctx = info.context
    url = await ctx.services.billing.portal_url(
        await ctx.principal(ctx.services.billing.portal_url)
    )
    return BillingSession(url=url)


async def create_checkout_session(
    info: Info, success_url: str, cancel_url: str, tier_name: str | None = None
) -> BillingSession:
    ctx = info.context
    principal = await ctx.principal(ctx.services.billing.checkout_url)
    arguments = present(successUrl=success_url, cancelUrl=cancel_url, tierName=tier_name)
    data = parse_input(service.UpgradeRequest, arguments)
    url = await ctx.services.billing.checkout_url(principal, data=data)
    return BillingSession(url=url)


async def billing_status(info: Info) -> BillingStatus:
    ctx = info.context
    principal = await ctx.principal(ctx.services.billing.status)
    async with ctx.read() as session:
        status = await ctx.services.billing.status(session, principal)
    return BillingStatus.of(status)
