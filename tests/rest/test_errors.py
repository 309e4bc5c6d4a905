"""Bad input gets the documented status and error shape and writes nothing (SPEC §4)."""

from __future__ import annotations

import json
import logging
import re
import uuid
from collections.abc import AsyncIterator

import pytest

from app.auth.principal import Access
from app.customers.service import CustomerService
from app.rest.routes import ENDPOINTS, Endpoint
from tests.support.api import ADDRESS, Api


def assert_error(response: object, status: int, code: str) -> dict[str, object]:
    import httpx

    assert isinstance(response, httpx.Response)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code
    assert error["status"] == status
    assert response.headers["x-error"] == error["message"]
    assert response.headers["x-error-id"] == error["error_id"]
    uuid.UUID(error["error_id"])
    return dict(error)


class TestMalformedRequests:
    async def test_malformed_json(self, api: Api) -> None:
        owner = api.user()
        for body in (b"{", b"", b"   ", b"\xff\xfe", b'{"name": "x",}', b"nul"):
            response = await api.call(
                "POST",
                "/customer",
                owner,
                content=body,
                headers={"content-type": "application/json"},
            )
            assert_error(response, 400, "MALFORMED_JSON")
        assert (await api.call("GET", "/customer", owner)).status_code == 404

    async def test_wrong_json_types(self, api: Api) -> None:
        team = await api.team()
        for body in (
            [1, 2],
            "text",
            42,
            None,
            {"userID": 5, "role": "user"},
            {"userID": [], "role": "user"},
            {"userID": str(uuid.uuid4()), "role": None},
        ):
            response = await api.call(
                "POST", "/customer/member", team.owner, content=json.dumps(body)
            )
            assert_error(response, 400, "INVALID_INPUT")
        members = (await api.call("GET", "/customer/members", team.owner)).json()
        assert members["pagination"]["totalCount"] == 1

    async def test_oversize_bodies_are_413(self, api: Api) -> None:
        owner = api.user()
        big = json.dumps(
            {"name": "x" * (1024 * 1024), "email": "a@example.com", "billingAddress": ADDRESS}
        )
        assert_error(
            await api.call("POST", "/customer", owner, content=big), 413, "PAYLOAD_TOO_LARGE"
        )

        async def streamed() -> AsyncIterator[bytes]:
            for _ in range(20):
                yield b" " * 65536
            yield big.encode()

        response = await api.call("POST", "/customer", owner, content=streamed())
        assert_error(response, 413, "PAYLOAD_TOO_LARGE")
        graphql = await api.client.post(
            "/graphql", content=big, headers={"content-type": "application/json"}
        )
        assert graphql.status_code == 413
        assert (await api.call("GET", "/customer", owner)).status_code == 404

    async def test_unknown_routes_and_methods(self, api: Api) -> None:
        assert_error(await api.call("GET", "/nowhere"), 404, "ROUTE_NOT_FOUND")
        for method, path in (("GET", "/customer/"), ("DELETE", "/customer/member/")):
            assert_error(await api.call(method, path, api.user()), 404, "ROUTE_NOT_FOUND")
        assert_error(await api.call("PATCH", "/customer", api.user()), 405, "METHOD_NOT_ALLOWED")


class TestUnexpectedFailures:
    async def test_are_500_with_an_id_that_is_logged_and_no_internals(
        self, api: Api, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
    ) -> None:
        async def explode(*_args: object, **_kwargs: object) -> None:
            raise RuntimeError("secret internals: password=hunter2")

        monkeypatch.setattr(CustomerService, "get", explode)
        api.expect_server_errors = True
        logger = logging.getLogger("app.errors")
        logger.addHandler(caplog.handler)
        try:
            response = await api.call("GET", "/customer", api.user())
        finally:
            logger.removeHandler(caplog.handler)
        error = assert_error(response, 500, "INTERNAL_ERROR")
        assert "hunter2" not in response.text
        logged = [r for r in caplog.records if getattr(r, "error_id", None) == error["error_id"]]
        assert logged and logged[0].exc_info is not None


class TestOpenApi:
    async def test_every_shim_route_is_described_with_its_schemas(self, api: Api) -> None:
        from app.rest.routes import BASE_PATH, ENDPOINTS

        document = (await api.client.get(f"{BASE_PATH}/openapi.json")).json()
        assert document["openapi"].startswith("3.1")
        for endpoint in ENDPOINTS:
            operation = document["paths"][BASE_PATH + endpoint.path][endpoint.method.lower()]
            assert str(endpoint.status) in operation["responses"]
            if endpoint.body is not None:
                assert operation["requestBody"]["content"]["application/json"]["schema"]
            if endpoint.response is not None:
                success = operation["responses"][str(endpoint.status)]
                assert success["content"]["application/json"]["schema"]
        create = document["paths"][f"{BASE_PATH}/customer"]["post"]
        ref = create["requestBody"]["content"]["application/json"]["schema"]["$ref"]
        schema = document["components"]["schemas"][ref.rsplit("/", 1)[-1]]
        assert {"name", "email", "billingAddress"} <= set(schema["properties"])


def _garbage_call(endpoint: Endpoint) -> tuple[str, dict[str, object]]:
    """The endpoint's path with malformed ids, a malformed body and malformed query
    parameters: everything its input checks would refuse."""
    path = re.sub(r"\{[^}]+\}", "not-an-id", endpoint.path)
    query = {name: "-1" for name in endpoint.query}
    return path, {"content": b"{bad", "params": query}


GUARDED = [endpoint for endpoint in ENDPOINTS if endpoint.access is not Access.ANYONE]


@pytest.mark.backends("sqlite")
class TestCallersBeforeInput:
    """Who may call comes first: 401, then 403, then whatever the input deserves."""

    @pytest.mark.parametrize("endpoint", GUARDED, ids=lambda e: f"{e.method} {e.path}")
    async def test_anonymous_callers_are_401_whatever_they_send(
        self, api: Api, endpoint: Endpoint
    ) -> None:
        path, garbage = _garbage_call(endpoint)
        response = await api.call(endpoint.method, path, **garbage)  # type: ignore[arg-type]
        assert_error(response, 401, "AUTHENTICATION_REQUIRED")

    @pytest.mark.parametrize(
        "endpoint",
        [e for e in GUARDED if e.access is not Access.USER],
        ids=lambda e: f"{e.method} {e.path}",
    )
    async def test_users_without_the_role_are_403_whatever_they_send(
        self, api: Api, endpoint: Endpoint
    ) -> None:
        path, garbage = _garbage_call(endpoint)
        response = await api.call(endpoint.method, path, api.user(), **garbage)  # type: ignore[arg-type]
        assert response.status_code == 403, response.text
