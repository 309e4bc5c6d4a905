"""Inputs and results of the customer and team operations."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

import langcodes
from pydantic import (
    AfterValidator,
    AliasChoices,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    EmailStr,
    Field,
    field_validator,
    model_validator,
)

from app.auth.principal import PlatformRole
from app.auth.roles import MemberRole
from app.core.countries import ISO_3166_ALPHA2
from app.core.inputs import InputModel, every_field_optional
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
    country: str = Field(description="ISO 3166-1 alpha-2, upper case.")

    @field_validator("country")
    @classmethod
    def _iso_country(cls, value: str) -> str:
        if value not in ISO_3166_ALPHA2:
            raise ValueError("must be an upper-case ISO 3166-1 alpha-2 country code")
        return value


def _bcp47(value: str) -> str:
    """A well-formed, registered BCP 47 tag, in its standard form (`en-us` is `en-US`)."""
    if "_" in value or not langcodes.tag_is_valid(value):
        raise ValueError("must be a BCP 47 language tag, such as en-US or fr")
    return str(langcodes.standardize_tag(value))


Locale = Annotated[str, Field(max_length=35), AfterValidator(_bcp47)]


class CustomerProfile(InputModel):
    """What a team says about its own account, declared once: the body of create, every
    field of update (`CustomerUpdate`), and what both transports show. A field added here
    (and to the `customer` table, under the same name) is read, written and shown
    everywhere without further code."""

    name: str = Field(min_length=1, max_length=200)
    email: EmailStr
    billing_address: BillingAddress
    locale: Locale | None = Field(
        default=None,
        description=(
            "The customer's language, a BCP 47 tag (en-US, fr, zh-Hant-TW): Stripe's "
            "e-mails, invoices and Customer Portal use it."
        ),
    )

    @classmethod
    def of(cls, customer: Customer) -> CustomerProfile:
        """The stored account's profile (already valid: not validated again)."""
        return cls.model_construct(**_from_columns(cls, customer))

    def columns(self, *, only: Iterable[str] | None = None) -> dict[str, Any]:
        """The `customer` columns of the profile's fields (`only` those named): nested
        models such as the billing address are stored flat, under their own names."""
        values = self.model_dump(include=set(only) if only is not None else None)
        flat: dict[str, Any] = {}
        for name, value in values.items():
            flat.update(value if isinstance(value, dict) else {name: value})
        return flat


CustomerCreate = CustomerProfile


def _from_columns(model: type[BaseModel], customer: Customer) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name, field in model.model_fields.items():
        nested = field.annotation
        if isinstance(nested, type) and issubclass(nested, BaseModel):
            values[name] = nested.model_construct(**_from_columns(nested, customer))
        else:
            values[name] = getattr(customer, name)
    return values


@every_field_optional
class CustomerUpdate(CustomerProfile):
    """Any of the profile's fields; those left out keep their values."""


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
    customer: CustomerDetails
    new_owner: MemberView
    previous_owner: MemberView


@dataclass(frozen=True, slots=True)
class Viewer:
    """Who the caller is here, and what a front end may offer them."""

    user_id: uuid.UUID
    email: str | None
    platform_roles: list[PlatformRole]
    customer: CustomerDetails | None
    role: MemberRole | None
    can_manage_members: bool
    can_manage_billing: bool
    can_manage_api_keys: bool
    can_manage_webhooks: bool
    payments_configured: bool
