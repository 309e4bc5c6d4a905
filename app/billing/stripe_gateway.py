"""The one module that talks to Stripe: the official SDK's `StripeClient`, async calls,
and a pinned API version, so that the shapes read here never change under us."""

from __future__ import annotations

import hashlib
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any, TypeVar

import langcodes
import stripe

from app.billing.gateway import (
    CatalogPrice,
    CheckoutRequest,
    Subscription,
    WebhookEvent,
)
from app.core import metrics
from app.core.errors import InvalidWebhook, StripeRejected, StripeUnavailable
from app.core.json import read_json
from app.models import Customer
from app.settings import Settings

logger = logging.getLogger(__name__)
STRIPE_API_VERSION = "2026-10-28.endive"
# Where the metadata of Stripe objects names what they are in this service.
CUSTOMER_METADATA = "billing_customer_id"
TIER_METADATA = "billing_tier"
T = TypeVar("T")
# A span around one call to Stripe, named for its operation (`customers.create`), when
# traces are on: what escapes it is the call's failure.
CallSpan = Callable[[str], AbstractContextManager[object]]
# The languages the Customer Portal is written in (its session's `locale` parameter).
# fmt: off
PORTAL_LOCALES = (
    "bg", "cs", "da", "de", "el", "en", "en-AU", "en-CA", "en-GB", "en-IE", "en-IN", "en-NZ",
    "en-SG", "es", "es-419", "et", "fi", "fil", "fr", "fr-CA", "hr", "hu", "id", "it", "ja",
    "ko", "lt", "lv", "ms", "mt", "nb", "nl", "pl", "pt", "pt-BR", "ro", "ru", "sk", "sl",
    "sv", "th", "tr", "vi", "zh", "zh-HK", "zh-TW",
)
# fmt: on


class StripeGateway:
    def __init__(self, settings: Settings, *, call_span: CallSpan | None = None) -> None:
        assert settings.stripe_api_key and settings.stripe_webhook_secret
        base = {"api": settings.stripe_api_base} if settings.stripe_api_base else None
        self._client = stripe.StripeClient(
            settings.stripe_api_key,
            stripe_version=STRIPE_API_VERSION,
            base_addresses=base,  # type: ignore[arg-type]
            max_network_retries=settings.stripe_max_network_retries,
            http_client=stripe.HTTPXClient(timeout=settings.stripe_timeout_seconds),
        )
        self._webhook_secret = settings.stripe_webhook_secret
        self._tolerance = settings.stripe_webhook_tolerance_seconds
        self._span: CallSpan = call_span or _no_span

    async def _call(self, operation: str, call: Awaitable[T]) -> T:
        try:
            with self._observed(operation):
                return await call
        except stripe.StripeError as exc:
            raise _failure(exc) from exc

    @contextmanager
    def _observed(self, operation: str) -> Iterator[None]:
        """A call to Stripe in the traces (a span), and in the metrics: its time, and its
        error by the SDK's type."""
        started = time.perf_counter()
        try:
            with self._span(operation):
                yield
        except stripe.StripeError as exc:
            metrics.STRIPE_ERRORS.labels(operation, type(exc).__name__).inc()
            raise
        finally:
            metrics.STRIPE_CALLS.labels(operation).observe(time.perf_counter() - started)

    async def create_customer(self, customer: Customer, *, idempotency_key: str) -> str:
        params: Any = {
            **_customer_profile(customer),
            "metadata": {CUSTOMER_METADATA: str(customer.id)},
        }
        created = await self._call(
            "customers.create",
            self._client.v1.customers.create_async(
                params=params, options={"idempotency_key": idempotency_key}
            ),
        )
        return str(created.id)

    async def update_customer(self, customer: Customer, *, idempotency_key: str) -> None:
        assert customer.stripe_customer_id is not None
        profile: Any = _customer_profile(customer)
        # A retry sends the same profile under the same key; a task that finds the
        # profile changed since its last attempt sends it under another (Stripe refuses
        # a key used again with other parameters).
        digest = hashlib.sha256(json.dumps(profile, sort_keys=True).encode()).hexdigest()
        await self._call(
            "customers.update",
            self._client.v1.customers.update_async(
                customer.stripe_customer_id,
                params=profile,
                options={"idempotency_key": f"{idempotency_key}-{digest[:16]}"},
            ),
        )

    async def find_customer(self, customer_id: uuid.UUID) -> str | None:
        query = f"metadata['{CUSTOMER_METADATA}']:'{customer_id}'"
        found = await self._call(
            "customers.search", self._client.v1.customers.search_async(params={"query": query})
        )
        return str(found.data[0].id) if found.data else None

    async def portal_url(self, customer: Customer, stripe_customer_id: str, return_url: str) -> str:
        params: Any = {
            "customer": stripe_customer_id,
            "return_url": return_url,
            "locale": _portal_locale(customer.locale),
        }
        session = await self._call(
            "billing_portal.sessions.create",
            self._client.v1.billing_portal.sessions.create_async(params=params),
        )
        return str(session.url)

    async def checkout_url(self, request: CheckoutRequest) -> str:
        subscription: Any = {"metadata": {CUSTOMER_METADATA: str(request.customer_id)}}
        if request.trial_days:
            subscription["trial_period_days"] = request.trial_days
        params: Any = {
            "mode": "subscription",
            "customer": request.stripe_customer_id,
            "client_reference_id": str(request.customer_id),
            "line_items": [{"price": request.price_id, "quantity": 1}],
            "success_url": request.success_url,
            "cancel_url": request.cancel_url,
            "subscription_data": subscription,
        }
        session = await self._call(
            "checkout.sessions.create",
            self._client.v1.checkout.sessions.create_async(params=params),
        )
        return str(session.url)

    async def subscriptions(self, stripe_customer_id: str) -> list[Subscription]:
        params: Any = {"customer": stripe_customer_id, "status": "all", "limit": 100}
        # No retries here: webhooks read this while holding the customer's row, and both
        # of its callers retry on their own (Stripe redelivers; the outbox backs off).
        listed = await self._call(
            "subscriptions.list",
            self._client.v1.subscriptions.list_async(
                params=params, options={"max_network_retries": 0}
            ),
        )
        return [_subscription(item) for item in listed.data]

    async def cancel_subscription(self, subscription_id: str, *, idempotency_key: str) -> None:
        try:
            with self._observed("subscriptions.cancel"):
                await self._client.v1.subscriptions.cancel_async(
                    subscription_id, options={"idempotency_key": idempotency_key}
                )
        except stripe.InvalidRequestError as exc:
            if exc.http_status == 404:  # already gone: what was asked is true
                return
            raise _failure(exc) from exc
        except stripe.StripeError as exc:
            raise _failure(exc) from exc

    def verify_event(self, payload: bytes, signature: str | None) -> WebhookEvent:
        """The signature is checked on the bytes received, before anything reads them;
        then the service's one JSON reader reads them."""
        if not signature:
            raise InvalidWebhook("The Stripe-Signature header is missing.")
        try:
            stripe.WebhookSignature.verify_header(
                payload, signature, self._webhook_secret, self._tolerance
            )
        except (stripe.SignatureVerificationError, ValueError) as exc:  # or not UTF-8
            raise InvalidWebhook() from exc
        event = read_json(payload)
        try:
            return WebhookEvent(
                id=str(event["id"]),
                type=str(event["type"]),
                created=int(event["created"]),
                object=dict(event["data"]["object"]),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:  # not an event
            raise InvalidWebhook() from exc

    async def sync_price(self, price: CatalogPrice) -> str:
        product_id = await self._product(price)
        lookup_key = f"{TIER_METADATA}_{price.tier_name}"
        params: Any = {"lookup_keys": [lookup_key], "active": True, "limit": 1}
        found = (
            await self._call("prices.list", self._client.v1.prices.list_async(params=params))
        ).data
        if found and _same_price(found[0], price, product_id):
            return str(found[0].id)
        created = await self._call(
            "prices.create",
            self._client.v1.prices.create_async(
                params={
                    "product": product_id,
                    "unit_amount": price.unit_amount,
                    "currency": price.currency,
                    "recurring": {"interval": "month"},
                    "lookup_key": lookup_key,
                    "transfer_lookup_key": True,
                    "metadata": {TIER_METADATA: price.tier_name},
                }
            ),
        )
        for old in found:  # the price it replaces is no longer offered
            await self._call(
                "prices.update",
                self._client.v1.prices.update_async(str(old.id), params={"active": False}),
            )
        return str(created.id)

    async def _products(self) -> AsyncIterator[Any]:
        """Every product, page after page (the pages after the first, rarely any, are
        fetched by the SDK's iterator, outside any span)."""
        listing = self._client.v1.products.list_async(params={"limit": 100})
        page = await self._call("products.list", listing)
        async for item in page.auto_paging_iter():
            yield item

    async def _product(self, price: CatalogPrice) -> str:
        """The tier's product, found by its metadata, created or brought up to date."""
        # An empty description is how Stripe is told to clear one.
        wanted: Any = {"name": price.display_name, "description": price.description}
        async for product in self._products():
            fields: dict[str, Any] = product.to_dict()
            if (fields.get("metadata") or {}).get(TIER_METADATA) == price.tier_name:
                current = {
                    "name": fields.get("name"),
                    "description": fields.get("description") or "",
                }
                if current != wanted:
                    await self._call(
                        "products.update",
                        self._client.v1.products.update_async(str(product.id), params=wanted),
                    )
                return str(product.id)
        create: Any = {**wanted, "metadata": {TIER_METADATA: price.tier_name}}
        created = await self._call(
            "products.create",
            self._client.v1.products.create_async(
                params=create, options={"idempotency_key": f"tier-product-{price.tier_name}"}
            ),
        )
        return str(created.id)


def _customer_profile(customer: Customer) -> dict[str, Any]:
    """What Stripe keeps of a customer's profile: sent whole on create and on update."""
    locale = {"preferred_locales": [customer.locale]} if customer.locale else {}
    return {
        **locale,
        "name": customer.name,
        "email": customer.email,
        "address": {
            "line1": customer.street,
            "city": customer.city,
            "state": customer.state,
            "postal_code": customer.postal_code,
            "country": customer.country,
        },
    }


def _portal_locale(locale: str | None) -> str:
    """The Customer Portal's language nearest the customer's, or the browser's ("auto")
    when the portal has none close enough."""
    if locale is None:
        return "auto"
    nearest = langcodes.closest_supported_match(locale, PORTAL_LOCALES, max_distance=5)
    return nearest or "auto"


def _same_price(found: Any, price: CatalogPrice, product_id: str) -> bool:
    recurring = found.recurring
    return bool(
        found.unit_amount == price.unit_amount
        and found.currency == price.currency
        and found.product == product_id
        and recurring is not None
        and recurring.interval == "month"
    )


def _subscription(stripe_object: Any) -> Subscription:
    item: dict[str, Any] = stripe_object.to_dict()
    items = (item.get("items") or {}).get("data") or []
    price: dict[str, Any] = (items[0].get("price") if items else None) or {}
    return Subscription(
        id=str(item["id"]),
        stripe_customer_id=str(item["customer"]),
        status=str(item["status"]),
        price_id=str(price["id"]) if price.get("id") else None,
        price_tier=(price.get("metadata") or {}).get(TIER_METADATA),
        created=int(item["created"]),
        had_trial=item.get("trial_start") is not None or item.get("trial_end") is not None,
        quantity=int(items[0].get("quantity") or 1) if items else 0,
    )


def _no_span(_operation: str) -> AbstractContextManager[object]:
    return nullcontext()


def _failure(exc: stripe.StripeError) -> StripeRejected | StripeUnavailable:
    """Stripe refusing what was asked (retrying will not help) or failing to answer."""
    logger.warning(
        "stripe call failed", extra={"stripe_status": exc.http_status, "stripe_error": str(exc)}
    )
    if isinstance(exc, stripe.InvalidRequestError | stripe.AuthenticationError):
        return StripeRejected()
    return StripeUnavailable()
