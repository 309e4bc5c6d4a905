"""40 concurrent deliveries of one event, spread over two server processes sharing the
database, apply it exactly once (SPEC §5.6), on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import func, select

from app.billing.catalog_sync import sync_catalog
from app.billing.stripe_gateway import StripeGateway
from app.core.db import Database
from app.models import StripeEvent
from tests.support.cluster import running_cluster
from tests.support.fake_stripe import FakeStripe
from tests.support.stripe import CANCEL_URL, SUCCESS_URL, stripe_env, stripe_settings

pytestmark = pytest.mark.slow
DELIVERIES = 40


async def test_concurrent_deliveries_across_processes_apply_once(
    database_url: str, redis_url: str, tmp_path: Path, fake_stripe: FakeStripe
) -> None:
    db = Database(database_url)
    try:
        await sync_catalog(db, StripeGateway(stripe_settings(database_url, tmp_path, fake_stripe)))
        async with running_cluster(
            database_url, tmp_path, redis_url, stripe_env(fake_stripe)
        ) as cluster:
            _, owner = await cluster.new_customer("free")
            for _ in range(200):  # the server's outbox creates the Stripe customer
                if (await cluster.call(0, "GET", "/customer", owner)).json()["gcid"]:
                    break
                await asyncio.sleep(0.05)
            body = {"successURL": SUCCESS_URL, "cancelURL": CANCEL_URL}
            upgrade = await cluster.call(1, "POST", "/stripe/upgrade", owner, json=body)
            assert upgrade.status_code == 200, upgrade.text
            session_id = upgrade.json()["checkoutURL"].rsplit("/", 1)[1]
            created = fake_stripe.complete_checkout(session_id)[0]
            delivery = fake_stripe.webhooks.deliver(created)
            reads = fake_stripe.count("GET", "/v1/subscriptions")

            responses = await asyncio.gather(
                *(
                    cluster.clients[n % 2].post(
                        "/api/billing/v1/stripe/webhook",
                        content=delivery.body,
                        headers=delivery.headers,
                    )
                    for n in range(DELIVERIES)
                )
            )

            assert [r.status_code for r in responses] == [200] * DELIVERIES
            assert fake_stripe.count("GET", "/v1/subscriptions") == reads + 1
            customer = (await cluster.call(0, "GET", "/customer", owner)).json()
            assert (customer["tierName"], customer["subscriptionStatus"]) == ("pro", "trialing")
        async with db.transaction(write=False) as session:
            assert await session.scalar(select(func.count()).select_from(StripeEvent)) == 1
    finally:
        await db.dispose()
