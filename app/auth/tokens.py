"""Bearer tokens: JWTs signed with a shared secret (HS256) or an identity provider's JWKS."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import secrets
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import jwt

from app.core.errors import InvalidToken, TokenExpired
from app.settings import Settings

logger = logging.getLogger(__name__)

# SPEC §2: an identity provider's keys are RSA or EC P-256; each key verifies only
# tokens of its own algorithm.
ASYMMETRIC_ALGORITHMS = frozenset({"RS256", "ES256"})
# The users table's e-mail column; a longer claim is no address this service can keep.
EMAIL_MAX_LENGTH = 320
# Beyond this, a number of seconds is no longer exact in a float.
LATEST_EXPIRY = 2**53
SECRET_FILE_NAME = "jwt-secret"
JWKS_REFRESH_INTERVAL_SECONDS = 60.0
# Keys are read again this often, so a key the identity provider withdrew stops working.
JWKS_MAX_AGE_SECONDS = 300.0
VERIFIED_CACHE_SIZE = 10_000


@dataclass(frozen=True, slots=True)
class Claims:
    user_id: uuid.UUID
    email: str | None
    email_verified: bool
    roles: frozenset[str]
    services: frozenset[str]


class TokenVerifier:
    """Verified tokens are remembered by their exact text until their `exp`, so a caller
    presenting the same token again costs a lookup instead of a signature check. Only
    tokens that passed every check are kept, in a bounded map, and all are forgotten
    when the identity provider's keys change."""

    def __init__(self, settings: Settings, secret: str | None) -> None:
        self._settings = settings
        self._secret = secret
        self._jwks = JwksCache(settings) if settings.uses_jwks else None
        self._jwks_version = 0
        self._verified: dict[str, tuple[float, Claims]] = {}

    async def verify(self, token: str) -> Claims:
        if self._jwks is not None:
            if self._jwks.stale:
                await self._jwks.refresh()
            if self._jwks.version != self._jwks_version:
                self._verified.clear()
                self._jwks_version = self._jwks.version
        known = self._verified.get(token)
        if known is not None:
            if time.time() < known[0]:
                return known[1]
            del self._verified[token]
        try:
            payload = await self._decode(token)
        except jwt.ExpiredSignatureError as exc:
            raise TokenExpired() from exc
        except jwt.PyJWTError as exc:
            raise InvalidToken() from exc
        claims = _claims(payload)
        self._remember(token, _expiry(payload), claims)
        return claims

    def _remember(self, token: str, expires_at: float, claims: Claims) -> None:
        now = time.time()
        if expires_at <= now:  # accepted within the leeway only: checked again next time
            return
        if len(self._verified) >= VERIFIED_CACHE_SIZE:  # one sweep makes room for many
            live = [(key, entry) for key, entry in self._verified.items() if entry[0] > now]
            self._verified = dict(live[-(VERIFIED_CACHE_SIZE * 9 // 10) :])
        self._verified[token] = (expires_at, claims)

    async def _decode(self, token: str) -> dict[str, Any]:
        options: dict[str, Any] = {"require": ["exp", "sub"]}
        common: dict[str, Any] = {
            "options": options,
            "leeway": self._settings.jwt_leeway_seconds,
            "issuer": self._settings.jwt_issuer,
            "audience": self._settings.jwt_audience,
        }
        if self._settings.jwt_audience is None:
            options["verify_aud"] = False
        if self._jwks is not None:
            jwk = await self._jwks.key_for(token)
            return jwt.decode(token, jwk.key, algorithms=[jwk.algorithm_name], **common)
        if self._secret is None:
            raise InvalidToken()
        return jwt.decode(token, self._secret, algorithms=["HS256"], **common)


def _claims(payload: dict[str, Any]) -> Claims:
    try:
        user_id = uuid.UUID(str(payload["sub"]))
    except ValueError as exc:
        raise InvalidToken("The token's subject is not a user id.") from exc
    roles = _names(payload, "roles")
    services = _names(payload, "services")
    email = payload.get("email")
    if email is not None and not _is_storable_text(email, EMAIL_MAX_LENGTH):
        raise InvalidToken("The token's email claim is not an e-mail address.")
    return Claims(
        user_id=user_id,
        email=email,
        email_verified=payload.get("email_verified") is True,
        roles=roles,
        services=services,
    )


def _names(payload: dict[str, Any], claim: str) -> frozenset[str]:
    """A claim that lists names (`roles`, `services`); absent is none."""
    names = payload.get(claim) or []
    if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
        raise InvalidToken(f"The token's {claim} claim must be a list of strings.")
    return frozenset(names)


def _expiry(payload: dict[str, Any]) -> float:
    """`exp` in seconds. PyJWT's own check lets a string of digits or a huge number by."""
    expires_at = payload["exp"]
    if isinstance(expires_at, bool) or not isinstance(expires_at, int | float):
        raise InvalidToken("The token's exp claim must be a number of seconds.")
    if not 0 < expires_at < LATEST_EXPIRY:
        raise InvalidToken("The token's exp claim is out of range.")
    return float(expires_at)


def _is_storable_text(value: object, max_length: int) -> bool:
    return isinstance(value, str) and len(value) <= max_length and "\x00" not in value


class JwksCache:
    """Signing keys by `kid`: read again every five minutes, and when an unknown kid
    arrives (at most once a minute). `version` counts the changes of the key set.

    Only keys of an accepted algorithm (their JWK's `alg`, else the one their type
    implies) and not meant for encryption are kept. When the keys cannot be read again,
    the ones already read are kept and the reading retried a minute later: an identity
    provider that is briefly away does not lock every caller out.
    """

    def __init__(self, settings: Settings) -> None:
        self._url = settings.jwt_jwks_url
        self._file = settings.jwt_jwks_file
        self._keys: dict[str | None, jwt.PyJWK] = {}
        self._document: list[Any] = []
        self._fetched_at = 0.0
        self._lock = asyncio.Lock()
        self.version = 0

    @property
    def stale(self) -> bool:
        return time.monotonic() - self._fetched_at >= JWKS_MAX_AGE_SECONDS

    async def key_for(self, token: str) -> jwt.PyJWK:
        kid = jwt.get_unverified_header(token).get("kid")
        if kid not in self._keys:
            await self.refresh()
        key = self._keys.get(kid)
        if key is None and kid is None and len(self._keys) == 1:
            key = next(iter(self._keys.values()))
        if key is None:
            raise InvalidToken("The token was signed with an unknown key.")
        return key

    async def refresh(self) -> None:
        async with self._lock:
            if self._keys and time.monotonic() - self._fetched_at < JWKS_REFRESH_INTERVAL_SECONDS:
                return
            try:
                document = await self._load()
                key_set = jwt.PyJWKSet.from_dict(document)
            except (InvalidToken, jwt.PyJWTError):
                if not self._keys:
                    raise
                logger.warning("the identity provider's keys could not be read again; kept")
                self._fetched_at = (
                    time.monotonic() - JWKS_MAX_AGE_SECONDS + JWKS_REFRESH_INTERVAL_SECONDS
                )
                return
            self._keys = {
                jwk.key_id: jwk
                for jwk in key_set.keys
                if jwk.algorithm_name in ASYMMETRIC_ALGORITHMS and jwk.public_key_use != "enc"
            }
            self._fetched_at = time.monotonic()
            if document.get("keys") != self._document:
                self._document = document.get("keys", [])
                self.version += 1

    async def _load(self) -> dict[str, Any]:
        try:
            if self._file is not None:
                return dict(json.loads(self._file.read_text()))
            assert self._url is not None
            async with httpx.AsyncClient(timeout=5.0) as client:
                response = await client.get(self._url)
                response.raise_for_status()
                return dict(response.json())
        except (OSError, ValueError, httpx.HTTPError, jwt.PyJWKError) as exc:
            raise InvalidToken("The identity provider's keys could not be loaded.") from exc


def load_or_create_secret(data_dir: Path) -> str:
    """The embedded default's signing secret, generated once and shared by every process.

    It is written to a temporary file and hard-linked into place, so two processes
    starting together agree on one secret.
    """
    path = data_dir / SECRET_FILE_NAME
    if path.exists():
        return path.read_text().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    candidate = data_dir / f".{SECRET_FILE_NAME}.{os.getpid()}.{secrets.token_hex(4)}"
    fd = os.open(candidate, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(secrets.token_urlsafe(48))
    try:
        os.link(candidate, path)
    except FileExistsError:
        pass
    finally:
        candidate.unlink()
    return path.read_text().strip()


def mint_token(
    secret: str,
    *,
    user_id: uuid.UUID,
    email: str | None,
    roles: list[str] | None = None,
    services: list[str] | None = None,
    ttl: timedelta = timedelta(hours=12),
    now: datetime | None = None,
) -> str:
    issued = now or datetime.now(UTC)
    payload: dict[str, Any] = {
        "sub": str(user_id),
        "iat": int(issued.timestamp()),
        "exp": int((issued + ttl).timestamp()),
        "roles": roles or [],
    }
    if services:
        payload["services"] = services
    if email is not None:
        payload["email"] = email
        payload["email_verified"] = True
    return jwt.encode(payload, secret, algorithm="HS256")
