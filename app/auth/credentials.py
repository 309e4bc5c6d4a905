"""The one place that turns request headers into a `Principal`, for every transport."""

from __future__ import annotations

from collections.abc import Mapping

from app.auth.apikeys import ApiKeyService
from app.auth.client_ip import client_ip
from app.auth.identity import IdentityService
from app.auth.principal import CredentialKind, Principal
from app.auth.tokens import TokenVerifier
from app.core.db import Database
from app.core.errors import AmbiguousCredentials, IncompleteApiKey, InvalidToken
from app.settings import Settings


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

    async def _bearer(self, authorization: str, ip: str) -> Principal:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise InvalidToken("The Authorization header must be 'Bearer <token>'.")
        claims = await self._tokens.verify(token.strip())
        granted = await self._identity.sign_in(
            claims.user_id, claims.email, email_verified=claims.email_verified
        )
        return Principal(
            client_ip=ip,
            kind=CredentialKind.BEARER,
            user_id=claims.user_id,
            email=claims.email,
            email_verified=claims.email_verified,
            roles=claims.roles | granted,
        )

    async def _api_key(self, key: str, secret: str, ip: str) -> Principal:
        async with self._db.transaction(write=False) as session:
            api_key = await self._api_keys.verify(session, key, secret)
        if self._api_keys.needs_touch(api_key):
            async with self._db.transaction() as session:
                await self._api_keys.touch(session, api_key.id)
        granted = await self._identity.sign_in(api_key.user_id, None)
        return Principal(
            client_ip=ip,
            kind=CredentialKind.API_KEY,
            user_id=api_key.user_id,
            roles=granted,
            api_key_id=api_key.id,
        )
