"""The Stripe fake, driven through the real `stripe` SDK the way the service drives Stripe:
every object shape below is one the SDK accepted."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
import stripe

from tests.support.fake_stripe import (
    DAY,
    FakeStripe,
    StripeApiError,
    WebhookSender,
    decode_params,
    encode_params,
    sign,
    signed,
)

# Every POST through the SDK's httpx client hands httpx the form body as `data=<str>`, which
# httpx deprecates; it is the SDK's doing and harmless.
pytestmark = pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning")

API_KEY = "sk_test_fake_stripe_tests"
SECRET = "whsec_fake_stripe_tests"
ADDRESS = {
    "line1": "1 Main Street",
    "city": "Springfield",
    "state": "IL",
    "postal_code": "62701",
    "country": "US",
}


@pytest.fixture
def fake() -> Iterator[FakeStripe]:
    with FakeStripe.running(webhook_secret=SECRET) as fake:
        yield fake


def sdk_client(
    fake: FakeStripe, *, retries: int = 0, timeout: float = 10.0, api_key: str = API_KEY
) -> tuple[stripe.StripeClient, stripe.HTTPXClient]:
    http = stripe.HTTPXClient(timeout=timeout, allow_sync_methods=False)
    client = stripe.StripeClient(
        api_key,
        stripe_version=fake.api_version,
        base_addresses={"api": fake.url},
        http_client=http,
        max_network_retries=retries,
    )
    return client, http


async def close(http: stripe.HTTPXClient) -> None:
    await http.close_async()  # type: ignore[no-untyped-call]


@pytest.fixture
async def client(fake: FakeStripe) -> AsyncIterator[stripe.StripeClient]:
    client, http = sdk_client(fake)
    yield client
    await close(http)


@pytest.fixture
async def retrying_client(fake: FakeStripe) -> AsyncIterator[stripe.StripeClient]:
    client, http = sdk_client(fake, retries=2)
    yield client
    await close(http)


def customer_params(**overrides: Any) -> Any:
    return {
        "name": "Acme Inc",
        "email": "billing@acme.test",
        "address": ADDRESS,
        "metadata": {"billing_customer_id": "c-1"},
        **overrides,
    }


async def monthly_price(
    client: stripe.StripeClient, unit_amount: int = 1500, **extra: Any
) -> stripe.Price:
    product = await client.v1.products.create_async(params={"name": "Pro"})
    params: Any = {
        "product": product.id,
        "unit_amount": unit_amount,
        "currency": "usd",
        "recurring": {"interval": "month"},
        **extra,
    }
    return await client.v1.prices.create_async(params=params)


async def subscribed(
    fake: FakeStripe, client: stripe.StripeClient, *, trial_days: int | None = None
) -> tuple[str, list[dict[str, Any]]]:
    """A customer subscribed through checkout: the subscription's id and the events."""
    customer = await client.v1.customers.create_async(params=customer_params())
    price = await monthly_price(client)
    subscription_data: Any = {"metadata": {"billing_customer_id": "c-1"}}
    if trial_days:
        subscription_data["trial_period_days"] = trial_days
    session = await client.v1.checkout.sessions.create_async(
        params={
            "mode": "subscription",
            "customer": customer.id,
            "line_items": [{"price": price.id, "quantity": 1}],
            "success_url": "https://app.test/ok",
            "cancel_url": "https://app.test/cancel",
            "subscription_data": subscription_data,
        }
    )
    events = fake.complete_checkout(session.id)
    return str(events[0]["data"]["object"]["id"]), events


def error_of(exc: stripe.StripeError) -> Any:
    body: Any = exc.json_body
    return body["error"]


# --- Wire format ---------------------------------------------------------------------------


def test_nested_form_keys_decode_into_dicts_and_lists() -> None:
    pairs = [
        ("address[city]", "Springfield"),
        ("metadata[0]", "zero"),
        ("line_items[0][price]", "price_1"),
        ("line_items[0][quantity]", "2"),
        ("line_items[1][price]", "price_2"),
        ("expand[]", "customer"),
        ("expand[]", "subscription"),
        ("lookup_keys[0]", "a"),
    ]
    assert decode_params(pairs) == {
        "address": {"city": "Springfield"},
        "metadata": {"0": "zero"},
        "line_items": [{"price": "price_1", "quantity": "2"}, {"price": "price_2"}],
        "expand": ["customer", "subscription"],
        "lookup_keys": ["a"],
    }


def test_encoding_follows_the_sdk_rules() -> None:
    params = {"a": True, "b": None, "c": [{"d": 1}], "e": {"f": "g"}}
    assert encode_params(params) == [("a", "true"), ("c[0][d]", "1"), ("e[f]", "g")]
    assert decode_params(encode_params(params)) == {"a": "true", "c": [{"d": "1"}], "e": {"f": "g"}}


# --- Customers and idempotency ------------------------------------------------------------


async def test_a_customer_is_created_in_stripes_shape(
    fake: FakeStripe, client: stripe.StripeClient
) -> None:
    customer = await client.v1.customers.create_async(
        params=customer_params(), options={"idempotency_key": "customer-c-1"}
    )

    assert isinstance(customer, stripe.Customer)
    assert customer.id.startswith("cus_")
    assert customer.object == "customer"
    assert customer.livemode is False
    assert abs(customer.created - time.time()) < 60
    assert customer.email == "billing@acme.test"
    assert customer.address is not None and customer.address.city == "Springfield"
    assert customer.address.line2 is None
    assert customer.metadata is not None
    assert customer.metadata.to_dict() == {"billing_customer_id": "c-1"}
    [request] = fake.requests_to("POST", "/v1/customers")
    assert request.params["address"] == ADDRESS
    assert request.idempotency_key == "customer-c-1"
    assert request.stripe_version == fake.api_version == stripe.api_version
    assert request.status == 200


async def test_a_repeated_idempotency_key_replays_the_first_answer(
    fake: FakeStripe, client: stripe.StripeClient
) -> None:
    options: Any = {"idempotency_key": "customer-c-1"}
    first = await client.v1.customers.create_async(params=customer_params(), options=options)
    again = await client.v1.customers.create_async(params=customer_params(), options=options)

    assert again.id == first.id
    assert again.last_response is not None
    assert again.last_response.headers["Idempotent-Replayed"] == "true"
    assert first.last_response is not None
    assert "Idempotent-Replayed" not in first.last_response.headers
    assert fake.count("POST", "/v1/customers") == 2
    assert len(fake.objects("customer")) == 1
    assert [e["type"] for e in fake.events] == ["customer.created"]


async def test_an_idempotency_key_reused_with_other_parameters_is_refused(
    fake: FakeStripe, client: stripe.StripeClient
) -> None:
    options: Any = {"idempotency_key": "customer-c-1"}
    await client.v1.customers.create_async(params=customer_params(), options=options)

    with pytest.raises(stripe.IdempotencyError) as raised:
        await client.v1.customers.create_async(
            params=customer_params(name="Other"), options=options
        )

    assert raised.value.http_status == 400
    assert error_of(raised.value)["type"] == "idempotency_error"
    assert len(fake.objects("customer")) == 1


async def test_a_lost_answer_is_replayed_when_the_sdk_retries_with_the_same_key(
    fake: FakeStripe, retrying_client: stripe.StripeClient
) -> None:
    fake.fail_next("POST", "/v1/customers", status=500, after_effect=True)

    customer = await retrying_client.v1.customers.create_async(
        params=customer_params(), options={"idempotency_key": "customer-c-1"}
    )

    [only] = fake.objects("customer")
    assert customer.id == only["id"]
    first, retry = fake.requests_to("POST", "/v1/customers")
    assert (first.status, retry.status) == (500, 200)
    assert first.idempotency_key == retry.idempotency_key == "customer-c-1"
    assert customer.last_response is not None
    assert customer.last_response.headers["Idempotent-Replayed"] == "true"


async def test_the_sdk_retries_with_the_key_it_generated_itself(
    fake: FakeStripe, retrying_client: stripe.StripeClient
) -> None:
    fake.fail_next("POST", "/v1/customers", status=500, after_effect=True)

    await retrying_client.v1.customers.create_async(params=customer_params())

    first, retry = fake.requests_to("POST", "/v1/customers")
    assert first.idempotency_key and first.idempotency_key == retry.idempotency_key
    assert len(fake.objects("customer")) == 1


async def test_without_retries_a_lost_answer_is_an_error_although_stripe_acted(
    fake: FakeStripe, client: stripe.StripeClient
) -> None:
    fake.fail_next("POST", "/v1/customers", status=500, after_effect=True)
    options: Any = {"idempotency_key": "customer-c-1"}

    with pytest.raises(stripe.APIError) as raised:
        await client.v1.customers.create_async(params=customer_params(), options=options)
    assert raised.value.http_status == 500
    assert error_of(raised.value)["type"] == "api_error"
    [created] = fake.objects("customer")

    again = await client.v1.customers.create_async(params=customer_params(), options=options)
    assert again.id == created["id"]
    assert len(fake.objects("customer")) == 1


async def test_a_failure_before_acting_changes_nothing(
    fake: FakeStripe, client: stripe.StripeClient
) -> None:
    fake.fail_next("POST", "/v1/customers", status=503, times=2)

    for _ in range(2):
        with pytest.raises(stripe.APIError):
            await client.v1.customers.create_async(params=customer_params())
    assert fake.objects("customer") == []
    await client.v1.customers.create_async(params=customer_params())
    assert len(fake.objects("customer")) == 1


async def test_a_lock_timeout_is_retried_by_the_sdk(
    fake: FakeStripe, retrying_client: stripe.StripeClient
) -> None:
    fake.fail_next("POST", "/v1/customers", status=409)

    await retrying_client.v1.customers.create_async(params=customer_params())

    first, retry = fake.requests_to("POST", "/v1/customers")
    assert (first.status, retry.status) == (409, 200)
    assert len(fake.objects("customer")) == 1


async def test_a_rate_limit_is_not_retried(
    fake: FakeStripe, retrying_client: stripe.StripeClient
) -> None:
    fake.fail_next("GET", "/v1/customers", status=429)

    with pytest.raises(stripe.RateLimitError):
        await retrying_client.v1.customers.list_async()

    assert fake.count("GET", "/v1/customers") == 1


async def test_a_slow_answer_times_the_client_out_and_its_retry_replays(
    fake: FakeStripe,
) -> None:
    client, http = sdk_client(fake, retries=1, timeout=0.3)
    fake.fail_next("POST", "/v1/customers", status=None, delay=1.5, after_effect=True)
    try:
        customer = await client.v1.customers.create_async(params=customer_params())
    finally:
        await close(http)

    [only] = fake.objects("customer")
    assert customer.id == only["id"]
    assert fake.count("POST", "/v1/customers") == 2


async def test_requests_need_a_test_secret_key(fake: FakeStripe) -> None:
    client, http = sdk_client(fake, api_key="sk_live_nope")
    try:
        with pytest.raises(stripe.AuthenticationError) as raised:
            await client.v1.customers.list_async()
    finally:
        await close(http)
    assert raised.value.http_status == 401

    async with httpx.AsyncClient() as raw:
        answer = await raw.get(fake.url + "/v1/customers")
    assert answer.status_code == 401
    assert answer.json()["error"]["type"] == "invalid_request_error"


async def test_unknown_parameters_are_refused_like_stripe_does(
    client: stripe.StripeClient,
) -> None:
    params: Any = {"nmae": "Acme"}
    with pytest.raises(stripe.InvalidRequestError) as raised:
        await client.v1.customers.create_async(params=params)

    assert raised.value.code == "parameter_unknown"
    assert raised.value.param == "nmae"


async def test_a_customer_is_read_updated_and_deleted(
    fake: FakeStripe, client: stripe.StripeClient
) -> None:
    created = await client.v1.customers.create_async(params=customer_params())

    updated = await client.v1.customers.update_async(
        created.id, params={"name": "Acme Corp", "metadata": {"tier": "pro"}}
    )
    assert updated.name == "Acme Corp"
    assert updated.metadata is not None
    assert updated.metadata.to_dict() == {"billing_customer_id": "c-1", "tier": "pro"}
    read = await client.v1.customers.retrieve_async(created.id)
    assert read.name == "Acme Corp"

    deleted = await client.v1.customers.delete_async(created.id)
    assert (deleted.id, deleted.deleted) == (created.id, True)
    assert (await client.v1.customers.retrieve_async(created.id)).deleted is True
    assert fake.objects("customer") == []
    types = [e["type"] for e in fake.events]
    assert types == ["customer.created", "customer.updated", "customer.deleted"]

    with pytest.raises(stripe.InvalidRequestError) as raised:
        await client.v1.customers.retrieve_async("cus_missing")
    assert (raised.value.http_status, raised.value.code) == (404, "resource_missing")


async def test_customers_are_listed_newest_first_and_paged(client: stripe.StripeClient) -> None:
    ids = []
    for n in range(3):
        params = customer_params(email=f"user{n}@acme.test")
        ids.append((await client.v1.customers.create_async(params=params)).id)

    page = await client.v1.customers.list_async(params={"limit": 2})
    assert [c.id for c in page.data] == [ids[2], ids[1]]
    assert page.has_more is True
    every = [c.id async for c in page.auto_paging_iter()]
    assert every == ids[::-1]
    by_email = await client.v1.customers.list_async(params={"email": "user1@acme.test"})
    assert [c.id for c in by_email.data] == [ids[1]]


async def test_customers_are_found_by_metadata(client: stripe.StripeClient) -> None:
    wanted = await client.v1.customers.create_async(params=customer_params())
    await client.v1.customers.create_async(
        params=customer_params(metadata={"billing_customer_id": "c-2"})
    )

    found = await client.v1.customers.search_async(
        params={"query": "metadata['billing_customer_id']:'c-1'"}
    )

    assert isinstance(found, stripe.SearchResultObject)
    assert [c.id for c in found.data] == [wanted.id]
    assert found.has_more is False
    with pytest.raises(stripe.InvalidRequestError):
        await client.v1.customers.search_async(params={"query": "colour:'blue'"})


# --- Portal and checkout ------------------------------------------------------------------


async def test_a_portal_session_links_to_the_fake(
    fake: FakeStripe, client: stripe.StripeClient
) -> None:
    customer = await client.v1.customers.create_async(params=customer_params())

    session = await client.v1.billing_portal.sessions.create_async(
        params={"customer": customer.id, "return_url": "https://app.test/billing"}
    )

    assert session.object == "billing_portal.session"
    assert session.id.startswith("bps_")
    assert session.url == f"{fake.url}/portal/{session.id}"
    assert (session.customer, session.return_url) == (customer.id, "https://app.test/billing")
    async with httpx.AsyncClient() as browser:
        assert (await browser.get(session.url)).status_code == 200

    with pytest.raises(stripe.InvalidRequestError) as raised:
        await client.v1.billing_portal.sessions.create_async(params={"customer": "cus_missing"})
    assert (raised.value.http_status, raised.value.param) == (400, "customer")


async def test_a_checkout_session_is_open_until_completed(
    fake: FakeStripe, client: stripe.StripeClient
) -> None:
    customer = await client.v1.customers.create_async(params=customer_params())
    price = await monthly_price(client)

    session = await client.v1.checkout.sessions.create_async(
        params={
            "mode": "subscription",
            "customer": customer.id,
            "client_reference_id": "c-1",
            "line_items": [{"price": price.id, "quantity": 1}],
            "success_url": "https://app.test/ok",
            "cancel_url": "https://app.test/cancel",
            "metadata": {"billing_customer_id": "c-1"},
            "subscription_data": {"trial_period_days": 14, "metadata": {"tier": "pro"}},
        }
    )

    assert session.object == "checkout.session"
    assert session.id.startswith("cs_")
    assert session.url == f"{fake.url}/checkout/{session.id}"
    assert (session.status, session.mode, session.subscription) == ("open", "subscription", None)
    assert (session.customer, session.client_reference_id) == (customer.id, "c-1")
    assert session.amount_total == 1500
    read = await client.v1.checkout.sessions.retrieve_async(session.id)
    assert read.status == "open"


async def test_checkout_refuses_unknown_customers_and_inactive_prices(
    client: stripe.StripeClient,
) -> None:
    customer = await client.v1.customers.create_async(params=customer_params())
    price = await monthly_price(client)
    await client.v1.prices.update_async(price.id, params={"active": False})

    def checkout(customer_id: str, price_id: str) -> Any:
        return {
            "mode": "subscription",
            "customer": customer_id,
            "line_items": [{"price": price_id, "quantity": 1}],
        }

    for params, param in [
        (checkout("cus_missing", price.id), "customer"),
        (checkout(customer.id, "price_missing"), "line_items[0][price]"),
        (checkout(customer.id, price.id), "line_items[0][price]"),
    ]:
        with pytest.raises(stripe.InvalidRequestError) as raised:
            await client.v1.checkout.sessions.create_async(params=params)
        assert (raised.value.http_status, raised.value.param) == (400, param)


async def test_completing_a_checkout_with_a_trial_subscribes_the_customer(
    fake: FakeStripe, client: stripe.StripeClient
) -> None:
    fake.clock = 1_800_000_000
    subscription_id, events = await subscribed(fake, client, trial_days=14)

    assert [e["type"] for e in events] == [
        "customer.subscription.created",
        "checkout.session.completed",
    ]
    for event in events:
        assert event["id"].startswith("evt_")
        assert event["object"] == "event"
        assert event["api_version"] == fake.api_version
        assert event["created"] == 1_800_000_000
        assert (event["livemode"], event["pending_webhooks"]) == (False, 1)
        assert event["request"] == {"id": None, "idempotency_key": None}
    assert events[1]["data"]["object"]["subscription"] == subscription_id
    assert events[1]["data"]["object"]["status"] == "complete"
    assert fake.events[-2:] == events

    subscription = await client.v1.subscriptions.retrieve_async(subscription_id)
    assert isinstance(subscription, stripe.Subscription)
    assert subscription.status == "trialing"
    assert subscription.trial_start == 1_800_000_000
    assert subscription.trial_end == 1_800_000_000 + 14 * DAY
    assert subscription.metadata is not None
    assert subscription.metadata.to_dict() == {"billing_customer_id": "c-1"}
    [item] = subscription["items"].data
    assert isinstance(item, stripe.SubscriptionItem)
    assert item.id.startswith("si_")
    assert item.price.unit_amount == 1500
    assert item.current_period_end == subscription.trial_end
    invoice = await client.v1.invoices.retrieve_async(str(subscription.latest_invoice))
    assert (invoice.status, invoice.amount_due) == ("paid", 0)

    listed = await client.v1.subscriptions.list_async(
        params={"customer": str(subscription.customer), "status": "all"}
    )
    assert [s.id for s in listed.data] == [subscription_id]


async def test_without_a_trial_the_subscription_is_active_for_a_month(
    fake: FakeStripe, client: stripe.StripeClient
) -> None:
    fake.clock = 1_767_225_600  # 2026-01-01T00:00:00Z
    subscription_id, _ = await subscribed(fake, client)

    subscription = await client.v1.subscriptions.retrieve_async(subscription_id)
    assert (subscription.status, subscription.trial_end) == ("active", None)
    assert subscription["items"].data[0].current_period_end == 1_769_904_000  # 2026-02-01


async def test_a_failed_renewal_and_its_payment_change_the_status(
    fake: FakeStripe, client: stripe.StripeClient
) -> None:
    subscription_id, _ = await subscribed(fake, client)

    failed, updated = fake.set_subscription_status(subscription_id, "past_due")
    assert failed["type"] == "invoice.payment_failed"
    invoice = failed["data"]["object"]
    assert invoice["id"].startswith("in_")
    assert invoice["status"] == "open"
    assert invoice["parent"]["subscription_details"]["subscription"] == subscription_id
    assert updated["type"] == "customer.subscription.updated"
    assert updated["data"]["object"]["status"] == "past_due"
    assert updated["data"]["previous_attributes"]["status"] == "active"

    paid, recovered = fake.set_subscription_status(subscription_id, "active")
    assert (paid["type"], paid["data"]["object"]["id"]) == ("invoice.paid", invoice["id"])
    assert recovered["data"]["previous_attributes"] == {"status": "past_due"}
    read = await client.v1.subscriptions.retrieve_async(subscription_id)
    assert read.status == "active"
    assert fake.set_subscription_status(subscription_id, "active") == []


async def test_canceled_subscriptions_leave_the_default_list(
    fake: FakeStripe, client: stripe.StripeClient
) -> None:
    subscription_id, _ = await subscribed(fake, client)
    customer = str(fake.objects("subscription")[0]["customer"])

    [deleted] = fake.cancel_subscription(subscription_id)

    assert deleted["type"] == "customer.subscription.deleted"
    assert deleted["data"]["object"]["status"] == "canceled"
    assert deleted["data"]["object"]["ended_at"] is not None
    default = await client.v1.subscriptions.list_async(params={"customer": customer})
    assert default.data == []
    every = await client.v1.subscriptions.list_async(params={"customer": customer, "status": "all"})
    assert [s.status for s in every.data] == ["canceled"]


async def test_canceling_through_the_api_and_again(
    fake: FakeStripe, client: stripe.StripeClient
) -> None:
    subscription_id, _ = await subscribed(fake, client)

    canceled = await client.v1.subscriptions.cancel_async(
        subscription_id, options={"idempotency_key": "cancel-1"}
    )
    assert canceled.status == "canceled"
    assert canceled.canceled_at is not None and canceled.ended_at is not None
    event = fake.events[-1]
    assert event["type"] == "customer.subscription.deleted"
    assert event["request"]["idempotency_key"] == "cancel-1"

    with pytest.raises(stripe.InvalidRequestError) as raised:
        await client.v1.subscriptions.cancel_async(
            subscription_id, options={"idempotency_key": "cancel-1"}
        )
    assert raised.value.http_status == 404


async def test_cancel_at_period_end_and_metadata_are_updated(
    fake: FakeStripe, client: stripe.StripeClient
) -> None:
    subscription_id, _ = await subscribed(fake, client)

    updated = await client.v1.subscriptions.update_async(
        subscription_id, params={"cancel_at_period_end": True, "metadata": {"note": "x"}}
    )

    assert updated.cancel_at_period_end is True
    assert updated.cancel_at == updated["items"].data[0].current_period_end
    assert updated.metadata is not None
    assert updated.metadata.to_dict() == {"billing_customer_id": "c-1", "note": "x"}
    event = fake.events[-1]
    assert event["type"] == "customer.subscription.updated"
    assert event["data"]["previous_attributes"]["cancel_at_period_end"] is False


async def test_a_price_change_is_an_update_event(
    fake: FakeStripe, client: stripe.StripeClient
) -> None:
    subscription_id, _ = await subscribed(fake, client)
    product_id = str(fake.objects("product")[0]["id"])
    bigger = await client.v1.prices.create_async(
        params={
            "product": product_id,
            "unit_amount": 4900,
            "currency": "usd",
            "recurring": {"interval": "month"},
        }
    )

    [event] = fake.change_price(subscription_id, bigger.id)

    assert event["type"] == "customer.subscription.updated"
    assert event["data"]["object"]["items"]["data"][0]["price"]["id"] == bigger.id
    old_items = event["data"]["previous_attributes"]["items"]["data"]
    assert old_items[0]["price"]["unit_amount"] == 1500
    read = await client.v1.subscriptions.retrieve_async(subscription_id)
    assert read["items"].data[0].price.id == bigger.id


# --- Products and prices ------------------------------------------------------------------


async def test_a_lookup_key_names_one_price_and_can_be_transferred(
    fake: FakeStripe, client: stripe.StripeClient
) -> None:
    first = await monthly_price(client, lookup_key="billing_tier_pro")
    product_id = first.product

    again: Any = {
        "product": product_id,
        "unit_amount": 2500,
        "currency": "usd",
        "recurring": {"interval": "month"},
        "lookup_key": "billing_tier_pro",
    }
    with pytest.raises(stripe.InvalidRequestError) as raised:
        await client.v1.prices.create_async(params=again)
    assert (raised.value.http_status, raised.value.param) == (400, "lookup_key")

    transfer: Any = {**again, "transfer_lookup_key": True}
    second = await client.v1.prices.create_async(params=transfer)
    assert second.lookup_key == "billing_tier_pro"
    assert (await client.v1.prices.retrieve_async(first.id)).lookup_key is None
    found = await client.v1.prices.list_async(params={"lookup_keys": ["billing_tier_pro"]})
    assert [p.id for p in found.data] == [second.id]

    with pytest.raises(stripe.InvalidRequestError):
        await client.v1.prices.update_async(first.id, params={"lookup_key": "billing_tier_pro"})
    moved = await client.v1.prices.update_async(
        first.id, params={"lookup_key": "billing_tier_pro", "transfer_lookup_key": True}
    )
    assert moved.lookup_key == "billing_tier_pro"
    assert fake.objects("price")[1]["id"] == second.id
    assert fake.objects("price")[1]["lookup_key"] is None


async def test_a_refused_request_changes_nothing(
    fake: FakeStripe, client: stripe.StripeClient
) -> None:
    taken = await monthly_price(client, lookup_key="taken")
    other = await monthly_price(client, lookup_key="other")
    events = len(fake.events)

    with pytest.raises(stripe.InvalidRequestError):
        await client.v1.prices.update_async(
            other.id, params={"active": False, "metadata": {"a": "b"}, "lookup_key": "taken"}
        )

    assert fake.get(other.id) == fake.call("GET", f"/v1/prices/{other.id}")
    assert (await client.v1.prices.retrieve_async(other.id)).active is True
    assert (await client.v1.prices.retrieve_async(taken.id)).lookup_key == "taken"
    assert len(fake.events) == events


async def test_prices_are_listed_by_product_and_activity(client: stripe.StripeClient) -> None:
    kept = await monthly_price(client, 1000)
    product = str(kept.product)
    retired = await client.v1.prices.create_async(
        params={"product": product, "unit_amount": 900, "currency": "usd"}
    )
    await client.v1.prices.update_async(retired.id, params={"active": False})

    active = await client.v1.prices.list_async(params={"product": product, "active": True})
    assert [p.id for p in active.data] == [kept.id]
    assert retired.type == "one_time" and retired.recurring is None
    expanded = await client.v1.prices.list_async(params={"expand": ["data.product"]})
    assert {p["product"]["name"] for p in expanded.data} == {"Pro"}


async def test_products_are_created_updated_listed_and_searched(
    client: stripe.StripeClient,
) -> None:
    product = await client.v1.products.create_async(
        params={"name": "Team", "description": "For teams", "metadata": {"billing_tier": "team"}},
        options={"idempotency_key": "tier-product-team"},
    )
    assert product.id.startswith("prod_") and product.active is True

    updated = await client.v1.products.update_async(product.id, params={"name": "Teams"})
    assert updated.name == "Teams"
    listed = await client.v1.products.list_async(params={"limit": 100})
    assert [p.id for p in listed.data] == [product.id]
    found = await client.v1.products.search_async(
        params={"query": "metadata['billing_tier']:'team' AND active:'true'"}
    )
    assert [p.id for p in found.data] == [product.id]


def test_state_can_be_set_up_without_http() -> None:
    fake = FakeStripe()
    product = fake.call("POST", "/v1/products", {"name": "Pro"})
    price = fake.call(
        "POST",
        "/v1/prices",
        {"product": product["id"], "unit_amount": 100, "currency": "usd", "lookup_key": "k"},
    )
    assert fake.get(price["id"]) == price
    assert fake.requests == []
    with pytest.raises(StripeApiError) as raised:
        fake.call("POST", "/v1/prices", {"product": "prod_missing", "unit_amount": 1})
    assert raised.value.status == 400


# --- Webhooks -----------------------------------------------------------------------------


async def test_signed_events_are_accepted_by_the_sdk(
    fake: FakeStripe, client: stripe.StripeClient
) -> None:
    _, events = await subscribed(fake, client, trial_days=7)

    body, headers = signed(events[0], SECRET)
    event = client.construct_event(body, headers["Stripe-Signature"], SECRET)

    assert isinstance(event, stripe.Event)
    assert event.type == "customer.subscription.created"
    assert event.data.object["status"] == "trialing"
    assert (
        stripe.Webhook.construct_event(body, headers["Stripe-Signature"], SECRET).id
        == (events[0]["id"])
    )


def test_signatures_match_stripes_own_algorithm() -> None:
    body = b'{"id": "evt_1", "object": "event"}'
    ours = sign(body, SECRET, timestamp=1_700_000_000)
    theirs = stripe.WebhookSignature.generate_signature_header(
        body.decode(), SECRET, timestamp=1_700_000_000
    )
    assert ours == theirs
    assert ours.startswith("t=1700000000,v1=")


def test_bad_signatures_are_rejected_by_the_sdk() -> None:
    event = {"id": "evt_1", "object": "event", "type": "invoice.paid", "data": {"object": {}}}
    body, headers = signed(event, SECRET)
    header = headers["Stripe-Signature"]
    old = sign(body, SECRET, timestamp=int(time.time()) - 301)

    for payload, signature, secret in [
        (body.replace(b"invoice.paid", b"invoice.void"), header, SECRET),
        (body, header, "whsec_someone_else"),
        (body, old, SECRET),
    ]:
        with pytest.raises(stripe.SignatureVerificationError):
            stripe.Webhook.construct_event(payload, signature, secret, tolerance=300)


def test_deliveries_repeat_the_same_bytes() -> None:
    sender = WebhookSender(SECRET)
    events = [{"id": f"evt_{n}", "object": "event", "type": "t"} for n in range(4)]

    twice = sender.duplicated(events[:1])
    assert twice[0].body == twice[1].body and twice[0].event_id == "evt_0"
    retried = sender.retry(twice[0], timestamp=int(time.time()) + 60)
    assert retried.body == twice[0].body and retried.attempt == 2
    assert retried.headers["Stripe-Signature"] != twice[0].headers["Stripe-Signature"]
    stripe.WebhookSignature.verify_header(
        retried.body, retried.headers["Stripe-Signature"], SECRET, tolerance=300
    )
    assert [d.event_id for d in sender.reversed(events)] == ["evt_3", "evt_2", "evt_1", "evt_0"]
    assert sender.shuffled(events, seed=7) == sender.shuffled(events, seed=7)
    assert sorted(d.event_id for d in sender.shuffled(events, seed=7)) == [e["id"] for e in events]
    assert len(sender.with_retries(events)) == 8


async def test_the_fake_signs_with_its_webhook_secret(fake: FakeStripe) -> None:
    delivery = fake.webhooks.deliver({"id": "evt_1", "object": "event", "type": "t"})
    stripe.WebhookSignature.verify_header(
        delivery.body, delivery.headers["Stripe-Signature"], SECRET
    )


# --- Odds and ends ------------------------------------------------------------------------


async def test_a_refused_request_does_not_use_up_its_idempotency_key(
    fake: FakeStripe, client: stripe.StripeClient
) -> None:
    options: Any = {"idempotency_key": "customer-c-1"}
    bad: Any = {**customer_params(), "address": "1 Main Street"}
    with pytest.raises(stripe.InvalidRequestError):
        await client.v1.customers.create_async(params=bad, options=options)

    created = await client.v1.customers.create_async(params=customer_params(), options=options)

    assert [c["id"] for c in fake.objects("customer")] == [created.id]


async def test_deleting_a_customer_cancels_its_subscriptions(
    fake: FakeStripe, client: stripe.StripeClient
) -> None:
    subscription_id, _ = await subscribed(fake, client)
    customer = str(fake.objects("subscription")[0]["customer"])

    await client.v1.customers.delete_async(customer)

    assert (await client.v1.subscriptions.retrieve_async(subscription_id)).status == "canceled"
    assert [e["type"] for e in fake.events[-2:]] == [
        "customer.subscription.deleted",
        "customer.deleted",
    ]


async def test_an_abandoned_checkout_expires(fake: FakeStripe, client: stripe.StripeClient) -> None:
    customer = await client.v1.customers.create_async(params=customer_params())
    price = await monthly_price(client)
    session = await client.v1.checkout.sessions.create_async(
        params={
            "mode": "subscription",
            "customer": customer.id,
            "line_items": [{"price": price.id, "quantity": 1}],
        }
    )

    [expired] = fake.expire_checkout(session.id)

    assert expired["type"] == "checkout.session.expired"
    assert (await client.v1.checkout.sessions.retrieve_async(session.id)).status == "expired"
    with pytest.raises(ValueError):
        fake.complete_checkout(session.id)


async def test_search_results_are_paged(client: stripe.StripeClient) -> None:
    for n in range(3):
        await client.v1.customers.create_async(params=customer_params(name=f"Acme {n}"))

    first = await client.v1.customers.search_async(params={"query": "name~'Acme'", "limit": 2})

    assert (len(first.data), first.has_more) == (2, True)
    names = [c.name async for c in first.auto_paging_iter()]
    assert names == ["Acme 2", "Acme 1", "Acme 0"]
