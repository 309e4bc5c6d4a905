"""Payment through Stripe (SPEC §5.6): the portal, checkout, webhooks, the billing status.

Stripe is called outside any database transaction, except for webhooks (see
`handle_webhook`), so that a slow Stripe never holds the database's locks for requests
that do not need it.
"""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from pydantic import AliasChoices, Field, HttpUrl
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.auth.principal import Access, Principal, requires
from app.auth.roles import TeamAction
from app.auth.seats import current_seat
from app.billing.gateway import (
    CheckoutRequest,
    PaymentGateway,
    Subscription,
    WebhookEvent,
)
from app.billing.outbox import StripeOutbox
from app.billing.stripe_gateway import CUSTOMER_METADATA
from app.core import invalidation, stripe_tasks
from app.core.clock import Clock
from app.core.db import Database, affected_rows, upsert
from app.core.errors import AlreadySubscribed, StripeNotConfigured, TierNotPurchasable
from app.core.inputs import InputModel
from app.customers.repository import find_customer
from app.events.outgoing import emit
from app.events.types import EventType
from app.models import Customer, StripeEvent, SubscriptionStatus, Tier
from app.settings import Settings
from app.tiers.service import default_tier, emit_tier_changed, find_tier

DEFAULT_UPGRADE_TIER = "pro"
# A customer in one of these has a subscription to change in the portal, not to buy again.
SUBSCRIBED = frozenset({"trialing", "active", "past_due", "unpaid"})
# The event families whose effect is the customer's subscription state (SPEC §5.6); any
# other event is acknowledged without reading Stripe.
SUBSCRIPTION_EVENTS = ("customer.subscription.", "checkout.session.", "invoice.")


class UpgradeRequest(InputModel):
    success_url: HttpUrl = Field(validation_alias=AliasChoices("successURL", "successUrl"))
    cancel_url: HttpUrl = Field(validation_alias=AliasChoices("cancelURL", "cancelUrl"))
    tier_name: str = Field(default=DEFAULT_UPGRADE_TIER, min_length=1, max_length=64)


@dataclass(frozen=True, slots=True)
class BillingStatus:
    stripe_configured: bool
    webhook_last_received_at: datetime | None
    customers: int
    subscriptions_by_status: dict[str, int]
    customers_by_tier: dict[str, int]


@dataclass(frozen=True, slots=True)
class SubscriptionSync:
    """What Stripe's current subscription of a customer makes of the customer's row."""

    status: str
    enabled: bool
    grace_ends_at: datetime | None
    price_id: str | None
    price_tier: str | None
    had_trial: bool
    quantity: int


class WebhookOutcome(StrEnum):
    """What became of a signed event (the metrics count events by it)."""

    APPLIED = "applied"
    DUPLICATE = "duplicate"  # delivered before: nothing changed
    IGNORED = "ignored"  # a type the service does not act on
    NO_CUSTOMER = "no_customer"  # about no customer of ours (a deleted one's is cancelled)


class BillingService:
    def __init__(
        self,
        settings: Settings,
        db: Database,
        clock: Clock,
        gateway: PaymentGateway | None,
        outbox: StripeOutbox,
    ) -> None:
        self._settings = settings
        self._db = db
        self._clock = clock
        self._gateway = gateway
        self._outbox = outbox

    @property
    def configured(self) -> bool:
        return self._gateway is not None

    @requires(Access.USER, team=TeamAction.OWNER_ONLY)
    async def portal_url(self, principal: Principal) -> str:
        # Who the caller is comes before whether payments are offered (SPEC §7).
        customer = await self._owned_customer(principal)
        gateway = self._require_gateway()
        stripe_id = await self._outbox.stripe_customer_id(customer)
        return_url = self._settings.stripe_portal_return_url
        return await gateway.portal_url(customer, stripe_id, return_url)

    @requires(Access.USER, team=TeamAction.OWNER_ONLY)
    async def checkout_url(self, principal: Principal, *, data: UpgradeRequest) -> str:
        # The caller, then the input, then whether payments are offered (SPEC §7).
        customer = await self._owned_customer(principal)
        if customer.subscription_status in SUBSCRIBED:
            raise AlreadySubscribed()
        # Its own transaction, ended before Stripe is called (see the module's doc).
        async with self._db.transaction(write=False) as session:
            tier = await find_tier(session, data.tier_name)
        if not tier.is_active or tier.price <= 0:  # no deployment sells it
            raise TierNotPurchasable(param="tier_name")
        gateway = self._require_gateway()
        if not tier.stripe_price_id:  # for sale, once the catalog reaches Stripe
            raise TierNotPurchasable(param="tier_name")
        stripe_id = await self._outbox.stripe_customer_id(customer)
        trial_days = None if customer.trial_used else self._settings.stripe_trial_days
        return await gateway.checkout_url(
            CheckoutRequest(
                stripe_customer_id=stripe_id,
                customer_id=customer.id,
                price_id=tier.stripe_price_id,
                success_url=str(data.success_url),
                cancel_url=str(data.cancel_url),
                trial_days=trial_days,
            )
        )

    def verify_event(self, payload: bytes, signature: str | None) -> WebhookEvent:
        """The event Stripe signed; INVALID_WEBHOOK for anything else."""
        return self._require_gateway().verify_event(payload, signature)

    @requires(Access.ANYONE)
    async def handle_webhook(self, session: AsyncSession, event: WebhookEvent) -> WebhookOutcome:
        """Apply one signed event, once, in the caller's transaction.

        The event id is claimed by a unique insert in the transaction of its effect: a
        duplicate finds it taken and changes nothing, and a failure rolls the claim back
        with the effect, so Stripe's redelivery applies it. Event order is not trusted:
        the customer's subscriptions are read from Stripe inside that transaction, after
        the customer's row is locked, so whichever event commits last wrote the newest
        state Stripe had. The price of that is a Stripe read while the lock is held, which
        is why only the subscription events get that far.
        """
        gateway = self._require_gateway()
        if not await _claim(session, event, self._clock()):
            return WebhookOutcome.DUPLICATE
        if not event.type.startswith(SUBSCRIPTION_EVENTS):
            return WebhookOutcome.IGNORED  # acknowledged, and ignored
        customer = await self._customer_of(session, event)
        if customer is None:
            await self._cancel_if_orphaned(session, event)
            return WebhookOutcome.NO_CUSTOMER
        assert customer.stripe_customer_id is not None
        subscriptions = await gateway.subscriptions(customer.stripe_customer_id)
        await self._apply(session, customer, current_subscription(subscriptions))
        return WebhookOutcome.APPLIED

    async def _cancel_if_orphaned(self, session: AsyncSession, event: WebhookEvent) -> None:
        """A subscription started for a customer deleted since (a checkout page left open)
        must not go on billing: it is cancelled like the deleted customer's others."""
        obj = event.object
        ours = (obj.get("metadata") or {}).get(CUSTOMER_METADATA)
        if obj.get("object") != "subscription" or not ours or obj.get("status") == "canceled":
            return
        try:
            customer_id = uuid.UUID(str(ours))
        except ValueError:
            return
        if await find_customer(session, customer_id) is None:
            stripe_tasks.enqueue(
                session,
                stripe_tasks.CANCEL_SUBSCRIPTIONS,
                at=self._clock(),
                stripe_customer_id=str(obj["customer"]),
            )

    @requires(Access.ADMIN)
    async def status(self, session: AsyncSession, principal: Principal) -> BillingStatus:
        last = await session.scalar(select(func.max(col(StripeEvent.received_at))))
        statuses = await session.execute(
            select(col(Customer.subscription_status), func.count()).group_by(
                col(Customer.subscription_status)
            )
        )
        by_status: Counter[str] = Counter({status: count for status, count in statuses})
        tiers = await session.execute(
            select(col(Tier.name), func.count(col(Customer.id)))
            .join(Customer, col(Customer.tier_id) == col(Tier.id), isouter=True)
            .group_by(col(Tier.name))
        )
        by_tier = {name: count for name, count in tiers}
        return BillingStatus(
            stripe_configured=self.configured,
            webhook_last_received_at=last,
            customers=sum(by_status.values()),
            subscriptions_by_status={status: by_status[status] for status in SubscriptionStatus},
            customers_by_tier=by_tier,
        )

    async def _owned_customer(self, principal: Principal) -> Customer:
        # Its own transaction, ended before Stripe is called (see the module's doc).
        async with self._db.transaction(write=False) as session:
            return (await current_seat(session, principal, TeamAction.OWNER_ONLY)).customer

    async def _customer_of(self, session: AsyncSession, event: WebhookEvent) -> Customer | None:
        """The customer the event is about, its row locked until the transaction ends."""
        stripe_id = event.object.get("customer")
        if not isinstance(stripe_id, str):
            return None
        return await session.scalar(
            select(Customer).where(col(Customer.stripe_customer_id) == stripe_id).with_for_update()
        )

    async def _apply(
        self, session: AsyncSession, customer: Customer, subscription: Subscription | None
    ) -> None:
        sync = self._sync(subscription, customer)
        tier_id = await self._tier_for(session, sync)
        values: dict[str, object] = {
            "subscription_status": sync.status,
            "subscription_enabled": sync.enabled,
            "grace_ends_at": sync.grace_ends_at,
            "trial_used": customer.trial_used or sync.had_trial,
            "subscription_quantity": sync.quantity,
            "tier_id": tier_id,
        }
        # Read before the update: it refreshes the customer's attributes in the session.
        previous_tier, previous_status = customer.tier_id, customer.subscription_status
        await session.execute(
            update(Customer).where(col(Customer.id) == customer.id).values(**values)
        )
        now = self._clock()
        if tier_id != previous_tier:
            invalidation.invalidate(session, invalidation.CUSTOMER, customer.id)
            await emit_tier_changed(
                session, customer.id, previous_tier, tier_id, at=now, source="subscription"
            )
        if sync.status != previous_status:
            await emit(
                session,
                customer_id=customer.id,
                type=EventType.SUBSCRIPTION_STATUS_CHANGED,
                data={
                    "status": sync.status,
                    "previousStatus": previous_status,
                    "subscriptionEnabled": sync.enabled,
                },
                at=now,
            )

    def _sync(self, subscription: Subscription | None, customer: Customer) -> SubscriptionSync:
        if subscription is None:
            return SubscriptionSync("none", False, None, None, None, False, 0)
        status = subscription.product_status
        grace_ends_at = self._grace_end(status, customer)
        in_grace = grace_ends_at is not None and self._clock() < grace_ends_at
        return SubscriptionSync(
            status=status,
            enabled=subscription.in_good_standing or in_grace,
            grace_ends_at=grace_ends_at,
            price_id=subscription.price_id if subscription.is_live else None,
            price_tier=subscription.price_tier if subscription.is_live else None,
            had_trial=subscription.had_trial,
            quantity=subscription.quantity if subscription.is_live else 0,
        )

    def _grace_end(self, status: str, customer: Customer) -> datetime | None:
        """past_due stays enabled for the grace period from when it became past_due; later
        events of the same past_due spell do not extend it."""
        if status != "past_due":
            return None
        if customer.subscription_status == "past_due" and customer.grace_ends_at is not None:
            return customer.grace_ends_at
        return self._clock() + timedelta(days=self._settings.stripe_past_due_grace_days)

    async def end_grace_periods(self) -> int:
        """Disable the past_due subscriptions whose grace period is over; how many."""
        async with self._db.transaction() as session:
            return await affected_rows(
                session,
                update(Customer)
                .where(
                    col(Customer.subscription_status) == "past_due",
                    col(Customer.subscription_enabled),
                    col(Customer.grace_ends_at) <= self._clock(),
                )
                .values(subscription_enabled=False),
            )

    async def _tier_for(self, session: AsyncSession, sync: SubscriptionSync) -> uuid.UUID:
        """The tier of the subscription's price; the default tier once nothing is live."""
        if sync.price_id is not None:
            tier = await session.scalar(
                select(Tier).where(col(Tier.stripe_price_id) == sync.price_id)
            )
            if tier is None and sync.price_tier is not None:
                tier = await session.scalar(select(Tier).where(col(Tier.name) == sync.price_tier))
            if tier is not None:
                return tier.id
        return (await default_tier(session)).id

    def _require_gateway(self) -> PaymentGateway:
        if self._gateway is None:
            raise StripeNotConfigured()
        return self._gateway


def current_subscription(subscriptions: list[Subscription]) -> Subscription | None:
    """The subscription that decides the customer's state: one in good standing over one
    that is live but unpaid, over one that ended; the newest of equals."""
    if not subscriptions:
        return None
    return max(subscriptions, key=lambda s: (s.in_good_standing, s.is_live, s.created, s.id))


async def _claim(session: AsyncSession, event: WebhookEvent, now: datetime) -> bool:
    """Insert the event's id; False when another delivery of it already did."""
    claimed = await affected_rows(
        session,
        upsert(session, StripeEvent)
        .values(id=event.id, type=event.type, received_at=now)
        .on_conflict_do_nothing(index_elements=["id"]),
    )
    return claimed == 1
