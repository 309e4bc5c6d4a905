"""The one place that turns request headers into a `Principal`, for every transport."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Coroutine, Mapping
from typing import Any

from app.auth.apikeys import ApiKeyService
from app.auth.client_ip import client_ip
from app.auth.identity import IdentityService
from app.auth.principal import CredentialKind, Principal
from app.auth.tokens import Claims, TokenVerifier
from app.auth.users import Grants
from app.core.db import Database
from app.core.errors import AmbiguousCredentials, IncompleteApiKey, InvalidToken
from app.models import ApiKey
from app.settings import Settings

logger = logging.getLogger(__name__)
API_KEY_CACHE_SIZE = 100_000
PRINCIPAL_CACHE_SIZE = 10_000


class CredentialBackend:
    def __init__(
        self,
        settings: Settings,
        db: Database,
        tokens: TokenVerifier,
        identity: IdentityService,
        api_keys: ApiKeyService,
    ) -> None:
        self._trusted = settings.trusted_proxy_networks
        self._db = db
        self._tokens = tokens
        self._identity = identity
        self._api_keys = api_keys
        self._clock = db.clock
        self._keys: dict[str, ApiKey] = {}
        self._principals: dict[str, tuple[Claims, Grants, Principal]] = {}
        self._background: set[asyncio.Task[None]] = set()

    async def authenticate(self, headers: Mapping[str, str], peer: str | None) -> Principal:
        ip = client_ip(peer, headers.get("x-forwarded-for"), self._trusted)
        authorization = headers.get("authorization")
        key, secret = headers.get("api-key"), headers.get("api-secret")
        has_key_header = key is not None or secret is not None
        if authorization is not None and has_key_header:
            raise AmbiguousCredentials()
        if authorization is not None:
            return await self._bearer(authorization, ip)
        if has_key_header:
            if not key or not secret:
                raise IncompleteApiKey()
            return await self._api_key(key, secret, ip)
        return Principal(client_ip=ip)

    async def of_scope(self, scope: Mapping[str, Any]) -> Principal:
        """The caller of an ASGI request."""
        client = scope.get("client")
        return await self.authenticate(credential_headers(scope), client[0] if client else None)

    async def _bearer(self, authorization: str, ip: str) -> Principal:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise InvalidToken("The Authorization header must be 'Bearer <token>'.")
        claims = await self._tokens.verify(token.strip())
        granted = await self._identity.sign_in(
            claims.user_id, claims.email, email_verified=claims.email_verified
        )
        # The same token from the same address, with its claims and grants still the ones
        # remembered (both caches hand out the same objects until something changes), is
        # the same caller: a metered service's every request is one such repeat.
        known = self._principals.get(token)
        if known is not None and (known[0], known[1], known[2].client_ip) == (claims, granted, ip):
            return known[2]
        principal = Principal(
            client_ip=ip,
            kind=CredentialKind.BEARER,
            user_id=claims.user_id,
            email=claims.email,
            email_verified=claims.email_verified,
            roles=claims.roles | granted.roles,
            # A token that names its services is scoped to them, whatever its user was
            # granted for the API keys.
            services=claims.services or granted.services,
        )
        if len(self._principals) >= PRINCIPAL_CACHE_SIZE:
            self._principals.clear()
        self._principals[token] = (claims, granted, principal)
        return principal

    async def _api_key(self, key: str, secret: str, ip: str) -> Principal:
        api_key = self._api_keys.check(await self._known_key(key), secret)
        if self._api_keys.needs_touch(api_key):
            api_key.last_used_at = self._clock()
            self._in_background(self._touch(api_key.id))
        granted = await self._identity.sign_in(api_key.user_id, None)
        return Principal(
            client_ip=ip,
            kind=CredentialKind.API_KEY,
            user_id=api_key.user_id,
            roles=granted.roles,
            services=granted.services,
            api_key_id=api_key.id,
        )

    async def _known_key(self, key: str) -> ApiKey | None:
        """Keys seen before come from memory (dropped when revoked); unknown keys are
        looked up every time and never cached, so guessing cannot fill the memory."""
        cached = self._keys.get(key)
        if cached is not None:
            return cached
        async with self._db.transaction(write=False) as session:
            found = await self._api_keys.find(session, key)
        if found is not None:
            if len(self._keys) >= API_KEY_CACHE_SIZE:
                self._keys.clear()
            self._keys[key] = found
        return found

    def forget_api_key(self, key: str) -> None:
        self._keys.pop(key, None)

    async def _touch(self, key_id: uuid.UUID) -> None:
        """`lastUsedAt` is written off the request's path."""
        try:
            async with self._db.transaction() as session:
                await self._api_keys.touch(session, key_id)
        except Exception:
            logger.exception("recording an API key's last use failed")

    def _in_background(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)


# The only request headers authentication reads.
CREDENTIAL_HEADERS = frozenset({b"authorization", b"api-key", b"api-secret", b"x-forwarded-for"})


def credential_headers(scope: Mapping[str, Any]) -> dict[str, str]:
    """An ASGI request's credential headers by (lower-case) name: the first of a repeated
    credential header, as Starlette's `Headers.get` answers; every `X-Forwarded-For` line,
    joined into one list as HTTP combines repeated list headers."""
    headers: dict[str, str] = {}
    for name, value in scope["headers"]:
        if name in CREDENTIAL_HEADERS:
            key, text = name.decode("latin-1"), value.decode("latin-1")
            if key in headers and name == b"x-forwarded-for":
                headers[key] += ", " + text
            else:
                headers.setdefault(key, text)
    return headers
