"""Driving the real ASGI app over HTTP as users would: tokens, REST calls, GraphQL calls."""

from __future__ import annotations

import asyncio
import sys
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
from asgi_lifespan import LifespanManager
from starlette.types import ASGIApp

from app.auth.principal import PlatformRole
from app.auth.tokens import mint_token
from app.container import Container
from app.core.clock import Clock, utcnow
from app.main import create_app
from app.settings import Settings

if TYPE_CHECKING:
    from opentelemetry.sdk.trace.export import SpanExporter

SECRET = "test-signing-secret-of-a-reasonable-length-0123456789-0123456789abc"
BASE = "/api/billing/v1"
UNTHROTTLED = "1000000/minute"
ADDRESS = {
    "street": "1 Main Street",
    "city": "Springfield",
    "state": "IL",
    "postalCode": "62701",
    "country": "US",
}


@dataclass(frozen=True)
class Caller:
    """A user with a bearer token, or anonymous when `headers` is empty."""

    id: uuid.UUID | None
    email: str | None
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def user_id(self) -> str:
        assert self.id is not None
        return str(self.id)


ANONYMOUS = Caller(None, None)


class Api:
    def __init__(
        self,
        client: httpx.AsyncClient,
        container: Container | None = None,
        app: ASGIApp | None = None,
    ) -> None:
        self.client = client
        self._container = container
        self._app = app
        self.server_errors: list[str] = []
        self.expect_server_errors = False
        client.event_hooks["response"].append(self._watch)

    async def _watch(self, response: httpx.Response) -> None:
        if response.status_code >= 500:
            self.server_errors.append(f"{response.request.method} {response.request.url}")

    @property
    def app(self) -> ASGIApp:
        """The app running in this process, for what httpx cannot send (WebSockets)."""
        assert self._app is not None, "the app runs in another process"
        return self._app

    @property
    def container(self) -> Container:
        """The services of an app running in this process."""
        assert self._container is not None, "the app runs in another process"
        return self._container

    def assert_no_server_errors(self) -> None:
        """No request of a test may end in a 5xx unless the test says it provokes one."""
        assert self.expect_server_errors or not self.server_errors, self.server_errors

    def user(
        self, *roles: PlatformRole, email: str | None = None, services: list[str] | None = None
    ) -> Caller:
        user_id = uuid.uuid4()
        email = email or f"user-{user_id.hex[:12]}@example.com"
        token = mint_token(
            SECRET,
            user_id=user_id,
            email=email,
            roles=[r.value for r in roles],
            services=services,
        )
        return Caller(user_id, email, {"Authorization": f"Bearer {token}"})

    def service(self, *services: str) -> Caller:
        """A metered service's caller (billing_service), metering `services` (every
        service when none is named)."""
        return self.user(PlatformRole.BILLING_SERVICE, services=list(services) or ["*"])

    def admin(self) -> Caller:
        return self.user(PlatformRole.BILLING_ADMIN)

    async def call(
        self, method: str, path: str, caller: Caller = ANONYMOUS, **kwargs: Any
    ) -> httpx.Response:
        headers = {**caller.headers, **kwargs.pop("headers", {})}
        return await self.client.request(method, BASE + path, headers=headers, **kwargs)

    async def graphql(
        self, query: str, caller: Caller = ANONYMOUS, **variables: Any
    ) -> dict[str, Any]:
        response = await self.client.post(
            "/graphql", json={"query": query, "variables": variables}, headers=caller.headers
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def customer(self, owner: Caller, name: str = "Acme") -> dict[str, Any]:
        response = await self.call(
            "POST",
            "/customer",
            owner,
            json={"name": name, "email": "billing@acme.example", "billingAddress": ADDRESS},
        )
        assert response.status_code == 201, response.text
        body: dict[str, Any] = response.json()
        return body

    async def add(self, manager: Caller, member: Caller, role: str = "user") -> None:
        response = await self.call(
            "POST", "/customer/member", manager, json={"userID": member.user_id, "role": role}
        )
        assert response.status_code == 201, response.text

    async def team(self, *roles: str) -> Team:
        """A customer with an owner and one member per role given (on a roomy tier)."""
        owner = self.user()
        customer = await self.customer(owner)
        await self.set_tier(customer["id"], "enterprise")
        members = []
        for role in roles:
            member = self.user()
            await self.add(owner, member, role)
            await self.call("GET", "/customer", member)  # signs in: the e-mail becomes known
            members.append(member)
        return Team(customer["id"], owner, members)

    async def set_tier(self, customer_id: str, tier_name: str) -> None:
        response = await self.call(
            "PUT", f"/admin/customer/{customer_id}/tier", self.admin(), json={"tierName": tier_name}
        )
        assert response.status_code == 200, response.text


@dataclass(frozen=True)
class Team:
    customer_id: str
    owner: Caller
    members: list[Caller]


def settings_for(database_url: str, data_dir: Path, **overrides: Any) -> Settings:
    """Test settings; the service's own rate limit is out of reach unless a test sets it."""
    defaults: dict[str, Any] = {
        "self_limit_anonymous": UNTHROTTLED,
        "self_limit_user": UNTHROTTLED,
        # The webhooks of tests/support/operations.py: the discard port, refusing at once.
        "webhook_allowed_hosts": ["127.0.0.1:9"],
    }
    return Settings(
        database_url=database_url,
        data_dir=data_dir,
        jwt_secret=SECRET,
        migrate_on_start=False,
        **{**defaults, **overrides},
    )


# An app's stop that takes this long prints every task's stack, naming what it waits on.
SLOW_STOP_SECONDS = 15


def _print_tasks() -> None:
    print(f"the app has not stopped after {SLOW_STOP_SECONDS} s; its tasks:", file=sys.stderr)
    for task in asyncio.all_tasks():
        print(task, file=sys.stderr)
        awaiting: Any = task.get_coro()
        while awaiting is not None:  # the whole chain of awaits, not only the task's frame
            frame = getattr(awaiting, "cr_frame", None) or getattr(awaiting, "ag_frame", None)
            if frame is not None:
                print(
                    f"  {frame.f_code.co_filename}:{frame.f_lineno} {frame.f_code.co_name}",
                    file=sys.stderr,
                )
            awaiting = getattr(awaiting, "cr_await", None) or getattr(awaiting, "ag_await", None)


@asynccontextmanager
async def running_api(
    settings: Settings,
    clock: Clock | None = None,
    *,
    root_path: str = "",
    span_exporter: SpanExporter | None = None,
) -> AsyncIterator[Api]:
    """`root_path`: the app served under that prefix, as `uvicorn --root-path` does.
    `span_exporter`: where the spans go, when the settings turn traces on."""
    container = Container(settings, clock=clock or utcnow, span_exporter=span_exporter)
    app = create_app(settings, container=container)
    slow_stop: asyncio.TimerHandle | None = None
    try:
        # Generous: a stop writes the ledger and stops the workers, slower on a busy machine.
        async with LifespanManager(app, shutdown_timeout=30) as manager:
            transport = httpx.ASGITransport(
                app=manager.app, client=("203.0.113.7", 40000), root_path=root_path
            )
            base_url = "http://testserver" + root_path
            try:
                async with httpx.AsyncClient(transport=transport, base_url=base_url) as client:
                    api = Api(client, container, manager.app)
                    yield api
                    api.assert_no_server_errors()
            finally:
                loop = asyncio.get_running_loop()
                slow_stop = loop.call_later(SLOW_STOP_SECONDS, _print_tasks)
    finally:
        if slow_stop is not None:
            slow_stop.cancel()
