"""A stateful fake of Stripe's HTTP API, for tests that drive the real `stripe` SDK.

Stripe is the one remote system the service depends on and the SDK is the one way the service
talks to it, so the fake sits at the network edge: an HTTP server on 127.0.0.1 that speaks
Stripe's wire format (form-encoded nested parameters in; JSON objects and Stripe-shaped errors
out), keeps what Stripe would keep, and lets a test do what only Stripe can do: complete a
checkout, let a payment fail, cancel a subscription. Each such step returns the webhook events
Stripe would send, and `WebhookSender` signs them as Stripe does.

    with FakeStripe.running() as fake:
        client = stripe.StripeClient(
            "sk_test_123",
            stripe_version=fake.api_version,
            base_addresses={"api": fake.url},
            http_client=stripe.HTTPXClient(allow_sync_methods=False),
        )
        customer = await client.v1.customers.create_async(params={"email": "a@example.com"})
        assert fake.count("POST", "/v1/customers") == 1

What it models, because the service's correctness depends on it:
- idempotency keys as Stripe keeps them: a POST repeating a key with the same parameters
  replays the first answer (with `Idempotent-Replayed: true`) and changes nothing; other
  parameters are an `idempotency_error`. Only requests that were carried out are kept, and
  keys have no effect on GET and DELETE;
- faults at the edge (`fail_next`): errors, slow answers, and "done, but the answer was lost";
- unknown parameters are rejected as Stripe rejects them, so a misspelt parameter fails a test;
- objects in the shapes of the pinned API version (billing periods live on subscription items,
  an invoice names its subscription under `parent.subscription_details`).

What it leaves out: payments and payment methods, prorations, taxes, tiers, coupons, Connect.
Search here sees every write at once, while Stripe's search index may lag writes by a minute.
"""

from __future__ import annotations

import asyncio
import calendar
import copy
import hashlib
import hmac
import json
import random
import re
import secrets
import socket
import string
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Self
from urllib.parse import parse_qsl

import httpx
import stripe
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.routing import Route

Json = dict[str, Any]
# Which parameters an endpoint knows: a nested mapping for hashes (applied to each element
# of an array of hashes), None for anything else.
Schema = Mapping[str, "Schema | None"]

DAY = 86_400
SUBSCRIPTION_STATUSES = (
    "trialing",
    "active",
    "past_due",
    "canceled",
    "unpaid",
    "incomplete",
    "incomplete_expired",
    "paused",
)
_INTERVALS = ("day", "week", "month", "year")
_ID_ALPHABET = string.ascii_letters + string.digits
_START_TIMEOUT_SECONDS = 10.0
_STOP_TIMEOUT_SECONDS = 10.0


def new_id(prefix: str, length: int = 24) -> str:
    """An id shaped like Stripe's: the object's prefix, then random letters and digits."""
    return prefix + "_" + "".join(secrets.choice(_ID_ALPHABET) for _ in range(length))


def add_interval(start: int, interval: str, count: int = 1) -> int:
    """`start` moved on by `count` billing intervals, by the calendar as Stripe bills."""
    if interval == "day":
        return start + count * DAY
    if interval == "week":
        return start + count * 7 * DAY
    months = count * (12 if interval == "year" else 1)
    moment = datetime.fromtimestamp(start, UTC)
    index = moment.month - 1 + months
    year, month = moment.year + index // 12, index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return int(moment.replace(year=year, month=month, day=day).timestamp())


# --- Errors -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """One HTTP answer of the fake: status, JSON body and the headers particular to it."""

    status: int
    body: Json
    headers: Mapping[str, str] = field(default_factory=dict)


class StripeApiError(Exception):
    """An answer in Stripe's error shape. Handlers raise it; the server turns it into the
    HTTP answer, and the test-side helpers let it reach the test as the API would answer."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        error_type: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.error_type = error_type
        self.code = code
        self.param = param
        self.headers = dict(headers or {})

    def outcome(self) -> Outcome:
        error: Json = {"type": self.error_type, "message": self.message}
        if self.code is not None:
            error["code"] = self.code
            error["doc_url"] = "https://stripe.com/docs/error-codes/" + self.code.replace("_", "-")
        if self.param is not None:
            error["param"] = self.param
        return Outcome(self.status, {"error": error}, self.headers)


def _no_such(object_type: str, object_id: str, *, param: str | None = None) -> StripeApiError:
    """Stripe answers 404 for a missing object named in the path, 400 for one named by a
    parameter."""
    return StripeApiError(
        400 if param else 404,
        f"No such {object_type}: '{object_id}'",
        code="resource_missing",
        param=param,
    )


def _missing_param(name: str) -> StripeApiError:
    return StripeApiError(
        400, f"Missing required param: {name}.", code="parameter_missing", param=name
    )


def _invalid(name: str, message: str) -> StripeApiError:
    return StripeApiError(400, message, code="parameter_invalid", param=name)


def fault_error(status: int) -> StripeApiError:
    """The error Stripe answers with a given status when something goes wrong on its side,
    with the type and code the SDK maps to its exception classes and retry decisions."""
    if status == 409:
        return StripeApiError(
            409,
            "This object cannot be accessed right now because another API request or Stripe "
            "process is currently accessing it. If you see this error intermittently, retry "
            "the request.",
            code="lock_timeout",
            headers={"Stripe-Should-Retry": "true"},
        )
    if status == 429:
        return StripeApiError(
            429,
            "Request rate limit exceeded. Learn more about rate limits here "
            "https://stripe.com/docs/rate-limits.",
            code="rate_limit",
        )
    if status == 401:
        return StripeApiError(401, "Invalid API Key provided.")
    if status == 402:
        return StripeApiError(
            402, "Your card was declined.", error_type="card_error", code="card_declined"
        )
    if status == 404:
        return StripeApiError(404, "No such object.", code="resource_missing")
    if status < 500:
        return StripeApiError(status, "The request could not be carried out.")
    return StripeApiError(
        status,
        "An unknown error occurred. Please try again later.",
        error_type="api_error",
    )


# --- Wire format --------------------------------------------------------------------------

_KEY = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")
_SUBKEY = re.compile(r"\[([^\[\]]*)\]")


def decode_params(pairs: Iterable[tuple[str, str]]) -> Json:
    """Stripe's nested form keys (`a[b]=1`, `a[0][c]=2`, `a[]=3`) as dicts and lists."""
    root: Json = {}
    for key, value in pairs:
        _assign(root, _key_path(key), value)
    return {key: _with_lists(value, key) for key, value in root.items()}


def _key_path(key: str) -> list[str]:
    match = _KEY.match(key)
    if match is None:
        raise StripeApiError(400, f"Invalid parameter name: {key}", code="parameter_unknown")
    return [match.group(1), *_SUBKEY.findall(match.group(2))]


def _assign(node: Json, path: list[str], value: str) -> None:
    """Set `value` at `path`; an empty part (`a[]`) appends."""
    for part in path[:-1]:
        child = node.setdefault(part or str(len(node)), {})
        if not isinstance(child, dict):
            raise _invalid(path[0], f"Invalid hash for parameter {path[0]}.")
        node = child
    node[path[-1] or str(len(node))] = value


def _with_lists(value: Any, key: str) -> Any:
    """Hashes whose keys are all indexes are arrays, except metadata, whose keys are free."""
    if not isinstance(value, dict):
        return value
    items = {name: _with_lists(item, name) for name, item in value.items()}
    if key != "metadata" and items and all(name.isdigit() for name in items):
        return [items[name] for name in sorted(items, key=int)]
    return items


def encode_params(params: Mapping[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    """The inverse of `decode_params`, with the SDK's rules: None is left out, booleans are
    `true`/`false`, arrays are indexed."""
    pairs: list[tuple[str, str]] = []
    for key, value in params.items():
        name = f"{prefix}[{key}]" if prefix else str(key)
        if value is None:
            continue
        if isinstance(value, Mapping):
            pairs.extend(encode_params(value, name))
        elif isinstance(value, list | tuple):
            pairs.extend(encode_params({str(i): item for i, item in enumerate(value)}, name))
        elif isinstance(value, bool):
            pairs.append((name, "true" if value else "false"))
        else:
            pairs.append((name, str(value)))
    return pairs


# --- Reading parameters -------------------------------------------------------------------


def _check_params(params: Mapping[str, Any], schema: Schema, prefix: str = "") -> None:
    """Reject what Stripe would not know, as Stripe does: a misspelt parameter fails loudly
    instead of being silently ignored."""
    for key, value in params.items():
        name = f"{prefix}[{key}]" if prefix else key
        if key not in schema and not (key == "expand" and not prefix):
            raise StripeApiError(
                400, f"Received unknown parameter: {name}", code="parameter_unknown", param=name
            )
        nested = schema.get(key)
        if nested is None:
            continue
        if isinstance(value, list):
            for index, item in enumerate(value):
                _check_hash(item, nested, f"{name}[{index}]")
        else:
            _check_hash(value, nested, name)


def _check_hash(value: Any, schema: Schema, name: str) -> None:
    if isinstance(value, dict):
        _check_params(value, schema, name)
    elif value != "":
        raise _invalid(name, "Invalid object")


def _text(params: Mapping[str, Any], key: str, *, required: bool = False, label: str = "") -> str:
    """A string parameter; "" when absent (Stripe's way of saying "unset" too)."""
    value = params.get(key)
    if value is None:
        if required:
            raise _missing_param(label or key)
        return ""
    if not isinstance(value, str):
        raise _invalid(label or key, f"Invalid string: {value!r}")
    if required and not value:
        raise _invalid(label or key, f"You passed an empty string for '{label or key}'.")
    return value


def _integer(
    params: Mapping[str, Any],
    key: str,
    *,
    required: bool = False,
    minimum: int | None = None,
    maximum: int | None = None,
    label: str = "",
) -> int | None:
    raw = params.get(key)
    name = label or key
    if raw is None or raw == "":
        if required:
            raise _missing_param(name)
        return None
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise StripeApiError(
            400, f"Invalid integer: {raw}", code="parameter_invalid_integer", param=name
        ) from None
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise _invalid(name, f"Invalid {name}: {value} is out of range.")
    return value


def _flag(params: Mapping[str, Any], key: str, *, label: str = "") -> bool | None:
    raw = params.get(key)
    if raw is None or raw == "":
        return None
    if raw in ("true", "false"):
        return bool(raw == "true")
    raise _invalid(label or key, f"Invalid boolean: {raw}")


def _choice(
    params: Mapping[str, Any],
    key: str,
    allowed: Sequence[str],
    *,
    required: bool = False,
    label: str = "",
) -> str | None:
    value = _text(params, key, required=required, label=label)
    if not value:
        return None
    if value not in allowed:
        name = label or key
        raise _invalid(name, f"Invalid {name}: must be one of {', '.join(allowed)}")
    return value


def _metadata(value: Any, current: Mapping[str, str]) -> dict[str, str]:
    """Metadata merged as Stripe merges it: a key set to "" is removed, `metadata=""` clears
    all of it, and the other keys are kept."""
    if value == "":
        return {}
    if not isinstance(value, dict):
        raise _invalid("metadata", "Invalid hash")
    merged = dict(current)
    for key, item in value.items():
        if not isinstance(item, str):
            raise _invalid(f"metadata[{key}]", "Metadata values must be strings.")
        if item:
            merged[key] = item
        else:
            merged.pop(key, None)
    return merged


def _strings(params: Mapping[str, Any], key: str) -> list[str]:
    """A list of strings; "" (Stripe's way of emptying a list) or absent is []."""
    value = params.get(key, [])
    if value == "":
        return []
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise _invalid(key, f"Invalid array: {value!r}")
    return list(value)


def _expand_paths(params: Mapping[str, Any]) -> list[str]:
    value = params.get("expand", [])
    return [value] if isinstance(value, str) else [str(item) for item in value]


# --- Search queries -----------------------------------------------------------------------

_JOINER = re.compile(r"\s+(AND|OR)\s+")
_CLAUSE = re.compile(
    r"""^(?P<negated>-)?(?:metadata\[(?P<q1>['"])(?P<key>.+?)(?P=q1)\]|(?P<field>[a-z_]+))"""
    r"""(?P<operator>[:~])(?:(?P<q2>['"])(?P<quoted>.*?)(?P=q2)|(?P<bare>[^\s'"]+))$"""
)


@dataclass(frozen=True)
class SearchClause:
    """One `field:'value'` (or `~` for a substring, `-` to negate) of a search query."""

    field: str
    metadata_key: str | None
    operator: str
    value: str
    negated: bool

    def matches(self, obj: Json) -> bool:
        if self.metadata_key is not None:
            actual: Any = obj.get("metadata", {}).get(self.metadata_key)
        else:
            actual = obj.get(self.field)
        text = _search_text(actual)
        if text is None:
            found = False
        elif self.operator == ":":
            found = text == self.value
        else:
            found = self.value.lower() in text.lower()
        return found != self.negated


def _search_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def parse_search(query: str, fields: Iterable[str]) -> tuple[list[SearchClause], str]:
    """The clauses of a Stripe search query and how they join ("AND" or "OR")."""
    parts = _JOINER.split(query.strip())
    joiners = set(parts[1::2])
    if len(joiners) > 1:
        raise _invalid("query", "Search queries cannot mix AND and OR.")
    clauses = [_parse_clause(text, frozenset(fields)) for text in parts[0::2]]
    return clauses, joiners.pop() if joiners else "AND"


def _parse_clause(text: str, fields: frozenset[str]) -> SearchClause:
    match = _CLAUSE.match(text)
    if match is None:
        raise _invalid("query", f"Could not parse the search query near `{text}`.")
    name = match["field"] or "metadata"
    if match["key"] is None and name not in fields:
        raise _invalid("query", f"Field `{name}` is an unsupported search field.")
    value = match["quoted"] if match["quoted"] is not None else match["bare"]
    return SearchClause(name, match["key"], match["operator"], value, bool(match["negated"]))


# --- Parameter schemas --------------------------------------------------------------------

_LIST: Schema = {"limit": None, "starting_after": None, "ending_before": None}
_SEARCH: Schema = {"query": None, "limit": None, "page": None}
_ADDRESS: Schema = dict.fromkeys(("line1", "line2", "city", "state", "postal_code", "country"))
_CUSTOMER: Schema = {
    "name": None,
    "email": None,
    "description": None,
    "phone": None,
    "address": _ADDRESS,
    "metadata": None,
    "preferred_locales": None,
}
_PORTAL: Schema = {
    "customer": None,
    "return_url": None,
    "configuration": None,
    "locale": None,
    "flow_data": None,
}
_CHECKOUT: Schema = {
    "mode": None,
    "customer": None,
    "customer_email": None,
    "line_items": {"price": None, "quantity": None},
    "success_url": None,
    "cancel_url": None,
    "client_reference_id": None,
    "metadata": None,
    "subscription_data": {"trial_period_days": None, "metadata": None, "description": None},
    "allow_promotion_codes": None,
    "billing_address_collection": None,
    "locale": None,
}
_SUBSCRIPTION_UPDATE: Schema = {
    "cancel_at_period_end": None,
    "metadata": None,
    "description": None,
    "cancellation_details": {"comment": None, "feedback": None},
    "items": {"id": None, "price": None, "quantity": None, "deleted": None},
    "proration_behavior": None,
}
_SUBSCRIPTION_CANCEL: Schema = {
    "cancellation_details": {"comment": None, "feedback": None},
    "invoice_now": None,
    "prorate": None,
}
_PRODUCT: Schema = {
    "id": None,
    "name": None,
    "description": None,
    "metadata": None,
    "active": None,
    "unit_label": None,
    "url": None,
}
_PRODUCT_UPDATE: Schema = {
    **{k: v for k, v in _PRODUCT.items() if k != "id"},
    "default_price": None,
}
_PRICE: Schema = {
    "product": None,
    "unit_amount": None,
    "currency": None,
    "recurring": {"interval": None, "interval_count": None, "usage_type": None},
    "lookup_key": None,
    "transfer_lookup_key": None,
    "metadata": None,
    "active": None,
    "nickname": None,
    "tax_behavior": None,
}
_PRICE_UPDATE: Schema = {
    "active": None,
    "metadata": None,
    "lookup_key": None,
    "transfer_lookup_key": None,
    "nickname": None,
    "tax_behavior": None,
}
_TAX_BEHAVIORS = ("inclusive", "exclusive", "unspecified")


# --- Requests, faults, routes -------------------------------------------------------------


@dataclass
class RecordedRequest:
    """One request the fake received, kept for assertions; `status` is set once answered."""

    method: str
    path: str
    params: Json
    idempotency_key: str | None
    stripe_version: str | None
    status: int | None = None


@dataclass(frozen=True)
class _Incoming:
    method: str
    path: str
    params: Json
    idempotency_key: str | None
    stripe_version: str | None
    authorization: str | None
    request_id: str
    problem: StripeApiError | None


@dataclass(frozen=True)
class _Call:
    """What a handler sees: the decoded parameters and the ids taken from the path."""

    params: Json
    ids: tuple[str, ...]
    request_id: str | None
    idempotency_key: str | None

    @property
    def id(self) -> str:
        return self.ids[0]


@dataclass
class _Fault:
    method: str
    path_prefix: str
    status: int | None
    remaining: int
    after_effect: bool
    delay: float | None

    def matches(self, method: str, path: str) -> bool:
        return self.remaining > 0 and self.method == method and path.startswith(self.path_prefix)


@dataclass(frozen=True)
class _Stored:
    """The first answer to an idempotency key, and what it answered."""

    method: str
    path: str
    params: Json
    outcome: Outcome
    request_id: str


@dataclass(frozen=True)
class _Route:
    method: str
    pattern: re.Pattern[str]
    handler: Callable[[_Call], Json]
    schema: Schema


def _route(method: str, template: str, handler: Callable[[_Call], Json], schema: Schema) -> _Route:
    pattern = re.compile("^" + template.replace("{id}", "([^/]+)") + "$")
    return _Route(method, pattern, handler, schema)


@dataclass(frozen=True)
class _CheckoutPlan:
    """What a checkout session will subscribe to once completed; Stripe keeps it on the
    session without showing it in the session object."""

    lines: list[tuple[str, int]]
    trial_period_days: int | None
    metadata: dict[str, str]
    description: str | None


def _previous_attributes(before: Json, after: Json) -> Json:
    """The top-level fields that changed, with their old values: an event's
    `data.previous_attributes`."""
    return {key: value for key, value in before.items() if after.get(key) != value}


async def _pause(seconds: float | None) -> None:
    if seconds:
        await asyncio.sleep(seconds)


# --- The fake -----------------------------------------------------------------------------


class FakeStripe:
    """Stripe's API in memory, served over HTTP by `serve()`; see the module's docstring.

    State is guarded by one lock: the server answers from its own thread while the test
    inspects and changes state from another.
    """

    def __init__(
        self,
        *,
        api_version: str | None = None,
        api_key: str | None = None,
        webhook_secret: str | None = None,
    ) -> None:
        self.api_version = api_version or stripe.api_version
        self.api_key = api_key
        self.webhook_secret = webhook_secret or new_id("whsec", 32)
        # Deliveries of this fake's events, signed with its `webhook_secret`.
        self.webhooks = WebhookSender(self.webhook_secret)
        self.url = ""
        # Unix seconds every object and event is stamped with; None follows the wall clock.
        self.clock: int | None = None
        self._lock = threading.RLock()
        self._routes = self._route_table()
        self._portal_configuration = new_id("bpc")
        self.reset()

    def reset(self) -> None:
        """Forget every object, request, event, fault and idempotency key; keep serving."""
        with self._lock:
            self._objects: dict[str, Json] = {}
            self._deleted: set[str] = set()
            self._checkout_plans: dict[str, _CheckoutPlan] = {}
            self._idempotent: dict[str, _Stored] = {}
            self._requests: list[RecordedRequest] = []
            self._events: list[Json] = []
            self._faults: list[_Fault] = []
            self.clock = None

    # --- Serving --------------------------------------------------------------------------

    @classmethod
    @contextmanager
    def running(
        cls,
        *,
        api_version: str | None = None,
        api_key: str | None = None,
        webhook_secret: str | None = None,
    ) -> Iterator[FakeStripe]:
        """A new fake, served for the duration of the `with` block."""
        fake = cls(api_version=api_version, api_key=api_key, webhook_secret=webhook_secret)
        with fake.serve():
            yield fake

    @contextmanager
    def serve(self) -> Iterator[Self]:
        """Serve on 127.0.0.1, on a port the system picks, from a daemon thread; stop at exit.

        The socket is bound before the server starts, so `url` is known and no other process
        can take the port in between."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        config = uvicorn.Config(
            self.asgi_app(),
            log_level="warning",
            lifespan="off",
            ws="none",
            timeout_graceful_shutdown=1,
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name="fake-stripe", daemon=True
        )
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        thread.start()
        try:
            self._wait_until_answering(server, thread)
            yield self
        finally:
            server.should_exit = True
            thread.join(_STOP_TIMEOUT_SECONDS)
            sock.close()

    def _wait_until_answering(self, server: uvicorn.Server, thread: threading.Thread) -> None:
        deadline = time.monotonic() + _START_TIMEOUT_SECONDS
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the fake Stripe server did not start")
            time.sleep(0.01)
        httpx.get(self.url + "/_fake/ready", timeout=_START_TIMEOUT_SECONDS).raise_for_status()

    def asgi_app(self) -> Starlette:
        """The fake as an ASGI app, for serving it some other way."""
        return Starlette(
            routes=[Route("/{path:path}", self._endpoint, methods=["GET", "POST", "DELETE"])]
        )

    async def _endpoint(self, request: Request) -> Response:
        path = request.url.path
        if not path.startswith("/v1/"):
            return self._html_page(path)
        raw = (await request.body()).decode() if request.method == "POST" else request.url.query
        incoming = _incoming(request, raw)
        recorded = RecordedRequest(
            incoming.method,
            path,
            incoming.params,
            incoming.idempotency_key,
            incoming.stripe_version,
        )
        with self._lock:
            self._requests.append(recorded)
            fault = self._take_fault(incoming.method, path)
        outcome = await self._answer(incoming, fault)
        with self._lock:
            recorded.status = outcome.status
        return self._response(incoming, outcome)

    async def _answer(self, incoming: _Incoming, fault: _Fault | None) -> Outcome:
        """The answer to a request, through the fault injected for it, if any."""
        if fault is None:
            return self._process(incoming)
        done = self._process(incoming) if fault.after_effect else None
        await _pause(fault.delay)
        if fault.status is not None:
            return fault_error(fault.status).outcome()
        return done if done is not None else self._process(incoming)

    def _response(self, incoming: _Incoming, outcome: Outcome) -> Response:
        headers = {
            "Request-Id": incoming.request_id,
            "Stripe-Version": incoming.stripe_version or self.api_version,
            **outcome.headers,
        }
        if incoming.idempotency_key:
            headers["Idempotency-Key"] = incoming.idempotency_key
        return Response(
            json.dumps(outcome.body, indent=2),
            status_code=outcome.status,
            headers=headers,
            media_type="application/json",
        )

    def _html_page(self, path: str) -> Response:
        """The pages a person would open: `/checkout/cs_...` and `/portal/bps_...`."""
        if path == "/_fake/ready":
            return PlainTextResponse("ok")
        kind, _, object_id = path.strip("/").partition("/")
        with self._lock:
            known = object_id in self._objects
        if kind in ("checkout", "portal") and known:
            return HTMLResponse(f"<!doctype html><title>Fake Stripe</title><h1>{kind}</h1>")
        return PlainTextResponse("Not found", status_code=404)

    # --- Processing -----------------------------------------------------------------------

    def _process(self, incoming: _Incoming) -> Outcome:
        with self._lock:
            try:
                return self._carry_out(incoming)
            except StripeApiError as error:
                return error.outcome()
            except Exception as error:  # a fault of the fake itself: say so to the client
                message = f"The fake Stripe server failed: {error!r}"
                return StripeApiError(500, message, error_type="api_error").outcome()

    def _carry_out(self, incoming: _Incoming) -> Outcome:
        if incoming.problem is not None:
            raise incoming.problem
        self._authenticate(incoming.authorization)
        route, ids = self._match(incoming.method, incoming.path)
        call = _Call(incoming.params, ids, incoming.request_id, incoming.idempotency_key)
        key = incoming.idempotency_key
        if incoming.method != "POST" or not key:
            return self._run(route, call)
        stored = self._idempotent.get(key)
        if stored is not None:
            return _replay(stored, incoming)
        outcome = self._run(route, call)
        self._idempotent[key] = _Stored(
            incoming.method, incoming.path, incoming.params, outcome, incoming.request_id
        )
        return outcome

    def _authenticate(self, authorization: str | None) -> None:
        if not authorization:
            raise StripeApiError(
                401,
                "You did not provide an API key. You need to provide your API key in the "
                "Authorization header, using Bearer auth (e.g. 'Authorization: Bearer "
                "YOUR_SECRET_KEY').",
            )
        scheme, _, key = authorization.partition(" ")
        test_key = key.startswith(("sk_test_", "rk_test_"))
        if scheme != "Bearer" or not test_key or (self.api_key and key != self.api_key):
            raise StripeApiError(401, f"Invalid API Key provided: {key[:8]}***")

    def _match(self, method: str, path: str) -> tuple[_Route, tuple[str, ...]]:
        for route in self._routes:
            match = route.pattern.match(path)
            if match is not None and route.method == method:
                return route, match.groups()
        raise StripeApiError(404, f"Unrecognized request URL ({method}: {path}).")

    def _run(self, route: _Route, call: _Call) -> Outcome:
        """Carry out one call, all or nothing: a request that fails leaves no trace in the
        state, as at Stripe."""
        _check_params(call.params, route.schema)
        if route.method == "GET":
            return Outcome(200, route.handler(call))
        saved = copy.deepcopy((self._objects, self._deleted, self._events, self._checkout_plans))
        try:
            return Outcome(200, route.handler(call))
        except Exception:
            self._objects, self._deleted, self._events, self._checkout_plans = saved
            raise

    def _take_fault(self, method: str, path: str) -> _Fault | None:
        for fault in self._faults:
            if fault.matches(method, path):
                fault.remaining -= 1
                return fault
        return None

    def _route_table(self) -> list[_Route]:
        list_prices = {**_LIST, "product": None, "active": None, "lookup_keys": None}
        list_subscriptions = {**_LIST, "customer": None, "status": None, "price": None}
        list_sessions = {**_LIST, "customer": None, "subscription": None, "status": None}
        list_invoices = {**_LIST, "customer": None, "subscription": None, "status": None}
        r = _route
        return [
            r("POST", "/v1/customers", self._create_customer, _CUSTOMER),
            r("GET", "/v1/customers/search", self._search_customers, _SEARCH),
            r("GET", "/v1/customers", self._list_customers, {**_LIST, "email": None}),
            r("GET", "/v1/customers/{id}", self._get_customer, {}),
            r("POST", "/v1/customers/{id}", self._update_customer, _CUSTOMER),
            r("DELETE", "/v1/customers/{id}", self._delete_customer, {}),
            r("POST", "/v1/billing_portal/sessions", self._create_portal_session, _PORTAL),
            r("POST", "/v1/checkout/sessions", self._create_checkout_session, _CHECKOUT),
            r("GET", "/v1/checkout/sessions", self._list_checkout_sessions, list_sessions),
            r("GET", "/v1/checkout/sessions/{id}", self._get_checkout_session, {}),
            r("POST", "/v1/checkout/sessions/{id}/expire", self._expire_checkout_session, {}),
            r("GET", "/v1/subscriptions/search", self._search_subscriptions, _SEARCH),
            r("GET", "/v1/subscriptions", self._list_subscriptions, list_subscriptions),
            r("GET", "/v1/subscriptions/{id}", self._get_subscription, {}),
            r("POST", "/v1/subscriptions/{id}", self._update_subscription, _SUBSCRIPTION_UPDATE),
            r("DELETE", "/v1/subscriptions/{id}", self._delete_subscription, _SUBSCRIPTION_CANCEL),
            r("POST", "/v1/products", self._create_product, _PRODUCT),
            r("GET", "/v1/products/search", self._search_products, _SEARCH),
            r("GET", "/v1/products", self._list_products, {**_LIST, "active": None, "ids": None}),
            r("GET", "/v1/products/{id}", self._get_product, {}),
            r("POST", "/v1/products/{id}", self._update_product, _PRODUCT_UPDATE),
            r("POST", "/v1/prices", self._create_price, _PRICE),
            r("GET", "/v1/prices/search", self._search_prices, _SEARCH),
            r("GET", "/v1/prices", self._list_prices, list_prices),
            r("GET", "/v1/prices/{id}", self._get_price, {}),
            r("POST", "/v1/prices/{id}", self._update_price, _PRICE_UPDATE),
            r("GET", "/v1/invoices", self._list_invoices, list_invoices),
            r("GET", "/v1/invoices/{id}", self._get_invoice, {}),
            r("GET", "/v1/events", self._list_events, {**_LIST, "type": None}),
            r("GET", "/v1/events/{id}", self._get_event, {}),
        ]

    # --- Inspection and control from the test ---------------------------------------------

    def now(self) -> int:
        """The fake's time in unix seconds: `clock` when a test set it, else the wall clock."""
        return self.clock if self.clock is not None else int(time.time())

    def advance(self, seconds: int) -> None:
        """Move the fake's clock on (starting from the wall clock if it was not set)."""
        self.clock = self.now() + seconds

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received under /v1, in order of arrival."""
        with self._lock:
            return list(self._requests)

    def requests_to(self, method: str, path: str) -> list[RecordedRequest]:
        """The requests received for exactly this method and path."""
        return [r for r in self.requests if r.method == method.upper() and r.path == path]

    def count(self, method: str, path: str) -> int:
        """How many requests arrived for exactly this method and path (retries included)."""
        return len(self.requests_to(method, path))

    @property
    def events(self) -> list[Json]:
        """Every event Stripe would have sent so far, oldest first."""
        with self._lock:
            return copy.deepcopy(self._events)

    def get(self, object_id: str) -> Json | None:
        """The object with this id as it is now, or None."""
        with self._lock:
            found = self._objects.get(object_id)
            return copy.deepcopy(found) if found is not None else None

    def objects(self, object_type: str) -> list[Json]:
        """Every live object of a type (`"customer"`, `"subscription"`...), oldest first."""
        with self._lock:
            return copy.deepcopy(self._all(object_type))

    def call(self, method: str, path: str, params: Mapping[str, Any] | None = None) -> Json:
        """Call an endpoint directly, to set up state the way the API would, without HTTP and
        without being recorded. Parameters go through the wire encoding, so Python values
        (ints, bools, lists) mean what the SDK would send; errors raise `StripeApiError`."""
        decoded = decode_params(encode_params(params or {}))
        with self._lock:
            route, ids = self._match(method.upper(), path)
            return self._run(route, _Call(decoded, ids, None, None)).body

    def fail_next(
        self,
        method: str,
        path_prefix: str,
        *,
        status: int | None = 500,
        times: int = 1,
        after_effect: bool = False,
        delay: float | None = None,
    ) -> None:
        """Make the next `times` requests whose path starts with `path_prefix` go wrong.

        They answer Stripe's error for `status` (500 `api_error`, 409 `lock_timeout`, 429
        `rate_limit`...). With `delay`, the answer comes that many seconds late, to provoke
        client timeouts; `status=None` with a delay answers the real answer, late. With
        `after_effect`, the request is carried out first (state changed, idempotency key
        stored) and only its answer is lost: a retry with the same key replays the success.
        """
        if status is None and delay is None:
            raise ValueError("a fault needs an error status, a delay, or both")
        if times < 1:
            raise ValueError("times must be at least 1")
        fault = _Fault(method.upper(), path_prefix, status, times, after_effect, delay)
        with self._lock:
            self._faults.append(fault)

    # --- State helpers (the lock is held) -------------------------------------------------

    def _store(self, obj: Json) -> Json:
        self._objects[str(obj["id"])] = obj
        return obj

    def _all(self, object_type: str) -> list[Json]:
        return [
            obj
            for object_id, obj in self._objects.items()
            if obj["object"] == object_type and object_id not in self._deleted
        ]

    def _find(self, object_id: str, object_type: str, *, param: str | None = None) -> Json:
        obj = self._objects.get(object_id)
        if obj is None or obj["object"] != object_type or object_id in self._deleted:
            raise _no_such(object_type, object_id, param=param)
        return obj

    def _emit(
        self, event_type: str, obj: Json, *, previous: Json | None = None, call: _Call | None = None
    ) -> Json:
        """Record the event Stripe sends for this change, with a snapshot of the object."""
        data: Json = {"object": copy.deepcopy(obj)}
        if previous is not None:
            data["previous_attributes"] = copy.deepcopy(previous)
        event: Json = {
            "id": new_id("evt"),
            "object": "event",
            "api_version": self.api_version,
            "created": self.now(),
            "data": data,
            "livemode": False,
            "pending_webhooks": 1,
            "request": {
                "id": call.request_id if call else None,
                "idempotency_key": call.idempotency_key if call else None,
            },
            "type": event_type,
        }
        self._events.append(event)
        self._store(event)
        return event

    def _announce_update(
        self, event_type: str, obj: Json, before: Json, call: _Call | None
    ) -> Json | None:
        """Emit `*.updated` if anything changed, with what it was before."""
        previous = _previous_attributes(before, obj)
        if not previous:
            return None
        return self._emit(event_type, obj, previous=previous, call=call)

    def _render(self, obj: Json, call: _Call) -> Json:
        return self._expanded(obj, _expand_paths(call.params))

    def _expanded(self, obj: Json, paths: Iterable[str]) -> Json:
        """A copy of `obj` with the ids at the `expand` paths replaced by their objects."""
        out = copy.deepcopy(obj)
        for path in paths:
            self._expand(out, path.split("."), path)
        return out

    def _expand(self, node: Json, parts: list[str], path: str) -> None:
        head, rest = parts[0], parts[1:]
        if head not in node:
            raise _invalid("expand", f"This property cannot be expanded ({path}).")
        value = node[head]
        if isinstance(value, str):
            value = node[head] = self._expandable(value)
        for item in value if isinstance(value, list) else [value]:
            if rest and isinstance(item, dict):
                self._expand(item, rest, path)

    def _expandable(self, object_id: str) -> Any:
        if object_id in self._deleted:
            return {"id": object_id, "object": self._objects[object_id]["object"], "deleted": True}
        found = self._objects.get(object_id)
        return copy.deepcopy(found) if found is not None else object_id

    def _list_page(self, objects: list[Json], call: _Call, url: str) -> Json:
        """A list answer: newest first, `limit` (default 10) after `starting_after` or before
        `ending_before`."""
        newest_first = list(reversed(objects))
        params = call.params
        limit = _integer(params, "limit", minimum=1, maximum=100) or 10
        ids = [str(obj["id"]) for obj in newest_first]
        start, end = 0, limit
        if after := _text(params, "starting_after"):
            start = _position(ids, after, "starting_after") + 1
            end = start + limit
        elif before := _text(params, "ending_before"):
            end = _position(ids, before, "ending_before")
            start = max(0, end - limit)
        paths = [p.removeprefix("data.") for p in _expand_paths(params) if p.startswith("data.")]
        return {
            "object": "list",
            "data": [self._expanded(obj, paths) for obj in newest_first[start:end]],
            "has_more": end < len(newest_first) if not params.get("ending_before") else start > 0,
            "url": url,
        }

    def _search(self, objects: list[Json], call: _Call, url: str, fields: Iterable[str]) -> Json:
        """A search answer; `page` is the `next_page` token of the answer before."""
        query = _text(call.params, "query", required=True)
        clauses, joiner = parse_search(query, fields)
        combine = all if joiner == "AND" else any
        found = [
            obj for obj in reversed(objects) if combine(clause.matches(obj) for clause in clauses)
        ]
        limit = _integer(call.params, "limit", minimum=1, maximum=100) or 10
        page = re.fullmatch(r"page_(\d+)", _text(call.params, "page"))
        start = int(page.group(1)) if page else 0
        more = start + limit < len(found)
        paths = [
            p.removeprefix("data.") for p in _expand_paths(call.params) if p.startswith("data.")
        ]
        return {
            "object": "search_result",
            "data": [self._expanded(obj, paths) for obj in found[start : start + limit]],
            "has_more": more,
            "next_page": f"page_{start + limit}" if more else None,
            "url": url,
        }

    # --- Customers ------------------------------------------------------------------------

    def _create_customer(self, call: _Call) -> Json:
        params = call.params
        customer: Json = {
            "id": new_id("cus", 14),
            "object": "customer",
            "address": _address(params.get("address")),
            "balance": 0,
            "created": self.now(),
            "currency": None,
            "default_source": None,
            "delinquent": False,
            "description": _text(params, "description") or None,
            "discount": None,
            "email": _text(params, "email") or None,
            "invoice_prefix": "".join(secrets.choice(string.ascii_uppercase) for _ in range(8)),
            "invoice_settings": {
                "custom_fields": None,
                "default_payment_method": None,
                "footer": None,
                "rendering_options": None,
            },
            "livemode": False,
            "metadata": _metadata(params.get("metadata", {}), {}),
            "name": _text(params, "name") or None,
            "next_invoice_sequence": 1,
            "phone": _text(params, "phone") or None,
            "preferred_locales": _strings(params, "preferred_locales"),
            "shipping": None,
            "tax_exempt": "none",
            "test_clock": None,
        }
        self._store(customer)
        self._emit("customer.created", customer, call=call)
        return self._render(customer, call)

    def _get_customer(self, call: _Call) -> Json:
        if call.id in self._deleted:
            return {"id": call.id, "object": "customer", "deleted": True}
        return self._render(self._find(call.id, "customer"), call)

    def _update_customer(self, call: _Call) -> Json:
        customer = self._find(call.id, "customer")
        before = copy.deepcopy(customer)
        params = call.params
        for name in ("name", "email", "description", "phone"):
            if name in params:
                customer[name] = _text(params, name) or None
        if "address" in params:
            customer["address"] = _address(params["address"])
        if "preferred_locales" in params:
            customer["preferred_locales"] = _strings(params, "preferred_locales")
        if "metadata" in params:
            customer["metadata"] = _metadata(params["metadata"], customer["metadata"])
        self._announce_update("customer.updated", customer, before, call)
        return self._render(customer, call)

    def _delete_customer(self, call: _Call) -> Json:
        """Deleting a customer cancels its subscriptions at once, as Stripe does."""
        customer = self._find(call.id, "customer")
        for subscription in self._all("subscription"):
            if subscription["customer"] == call.id and subscription["status"] != "canceled":
                self._cancel(subscription, call)
        self._deleted.add(call.id)
        self._emit("customer.deleted", customer, call=call)
        return {"id": call.id, "object": "customer", "deleted": True}

    def _list_customers(self, call: _Call) -> Json:
        email = _text(call.params, "email")
        customers = [c for c in self._all("customer") if not email or c["email"] == email]
        return self._list_page(customers, call, "/v1/customers")

    def _search_customers(self, call: _Call) -> Json:
        fields = ("email", "name", "phone", "created")
        return self._search(self._all("customer"), call, "/v1/customers/search", fields)

    # --- Billing portal -------------------------------------------------------------------

    def _create_portal_session(self, call: _Call) -> Json:
        params = call.params
        customer_id = _text(params, "customer", required=True)
        self._find(customer_id, "customer", param="customer")
        session_id = new_id("bps")
        session: Json = {
            "id": session_id,
            "object": "billing_portal.session",
            "configuration": self._portal_configuration,
            "created": self.now(),
            "customer": customer_id,
            "flow": None,
            "livemode": False,
            "locale": _text(params, "locale") or None,
            "on_behalf_of": None,
            "return_url": _text(params, "return_url") or None,
            "url": f"{self.url}/portal/{session_id}",
        }
        return self._render(self._store(session), call)

    # --- Checkout -------------------------------------------------------------------------

    def _create_checkout_session(self, call: _Call) -> Json:
        params = call.params
        mode = _choice(params, "mode", ("subscription",), required=True)
        customer_id = _text(params, "customer") or None
        if customer_id is not None:
            self._find(customer_id, "customer", param="customer")
        lines = self._checkout_lines(params.get("line_items"))
        prices = [self._objects[price_id] for price_id, _ in lines]
        total = sum(
            int(price["unit_amount"]) * quantity
            for price, (_, quantity) in zip(prices, lines, strict=True)
        )
        session_id = new_id("cs_test", 58)
        now = self.now()
        session: Json = {
            "id": session_id,
            "object": "checkout.session",
            "after_expiration": None,
            "allow_promotion_codes": _flag(params, "allow_promotion_codes"),
            "amount_subtotal": total,
            "amount_total": total,
            "billing_address_collection": _text(params, "billing_address_collection") or None,
            "cancel_url": _text(params, "cancel_url") or None,
            "client_reference_id": _text(params, "client_reference_id") or None,
            "created": now,
            "currency": prices[0]["currency"],
            "customer": customer_id,
            "customer_email": _text(params, "customer_email") or None,
            "expires_at": now + DAY,
            "livemode": False,
            "locale": _text(params, "locale") or None,
            "metadata": _metadata(params.get("metadata", {}), {}),
            "mode": mode,
            "payment_status": "unpaid",
            "status": "open",
            "subscription": None,
            "success_url": _text(params, "success_url") or None,
            "ui_mode": "hosted",
            "url": f"{self.url}/checkout/{session_id}",
        }
        self._checkout_plans[session_id] = _checkout_plan(lines, params.get("subscription_data"))
        return self._render(self._store(session), call)

    def _checkout_lines(self, value: Any) -> list[tuple[str, int]]:
        """The (price, quantity) lines of a subscription checkout, checked as Stripe does."""
        if not value:
            raise _missing_param("line_items")
        if not isinstance(value, list):
            raise _invalid("line_items", "Invalid array")
        lines = []
        for index, item in enumerate(value):
            label = f"line_items[{index}]"
            price_id = _text(item, "price", required=True, label=f"{label}[price]")
            price = self._find(price_id, "price", param=f"{label}[price]")
            if not price["active"]:
                raise _invalid(
                    f"{label}[price]",
                    "The price specified is inactive. This field only accepts active prices.",
                )
            if price["type"] != "recurring":
                raise _invalid(
                    "line_items",
                    "You must provide at least one recurring price in `subscription` mode "
                    "when using prices.",
                )
            quantity = _integer(
                item, "quantity", required=True, minimum=1, label=f"{label}[quantity]"
            )
            lines.append((price_id, quantity or 1))
        return lines

    def _get_checkout_session(self, call: _Call) -> Json:
        return self._render(self._find(call.id, "checkout.session"), call)

    def _list_checkout_sessions(self, call: _Call) -> Json:
        params = call.params
        sessions = [
            session
            for session in self._all("checkout.session")
            if all(
                not _text(params, name) or session[name] == params[name]
                for name in ("customer", "subscription", "status")
            )
        ]
        return self._list_page(sessions, call, "/v1/checkout/sessions")

    def _expire_checkout_session(self, call: _Call) -> Json:
        session = self._find(call.id, "checkout.session")
        self._expire(session, call)
        return self._render(session, call)

    def _expire(self, session: Json, call: _Call | None) -> Json:
        if session["status"] != "open":
            raise StripeApiError(
                400,
                'Only Checkout Sessions with a status in ["open"] can be expired.',
            )
        session.update(status="expired", url=None)
        return self._emit("checkout.session.expired", session, call=call)

    # --- Subscriptions --------------------------------------------------------------------

    def _get_subscription(self, call: _Call) -> Json:
        return self._render(self._find(call.id, "subscription"), call)

    def _list_subscriptions(self, call: _Call) -> Json:
        """By default every subscription but the canceled ones, as Stripe lists them."""
        params = call.params
        status = _choice(params, "status", (*SUBSCRIPTION_STATUSES, "all", "ended"))
        customer = _text(params, "customer")
        price = _text(params, "price")
        subscriptions = [
            sub
            for sub in self._all("subscription")
            if _status_matches(str(sub["status"]), status)
            and (not customer or sub["customer"] == customer)
            and (not price or any(item["price"]["id"] == price for item in _items(sub)))
        ]
        return self._list_page(subscriptions, call, "/v1/subscriptions")

    def _search_subscriptions(self, call: _Call) -> Json:
        fields = ("status", "created")
        return self._search(self._all("subscription"), call, "/v1/subscriptions/search", fields)

    def _update_subscription(self, call: _Call) -> Json:
        subscription = self._find(call.id, "subscription")
        params = call.params
        if subscription["status"] == "canceled" and set(params) - {
            "metadata",
            "cancellation_details",
            "expand",
        }:
            raise StripeApiError(
                400,
                "A canceled subscription can only update its cancellation_details and metadata.",
            )
        _choice(params, "proration_behavior", ("create_prorations", "none", "always_invoice"))
        before = copy.deepcopy(subscription)
        if "metadata" in params:
            subscription["metadata"] = _metadata(params["metadata"], subscription["metadata"])
        if "description" in params:
            subscription["description"] = _text(params, "description") or None
        if "cancellation_details" in params:
            _update_cancellation_details(subscription, params["cancellation_details"])
        if "cancel_at_period_end" in params:
            self._set_cancel_at_period_end(subscription, _flag(params, "cancel_at_period_end"))
        if "items" in params:
            self._update_items(subscription, params["items"])
        self._announce_update("customer.subscription.updated", subscription, before, call)
        return self._render(subscription, call)

    def _set_cancel_at_period_end(self, subscription: Json, flag: bool | None) -> None:
        subscription["cancel_at_period_end"] = bool(flag)
        subscription["cancel_at"] = _period_end(subscription) if flag else None
        subscription["cancellation_details"]["reason"] = "cancellation_requested" if flag else None

    def _update_items(self, subscription: Json, value: Any) -> None:
        """Items named by `id` change price or quantity (or go, with `deleted`); items
        without an `id` are added."""
        if not isinstance(value, list):
            raise _invalid("items", "Invalid array")
        for index, change in enumerate(value):
            label = f"items[{index}]"
            item_id = _text(change, "id", label=f"{label}[id]")
            if not item_id:
                price_id = _text(change, "price", required=True, label=f"{label}[price]")
                price = self._subscribable_price(price_id, param=f"{label}[price]")
                quantity = _integer(change, "quantity", minimum=1, label=f"{label}[quantity]")
                _items(subscription).append(self._new_item(subscription, price, quantity or 1))
                continue
            item = _item(subscription, item_id, param=f"{label}[id]")
            if _flag(change, "deleted", label=f"{label}[deleted]"):
                _items(subscription).remove(item)
                continue
            if price_id := _text(change, "price", label=f"{label}[price]"):
                item["price"] = copy.deepcopy(self._subscribable_price(price_id, f"{label}[price]"))
            quantity = _integer(change, "quantity", minimum=1, label=f"{label}[quantity]")
            if quantity is not None:
                item["quantity"] = quantity
        subscription["items"]["total_count"] = len(_items(subscription))

    def _subscribable_price(self, price_id: str, param: str | None = None) -> Json:
        price = self._find(price_id, "price", param=param)
        if not price["active"] or price["type"] != "recurring":
            raise _invalid(
                param or "price", f"The price `{price_id}` is not an active recurring price."
            )
        return price

    def _delete_subscription(self, call: _Call) -> Json:
        """Cancel now. A canceled subscription is gone for this endpoint: 404, as Stripe."""
        subscription = self._find(call.id, "subscription")
        if subscription["status"] == "canceled":
            raise _no_such("subscription", call.id)
        if "cancellation_details" in call.params:
            _update_cancellation_details(subscription, call.params["cancellation_details"])
        self._cancel(subscription, call)
        return self._render(subscription, call)

    def _cancel(self, subscription: Json, call: _Call | None) -> Json:
        now = self.now()
        subscription.update(status="canceled", canceled_at=now, ended_at=now)
        details = subscription["cancellation_details"]
        details["reason"] = details["reason"] or "cancellation_requested"
        return self._emit("customer.subscription.deleted", subscription, call=call)

    def _new_subscription(self, customer_id: str, plan: _CheckoutPlan, status: str | None) -> Json:
        now = self.now()
        trial_end = now + plan.trial_period_days * DAY if plan.trial_period_days else None
        subscription_id = new_id("sub")
        prices = [self._objects[price_id] for price_id, _ in plan.lines]
        subscription: Json = {
            "id": subscription_id,
            "object": "subscription",
            "application": None,
            "billing_cycle_anchor": trial_end or now,
            "cancel_at": None,
            "cancel_at_period_end": False,
            "canceled_at": None,
            "cancellation_details": {"comment": None, "feedback": None, "reason": None},
            "collection_method": "charge_automatically",
            "created": now,
            "currency": prices[0]["currency"],
            "customer": customer_id,
            "default_payment_method": None,
            "description": plan.description,
            "discounts": [],
            "ended_at": None,
            "items": {
                "object": "list",
                "data": [],
                "has_more": False,
                "total_count": 0,
                "url": f"/v1/subscription_items?subscription={subscription_id}",
            },
            "latest_invoice": None,
            "livemode": False,
            "metadata": dict(plan.metadata),
            "pause_collection": None,
            "start_date": now,
            "status": status or ("trialing" if trial_end else "active"),
            "test_clock": None,
            "trial_end": trial_end,
            "trial_start": now if trial_end else None,
        }
        for price, (_, quantity) in zip(prices, plan.lines, strict=True):
            _items(subscription).append(self._new_item(subscription, price, quantity))
        subscription["items"]["total_count"] = len(plan.lines)
        paid = subscription["status"] in ("trialing", "active")
        invoice = self._new_invoice(subscription, paid=paid, billing_reason="subscription_create")
        subscription["latest_invoice"] = invoice["id"]
        return self._store(subscription)

    def _new_item(self, subscription: Json, price: Json, quantity: int) -> Json:
        now = self.now()
        recurring = price["recurring"]
        trial_end = subscription["trial_end"]
        trialing = trial_end is not None and trial_end > now
        return {
            "id": new_id("si", 14),
            "object": "subscription_item",
            "created": now,
            "current_period_end": trial_end
            if trialing
            else add_interval(now, recurring["interval"], recurring["interval_count"]),
            "current_period_start": now,
            "discounts": [],
            "metadata": {},
            "price": copy.deepcopy(price),
            "quantity": quantity,
            "subscription": subscription["id"],
            "tax_rates": [],
        }

    def _end_trial(self, subscription: Json) -> None:
        """The trial is over now: a new billing period starts."""
        now = self.now()
        if subscription["trial_end"] is not None and subscription["trial_end"] > now:
            subscription["trial_end"] = now
        subscription["billing_cycle_anchor"] = now
        for item in _items(subscription):
            recurring = item["price"]["recurring"]
            item["current_period_start"] = now
            item["current_period_end"] = add_interval(
                now, recurring["interval"], recurring["interval_count"]
            )

    # --- Invoices and events --------------------------------------------------------------

    def _new_invoice(self, subscription: Json, *, paid: bool, billing_reason: str) -> Json:
        now = self.now()
        invoice_id = new_id("in")
        trialing = subscription["status"] == "trialing"
        lines = [
            _invoice_line(invoice_id, subscription, item, trialing) for item in _items(subscription)
        ]
        amount = sum(int(line["amount"]) for line in lines)
        invoice: Json = {
            "id": invoice_id,
            "object": "invoice",
            "amount_due": amount,
            "amount_paid": amount if paid else 0,
            "amount_remaining": 0 if paid else amount,
            "attempt_count": 1,
            "attempted": True,
            "billing_reason": billing_reason,
            "collection_method": "charge_automatically",
            "created": now,
            "currency": subscription["currency"],
            "customer": subscription["customer"],
            "hosted_invoice_url": None,
            "lines": {
                "object": "list",
                "data": lines,
                "has_more": False,
                "total_count": len(lines),
                "url": f"/v1/invoices/{invoice_id}/lines",
            },
            "livemode": False,
            "metadata": {},
            "next_payment_attempt": None if paid else now + 3 * DAY,
            "parent": {
                "quote_details": None,
                "subscription_details": {
                    "metadata": dict(subscription["metadata"]),
                    "subscription": subscription["id"],
                },
                "type": "subscription_details",
            },
            "period_end": now,
            "period_start": now,
            "status": "paid" if paid else "open",
            "status_transitions": {
                "finalized_at": now,
                "marked_uncollectible_at": None,
                "paid_at": now if paid else None,
                "voided_at": None,
            },
            "subtotal": amount,
            "total": amount,
        }
        return self._store(invoice)

    def _pay(self, invoice: Json) -> None:
        now = self.now()
        invoice.update(
            amount_paid=invoice["amount_due"],
            amount_remaining=0,
            attempt_count=invoice["attempt_count"] + 1,
            next_payment_attempt=None,
            status="paid",
        )
        invoice["status_transitions"]["paid_at"] = now

    def _get_invoice(self, call: _Call) -> Json:
        return self._render(self._find(call.id, "invoice"), call)

    def _list_invoices(self, call: _Call) -> Json:
        params = call.params
        customer = _text(params, "customer")
        subscription = _text(params, "subscription")
        status = _text(params, "status")
        invoices = [
            invoice
            for invoice in self._all("invoice")
            if (not customer or invoice["customer"] == customer)
            and (not status or invoice["status"] == status)
            and (
                not subscription
                or invoice["parent"]["subscription_details"]["subscription"] == subscription
            )
        ]
        return self._list_page(invoices, call, "/v1/invoices")

    def _get_event(self, call: _Call) -> Json:
        return self._render(self._find(call.id, "event"), call)

    def _list_events(self, call: _Call) -> Json:
        event_type = _text(call.params, "type")
        events = [e for e in self._events if not event_type or e["type"] == event_type]
        return self._list_page(events, call, "/v1/events")

    # --- Products and prices --------------------------------------------------------------

    def _create_product(self, call: _Call) -> Json:
        params = call.params
        product_id = _text(params, "id") or new_id("prod", 14)
        if product_id in self._objects:
            raise StripeApiError(
                400, "Product already exists.", code="resource_already_exists", param="id"
            )
        now = self.now()
        active = _flag(params, "active")
        product: Json = {
            "id": product_id,
            "object": "product",
            "active": True if active is None else active,
            "attributes": [],
            "created": now,
            "default_price": None,
            "description": _text(params, "description") or None,
            "images": [],
            "livemode": False,
            "marketing_features": [],
            "metadata": _metadata(params.get("metadata", {}), {}),
            "name": _text(params, "name", required=True),
            "package_dimensions": None,
            "shippable": None,
            "statement_descriptor": None,
            "tax_code": None,
            "type": "service",
            "unit_label": _text(params, "unit_label") or None,
            "updated": now,
            "url": _text(params, "url") or None,
        }
        self._store(product)
        self._emit("product.created", product, call=call)
        return self._render(product, call)

    def _get_product(self, call: _Call) -> Json:
        return self._render(self._find(call.id, "product"), call)

    def _update_product(self, call: _Call) -> Json:
        product = self._find(call.id, "product")
        params = call.params
        before = copy.deepcopy(product)
        if "name" in params:
            product["name"] = _text(params, "name", required=True)
        for name in ("description", "unit_label", "url"):
            if name in params:
                product[name] = _text(params, name) or None
        if "active" in params:
            product["active"] = bool(_flag(params, "active"))
        if "metadata" in params:
            product["metadata"] = _metadata(params["metadata"], product["metadata"])
        if "default_price" in params:
            product["default_price"] = self._default_price(product, _text(params, "default_price"))
        if _previous_attributes(before, product):
            product["updated"] = self.now()
        self._announce_update("product.updated", product, before, call)
        return self._render(product, call)

    def _default_price(self, product: Json, price_id: str) -> str | None:
        if not price_id:
            return None
        price = self._find(price_id, "price", param="default_price")
        if price["product"] != product["id"]:
            raise _invalid("default_price", "The default price must belong to this product.")
        return price_id

    def _list_products(self, call: _Call) -> Json:
        active = _flag(call.params, "active")
        ids = call.params.get("ids")
        products = [
            product
            for product in self._all("product")
            if (active is None or product["active"] == active) and (not ids or product["id"] in ids)
        ]
        return self._list_page(products, call, "/v1/products")

    def _search_products(self, call: _Call) -> Json:
        fields = ("active", "name", "description", "shippable", "url", "created")
        return self._search(self._all("product"), call, "/v1/products/search", fields)

    def _create_price(self, call: _Call) -> Json:
        params = call.params
        product_id = _text(params, "product", required=True)
        self._find(product_id, "product", param="product")
        currency = _text(params, "currency", required=True).lower()
        if not re.fullmatch(r"[a-z]{3}", currency):
            raise _invalid("currency", f"Invalid currency: {currency}.")
        unit_amount = _integer(params, "unit_amount", required=True, minimum=0) or 0
        recurring = _recurring(params.get("recurring"))
        active = _flag(params, "active")
        price: Json = {
            "id": new_id("price"),
            "object": "price",
            "active": True if active is None else active,
            "billing_scheme": "per_unit",
            "created": self.now(),
            "currency": currency,
            "custom_unit_amount": None,
            "livemode": False,
            "lookup_key": None,
            "metadata": _metadata(params.get("metadata", {}), {}),
            "nickname": _text(params, "nickname") or None,
            "product": product_id,
            "recurring": recurring,
            "tax_behavior": _choice(params, "tax_behavior", _TAX_BEHAVIORS) or "unspecified",
            "tiers_mode": None,
            "transform_quantity": None,
            "type": "recurring" if recurring else "one_time",
            "unit_amount": unit_amount,
            "unit_amount_decimal": str(unit_amount),
        }
        if lookup_key := _text(params, "lookup_key"):
            self._claim_lookup_key(price, lookup_key, _flag(params, "transfer_lookup_key"), call)
        self._store(price)
        self._emit("price.created", price, call=call)
        return self._render(price, call)

    def _claim_lookup_key(
        self, price: Json, lookup_key: str, transfer: bool | None, call: _Call
    ) -> None:
        """A lookup key names one price at a time: taking one that another price holds fails,
        unless `transfer_lookup_key` moves it."""
        holder = next(
            (
                other
                for other in self._objects.values()
                if other["object"] == "price"
                and other["lookup_key"] == lookup_key
                and other["id"] != price["id"]
            ),
            None,
        )
        if holder is not None:
            if not transfer:
                raise _invalid(
                    "lookup_key", f"A price (`{holder['id']}`) already uses that lookup key."
                )
            before = copy.deepcopy(holder)
            holder["lookup_key"] = None
            self._price_changed(holder, before, call)
        price["lookup_key"] = lookup_key

    def _get_price(self, call: _Call) -> Json:
        return self._render(self._find(call.id, "price"), call)

    def _update_price(self, call: _Call) -> Json:
        price = self._find(call.id, "price")
        params = call.params
        before = copy.deepcopy(price)
        if "active" in params:
            price["active"] = bool(_flag(params, "active"))
        if "metadata" in params:
            price["metadata"] = _metadata(params["metadata"], price["metadata"])
        if "nickname" in params:
            price["nickname"] = _text(params, "nickname") or None
        if "tax_behavior" in params:
            price["tax_behavior"] = _choice(params, "tax_behavior", _TAX_BEHAVIORS)
        if "lookup_key" in params:
            if lookup_key := _text(params, "lookup_key"):
                self._claim_lookup_key(
                    price, lookup_key, _flag(params, "transfer_lookup_key"), call
                )
            else:
                price["lookup_key"] = None
        self._price_changed(price, before, call)
        return self._render(price, call)

    def _price_changed(self, price: Json, before: Json, call: _Call | None) -> None:
        """Announce the change, and show it where subscriptions embed the price."""
        if self._announce_update("price.updated", price, before, call) is None:
            return
        for subscription in self._all("subscription"):
            for item in _items(subscription):
                if item["price"]["id"] == price["id"]:
                    item["price"] = copy.deepcopy(price)

    def _list_prices(self, call: _Call) -> Json:
        params = call.params
        product = _text(params, "product")
        active = _flag(params, "active")
        lookup_keys = params.get("lookup_keys")
        if isinstance(lookup_keys, str):
            lookup_keys = [lookup_keys]
        prices = [
            price
            for price in self._all("price")
            if (not product or price["product"] == product)
            and (active is None or price["active"] == active)
            and (not lookup_keys or price["lookup_key"] in lookup_keys)
        ]
        return self._list_page(prices, call, "/v1/prices")

    def _search_prices(self, call: _Call) -> Json:
        fields = ("active", "currency", "lookup_key", "product", "type", "created")
        return self._search(self._all("price"), call, "/v1/prices/search", fields)

    # --- What only Stripe does: the test's side -------------------------------------------

    def complete_checkout(self, session_id: str, *, status: str | None = None) -> list[Json]:
        """The customer paid (or started the trial) on the checkout page.

        Creates the subscription to the session's prices (`trialing` when the session asked
        for `subscription_data.trial_period_days`, else `active`, unless `status` says
        otherwise) with its first invoice, completes the session, and returns the events in
        the order Stripe sends them: `customer.subscription.created`, then
        `checkout.session.completed`. A session without a customer gets a new one, made from
        its `customer_email`, as Stripe does."""
        if status is not None and status not in SUBSCRIPTION_STATUSES:
            raise ValueError(f"unknown subscription status {status!r}")
        with self._lock:
            session = self._find(session_id, "checkout.session")
            if session["status"] != "open":
                raise ValueError(f"checkout session {session_id} is {session['status']}")
            customer_id = session["customer"] or self._checkout_customer(session)
            subscription = self._new_subscription(
                customer_id, self._checkout_plans[session_id], status
            )
            session.update(
                customer=customer_id,
                status="complete",
                subscription=subscription["id"],
                payment_status="no_payment_required"
                if subscription["status"] == "trialing"
                else "paid",
            )
            created = self._emit("customer.subscription.created", subscription)
            completed = self._emit("checkout.session.completed", session)
            return copy.deepcopy([created, completed])

    def _checkout_customer(self, session: Json) -> str:
        params = {"email": session["customer_email"]} if session["customer_email"] else {}
        return str(self._create_customer(_Call(params, (), None, None))["id"])

    def expire_checkout(self, session_id: str) -> list[Json]:
        """The customer never came back: the session expires (`checkout.session.expired`)."""
        with self._lock:
            session = self._find(session_id, "checkout.session")
            return copy.deepcopy([self._expire(session, None)])

    def set_subscription_status(self, subscription_id: str, status: str) -> list[Json]:
        """Move a subscription to `status` the way billing would, returning the events.

        `past_due`: a renewal invoice failed (`invoice.payment_failed`); `active` after
        `past_due`: that invoice was paid (`invoice.paid`); leaving `trialing` ends the trial
        and starts a billing period; `canceled` is `cancel_subscription`. Then
        `customer.subscription.updated` with `previous_attributes`. Nothing happens (and no
        event is returned) when the status is already `status`."""
        if status not in SUBSCRIPTION_STATUSES:
            raise ValueError(f"unknown subscription status {status!r}")
        if status == "canceled":
            return self.cancel_subscription(subscription_id)
        with self._lock:
            subscription = self._find(subscription_id, "subscription")
            was = subscription["status"]
            if was == "canceled":
                raise ValueError(f"subscription {subscription_id} is canceled for good")
            if was == status:
                return []
            before = copy.deepcopy(subscription)
            if was == "trialing":
                self._end_trial(subscription)
            subscription["status"] = status
            events = self._billing_events(subscription, was, status)
            events.append(
                self._emit(
                    "customer.subscription.updated",
                    subscription,
                    previous=_previous_attributes(before, subscription),
                )
            )
            return copy.deepcopy(events)

    def _billing_events(self, subscription: Json, was: str, status: str) -> list[Json]:
        """The invoice events behind a status change: a failed renewal, or its payment."""
        if status == "past_due":
            invoice = self._new_invoice(
                subscription, paid=False, billing_reason="subscription_cycle"
            )
            subscription["latest_invoice"] = invoice["id"]
            return [self._emit("invoice.payment_failed", invoice)]
        latest = self._objects.get(str(subscription["latest_invoice"]))
        if status == "active" and was == "past_due" and latest and latest["status"] == "open":
            self._pay(latest)
            return [self._emit("invoice.paid", latest)]
        return []

    def cancel_subscription(self, subscription_id: str) -> list[Json]:
        """The subscription ends now (`customer.subscription.deleted`), as when the customer
        cancels in the portal or dunning gives up."""
        with self._lock:
            subscription = self._find(subscription_id, "subscription")
            if subscription["status"] == "canceled":
                raise ValueError(f"subscription {subscription_id} is already canceled")
            return copy.deepcopy([self._cancel(subscription, None)])

    def change_price(self, subscription_id: str, price_id: str) -> list[Json]:
        """The customer switched plans in the portal: the subscription's (first) item moves to
        `price_id` (`customer.subscription.updated`)."""
        with self._lock:
            subscription = self._find(subscription_id, "subscription")
            if subscription["status"] == "canceled":
                raise ValueError(f"subscription {subscription_id} is canceled for good")
            price = self._subscribable_price(price_id)
            before = copy.deepcopy(subscription)
            _items(subscription)[0]["price"] = copy.deepcopy(price)
            event = self._announce_update(
                "customer.subscription.updated", subscription, before, None
            )
            return copy.deepcopy([event] if event else [])


# --- Small pure helpers -------------------------------------------------------------------


def _incoming(request: Request, raw: str) -> _Incoming:
    """The parts of an HTTP request the fake acts on; a malformed body is kept as the
    problem to answer, so that the request is still recorded."""
    problem: StripeApiError | None = None
    try:
        params = decode_params(parse_qsl(raw, keep_blank_values=True))
    except StripeApiError as error:
        params, problem = {}, error
    headers = request.headers
    return _Incoming(
        method=request.method,
        path=request.url.path,
        params=params,
        idempotency_key=headers.get("idempotency-key"),
        stripe_version=headers.get("stripe-version"),
        authorization=headers.get("authorization"),
        request_id=new_id("req", 14),
        problem=problem,
    )


def _replay(stored: _Stored, incoming: _Incoming) -> Outcome:
    """The first answer again, if the key comes back with the same request; otherwise the
    error Stripe gives for a reused key."""
    same = (stored.method, stored.path, stored.params) == (
        incoming.method,
        incoming.path,
        incoming.params,
    )
    if not same:
        raise StripeApiError(
            400,
            "Keys for idempotent requests can only be used with the same parameters they were "
            f"first used with. Try using a key other than '{incoming.idempotency_key}' if you "
            "meant to execute a different request.",
            error_type="idempotency_error",
        )
    headers = {
        **stored.outcome.headers,
        "Idempotent-Replayed": "true",
        "Original-Request": stored.request_id,
    }
    return replace(stored.outcome, headers=headers)


def _position(ids: list[str], object_id: str, param: str) -> int:
    if object_id not in ids:
        raise _no_such("object", object_id, param=param)
    return ids.index(object_id)


def _address(value: Any) -> Json | None:
    if not isinstance(value, dict):
        return None
    names = ("city", "country", "line1", "line2", "postal_code", "state")
    return {name: value.get(name) or None for name in names}


def _recurring(value: Any) -> Json | None:
    if value is None or value == "":
        return None
    interval = _choice(value, "interval", _INTERVALS, required=True, label="recurring[interval]")
    count = _integer(value, "interval_count", minimum=1, label="recurring[interval_count]")
    usage = _choice(value, "usage_type", ("licensed",), label="recurring[usage_type]")
    return {
        "interval": interval,
        "interval_count": count or 1,
        "meter": None,
        "trial_period_days": None,
        "usage_type": usage or "licensed",
    }


def _checkout_plan(lines: list[tuple[str, int]], subscription_data: Any) -> _CheckoutPlan:
    data = subscription_data if isinstance(subscription_data, dict) else {}
    trial_days = _integer(
        data,
        "trial_period_days",
        minimum=1,
        maximum=730,
        label="subscription_data[trial_period_days]",
    )
    return _CheckoutPlan(
        lines=lines,
        trial_period_days=trial_days,
        metadata=_metadata(data.get("metadata", {}), {}),
        description=_text(data, "description") or None,
    )


def _items(subscription: Json) -> list[Json]:
    items: list[Json] = subscription["items"]["data"]
    return items


def _item(subscription: Json, item_id: str, *, param: str) -> Json:
    for item in _items(subscription):
        if item["id"] == item_id:
            return item
    raise _no_such("subscription_item", item_id, param=param)


def _period_end(subscription: Json) -> int | None:
    ends = [int(item["current_period_end"]) for item in _items(subscription)]
    return min(ends) if ends else None


def _status_matches(status: str, wanted: str | None) -> bool:
    if wanted is None:
        return status != "canceled"
    if wanted == "all":
        return True
    if wanted == "ended":
        return status in ("canceled", "incomplete_expired")
    return status == wanted


def _update_cancellation_details(subscription: Json, value: Any) -> None:
    if not isinstance(value, dict):
        return
    details = subscription["cancellation_details"]
    for name in ("comment", "feedback"):
        if name in value:
            details[name] = _text(value, name) or None


def _invoice_line(invoice_id: str, subscription: Json, item: Json, trialing: bool) -> Json:
    price = item["price"]
    amount = 0 if trialing else int(price["unit_amount"]) * int(item["quantity"])
    return {
        "id": new_id("il"),
        "object": "line_item",
        "amount": amount,
        "currency": price["currency"],
        "description": None,
        "invoice": invoice_id,
        "livemode": False,
        "metadata": {},
        "parent": {
            "invoice_item_details": None,
            "subscription_item_details": {
                "invoice_item": None,
                "proration": False,
                "proration_details": {"credited_items": None},
                "subscription": subscription["id"],
                "subscription_item": item["id"],
            },
            "type": "subscription_item_details",
        },
        "period": {"start": item["current_period_start"], "end": item["current_period_end"]},
        "pricing": {
            "price_details": {"price": price["id"], "product": price["product"]},
            "type": "price_details",
            "unit_amount_decimal": price["unit_amount_decimal"],
        },
        "quantity": item["quantity"],
    }


# --- Webhooks -----------------------------------------------------------------------------


def sign(payload: bytes, secret: str, timestamp: int | None = None) -> str:
    """The `Stripe-Signature` header Stripe sends with `payload`: the timestamp and the hex
    HMAC-SHA256, keyed with the endpoint's secret, of `"{timestamp}.{payload}"`."""
    at = int(time.time()) if timestamp is None else timestamp
    signed_payload = f"{at}.".encode() + payload
    digest = hmac.new(secret.encode(), signed_payload, hashlib.sha256).hexdigest()
    return f"t={at},v1={digest}"


def serialize(event: Json) -> bytes:
    """An event's body as Stripe sends it: pretty-printed JSON, so a receiver that verifies
    a re-serialisation instead of the bytes it received fails."""
    return json.dumps(event, indent=2).encode()


def signed(
    event: Json, secret: str, *, timestamp: int | None = None
) -> tuple[bytes, dict[str, str]]:
    """An event as one webhook request: its body, and headers with a valid signature."""
    body = serialize(event)
    return body, _webhook_headers(body, secret, timestamp)


def _webhook_headers(body: bytes, secret: str, timestamp: int | None) -> dict[str, str]:
    return {
        "Content-Type": "application/json; charset=utf-8",
        "Stripe-Signature": sign(body, secret, timestamp),
        "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
    }


@dataclass(frozen=True)
class Delivery:
    """One webhook request Stripe makes: the event's bytes and the signed headers.
    `attempt` counts Stripe's retries of the same event (same bytes, new signature)."""

    event_id: str
    event_type: str
    body: bytes
    headers: dict[str, str]
    attempt: int = 1


class WebhookSender:
    """Deliveries of events as Stripe makes them, including the ones a receiver must
    survive: the same event twice, events out of order, and retries.

    Each event is serialised once, so every delivery of it carries the same bytes. The
    signature's timestamp is the wall clock (receivers check it against theirs), not the
    fake's clock."""

    def __init__(self, secret: str) -> None:
        self.secret = secret
        self._bodies: dict[str, bytes] = {}

    def deliver(self, event: Json, *, timestamp: int | None = None) -> Delivery:
        body = self._bodies.setdefault(str(event["id"]), serialize(event))
        headers = _webhook_headers(body, self.secret, timestamp)
        return Delivery(str(event["id"]), str(event["type"]), body, headers)

    def deliveries(self, events: Iterable[Json]) -> list[Delivery]:
        """One delivery per event, in the order given."""
        return [self.deliver(event) for event in events]

    def retry(self, delivery: Delivery, *, timestamp: int | None = None) -> Delivery:
        """The same event sent again later: same bytes, a fresh signature."""
        headers = _webhook_headers(delivery.body, self.secret, timestamp)
        return replace(delivery, headers=headers, attempt=delivery.attempt + 1)

    def duplicated(self, events: Iterable[Json], *, times: int = 2) -> list[Delivery]:
        """Each event delivered `times` in a row (Stripe promises at-least-once delivery)."""
        return [delivery for delivery in self.deliveries(events) for _ in range(times)]

    def reversed(self, events: Sequence[Json]) -> list[Delivery]:
        """The events newest first (Stripe does not promise any order)."""
        return self.deliveries(list(events)[::-1])

    def shuffled(self, events: Sequence[Json], *, seed: int) -> list[Delivery]:
        """The events in an order drawn from `seed`, so a failing order can be replayed."""
        order = list(events)
        random.Random(seed).shuffle(order)
        return self.deliveries(order)

    def with_retries(self, events: Sequence[Json]) -> list[Delivery]:
        """Every event delivered, then every one retried, as after a receiver outage."""
        first = self.deliveries(events)
        return first + [self.retry(delivery) for delivery in first]
