"""Subscriptions over WebSocket on `/graphql`: the `graphql-transport-ws` protocol only.

A connection is authenticated by its `connection_init` message, with the credentials an
HTTP request sends as headers: `{"Authorization": "Bearer <token>"}` or `{"api-key": ...,
"api-secret": ...}` (names in any case), and they are checked again every minute while it
is open. The attempt counts against the caller's own rate limit like one request. Browsers
cannot set headers on a WebSocket, so nothing of the handshake is read for credentials; the
client address is the handshake's, through trusted proxies as for HTTP.

Close codes (besides the protocol's own, 4400 for a malformed message, 4408 for a missing
`connection_init`, 4409 for a reused subscription id, 4429 for a second
`connection_init`):

- 4401 Unauthorized: credentials missing, malformed, invalid, expired or revoked, at
  `connection_init` or later (they are checked again every minute), and a `subscribe`
  before the connection was acknowledged. Clients do not retry it.
- 1013 Try Again Later: the caller's own rate limit is spent (the reason says when to
  retry), or the credentials could not be checked (the database away).
- 4406: the client offered no `graphql-transport-ws` subprotocol (the legacy `graphql-ws`
  is refused).
- A handshake from a browser page on another origin than this server's or those of
  `BILLING_CORS_ORIGINS` is answered 403 and never accepted.

Only subscriptions run over a WebSocket: queries and mutations go over HTTP, where each is
a request the own rate limit counts. Each connection and each caller (across connections
to one process) may hold a bounded number of subscriptions (`SubscriptionSlots`).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Mapping
from typing import Any

from starlette.websockets import WebSocketDisconnect, WebSocketState
from strawberry.asgi import ASGIWebSocketAdapter
from strawberry.http.exceptions import WebSocketDisconnected
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import ConnectionInitMessage

from app.auth.credentials import CredentialBackend
from app.auth.principal import Principal
from app.core.errors import AppError, AuthenticationRequired, TooManySubscriptions
from app.core.tasks import cancel
from app.ops.self_limit import SelfLimit

UNAUTHORIZED = 4401
TRY_AGAIN_LATER = 1013
# How often an open connection's credentials are checked again.
RECHECK_SECONDS = 60.0
# The credentials a `connection_init` payload may carry, by lower-case name.
CREDENTIALS = frozenset({"authorization", "api-key", "api-secret"})
# Read from the handshake: written by the proxies in front of the service, never the client.
FORWARDED_FOR = b"x-forwarded-for"
MAX_REASON_BYTES = 123  # RFC 6455: a close frame's reason fits in 125 bytes with its code


class ConnectionRefused(Exception):
    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = _fitted(reason)


def _fitted(reason: str) -> str:
    encoded = reason.encode()
    if len(encoded) <= MAX_REASON_BYTES:
        return reason
    return encoded[: MAX_REASON_BYTES - 3].decode(errors="ignore") + "..."


async def authenticate(
    self_limit: SelfLimit, handshake: Mapping[str, Any], params: Mapping[str, object]
) -> Principal:
    """The caller of a connection, from its `connection_init` payload, counted against the
    service's own rate limit as a request is; refused with the close code that says why."""
    admission = await self_limit.admit(credential_scope(handshake, params))
    if admission.refusal is not None:
        raise ConnectionRefused(TRY_AGAIN_LATER, admission.refusal.message)
    try:
        return _signed_in(admission.caller())
    except AppError as exc:
        raise _refusal(exc) from exc


async def reauthenticate(
    credentials: CredentialBackend, handshake: Mapping[str, Any], params: Mapping[str, object]
) -> Principal:
    """The connection's caller again, as its credentials stand now (not counted)."""
    try:
        return _signed_in(await credentials.of_scope(credential_scope(handshake, params)))
    except AppError as exc:
        raise _refusal(exc) from exc


def _signed_in(principal: Principal) -> Principal:
    if not principal.is_authenticated:
        raise AuthenticationRequired()
    return principal


def _refusal(error: AppError) -> ConnectionRefused:
    """Credentials at fault: 4401, which clients do not retry. The service unable to check
    them (its database away): 1013, which they do."""
    return ConnectionRefused(
        TRY_AGAIN_LATER if error.status >= 500 else UNAUTHORIZED, error.message
    )


def credential_scope(handshake: Mapping[str, Any], params: Mapping[str, object]) -> dict[str, Any]:
    """An ASGI scope carrying the payload's credentials as its headers, for the credential
    backend and the own rate limit, which read requests."""
    headers = [(name, value) for name, value in handshake["headers"] if name == FORWARDED_FOR]
    for key, value in params.items():
        name = key.lower()
        if name not in CREDENTIALS:
            continue
        if not isinstance(value, str):
            raise ConnectionRefused(UNAUTHORIZED, f"The connection parameter {key} is not text.")
        headers.append((name.encode(), value.encode("latin-1", "replace")))
    return {
        "type": "websocket",
        "path": handshake.get("path", ""),
        "root_path": handshake.get("root_path", ""),
        "headers": headers,
        "client": handshake.get("client"),
        "state": {},
    }


class TextWebSocketAdapter(ASGIWebSocketAdapter):
    """Every message in a text frame, as the protocol asks (a browser hands a binary
    frame to the client as a Blob, which it cannot read), whatever the view's JSON
    encoder returns."""

    async def send_json(self, message: Mapping[str, object]) -> None:
        if self.ws.application_state == WebSocketState.DISCONNECTED:  # closed meanwhile
            raise WebSocketDisconnected
        encoded = self.view.encode_json(message)
        text = encoded.decode() if isinstance(encoded, bytes) else encoded
        try:
            await self.ws.send_text(text)
        except WebSocketDisconnect as exc:
            raise WebSocketDisconnected from exc


class TransportWSHandler(BaseGraphQLTransportWSHandler[Any, None]):
    """Strawberry's handler, closing a refused connection with the code that says why
    (Strawberry's own refusal is always 4403), and checking an acknowledged connection's
    credentials again every `RECHECK_SECONDS`: a token that expired, or an API key revoked,
    ends the connection (4401) as it would end the next request."""

    _recheck: asyncio.Task[None] | None = None

    async def handle_connection_init(self, message: ConnectionInitMessage) -> None:
        try:
            await super().handle_connection_init(message)
        except ConnectionRefused as refused:
            await self.websocket.close(code=refused.code, reason=refused.reason)
            return
        if self.connection_acknowledged and self._recheck is None:
            self._recheck = asyncio.create_task(self._recheck_credentials())

    async def _recheck_credentials(self) -> None:
        while True:
            await asyncio.sleep(RECHECK_SECONDS)
            try:
                await self.context.reauthenticate()
            except ConnectionRefused as refused:
                await self.websocket.close(code=refused.code, reason=refused.reason)
                return

    async def shutdown(self) -> None:
        await cancel(self._recheck)
        await super().shutdown()


class SubscriptionSlots:
    """The subscriptions each caller holds in this process, across their connections."""

    def __init__(self, per_connection: int, per_caller: int) -> None:
        self.per_connection = per_connection
        self.per_caller = per_caller
        self._held: dict[uuid.UUID, int] = {}

    def held_by(self, caller: uuid.UUID) -> int:
        return self._held.get(caller, 0)

    def connection(self) -> Connection:
        return Connection(self)

    def _take(self, connection: Connection, caller: uuid.UUID) -> Slot:
        if connection.held >= self.per_connection:
            raise TooManySubscriptions(
                f"A connection may hold {self.per_connection} subscriptions at once."
            )
        if self.held_by(caller) >= self.per_caller:
            raise TooManySubscriptions(
                f"A caller may hold {self.per_caller} subscriptions at once, "
                "across all their connections."
            )
        connection.held += 1
        self._held[caller] = self.held_by(caller) + 1
        return Slot(self, connection, caller)

    def _release(self, connection: Connection, caller: uuid.UUID) -> None:
        connection.held -= 1
        left = self.held_by(caller) - 1
        if left > 0:
            self._held[caller] = left
        else:
            self._held.pop(caller, None)


class Connection:
    """One WebSocket connection's share of the slots."""

    __slots__ = ("_slots", "held")

    def __init__(self, slots: SubscriptionSlots) -> None:
        self._slots = slots
        self.held = 0

    def take(self, caller: uuid.UUID) -> Slot:
        """A slot for one more subscription; over either cap, `TOO_MANY_SUBSCRIPTIONS`."""
        return self._slots._take(self, caller)


class Slot:
    __slots__ = ("_caller", "_connection", "_slots")

    def __init__(self, slots: SubscriptionSlots, connection: Connection, caller: uuid.UUID):
        self._slots: SubscriptionSlots | None = slots
        self._connection = connection
        self._caller = caller

    def release(self) -> None:
        """Once; later calls do nothing."""
        if self._slots is not None:
            self._slots._release(self._connection, self._caller)
            self._slots = None
