"""Webhook endpoints: who may manage them, what they accept, the secret shown once."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.api import Api, running_api, settings_for
from tests.support.clock import MovableClock
from tests.webhooks.conftest import HOOKS_URL, create_endpoint

pytestmark = pytest.mark.backends("sqlite")
BASE = "/customer/webhooks"


def _error(response: object) -> tuple[int, str]:
    status = response.status_code  # type: ignore[attr-defined]
    return status, response.json()["error"]["code"]  # type: ignore[attr-defined]


class TestManagement:
    async def test_the_owner_registers_reads_changes_rotates_and_deletes(self, hooks: Api) -> None:
        team = await hooks.team()
        created = await create_endpoint(
            hooks, team.owner, url=HOOKS_URL, eventTypes=["member.added"], description="CRM"
        )
        assert created["secret"].startswith("whsec_")
        assert created["eventTypes"] == ["member.added"]
        assert created["enabled"] is True
        assert created["customerId"] == team.customer_id
        one = f"{BASE}/{created['id']}"

        read = (await hooks.call("GET", one, team.owner)).json()
        listed = (await hooks.call("GET", BASE, team.owner)).json()
        assert "secret" not in read
        assert listed["webhooks"] == [read]
        assert listed["pagination"]["totalCount"] == listed["items"] == 1

        changed = await hooks.call(
            "PATCH", one, team.owner, json={"enabled": False, "eventTypes": ["*"]}
        )
        assert changed.status_code == 200, changed.text
        assert (changed.json()["enabled"], changed.json()["eventTypes"]) == (False, ["*"])
        assert changed.json()["description"] == "CRM"

        rotated = await hooks.call("POST", f"{one}/rotate-secret", team.owner)
        assert rotated.status_code == 200
        assert rotated.json()["secret"].startswith("whsec_")
        assert rotated.json()["secret"] != created["secret"]

        assert (await hooks.call("DELETE", one, team.owner)).status_code == 204
        assert _error(await hooks.call("GET", one, team.owner)) == (
            404,
            "WEBHOOK_ENDPOINT_NOT_FOUND",
        )

    async def test_every_type_is_the_default(self, hooks: Api) -> None:
        team = await hooks.team()
        created = await create_endpoint(hooks, team.owner, url=HOOKS_URL)
        assert created["eventTypes"] == ["*"]

    async def test_the_list_is_paginated(self, hooks: Api) -> None:
        team = await hooks.team()
        for _ in range(3):
            await create_endpoint(hooks, team.owner, url=HOOKS_URL)
        page = (await hooks.call("GET", f"{BASE}?page=2&pageSize=2", team.owner)).json()
        assert len(page["webhooks"]) == 1
        assert page["pagination"] == {
            "page": 2,
            "pageSize": 2,
            "totalCount": 3,
            "totalPages": 2,
            "hasNext": False,
            "hasPrev": True,
        }

    async def test_a_customer_has_at_most_the_cap(self, hooks: Api) -> None:
        team = await hooks.team()
        made = [await create_endpoint(hooks, team.owner, url=HOOKS_URL) for _ in range(3)]
        refused = await hooks.call("POST", BASE, team.owner, json={"url": HOOKS_URL})
        assert _error(refused) == (403, "WEBHOOK_ENDPOINT_LIMIT_REACHED")
        await hooks.call("DELETE", f"{BASE}/{made[0]['id']}", team.owner)
        await create_endpoint(hooks, team.owner, url=HOOKS_URL)


class TestRoles:
    async def test_owner_and_admin_may_a_user_may_not(self, hooks: Api) -> None:
        team = await hooks.team("admin", "user")
        admin, user = team.members
        made = await create_endpoint(hooks, admin, url=HOOKS_URL)
        one = f"{BASE}/{made['id']}"
        assert (await hooks.call("GET", one, team.owner)).status_code == 200
        for method, path in (("GET", BASE), ("POST", BASE), ("GET", one), ("DELETE", one)):
            body = {"url": HOOKS_URL} if method == "POST" else None
            response = await hooks.call(method, path, user, json=body)
            assert _error(response) == (403, "FORBIDDEN"), (method, path)

    async def test_a_caller_without_a_customer_has_none(self, hooks: Api) -> None:
        loner = hooks.user()
        assert _error(await hooks.call("GET", BASE, loner)) == (404, "NO_CUSTOMER")
        created = await hooks.call("POST", BASE, loner, json={"url": HOOKS_URL})
        assert _error(created) == (404, "NO_CUSTOMER")

    async def test_another_customers_endpoint_is_not_found(self, hooks: Api) -> None:
        team, other = await hooks.team(), await hooks.team()
        made = await create_endpoint(hooks, team.owner, url=HOOKS_URL)
        for method in ("GET", "DELETE"):
            response = await hooks.call(method, f"{BASE}/{made['id']}", other.owner)
            assert _error(response) == (404, "WEBHOOK_ENDPOINT_NOT_FOUND")

    async def test_billing_admin_manages_any_customers(self, hooks: Api) -> None:
        team, admin = await hooks.team(), hooks.admin()
        base = f"/admin/customer/{team.customer_id}/webhooks"
        created = await hooks.call("POST", base, admin, json={"url": HOOKS_URL})
        assert created.status_code == 201, created.text
        one = f"{base}/{created.json()['id']}"
        assert (await hooks.call("GET", one, admin)).json()["url"] == HOOKS_URL
        owner_view = (await hooks.call("GET", BASE, team.owner)).json()["webhooks"]
        assert [row["id"] for row in owner_view] == [created.json()["id"]]
        patched = await hooks.call("PATCH", one, admin, json={"description": "by ops"})
        assert patched.json()["description"] == "by ops"
        assert (await hooks.call("DELETE", one, admin)).status_code == 204

    async def test_the_admin_paths_are_billing_admins_alone(self, hooks: Api) -> None:
        team = await hooks.team()
        base = f"/admin/customer/{team.customer_id}/webhooks"
        response = await hooks.call("GET", base, team.owner)
        assert _error(response) == (403, "ADMIN_ROLE_REQUIRED")
        unknown = "/admin/customer/00000000-0000-4000-8000-000000000000/webhooks"
        assert _error(await hooks.call("GET", unknown, hooks.admin())) == (
            404,
            "CUSTOMER_NOT_FOUND",
        )


class TestValidation:
    @pytest.mark.parametrize(
        ("body", "param"),
        [
            ({}, "url"),
            ({"url": HOOKS_URL, "eventTypes": ["member.exploded"]}, "eventTypes"),
            ({"url": HOOKS_URL, "eventTypes": []}, "eventTypes"),
            ({"url": HOOKS_URL, "enabled": "yes"}, "enabled"),
            ({"url": HOOKS_URL, "description": "x" * 501}, "description"),
        ],
    )
    async def test_invalid_input_names_its_field(
        self, hooks: Api, body: dict[str, object], param: str
    ) -> None:
        team = await hooks.team()
        response = await hooks.call("POST", BASE, team.owner, json=body)
        assert _error(response) == (400, "INVALID_INPUT")
        assert response.json()["error"]["param"] == param

    async def test_a_malformed_id_is_invalid(self, hooks: Api) -> None:
        team = await hooks.team()
        response = await hooks.call("GET", f"{BASE}/nope", team.owner)
        assert _error(response) == (400, "INVALID_INPUT")
        assert response.json()["error"]["param"] == "webhookEndpointID"


class TestUrlRules:
    @pytest.mark.parametrize(
        "url",
        [
            "http://203.0.113.5/hook",  # plain http to a host nobody allowed
            "ftp://hooks.example/x",
            "https://user:pass@hooks.example/x",
            "https://127.0.0.1/hook",
            "https://localhost/hook",  # a name resolving to loopback
            "https://10.1.2.3/hook",
            "https://192.168.0.10/hook",
            "https://169.254.169.254/latest/meta-data",
            "https://[::1]/hook",
            "https://[::ffff:127.0.0.1]/hook",
            "https://0.0.0.0/hook",
            "https://224.0.0.1/hook",
            "https://100.64.0.1/hook",
            "not a url",
        ],
    )
    async def test_refused(self, api: Api, url: str) -> None:
        team = await api.team()
        response = await api.call("POST", BASE, team.owner, json={"url": url})
        assert _error(response) == (400, "WEBHOOK_URL_NOT_ALLOWED"), response.text
        assert response.json()["error"]["param"] == "url"

    async def test_a_public_address_over_https_is_accepted(self, api: Api) -> None:
        team = await api.team()
        response = await api.call("POST", BASE, team.owner, json={"url": "https://8.8.8.8/h"})
        assert response.status_code == 201, response.text

    async def test_a_change_of_url_is_checked_too(self, api: Api) -> None:
        team = await api.team()
        made = await create_endpoint(api, team.owner, url="https://8.8.8.8/h")
        response = await api.call(
            "PATCH", f"{BASE}/{made['id']}", team.owner, json={"url": "https://127.0.0.1/"}
        )
        assert _error(response) == (400, "WEBHOOK_URL_NOT_ALLOWED")

    async def test_an_allowed_host_may_be_loopback_over_http(
        self, database_url: str, tmp_path: Path, clock: MovableClock
    ) -> None:
        settings = settings_for(
            database_url, tmp_path, webhook_allowed_hosts=["localhost:8080", "127.0.0.1"]
        )
        async with running_api(settings, clock) as api:
            team = await api.team()
            for url in ("http://localhost:8080/h", "http://127.0.0.1:9/h"):
                response = await api.call("POST", BASE, team.owner, json={"url": url})
                assert response.status_code == 201, response.text
            other_port = await api.call(
                "POST", BASE, team.owner, json={"url": "http://localhost:8081/h"}
            )
            assert _error(other_port) == (400, "WEBHOOK_URL_NOT_ALLOWED")
