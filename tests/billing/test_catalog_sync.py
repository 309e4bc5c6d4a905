"""`billing stripe-sync-catalog`: the paid tiers become Stripe products and monthly prices,
each tier records its `stripePriceId`, and running it again changes nothing."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from sqlalchemy import update
from sqlmodel import col

from app.core.db import Database
from app.core.migrate import ROOT
from app.models import Tier
from tests.support.api import Api
from tests.support.fake_stripe import FakeStripe
from tests.support.stripe import stripe_env

WRITES = (("POST", "/v1/products"), ("POST", "/v1/prices"))


async def sync(database_url: str, env: dict[str, str]) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "app.cli",
        "stripe-sync-catalog",
        cwd=ROOT,
        env={**os.environ, "BILLING_DATABASE_URL": database_url, **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await process.communicate()
    assert process.returncode is not None
    return process.returncode, output.decode()


def writes(fake: FakeStripe) -> int:
    return sum(
        1
        for request in fake.requests
        if request.method == "POST" and request.path.startswith(("/v1/products", "/v1/prices"))
    )


async def paid_tiers(api: Api) -> dict[str, dict[str, object]]:
    tiers = (await api.call("GET", "/admin/tiers", api.admin())).json()["tiers"]
    return {tier["name"]: tier for tier in tiers if tier["price"] > 0}


async def test_a_second_run_changes_nothing(
    api: Api, database_url: str, fake_stripe: FakeStripe
) -> None:
    code, output = await sync(database_url, stripe_env(fake_stripe))
    assert code == 0, output

    tiers = await paid_tiers(api)
    assert {"pro", "business", "enterprise"} <= set(tiers)
    prices = {price["id"]: price for price in fake_stripe.objects("price")}
    for name, tier in tiers.items():
        price = prices[str(tier["stripePriceId"])]
        assert (price["unit_amount"], price["currency"], price["active"]) == (
            tier["price"],
            "usd",
            True,
        )
        assert price["recurring"]["interval"] == "month"
        assert f"{name}: {tier['stripePriceId']} (updated)" in output
    assert len(fake_stripe.objects("product")) == len(tiers)

    before = writes(fake_stripe)
    code, output = await sync(database_url, stripe_env(fake_stripe))
    assert code == 0, output
    assert writes(fake_stripe) == before
    assert output.count("(unchanged)") == len(tiers)
    assert await paid_tiers(api) == tiers


async def test_a_new_tier_price_gets_a_new_stripe_price(
    api: Api, database_url: str, fake_stripe: FakeStripe
) -> None:
    assert (await sync(database_url, stripe_env(fake_stripe)))[0] == 0
    old = str((await paid_tiers(api))["pro"]["stripePriceId"])
    db = Database(database_url)
    try:
        async with db.transaction() as session:
            await session.execute(update(Tier).where(col(Tier.name) == "pro").values(price=1500))
    finally:
        await db.dispose()

    code, output = await sync(database_url, stripe_env(fake_stripe))
    assert code == 0, output

    new = str((await paid_tiers(api))["pro"]["stripePriceId"])
    assert new != old and f"pro: {new} (updated)" in output
    assert output.count("(unchanged)") == len(await paid_tiers(api)) - 1
    assert fake_stripe.get(new)["unit_amount"] == 1500  # type: ignore[index]
    assert fake_stripe.get(old)["active"] is False  # type: ignore[index]


async def test_without_stripe_settings_it_says_what_is_missing(
    database_url: str, tmp_path: Path
) -> None:
    code, output = await sync(database_url, {"BILLING_DATA_DIR": str(tmp_path)})
    assert code == 1
    assert "BILLING_STRIPE_API_KEY" in output
