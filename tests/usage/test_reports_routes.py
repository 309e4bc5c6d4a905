"""Route order: a fixed path such as `/limits/ip` must not be taken by `/limits/{serviceName}`.

Starlette answers with the first route that matches, so each documented path is checked to
reach its own route, whatever is added to the table later.
"""

from __future__ import annotations

import re

import pytest
from starlette.routing import Match, Route

from app.rest.endpoint import BASE_PATH, Endpoint
from app.rest.openapi import openapi_document
from app.rest.router import rest_routes
from app.rest.routes import ENDPOINTS


def concrete(path: str) -> str:
    """The path with each parameter filled by a value no fixed segment uses."""
    return re.sub(r"{(\w+)}", lambda match: f"sample-{match.group(1).lower()}", path)


def first_match(method: str, path: str) -> Route | None:
    scope = {"type": "http", "method": method, "path": path, "root_path": ""}
    for route in rest_routes():
        match, _ = route.matches(scope)
        if match is Match.FULL:
            return route
    return None


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=[f"{e.method} {e.path}" for e in ENDPOINTS])
def test_every_path_reaches_its_own_route(endpoint: Endpoint) -> None:
    route = first_match(endpoint.method, BASE_PATH + concrete(endpoint.path))
    assert route is not None
    assert route.path == BASE_PATH + endpoint.path


def test_catalog_names_are_not_documented_as_uuids() -> None:
    operation = openapi_document()["paths"][f"{BASE_PATH}/limits/{{serviceName}}/{{featureKey}}"]
    schemas = {p["name"]: p["schema"] for p in operation["get"]["parameters"]}
    assert schemas["serviceName"]["type"] == schemas["featureKey"]["type"] == "string"
    assert "format" not in schemas["serviceName"]
    member = openapi_document()["paths"][f"{BASE_PATH}/customer/member/{{userID}}"]
    assert member["delete"]["parameters"][0]["schema"]["format"] == "uuid"
