"""One signed POST to an endpoint, bounded in time and in what is read back.

The rebinding defence sits at the socket: the HTTP client's network backend resolves the
host itself (`AddressGuard.resolve`), checks every address, and opens the TCP connection
to a checked IP literal, so nothing resolves the name a second time between the check and
the connection. The request itself still names the original host, so the `Host` header,
TLS's SNI and the certificate check are the URL's, as they would be without the guard.
Rewriting the URL to the IP and setting `Host` and `sni_hostname` by hand would do the
same for one request but not for httpx's pooled connections, which are keyed by origin.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import httpcore
import httpx

from app.webhooks.addresses import AddressGuard, UnsafeAddress

EXCERPT_BYTES = 256
USER_AGENT = "billing-webhooks/1"


@dataclass(frozen=True, slots=True)
class Outcome:
    succeeded: bool
    latency_ms: int
    status: int | None = None
    excerpt: str | None = None
    error: str | None = None


class _GuardedBackend(httpcore.AsyncNetworkBackend):
    def __init__(self, guard: AddressGuard) -> None:
        self._guard = guard
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109  (httpcore's signature)
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        failure: httpcore.ConnectError | None = None
        for address in await self._guard.resolve(host, port):
            try:
                stream: httpcore.AsyncNetworkStream = await self._inner.connect_tcp(
                    address, port, timeout, local_address, socket_options
                )
                return stream
            except httpcore.ConnectError as exc:
                failure = exc
        assert failure is not None
        raise failure

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class _GuardedTransport(httpx.AsyncHTTPTransport):
    def __init__(self, guard: AddressGuard) -> None:
        super().__init__(trust_env=False)
        # The pool httpx would build, on the guarded backend (no proxy: a proxy would
        # connect on our behalf to an address we never checked).
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            network_backend=_GuardedBackend(guard),
        )


class Sender:
    def __init__(self, guard: AddressGuard, *, timeout_seconds: float = 10.0) -> None:
        self._timeout = timeout_seconds
        self._client = httpx.AsyncClient(
            transport=_GuardedTransport(guard),
            timeout=timeout_seconds,
            follow_redirects=False,
            trust_env=False,
        )

    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> Outcome:
        """POST `body`; a 2xx answer is a success, anything else (a redirect included) a
        failure. The whole attempt, body included, ends within the timeout."""
        started = time.perf_counter()

        def elapsed() -> int:
            return round((time.perf_counter() - started) * 1000)

        sent = {
            "content-type": "application/json",
            "user-agent": USER_AGENT,
            # The excerpt is cut from the raw bytes: a compressed body could inflate to
            # any size, so none is asked for.
            "accept-encoding": "identity",
            **headers,
        }
        try:
            async with asyncio.timeout(self._timeout):
                async with self._client.stream("POST", url, content=body, headers=sent) as answer:
                    excerpt = await _excerpt(answer)
        except UnsafeAddress as exc:
            return Outcome(False, elapsed(), error=f"refused: {exc}")
        except (TimeoutError, httpx.TimeoutException):
            return Outcome(False, elapsed(), error=f"timed out after {self._timeout:g} s")
        except httpx.HTTPError as exc:
            return Outcome(False, elapsed(), error=f"{type(exc).__name__}: {exc}"[:500])
        status = answer.status_code
        error = None if answer.is_success else f"answered {status}"
        return Outcome(answer.is_success, elapsed(), status, excerpt, error)

    async def aclose(self) -> None:
        await self._client.aclose()


async def _excerpt(response: httpx.Response) -> str:
    """The first bytes of the body: the rest is never read."""
    kept = b""
    async for chunk in response.aiter_raw():
        kept += chunk
        if len(kept) >= EXCERPT_BYTES:
            break
    # PostgreSQL's text holds no NUL character.
    return kept[:EXCERPT_BYTES].decode("utf-8", errors="replace").replace("\x00", "")
