"""Team roles, the permission table of SPEC §3.2, and the hierarchy checks."""

from __future__ import annotations

import uuid
from enum import Enum, StrEnum

from app.core.errors import Forbidden, InvalidInput, RoleHierarchyViolation

# Never change it: a role's id is derived from it and its name, so that a role has the same
# id on every deployment (the official SDKs read `roleID`).
ROLE_ID_NAMESPACE = uuid.UUID("f853f642-ba48-4251-8466-f6e7c785c395")


class MemberRole(StrEnum):
    OWNER = "owner"
    ADMIN = "admin"
    USER = "user"

    @property
    def level(self) -> int:
        """0 is the most powerful, as in the documented role table."""
        return _LEVELS[self]

    @property
    def id(self) -> uuid.UUID:
        """The role's stable id, the same for its name on every deployment."""
        return uuid.uuid5(ROLE_ID_NAMESPACE, self.value)

    def outranks(self, other: MemberRole) -> bool:
        return self.level < other.level

    @classmethod
    def parse(cls, value: object, *, param: str = "role") -> MemberRole:
        """Accepts the role name or the legacy integer level."""
        if isinstance(value, bool):
            raise InvalidInput("role must be owner, admin or user.", param=param)
        if isinstance(value, int):
            for role, level in _LEVELS.items():
                if level == value:
                    return role
        if isinstance(value, str):
            try:
                return cls(value.strip().lower())
            except ValueError:
                if value.strip().isdigit():
                    return cls.parse(int(value.strip()), param=param)
        raise InvalidInput("role must be owner, admin or user.", param=param)


_LEVELS = {MemberRole.OWNER: 0, MemberRole.ADMIN: 1, MemberRole.USER: 2}


class TeamAction(Enum):
    VIEW = "view"
    EDIT_CUSTOMER = "edit_customer"
    LIST_MEMBERS = "list_members"
    MANAGE_MEMBERS = "manage_members"
    OWNER_ONLY = "owner_only"
    READ_ALERTS = "read_alerts"


_ANY = frozenset(MemberRole)
_MANAGERS = frozenset({MemberRole.OWNER, MemberRole.ADMIN})
PERMISSIONS: dict[TeamAction, frozenset[MemberRole]] = {
    TeamAction.VIEW: _ANY,
    TeamAction.EDIT_CUSTOMER: _MANAGERS,
    TeamAction.LIST_MEMBERS: _MANAGERS,
    TeamAction.MANAGE_MEMBERS: _MANAGERS,
    TeamAction.OWNER_ONLY: frozenset({MemberRole.OWNER}),
    TeamAction.READ_ALERTS: _MANAGERS,
}


def allows(role: MemberRole, action: TeamAction) -> bool:
    return role in PERMISSIONS[action]


def authorize(role: MemberRole, action: TeamAction) -> None:
    if not allows(role, action):
        raise Forbidden()


def check_grantable(caller: MemberRole | None, role: MemberRole) -> None:
    """Nobody is made owner by assignment; nobody grants above their own role.

    `caller` is None for a billing_admin acting from outside the team.
    """
    if role is MemberRole.OWNER:
        raise RoleHierarchyViolation("The owner role is only given by transferring ownership.")
    if caller is not None and role.outranks(caller):
        raise RoleHierarchyViolation("You cannot grant a role above your own.")


def check_outranks(caller: MemberRole | None, target: MemberRole) -> None:
    if target is MemberRole.OWNER:
        raise RoleHierarchyViolation("The owner cannot be changed or removed this way.")
    if caller is not None and not caller.outranks(target):
        raise RoleHierarchyViolation("You can only manage members below your own role.")
