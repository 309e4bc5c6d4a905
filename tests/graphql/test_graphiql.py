"""GraphiQL at /graphql: the app's own page, and the files it loads from this server only.

The last class opens the page in a real headless Chromium against a real uvicorn, with
every other host unresolvable, and uses it as a person would.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import httpx
import pytest

from app.auth.tokens import mint_token
from app.graphql.ide import CONTENT_SECURITY_POLICY, assets
from tests.rest.test_errors import assert_error
from tests.support.api import ADDRESS, SECRET, running_api, settings_for
from tests.support.browser import console_messages, headless_chromium, requested_urls
from tests.support.servers import SERVER_HOST, run_servers

if TYPE_CHECKING:
    from selenium.webdriver.chrome.webdriver import WebDriver

BROWSER = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
IMMUTABLE = "public, max-age=31536000, immutable"
LOADED = re.compile(r'(?:src|href)="([^"]+)"')


async def page(client: httpx.AsyncClient) -> tuple[httpx.Response, list[str]]:
    response = await client.get("/graphql", headers=BROWSER)
    assert response.status_code == 200, response.text
    return response, LOADED.findall(response.text)


@pytest.fixture
async def client(sqlite_database_url: str, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    """The app in this process; what is tested here does not depend on the database."""
    async with running_api(settings_for(sqlite_database_url, tmp_path)) as api:
        yield api.client


class TestPage:
    async def test_loads_only_this_servers_files_under_a_strict_policy(
        self, client: httpx.AsyncClient
    ) -> None:
        response, urls = await page(client)
        assert response.headers["content-type"] == "text/html; charset=utf-8"
        policy = response.headers["content-security-policy"]
        [nonce] = re.findall(r"'nonce-([\w-]+)'", policy)
        websockets = " ws://testserver wss://testserver"
        assert policy == CONTENT_SECURITY_POLICY.format(nonce=nonce, websockets=websockets)
        assert "script-src 'self';" in policy
        assert "connect-src 'self' ws://testserver wss://testserver;" in policy
        assert "unsafe" not in policy
        assert re.findall(r'nonce="([^"]+)"', response.text) == [nonce]  # on ide.js
        assert nonce not in (await page(client))[0].headers["content-security-policy"]
        assert response.headers["cache-control"] == "no-cache"
        assert "<script>" not in response.text and "<style>" not in response.text
        assert "data:," in urls  # the blank favicon
        files = [url for url in urls if url != "data:,"]
        assert len(files) == 7
        assert all(url.startswith("/graphql/static/") for url in files), files
        assert 'data-endpoint="/graphql"' in response.text

    async def test_every_file_is_served_for_good_with_its_type(
        self, client: httpx.AsyncClient
    ) -> None:
        _, urls = await page(client)
        for url in (url for url in urls if url.startswith("/")):
            response = await client.get(url)
            assert response.status_code == 200, url
            expected = "text/css" if url.split("?")[0].endswith(".css") else "text/javascript"
            assert response.headers["content-type"] == f"{expected}; charset=utf-8"
            assert response.headers["cache-control"] == IMMUTABLE
            assert response.headers["x-content-type-options"] == "nosniff"
            again = await client.get(url, headers={"If-None-Match": response.headers["etag"]})
            assert (again.status_code, again.content) == (304, b"")

    async def test_an_older_or_unversioned_url_is_revalidated(
        self, client: httpx.AsyncClient
    ) -> None:
        for url in ("/graphql/static/ide.js", "/graphql/static/ide.js?v=0123456789abcdef"):
            response = await client.get(url)
            assert response.status_code == 200
            assert response.headers["cache-control"] == "no-cache"

    @pytest.mark.parametrize(
        "path",
        [
            "/graphql/static/missing.js",
            "/graphql/static/graphiql/README.md",
            "/graphql/static/graphiql/LICENSE.graphiql",
            "/graphql/static/../ide.py",
            "/graphql/static/%2e%2e/ide.py",
            "/graphql/static/graphiql",
            "/graphql/static/",
        ],
    )
    async def test_nothing_else_is_served(self, client: httpx.AsyncClient, path: str) -> None:
        assert_error(await client.get(path), 404, "ROUTE_NOT_FOUND")

    async def test_behind_a_root_path(self, sqlite_database_url: str, tmp_path: Path) -> None:
        settings = settings_for(sqlite_database_url, tmp_path)
        async with running_api(settings, root_path="/billing") as api:
            _, urls = await page(api.client)
            files = [url for url in urls if url != "data:,"]
            assert all(url.startswith("/billing/graphql/static/") for url in files), urls
            for url in files:
                assert (await api.client.get(url.removeprefix("/billing"))).status_code == 200
            response = await api.client.get("/graphql", headers=BROWSER)
            assert 'data-endpoint="/billing/graphql"' in response.text

    @pytest.mark.parametrize(
        ("host", "allowed"),
        [
            ("billing.example:8443", " ws://billing.example:8443 wss://billing.example:8443"),
            ("[::1]:8000", " ws://[::1]:8000 wss://[::1]:8000"),
            ("evil.example; script-src *", ""),
            ("a b", ""),
        ],
    )
    async def test_websockets_only_to_its_own_host(
        self, client: httpx.AsyncClient, host: str, allowed: str
    ) -> None:
        response = await client.get("/graphql", headers={**BROWSER, "Host": host})
        policy = response.headers["content-security-policy"]
        assert f"connect-src 'self'{allowed};" in policy

    async def test_the_files_spend_no_rate_limit_budget(
        self, sqlite_database_url: str, tmp_path: Path
    ) -> None:
        settings = settings_for(sqlite_database_url, tmp_path, self_limit_anonymous="2/minute")
        async with running_api(settings) as api:
            _, urls = await page(api.client)  # the one request of the budget spent here
            for _ in range(3):
                for url in (url for url in urls if url.startswith("/")):
                    response = await api.client.get(url)
                    assert response.status_code == 200
                    assert "ratelimit" not in response.headers
            await api.client.get("/graphql", headers=BROWSER)
            refused = await api.client.get("/graphql", headers=BROWSER)
            assert refused.status_code == 429

    def test_the_vendored_files_are_the_ones_the_page_loads(self) -> None:
        assert {
            "graphiql/react.production.min.js",
            "graphiql/react-dom.production.min.js",
            "graphiql/graphiql.min.js",
            "graphiql/graphiql.min.css",
            "graphiql/graphql-ws.min.js",
            "ide.js",
            "ide.css",
        } <= set(assets())


@pytest.fixture
def server(sqlite_database_url: str, tmp_path: Path) -> Iterator[str]:
    env = {
        "BILLING_DATABASE_URL": sqlite_database_url,
        "BILLING_DATA_DIR": str(tmp_path),
        "BILLING_JWT_SECRET": SECRET,
        "BILLING_MIGRATE_ON_START": "false",
    }
    with run_servers(1, env) as (url,):
        yield url


@pytest.fixture
def browser() -> Iterator[WebDriver]:
    """Skips, saying why, where Chromium is missing: before a server is started."""
    with headless_chromium(only_host=SERVER_HOST) as driver:
        driver.set_page_load_timeout(30)
        yield driver


@pytest.mark.slow
class TestInABrowser:
    def test_a_query_with_a_bearer_token_and_the_docs(
        self, browser: WebDriver, server: str
    ) -> None:
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support import expected_conditions as shown
        from selenium.webdriver.support.wait import WebDriverWait

        user_id = uuid.uuid4()
        token = mint_token(SECRET, user_id=user_id, email="ada@example.com", roles=[])
        wait = WebDriverWait(browser, 20)

        browser.get(server + "/graphql")
        wait.until(
            shown.element_to_be_clickable((By.CSS_SELECTOR, ".graphiql-execute-button")),
            "GraphiQL did not start: a script missing or refused?",
        )
        # The headers editor is open at first; typed into as a person would.
        headers = wait.until(
            shown.visibility_of_element_located(
                (By.CSS_SELECTOR, ".graphiql-editor-tool .graphiql-editor:not(.hidden)")
            )
        )
        headers.click()
        headers.find_element(By.TAG_NAME, "textarea").send_keys(
            f'{{"Authorization": "Bearer {token}"}}'
        )
        assert editor_text(browser, ".graphiql-editor-tool .graphiql-editor:not(.hidden)") == (
            f'{{"Authorization": "Bearer {token}"}}'
        )
        set_editor_text(browser, ".graphiql-query-editor", "{ viewer { userId } }")
        browser.find_element(By.CSS_SELECTOR, ".graphiql-execute-button").click()
        wait.until(lambda driver: str(user_id) in editor_text(driver, ".result-window"))
        assert '"userId": "' + str(user_id) + '"' in editor_text(browser, ".result-window")

        browser.find_element(
            By.CSS_SELECTOR, 'button[aria-label="Show Documentation Explorer"]'
        ).click()
        explorer = wait.until(
            shown.visibility_of_element_located((By.CSS_SELECTOR, ".graphiql-doc-explorer"))
        )
        explorer.find_element(By.LINK_TEXT, "Query").click()
        wait.until(lambda _: "viewer" in explorer.text)

        # The bearer token stays out of the browser's storage unless the user says so.
        browser.find_element(By.CSS_SELECTOR, 'button[aria-label="Open settings dialog"]').click()
        persist = wait.until(
            shown.visibility_of_element_located((By.ID, "disable-persist-headers"))
        )
        assert "active" in (persist.get_attribute("class") or "")
        stored = browser.execute_script("return {...localStorage}")
        assert "viewer" in stored["graphiql:queries"]  # the history, without the headers
        assert not [key for key, value in stored.items() if token in value], stored

        host = urlsplit(server).netloc
        assert urlsplit(server).hostname == SERVER_HOST
        loaded = browser.execute_script(
            "return performance.getEntriesByType('resource').map(e => e.name)"
        )
        assert {urlsplit(url).netloc for url in loaded} == {host}, loaded
        assert len(loaded) >= 8  # 7 files, then the introspection and the query
        asked = [url for url in requested_urls(browser, server) if not url.startswith("data:")]
        assert server + "/graphql" in asked
        assert {urlsplit(url).netloc for url in asked} == {host}, asked
        # Nothing refused by the page's policy (the dialog's style included), no error.
        problems = [m for m in console_messages(browser) if m["level"] in ("SEVERE", "WARNING")]
        assert not problems, problems

    def test_a_subscription_with_the_headers_token_streams_live_usage(
        self, browser: WebDriver, server: str
    ) -> None:
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support import expected_conditions as shown
        from selenium.webdriver.support.wait import WebDriverWait

        owner = mint_token(SECRET, user_id=uuid.uuid4(), email="ada@example.com", roles=[])
        service = mint_token(
            SECRET, user_id=uuid.uuid4(), email=None, roles=["billing_service"], services=["*"]
        )
        customer_id = create_customer(server, owner)
        wait = WebDriverWait(browser, 20)

        browser.get(server + "/graphql")
        wait.until(
            shown.element_to_be_clickable((By.CSS_SELECTOR, ".graphiql-execute-button")),
            "GraphiQL did not start: a script missing or refused?",
        )
        headers = ".graphiql-editor-tool .graphiql-editor:not(.hidden)"
        wait.until(shown.visibility_of_element_located((By.CSS_SELECTOR, headers)))
        set_editor_text(browser, headers, f'{{"Authorization": "Bearer {owner}"}}')
        set_editor_text(
            browser,
            ".graphiql-query-editor",
            'subscription { usageChanged(serviceName: "ai-api") '
            "{ identifier features { featureKey currentUsage } } }",
        )
        browser.find_element(By.CSS_SELECTOR, ".graphiql-execute-button").click()
        wait.until(lambda driver: '"identifier"' in editor_text(driver, ".result-window"))
        assert '"currentUsage": 3' not in editor_text(browser, ".result-window")

        consumed = httpx.post(
            server + "/api/billing/v1/limits/consume",
            json={
                "serviceName": "ai-api",
                "featureKey": "chat_completions_per_month",
                "customerId": customer_id,
                "amount": 3,
            },
            headers={"Authorization": f"Bearer {service}"},
        )
        assert consumed.status_code == 200, consumed.text
        wait.until(lambda driver: '"currentUsage": 3' in editor_text(driver, ".result-window"))

        events = [
            json.loads(entry["message"])["message"]
            for entry in browser.get_log("performance")  # type: ignore[no-untyped-call]
        ]
        sockets = [e["params"]["url"] for e in events if e["method"] == "Network.webSocketCreated"]
        assert sockets == ["ws" + server.removeprefix("http") + "/graphql"], sockets
        problems = [m for m in console_messages(browser) if m["level"] in ("SEVERE", "WARNING")]
        assert not problems, problems


def create_customer(server: str, token: str) -> str:
    response = httpx.post(
        server + "/api/billing/v1/customer",
        json={"name": "Acme", "email": "billing@acme.example", "billingAddress": ADDRESS},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 201, response.text
    customer_id: str = response.json()["id"]
    return customer_id


def editor_text(driver: WebDriver, selector: str) -> str:
    """The text of the CodeMirror editor in that element: all of it, scrolled out of view
    or not."""
    text: str = driver.execute_script(
        "return document.querySelector(arguments[0] + ' .CodeMirror').CodeMirror.getValue()",
        selector,
    )
    return text


def set_editor_text(driver: WebDriver, selector: str, text: str) -> None:
    driver.execute_script(
        "document.querySelector(arguments[0] + ' .CodeMirror').CodeMirror.setValue(arguments[1])",
        selector,
        text,
    )
