"""Who is calling: built once per request by the credential backend."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from app.core.errors import AdminRoleRequired, AppError, AuthenticationRequired, Forbidden

# Where a request's caller, or the failure of its credentials, is kept once authenticated
# (keys of the ASGI scope's `state`), so no request pays for authentication twice.
PRINCIPAL_STATE = "principal"
CREDENTIAL_ERROR_STATE = "credential_error"


class PlatformRole(StrEnum):
    BILLING_ADMIN = "billing_admin"
    BILLING_SERVICE = "billing_service"


class CredentialKind(StrEnum):
    ANONYMOUS = "anonymous"
    BEARER = "bearer"
    API_KEY = "api_key"


# The roles of a metered service, which consumes limits and quotas on behalf of callers.
METERED_ROLES = (PlatformRole.BILLING_SERVICE, PlatformRole.BILLING_ADMIN)


@dataclass(frozen=True, slots=True)
class Principal:
    client_ip: str
    kind: CredentialKind = CredentialKind.ANONYMOUS
    user_id: uuid.UUID | None = None
    email: str | None = None
    email_verified: bool = False
    roles: frozenset[str] = field(default_factory=frozenset)
    api_key_id: uuid.UUID | None = None

    @property
    def is_authenticated(self) -> bool:
        return self.user_id is not None

    @property
    def is_billing_admin(self) -> bool:
        return PlatformRole.BILLING_ADMIN in self.roles

    @property
    def verified_email(self) -> str | None:
        return self.email.lower() if self.email and self.email_verified else None

    def require_user(self) -> uuid.UUID:
        if self.user_id is None:
            raise AuthenticationRequired()
        return self.user_id

    def require_admin(self) -> uuid.UUID:
        user_id = self.require_user()
        if not self.is_billing_admin:
            raise AdminRoleRequired()
        return user_id

    def require_role(self, *roles: PlatformRole) -> uuid.UUID:
        user_id = self.require_user()
        if not self.roles.intersection(roles):
            raise Forbidden(f"This operation needs one of the roles: {', '.join(roles)}.")
        return user_id


class Access(StrEnum):
    """Who may call an operation at all. The transports check it before reading any input,
    so a caller learns 401, then 403, before 400; the services check it again, with the
    rules of teams that only they know."""

    ANYONE = "anyone"
    USER = "user"
    METERED = "metered"
    ADMIN = "admin"

    def check(self, principal: Principal) -> None:
        if self is Access.USER:
            principal.require_user()
        elif self is Access.METERED:
            principal.require_role(*METERED_ROLES)
        elif self is Access.ADMIN:
            principal.require_admin()


def known_principal(scope: Mapping[str, Any]) -> Principal | None:
    """The caller already authenticated for this request (ASGI scope), if any. Credentials
    that failed then fail again here, for the transport to render in its own format."""
    state = scope.get("state", {})
    error = state.get(CREDENTIAL_ERROR_STATE)
    if isinstance(error, AppError):
        raise error
    principal = state.get(PRINCIPAL_STATE)
    return principal if isinstance(principal, Principal) else None
