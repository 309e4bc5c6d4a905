"""Request ids and the JSON logs (`app.ops.requests`): the client's well-formed
`X-Request-Id` is kept, any other replaced, either echoed; a real server's every stderr
line is JSON, and the lines of a request carry its id beside the error's."""

from __future__ import annotations

import json
import re
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.api import BASE, Api
from tests.support.ports import free_port
from tests.usage.test_metering_in_production import billing_serve, server_env, text_of

GENERATED = re.compile(r"[0-9a-f]{32}")


async def test_a_request_without_an_id_is_given_one(api: Api) -> None:
    first = await api.client.get(BASE + "/limits/ip")
    second = await api.client.get(BASE + "/limits/ip")
    ids = [first.headers["x-request-id"], second.headers["x-request-id"]]
    assert all(GENERATED.fullmatch(request_id) for request_id in ids)
    assert ids[0] != ids[1]


@pytest.mark.parametrize("sent", ["abc-123", "4bf92f3577b34da6a3ce929d0e0e4736", "lb:7:a.b_c"])
async def test_a_well_formed_id_is_kept(api: Api, sent: str) -> None:
    response = await api.client.get(BASE + "/customer", headers={"X-Request-Id": sent})
    assert response.status_code == 401  # errors carry it too
    assert response.headers["x-request-id"] == sent


@pytest.mark.parametrize("sent", ["has space", "x" * 129, 'quote"d', "semi;colon", "é"])
async def test_anything_else_is_replaced(api: Api, sent: str) -> None:
    response = await api.client.get(
        BASE + "/limits/ip", headers=[(b"X-Request-Id", sent.encode("utf-8"))]
    )
    assert GENERATED.fullmatch(response.headers["x-request-id"])


def lines_of(stderr: str) -> list[dict[str, Any]]:
    """Every line of the server's stderr, each of which must be one JSON object."""
    return [json.loads(line) for line in stderr.splitlines() if line.strip()]


@pytest.mark.slow
def test_a_real_servers_every_line_is_json_with_the_request_and_error_ids(
    sqlite_database_url: str, tmp_path: Path
) -> None:
    env = server_env(sqlite_database_url, tmp_path, BILLING_ACCESS_LOG="true")
    port = free_port()
    with tempfile.TemporaryFile() as stderr:
        process = billing_serve(port, env, 1, stderr)
        try:
            url = f"http://127.0.0.1:{port}"
            _wait_until_serving(url, process)
            failed = httpx.get(
                url + BASE + "/customer",
                headers={"Authorization": "Bearer nope", "X-Request-Id": "trace-42"},
            )
            served = httpx.get(url + BASE + "/limits/ip")
        finally:
            process.terminate()
            process.wait(30)
        lines = lines_of(text_of(stderr))
    assert failed.status_code == 401 and served.status_code == 200
    assert any(line["event"].startswith("Application startup complete") for line in lines)
    (error,) = [line for line in lines if line.get("error_id") == failed.headers["x-error-id"]]
    assert error["request_id"] == "trace-42"
    access = [line for line in lines if line["event"] == "request" and line["route"] != "/healthz"]
    assert [(a["request_id"], a["route"], a["status"]) for a in access] == [
        ("trace-42", BASE + "/customer", 401),
        (served.headers["x-request-id"], BASE + "/limits/ip", 200),
    ]
    assert all(isinstance(a["ms"], float) for a in access)


def _wait_until_serving(url: str, process: Any) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, "the server stopped"
        try:
            if httpx.get(url + "/healthz").status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError("the server did not start")
