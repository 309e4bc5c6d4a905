"""Team roles, the permission table of SPEC §3.2, and the hierarchy checks."""

from __future__ import annotations

from enum import Enum, StrEnum

from app.core.errors import Forbidden, InvalidInput, RoleHierarchyViolation


class MemberRole(StrEnum):
    OWNER = "owner"
    ADMIN = "admin"
    USER = "user"

    @property
    def level(self) -> int:
        """0 is the most powerful, as in the documented role table."""
        return _LEVELS[self]

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


_ANY = frozenset(MemberRole)
_MANAGERS = frozenset({MemberRole.OWNER, MemberRole.ADMIN})
PERMISSIONS: dict[TeamAction, frozenset[MemberRole]] = {
    TeamAction.VIEW: _ANY,
    TeamAction.EDIT_CUSTOMER: _MANAGERS,
    TeamAction.LIST_MEMBERS: _MANAGERS,
    TeamAction.MANAGE_MEMBERS: _MANAGERS,
    TeamAction.OWNER_ONLY: frozenset({MemberRole.OWNER}),
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
