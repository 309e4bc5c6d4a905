"""Acting as Stripe's customers and as Stripe: settings that point the SDK at the fake,
synced customers and tiers, checkouts, and webhook deliveries.

    owner, customer = await paying_customer(api, fake)    # on pro, trialing
    events = fake.set_subscription_status(customer.subscription_id, "past_due")
    await deliver_all(api, fake, events)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select
from sqlmodel import col

from app.billing.catalog_sync import sync_catalog
from app.billing.stripe_gateway import StripeGateway
from app.models import StripeEvent, StripeTask
from app.settings import Settings
from tests.support.api import BASE, Api, Caller, settings_for
from tests.support.fake_stripe import Delivery, FakeStripe, Json

API_KEY = "sk_test_billing_0123456789"
SUCCESS_URL = "https://app.example/billing/ok"
CANCEL_URL = "https://app.example/billing/cancelled"


def stripe_settings(
    database_url: str, data_dir: Path, fake: FakeStripe, **overrides: Any
) -> Settings:
    """The SDK retries nothing here: the outbox's own retries are what the tests watch."""
    return settings_for(
        database_url,
        data_dir,
        **{
            "stripe_api_key": API_KEY,
            "stripe_webhook_secret": fake.webhook_secret,
            "stripe_api_base": fake.url,
            "stripe_max_network_retries": 0,
            "stripe_timeout_seconds": 2.0,
            **overrides,
        },
    )


def stripe_env(fake: FakeStripe) -> dict[str, str]:
    """The same settings for server processes."""
    return {
        "BILLING_STRIPE_API_KEY": API_KEY,
        "BILLING_STRIPE_WEBHOOK_SECRET": fake.webhook_secret,
        "BILLING_STRIPE_API_BASE": fake.url,
        "BILLING_STRIPE_MAX_NETWORK_RETRIES": "0",
    }


@dataclass(frozen=True)
class StripeCustomer:
    owner: Caller
    id: str
    stripe_id: str
    subscription_id: str = ""


async def settled(api: Api) -> list[StripeTask]:
    """Wait for the background worker's pass, run one more: every task that was due has
    been tried. The tasks left wait for their retry."""
    await api.container.billing_worker.run_once()
    return await pending_tasks(api)


async def synced_customer(api: Api) -> StripeCustomer:
    """A new customer whose Stripe customer the outbox has created."""
    owner = api.user()
    created = await api.customer(owner)
    await settled(api)
    customer = (await api.call("GET", "/customer", owner)).json()
    assert customer["gcid"], customer
    return StripeCustomer(owner, created["id"], customer["gcid"])


async def sync_tiers(api: Api) -> dict[str, str]:
    """The paid tiers' Stripe prices, by tier name."""
    gateway = api.container.stripe_gateway
    assert isinstance(gateway, StripeGateway)
    return {
        tier.tier_name: tier.stripe_price_id
        for tier in await sync_catalog(api.container.db, gateway)
    }


async def checkout(api: Api, customer: StripeCustomer, tier_name: str = "pro") -> str:
    """The checkout session's id, as the owner starts it."""
    response = await api.call(
        "POST",
        "/stripe/upgrade",
        customer.owner,
        json={"successURL": SUCCESS_URL, "cancelURL": CANCEL_URL, "tierName": tier_name},
    )
    assert response.status_code == 200, response.text
    return str(response.json()["checkoutURL"]).rsplit("/", 1)[1]


async def paying_customer(
    api: Api, fake: FakeStripe, tier_name: str = "pro"
) -> tuple[StripeCustomer, list[Json]]:
    """A synced customer who completed a checkout; and the events Stripe sent for it."""
    customer = await synced_customer(api)
    session_id = await checkout(api, customer, tier_name)
    events = fake.complete_checkout(session_id)
    session = fake.get(session_id)
    assert session is not None
    return StripeCustomer(
        customer.owner, customer.id, customer.stripe_id, str(session["subscription"])
    ), events


async def post_delivery(client: httpx.AsyncClient, delivery: Delivery) -> httpx.Response:
    return await client.post(
        BASE + "/stripe/webhook", content=delivery.body, headers=delivery.headers
    )


async def deliver_all(api: Api, fake: FakeStripe, events: list[Json]) -> None:
    for delivery in fake.webhooks.deliveries(events):
        response = await post_delivery(api.client, delivery)
        assert response.status_code == 200, response.text


async def claimed_events(api: Api) -> int:
    async with api.container.db.transaction(write=False) as session:
        return int(await session.scalar(select(func.count()).select_from(StripeEvent)) or 0)


async def pending_tasks(api: Api) -> list[StripeTask]:
    async with api.container.db.transaction(write=False) as session:
        return list(await session.scalars(select(StripeTask).order_by(col(StripeTask.created_at))))
