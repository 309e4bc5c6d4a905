"""The service under the bench: its settings, its callers, the requests they send."""

from __future__ import annotations

import json
import sqlite3
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from app.auth.tokens import mint_token
from bench.load import Request

API = "/api/billing/v1"
GRAPHQL_PATH = "/graphql"
SECRET = "bench-signing-secret-0123456789-0123456789-0123456789-0123456789"
TIER = "enterprise_max"  # every rate limit unlimited: no consume is ever refused
SELF_LIMIT = "1000000000/minute"  # the service's own limit runs, but never refuses
FEATURE = {"serviceName": "ai-api", "featureKey": "chat_completions_per_minute"}
# The feature whose limit the refusal scenarios set for one customer (month: it does not
# reset in the middle of a measurement).
LIMITED = {"serviceName": "ai-api", "featureKey": "chat_completions_per_month"}
BATCH_SIZE = 100
USAGE_QUERY = """query Usage {
  usage {
    identifier identifierType totalFeatures fetchedAt
    features {
      serviceName featureKey tierName window description
      currentUsage limit remaining resetAt isLocked
    }
  }
}"""
ADDRESS = {
    "street": "1 Bench Road",
    "city": "Leeds",
    "state": "West Yorkshire",
    "postalCode": "LS1",
    "country": "GB",
}


@contextmanager
def service_env(storage: str = "memory://", *, metrics: bool = True) -> Iterator[dict[str, str]]:
    with tempfile.TemporaryDirectory(prefix="billing-bench-") as data_dir:
        yield {
            "BILLING_DATA_DIR": data_dir,
            "BILLING_DATABASE_URL": f"sqlite+aiosqlite:///{data_dir}/billing.sqlite3",
            "BILLING_JWT_SECRET": SECRET,
            "BILLING_RATE_LIMIT_STORAGE": storage,
            "BILLING_SELF_LIMIT_ANONYMOUS": SELF_LIMIT,
            "BILLING_SELF_LIMIT_USER": SELF_LIMIT,
            "BILLING_LOG_LEVEL": "WARNING",
            "BILLING_METRICS": "true" if metrics else "false",
        }


def bearer(
    user_id: uuid.UUID, email: str | None, roles: list[str], services: list[str] | None = None
) -> dict[str, str]:
    token = mint_token(SECRET, user_id=user_id, email=email, roles=roles, services=services)
    return {"Authorization": f"Bearer {token}"}


@dataclass(frozen=True, slots=True)
class Callers:
    """A customer's owner, billing_admin, and a metered service (no e-mail, as service
    accounts have none) metering every service."""

    url: str
    owner: dict[str, str]
    admin: dict[str, str]
    service: dict[str, str]

    @classmethod
    def of(cls, url: str) -> Callers:
        return cls(
            url,
            bearer(uuid.uuid4(), "owner@bench.example", []),
            bearer(uuid.uuid4(), None, ["billing_admin"]),
            bearer(uuid.uuid4(), None, ["billing_service"], services=["*"]),
        )

    def customer(self, tier: str = TIER, owner: dict[str, str] | None = None) -> str:
        """A new customer on `tier`, owned by `owner` (a new user by default)."""
        owner = owner or bearer(uuid.uuid4(), None, [])
        with httpx.Client(base_url=self.url + API, timeout=30) as client:
            body = {"name": "Bench", "email": "bench@bench.example", "billingAddress": ADDRESS}
            created = client.post("/customer", headers=owner, json=body)
            created.raise_for_status()
            customer_id: str = created.json()["id"]
            tier_change = {"tierName": tier}
            path = f"/admin/customer/{customer_id}/tier"
            client.put(path, headers=self.admin, json=tier_change).raise_for_status()
        return customer_id

    def limit(self, customer_id: str, value: int) -> None:
        """The customer's own value of the `LIMITED` feature (billing_admin's override)."""
        path = f"{API}/admin/customer/{customer_id}/limits/ai-api/chat_completions_per_month"
        response = httpx.put(self.url + path, headers=self.admin, json={"value": value})
        response.raise_for_status()

    def consume(self, customer_id: str, feature: dict[str, str] = FEATURE) -> Request:
        body = json.dumps({**feature, "customerId": customer_id}).encode()
        return post(self.url + API + "/limits/consume", body, self.service)

    def batch(self, customer_id: str) -> Request:
        requests = [{**FEATURE, "customerId": customer_id}] * BATCH_SIZE
        body = json.dumps({"requests": requests}).encode()
        return post(self.url + API + "/limits/consume/batch", body, self.service)

    def usage(self) -> Request:
        return post(self.url + GRAPHQL_PATH, graphql_body(), self.owner)


def graphql_body() -> bytes:
    return json.dumps({"query": USAGE_QUERY}).encode()


def post(url: str, body: bytes, headers: dict[str, str]) -> Request:
    return Request(url, "POST", body, {**headers, "Content-Type": "application/json"})


def allowed_in_ledger(env: dict[str, str], customer_id: str) -> int:
    """The allowed amount of the `LIMITED` feature the ledger holds for the customer,
    read from the SQLite file once the servers have stopped."""
    path = Path(env["BILLING_DATA_DIR"]) / "billing.sqlite3"
    with sqlite3.connect(path) as connection:
        (total,) = connection.execute(
            "SELECT COALESCE(SUM(amount), 0) FROM usage_event"
            " WHERE customer_id = ? AND feature_key = ? AND allowed",
            (uuid.UUID(customer_id).hex, LIMITED["featureKey"]),
        ).fetchone()
    return int(total)
