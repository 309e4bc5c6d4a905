"""Inputs and results of the customer and team operations."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from pydantic import (
    AliasChoices,
    BeforeValidator,
    ConfigDict,
    EmailStr,
    Field,
    field_validator,
    model_validator,
)

from app.auth.roles import MemberRole
from app.core.countries import ISO_3166_ALPHA2
from app.core.inputs import InputModel
from app.models import Customer, Tier


def _role(value: Any) -> MemberRole:
    return MemberRole.parse(value)


RoleInput = Annotated[MemberRole, BeforeValidator(_role)]
# SPEC's spelling, then GraphQL's argument (its errors name it). Every model also takes
# its field's own name.
USER_ID = AliasChoices("userID", "userId")
UserIdField = Field(default=None, validation_alias=USER_ID)


class BillingAddress(InputModel):
    street: str = Field(default="", max_length=200)
    city: str = Field(default="", max_length=100)
    state: str = Field(default="", max_length=100)
    postal_code: str = Field(default="", max_length=20)
    country: str

    @field_validator("country")
    @classmethod
    def _iso_country(cls, value: str) -> str:
        if value not in ISO_3166_ALPHA2:
            raise ValueError("must be an upper-case ISO 3166-1 alpha-2 country code")
        return value


class CustomerCreate(InputModel):
    name: str = Field(min_length=1, max_length=200)
    email: EmailStr
    billing_address: BillingAddress


def _exactly_one_of(*fields: str) -> ConfigDict:
    """Told to the OpenAPI document; the model validator enforces it. A field sent as
    null counts as left out."""
    return ConfigDict(
        json_schema_extra={
            "oneOf": [
                {"required": [field], "properties": {field: {"not": {"type": "null"}}}}
                for field in fields
            ]
        }
    )


class AddMember(InputModel):
    model_config = _exactly_one_of("userID", "email")

    user_id: uuid.UUID | None = UserIdField
    email: EmailStr | None = None
    role: RoleInput = MemberRole.USER

    @model_validator(mode="after")
    def _one_target(self) -> AddMember:
        if (self.user_id is None) == (self.email is None):
            raise ValueError("give exactly one of userID and email")
        return self


class ChangeMemberRole(InputModel):
    user_id: uuid.UUID = Field(validation_alias=USER_ID)
    role: RoleInput


class TransferOwnership(InputModel):
    model_config = _exactly_one_of("newOwnerUserID", "email")

    new_owner_user_id: uuid.UUID | None = Field(
        default=None,
        validation_alias=AliasChoices("newOwnerUserID", "userID", "newOwnerUserId"),
    )
    email: EmailStr | None = None

    @model_validator(mode="after")
    def _one_target(self) -> TransferOwnership:
        if (self.new_owner_user_id is None) == (self.email is None):
            raise ValueError("give exactly one of newOwnerUserID and email")
        return self


@dataclass(frozen=True, slots=True)
class CustomerDetails:
    customer: Customer
    tier: Tier
    member_count: int
    owner_user_id: uuid.UUID | None


@dataclass(frozen=True, slots=True)
class MemberView:
    user_id: uuid.UUID
    email: str | None
    role: MemberRole
    joined_at: datetime


@dataclass(frozen=True, slots=True)
class OwnershipTransfer:
    customer_id: uuid.UUID
    owner_user_id: uuid.UUID
    previous_owner_user_id: uuid.UUID
