"""A profile change reaches the Stripe customer through the outbox, whatever Stripe does."""

from __future__ import annotations

from typing import Any

import pytest

from tests.billing.test_customer_sync import run_until_done
from tests.support.api import Api, Caller
from tests.support.clock import MovableClock
from tests.support.fake_stripe import FakeStripe
from tests.support.stripe import pending_tasks, settled, synced_customer

CUSTOMERS = "/v1/customers"
BERLIN = {"street": "Unter den Linden 1", "city": "Berlin", "postalCode": "10117", "country": "DE"}


async def update(api: Api, owner: Caller, body: dict[str, Any]) -> None:
    response = await api.call("PATCH", "/customer", owner, json=body)
    assert response.status_code == 200, response.text


async def test_the_stripe_customer_gets_the_new_profile(
    stripe_api: Api, fake_stripe: FakeStripe
) -> None:
    customer = await synced_customer(stripe_api)
    await update(stripe_api, customer.owner, {"name": "Acme GmbH", "billingAddress": BERLIN})
    assert await settled(stripe_api) == []

    [stripe_customer] = fake_stripe.objects("customer")
    assert stripe_customer["name"] == "Acme GmbH"
    assert stripe_customer["address"]["city"] == "Berlin"
    assert stripe_customer["address"]["postal_code"] == "10117"
    assert stripe_customer["address"]["country"] == "DE"
    [request] = fake_stripe.requests_to("POST", f"{CUSTOMERS}/{customer.stripe_id}")
    assert request.idempotency_key is not None
    assert request.idempotency_key.startswith("billing-customer-update-")


async def test_a_failed_update_is_retried_with_the_same_key(
    stripe_api: Api, fake_stripe: FakeStripe, clock: MovableClock
) -> None:
    customer = await synced_customer(stripe_api)
    path = f"{CUSTOMERS}/{customer.stripe_id}"
    fake_stripe.fail_next("POST", path, status=500, after_effect=True)
    await update(stripe_api, customer.owner, {"email": "ap@acme.example"})
    [task] = await settled(stripe_api)
    assert task.attempts == 1

    await run_until_done(stripe_api, clock)

    first, retry = fake_stripe.requests_to("POST", path)
    assert first.idempotency_key == retry.idempotency_key
    [stripe_customer] = fake_stripe.objects("customer")
    assert stripe_customer["email"] == "ap@acme.example"


async def test_an_update_before_stripe_knows_the_customer_is_not_lost(
    stripe_api: Api, fake_stripe: FakeStripe, clock: MovableClock
) -> None:
    fake_stripe.fail_next("POST", CUSTOMERS, status=500)
    owner = stripe_api.user()
    await stripe_api.customer(owner)
    await settled(stripe_api)  # the creation failed and waits for its retry
    await update(stripe_api, owner, {"name": "Renamed early"})

    await run_until_done(stripe_api, clock)

    [stripe_customer] = fake_stripe.objects("customer")
    assert stripe_customer["name"] == "Renamed early"
    assert await pending_tasks(stripe_api) == []


async def test_of_several_updates_stripe_ends_with_the_stored_profile(
    stripe_api: Api, fake_stripe: FakeStripe, clock: MovableClock
) -> None:
    customer = await synced_customer(stripe_api)
    for name in ("First", "Second", "Third"):
        await update(stripe_api, customer.owner, {"name": name})

    await run_until_done(stripe_api, clock)

    [stripe_customer] = fake_stripe.objects("customer")
    assert stripe_customer["name"] == "Third"
    stored = (await stripe_api.call("GET", "/customer", customer.owner)).json()
    assert stored["name"] == "Third" and stored["gcid"] == customer.stripe_id


async def test_the_locale_is_the_stripe_customers_preferred_one(
    stripe_api: Api, fake_stripe: FakeStripe
) -> None:
    owner = stripe_api.user()
    response = await stripe_api.call(
        "POST",
        "/customer",
        owner,
        json={"name": "Acme", "email": "a@acme.example", "billingAddress": BERLIN, "locale": "de"},
    )
    assert response.status_code == 201, response.text
    await settled(stripe_api)
    [created] = fake_stripe.objects("customer")
    assert created["preferred_locales"] == ["de"]

    await update(stripe_api, owner, {"locale": "fr-CA"})
    await settled(stripe_api)
    [updated] = fake_stripe.objects("customer")
    assert updated["preferred_locales"] == ["fr-CA"]


async def test_a_customer_without_a_locale_sends_none(
    stripe_api: Api, fake_stripe: FakeStripe
) -> None:
    await synced_customer(stripe_api)
    [created] = fake_stripe.objects("customer")
    assert created["preferred_locales"] == []
    [request] = fake_stripe.requests_to("POST", CUSTOMERS)
    assert "preferred_locales" not in request.params


@pytest.mark.parametrize(
    ("locale", "portal_locale"),
    [
        (None, "auto"),
        ("fr-CA", "fr-CA"),
        ("fr-BE", "fr"),
        ("zh-Hant-TW", "zh-TW"),
        ("es-MX", "es-419"),
        ("en-US", "en"),
        ("tlh", "auto"),
    ],
)
async def test_the_portal_speaks_the_customers_language(
    stripe_api: Api, fake_stripe: FakeStripe, locale: str | None, portal_locale: str
) -> None:
    customer = await synced_customer(stripe_api)
    if locale is not None:
        await update(stripe_api, customer.owner, {"locale": locale})
    response = await stripe_api.call("GET", "/stripe/customer", customer.owner)
    assert response.status_code == 200, response.text
    [session] = fake_stripe.objects("billing_portal.session")
    assert session["locale"] == portal_locale
