"""What the domain needs from the payment provider, in its own terms.

`StripeGateway` (app.billing.stripe_gateway) is the implementation; the domain never sees
the SDK's objects, only these values.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, Protocol

from app.models import Customer, SubscriptionStatus

# The product's statuses (SPEC §3.1) are `SubscriptionStatus`; Stripe's others map onto them.
KNOWN_STATUSES = frozenset(SubscriptionStatus)
# The statuses of a subscription that is paid for, or in its trial.
GOOD_STANDING = frozenset({"trialing", "active"})
STATUS_ALIASES = {"incomplete_expired": "canceled", "paused": "unpaid"}
# A subscription in one of these can still bill or be billed: it is the customer's current
# one over any that has ended.
LIVE_STATUSES = frozenset({"trialing", "active", "past_due", "unpaid", "incomplete", "paused"})


@dataclass(frozen=True, slots=True)
class Subscription:
    id: str
    stripe_customer_id: str
    status: str  # as Stripe names it
    price_id: str | None
    # The tier named in the price's metadata by the catalog sync: still right for a price
    # that a later sync archived, when no tier records that price's id any more.
    price_tier: str | None
    created: int
    had_trial: bool
    # The quantity of the item that names the price: how many of the plan are bought.
    quantity: int = 1

    @property
    def product_status(self) -> str:
        """The status in the product's seven."""
        status = STATUS_ALIASES.get(self.status, self.status)
        return status if status in KNOWN_STATUSES else "incomplete"

    @property
    def is_live(self) -> bool:
        return self.status in LIVE_STATUSES

    @property
    def in_good_standing(self) -> bool:
        return self.status in GOOD_STANDING


@dataclass(frozen=True, slots=True)
class WebhookEvent:
    id: str
    type: str
    created: int
    object: dict[str, Any]


@dataclass(frozen=True, slots=True)
class CheckoutRequest:
    stripe_customer_id: str
    customer_id: uuid.UUID
    price_id: str
    success_url: str
    cancel_url: str
    trial_days: int | None


@dataclass(frozen=True, slots=True)
class CatalogPrice:
    """What a paid tier costs, as the catalog sync writes it to Stripe."""

    tier_name: str
    display_name: str
    description: str
    unit_amount: int  # cents per month
    currency: str = "usd"


class PaymentGateway(Protocol):
    async def create_customer(self, customer: Customer, *, idempotency_key: str) -> str:
        """The new Stripe customer's id; the same key gives the same customer."""
        ...

    async def update_customer(self, customer: Customer, *, idempotency_key: str) -> None:
        """Tell Stripe the customer's profile as it is now (it has a Stripe id)."""
        ...

    async def find_customer(self, customer_id: uuid.UUID) -> str | None:
        """The Stripe customer made for this customer earlier, if any (by its metadata)."""
        ...

    async def portal_url(self, customer: Customer, stripe_customer_id: str, return_url: str) -> str:
        """A Customer Portal session for the customer, known to Stripe by that id."""
        ...

    async def checkout_url(self, request: CheckoutRequest) -> str: ...

    async def subscriptions(self, stripe_customer_id: str) -> list[Subscription]:
        """Every subscription of the customer, ended ones included."""
        ...

    async def cancel_subscription(self, subscription_id: str, *, idempotency_key: str) -> None:
        """Cancel now; a subscription already canceled is left as it is."""
        ...

    def verify_event(self, payload: bytes, signature: str | None) -> WebhookEvent:
        """The event, if the signature is the endpoint secret's and recent enough and
        the body is an event; `InvalidWebhook` otherwise, or `MalformedJson` for a signed
        body that is not JSON."""
        ...

    async def sync_price(self, price: CatalogPrice) -> str:
        """Create or update the tier's product and monthly price; the price's id."""
        ...
