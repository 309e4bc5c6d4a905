"""Bad input gets the documented status and error shape and writes nothing (SPEC §4)."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import AsyncIterator

import pytest
from jsonschema import Draft202012Validator  # type: ignore[import-untyped]
from openapi_spec_validator import validate as validate_openapi

from app.auth.principal import Access
from app.customers.service import CustomerService
from app.rest.endpoint import BASE_PATH, Endpoint
from app.rest.routes import ENDPOINTS
from tests.graphql.test_endpoint import assert_request_error
from tests.support.api import ADDRESS, Api
from tests.support.deep_json import assert_no_failure_logged, too_deep
from tests.support.logs import Records


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

    async def test_json_nested_deeper_than_allowed(self, api: Api, error_log: Records) -> None:
        team = await api.team()
        for body in too_deep('"userID"'):
            response = await api.call(
                "POST",
                "/customer/member",
                team.owner,
                content=body,
                headers={"content-type": "application/json"},
            )
            assert_error(response, 400, "MALFORMED_JSON")
        assert_no_failure_logged(error_log)
        members = (await api.call("GET", "/customer/members", team.owner)).json()
        assert members["pagination"]["totalCount"] == 1

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
        assert (await api.call("GET", "/customer", owner)).status_code == 404

    async def test_oversize_bodies_on_graphql_are_graphql_shaped(self, api: Api) -> None:
        big = json.dumps({"query": "{ __typename }", "padding": "x" * (1024 * 1024)})

        async def streamed() -> AsyncIterator[bytes]:
            for _ in range(20):
                yield b" " * 65536
            yield big.encode()

        for content in (big, streamed()):  # a declared Content-Length, then streamed
            response = await api.client.post(
                "/graphql", content=content, headers={"content-type": "application/json"}
            )
            assert_request_error(response, 413, "PAYLOAD_TOO_LARGE")

    async def test_unknown_routes_and_methods(self, api: Api) -> None:
        assert_error(await api.call("GET", "/nowhere"), 404, "ROUTE_NOT_FOUND")
        for method, path in (("GET", "/customer/"), ("DELETE", "/customer/member/")):
            assert_error(await api.call(method, path, api.user()), 404, "ROUTE_NOT_FOUND")
        not_allowed = await api.call("PUT", "/customer", api.user())
        assert_error(not_allowed, 405, "METHOD_NOT_ALLOWED")
        allowed = {"GET", "HEAD", "POST", "PATCH", "DELETE"}
        assert set(not_allowed.headers["allow"].split(", ")) == allowed

    async def test_messages_quoting_control_characters_still_make_headers(self, api: Api) -> None:
        owner = api.user()
        await api.customer(owner)
        for user_id in ("\r", "\u0000abc", "\u007f", "a\nb"):
            response = await api.call(
                "POST", "/customer/member", owner, json={"userID": user_id, "role": "user"}
            )
            assert response.status_code == 400
            error = response.json()["error"]
            assert (error["code"], error["param"]) == ("INVALID_INPUT", "userID")
            assert response.headers["x-error-id"] == error["error_id"]
            assert response.headers["x-error"] == re.sub(r"[\x00-\x1f\x7f]", " ", error["message"])

    async def test_every_error_is_logged_with_its_id(self, api: Api, error_log: Records) -> None:
        response = await api.call("GET", "/customer", api.user())
        error = assert_error(response, 404, "NO_CUSTOMER")
        logged = error_log.with_error_id(str(error["error_id"]))
        assert [(r.levelname, r.status) for r in logged] == [("INFO", 404)]  # type: ignore[attr-defined]


class TestUnexpectedFailures:
    async def test_are_500_with_an_id_that_is_logged_and_no_internals(
        self, api: Api, monkeypatch: pytest.MonkeyPatch, error_log: Records
    ) -> None:
        async def explode(*_args: object, **_kwargs: object) -> None:
            raise RuntimeError("secret internals: password=hunter2")

        owner = api.user()
        await api.customer(owner)  # a seat on a team, which the route checks first
        monkeypatch.setattr(CustomerService, "get", explode)
        api.expect_server_errors = True
        response = await api.call("GET", "/customer", owner)
        error = assert_error(response, 500, "INTERNAL_ERROR")
        assert "hunter2" not in response.text
        logged = error_log.with_error_id(str(error["error_id"]))
        assert logged and logged[0].exc_info is not None


class TestOpenApi:
    async def test_every_shim_route_is_described_with_its_schemas(self, api: Api) -> None:
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

    async def test_the_document_is_valid_openapi_3_1(self, api: Api) -> None:
        document = (await api.client.get(f"{BASE_PATH}/openapi.json")).json()
        validate_openapi(document)  # raises on the first violation

    async def test_answers_match_the_documented_schemas(self, api: Api) -> None:
        document = (await api.client.get(f"{BASE_PATH}/openapi.json")).json()

        async def conforms(
            method: str, path: str, route: str, caller: object, **kwargs: object
        ) -> None:
            response = await api.call(method, path, caller, **kwargs)  # type: ignore[arg-type]
            operation = document["paths"][BASE_PATH + route][method.lower()]
            described = operation["responses"][str(response.status_code)]
            schema = described["content"]["application/json"]["schema"]
            validator = Draft202012Validator({**schema, "components": document["components"]})
            validator.validate(response.json())

        team = await api.team("admin")
        admin = api.admin()
        await conforms("GET", "/customer", "/customer", team.owner)
        await conforms("GET", "/customer/tier", "/customer/tier", team.owner)
        await conforms("GET", "/customer/members", "/customer/members", team.owner)
        await conforms(
            "POST",
            "/customer/member",
            "/customer/member",
            team.owner,
            json={"email": "i@example.com"},
        )
        await conforms("POST", "/apikeys", "/apikeys", team.owner, json={"name": "k"})
        await conforms("GET", "/apikeys", "/apikeys", team.owner)
        await conforms("GET", "/customer", "/customer", api.user())  # 404 NO_CUSTOMER
        await conforms("GET", "/admin/customers", "/admin/customers", admin)
        customer = f"/admin/customer/{team.customer_id}"
        await conforms("GET", customer, "/admin/customer/{customerID}", admin)
        await conforms("GET", "/admin/tiers", "/admin/tiers", admin)
        await conforms("GET", "/limits", "/limits", team.owner)
        await conforms("GET", "/limits/usage/ip", "/limits/usage/ip", api.user())
        await conforms("GET", "/quotas/usage", "/quotas/usage", team.owner)


def _garbage_call(endpoint: Endpoint) -> tuple[str, dict[str, object]]:
    """The endpoint's path with malformed ids, a malformed body and malformed query
    parameters: everything its input checks would refuse."""
    path = re.sub(r"\{[^}]+\}", "not-an-id", endpoint.path)
    query = {param.name: "-1" for param in endpoint.query}
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
        response = await api.call(endpoint.method, path, api.user(), **garbage)
        assert response.status_code == 403, response.text


class TestTextTheDatabaseCannotStore:
    """PostgreSQL stores no NUL character and no date past 9999: such input is a 400 on
    both databases, never a 500."""

    async def test_nul_characters_are_refused_where_they_are(self, api: Api) -> None:
        owner = api.user()
        address = {**ADDRESS, "street": "1 Main\x00St"}
        for path, body, param in (
            ("/apikeys", {"name": "a\x00b"}, "name"),
            (
                "/customer",
                {"name": "A", "email": "a@example.com", "billingAddress": address},
                "billingAddress.street",
            ),
        ):
            response = await api.call("POST", path, owner, json=body)
            error = assert_error(response, 400, "INVALID_INPUT")
            assert error["param"] == param
        assert (await api.call("GET", "/apikeys", owner)).json()["apiKeys"] == []

    async def test_an_expiry_past_the_calendar_is_refused(self, api: Api) -> None:
        response = await api.call(
            "POST",
            "/apikeys",
            api.user(),
            json={"name": "k", "expiresAt": "9999-12-31T23:59:59-05:00"},
        )
        assert assert_error(response, 400, "INVALID_INPUT")["param"] == "expiresAt"

    async def test_query_and_path_text(self, api: Api) -> None:
        admin = api.admin()
        response = await api.call("GET", "/admin/customers", admin, params={"tierName": "pro\x00"})
        assert_error(response, 404, "TIER_NOT_FOUND")
        registration = {"features": [{"featureKey": "x", "kind": "rate", "window": "minute"}]}
        for name in ("abc%0A", "abc%00"):
            response = await api.call("PUT", f"/admin/services/{name}", admin, json=registration)
            assert_error(response, 400, "INVALID_INPUT")
