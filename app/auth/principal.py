"""Who is calling: built once per request by the credential backend."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, TypeVar, cast

from app.auth.roles import TeamAction
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
# In a credential's services: every service (only an operator mints or grants it).
ALL_SERVICES = "*"


@dataclass(frozen=True, slots=True)
class Principal:
    client_ip: str
    kind: CredentialKind = CredentialKind.ANONYMOUS
    user_id: uuid.UUID | None = None
    email: str | None = None
    email_verified: bool = False
    roles: frozenset[str] = field(default_factory=frozenset)
    # The services a billing_service credential meters (SPEC §2): its token's `services`
    # claim, and those granted to its user.
    services: frozenset[str] = field(default_factory=frozenset)
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
        if self.roles.isdisjoint(roles):
            raise Forbidden(f"This operation needs one of the roles: {', '.join(roles)}.")
        return user_id

    @property
    def is_metered_service(self) -> bool:
        """A billing_service caller (a billing_admin is counted as a user)."""
        return PlatformRole.BILLING_SERVICE in self.roles and not self.is_billing_admin

    def require_metering(self, service_name: str) -> uuid.UUID:
        """May meter `service_name`: billing_admin any service, a billing_service
        credential only those it names. One that names none meters nothing: there is
        no silent all-services default."""
        user_id = self.require_role(*METERED_ROLES)
        if self.is_billing_admin or self.may_meter(service_name):
            return user_id
        if not self.services:
            raise Forbidden(
                "This service credential names no services: give it a `services` claim, "
                "or grant them with `billing grant-role --role billing_service --service`."
            )
        raise Forbidden(f"This credential does not meter the service {service_name!r}.")

    def may_meter(self, service_name: str) -> bool:
        return ALL_SERVICES in self.services or service_name in self.services


class Access(StrEnum):
    """Who may call an operation at all, declared once per service operation (`requires`).
    The transports check it before reading any input, so a caller learns 401, then 403,
    before 400; then the caller's seat on their team, where the operation declares one."""

    ANYONE = "anyone"
    USER = "user"
    METERED = "metered"
    ADMIN = "admin"

    def check(self, principal: Principal, *, service_name: str | None = None) -> None:
        """`service_name`: the metered service an operation names before its input
        (a path parameter, an argument), whose scope is then checked before the input."""
        if self is Access.USER:
            principal.require_user()
        elif self is Access.METERED:
            if service_name is None:
                principal.require_role(*METERED_ROLES)
            else:
                principal.require_metering(service_name)
        elif self is Access.ADMIN:
            principal.require_admin()


Operation = TypeVar("Operation", bound=Callable[..., Any])
_DECLARATION = "__declaration__"


@dataclass(frozen=True, slots=True)
class Declaration:
    """Who may call a service operation: `access`, and for an operation on the caller's own
    team the action (`team`) their seat there must allow. Only a seat rule that does not
    depend on the input is declared: the transports check both before the input is read
    (SPEC §7: who the caller is to the resource, then the input). `any_team_for_admin`:
    billing_admin may read any customer's team through it (naming the customer), so has
    no seat to show beforehand; the operation checks the one it reads."""

    access: Access
    team: TeamAction | None = None
    any_team_for_admin: bool = False

    def seat_checked_ahead(self, principal: Principal) -> TeamAction | None:
        """The team action the transports check before the input, if any."""
        if self.any_team_for_admin and principal.is_billing_admin:
            return None
        return self.team


def requires(
    access: Access, *, team: TeamAction | None = None, any_team_for_admin: bool = False
) -> Callable[[Operation], Operation]:
    """Declares who may call a service operation at all: its one declaration. Both
    transports read it (`declaration_of`) and check it before they read the operation's
    input; the operation checks its access again when called, and its seat itself (it
    needs the seat anyway), so that no caller outside the transports goes unchecked."""
    if team is not None and access is not Access.USER:
        raise TypeError("a seat on a team is a signed-in user's: declare Access.USER")
    declaration = Declaration(access, team, any_team_for_admin)

    def declare(operation: Operation) -> Operation:
        @functools.wraps(operation)
        async def checked(*args: Any, **kwargs: Any) -> Any:
            for arg in args:
                if isinstance(arg, Principal):
                    access.check(arg)
                    break
            return await operation(*args, **kwargs)

        setattr(checked, _DECLARATION, declaration)
        return cast(Operation, checked)

    return declare


def declaration_of(operation: Callable[..., Any]) -> Declaration:
    """The declaration of `operation` (a service method, bound or not)."""
    declaration = getattr(operation, _DECLARATION, None)
    if not isinstance(declaration, Declaration):
        raise TypeError(f"{operation!r} declares no access: decorate it with @requires")
    return declaration


def access_of(operation: Callable[..., Any]) -> Access:
    """The access `operation` (a service method, bound or not) was declared with."""
    return declaration_of(operation).access


def known_principal(scope: Mapping[str, Any]) -> Principal | None:
    """The caller already authenticated for this request (ASGI scope), if any. Credentials
    that failed then fail again here, for the transport to render in its own format."""
    state = scope.get("state", {})
    error = state.get(CREDENTIAL_ERROR_STATE)
    if isinstance(error, AppError):
        raise error
    principal = state.get(PRINCIPAL_STATE)
    return principal if isinstance(principal, Principal) else None
