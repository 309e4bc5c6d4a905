"""Mutations: each authenticates, parses into the domain's input model, opens one write
transaction and calls one service method. Each answers what a client cache needs to apply
the change: the updated record, or the id of what was removed."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

import strawberry

from app.admin.service import CustomerTierChange
from app.auth.apikeys import ApiKeyCreate
from app.core.inputs import parse_input, parse_uuid
from app.customers.schemas import (
    AddMember,
    ChangeMemberRole,
    CustomerCreate,
    CustomerUpdate,
    TransferOwnership,
)
from app.graphql import alerts, billing, catalog, quotas, usage_resolvers, webhooks
from app.graphql.arguments import CustomerInput, UpdateCustomerInput, present, renamed
from app.graphql.context import Info
from app.graphql.customer import (
    Customer,
    InvitationRevocation,
    MemberRemoval,
    OwnershipTransfer,
    customer_of,
)
from app.graphql.domain_types import given
from app.graphql.enums import Role
from app.graphql.types import (
    ApiKeyRevocation,
    CustomerDeletion,
    CustomerLeave,
    IssuedApiKey,
    Member,
    MemberOrInvitation,
    Tier,
    member_or_invitation,
)


async def create_customer(info: Info, input: CustomerInput) -> Customer:
    ctx = info.context
    principal = await ctx.principal(ctx.services.customers.create)
    data = parse_input(CustomerCreate, given(input))
    async with ctx.write() as session:
        details = await ctx.services.customers.create(session, principal, data=data)
    return customer_of(details)


async def update_customer(info: Info, input: UpdateCustomerInput) -> Customer:
    ctx = info.context
    principal = await ctx.principal(ctx.services.customers.update)
    data = parse_input(CustomerUpdate, given(input))
    async with ctx.write() as session:
        details = await ctx.services.customers.update(session, principal, data=data)
    return customer_of(details)


async def delete_customer(info: Info) -> CustomerDeletion:
    ctx = info.context
    principal = await ctx.principal(ctx.services.customers.delete)
    async with ctx.write() as session:
        customer_id = await ctx.services.customers.delete(session, principal)
    return CustomerDeletion(deleted_customer_id=strawberry.ID(str(customer_id)))


async def leave_customer(info: Info) -> CustomerLeave:
    ctx = info.context
    principal = await ctx.principal(ctx.services.customers.leave)
    async with ctx.write() as session:
        customer_id = await ctx.services.customers.leave(session, principal)
    return CustomerLeave(left_customer_id=strawberry.ID(str(customer_id)))


async def transfer_ownership(
    info: Info, new_owner_user_id: strawberry.ID | None = None, email: str | None = None
) -> OwnershipTransfer:
    ctx = info.context
    principal = await ctx.principal(ctx.services.customers.transfer_ownership)
    target = present(newOwnerUserId=new_owner_user_id, email=email)
    data = parse_input(TransferOwnership, target)
    async with ctx.write() as session:
        result = await ctx.services.customers.transfer_ownership(session, principal, data=data)
    return OwnershipTransfer.of(result)


async def add_member(
    info: Info,
    user_id: strawberry.ID | None = None,
    email: str | None = None,
    role: Role = Role.USER,
) -> MemberOrInvitation:
    ctx = info.context
    principal = await ctx.principal(ctx.services.members.add)
    data = _add_member(user_id, email, role)
    async with ctx.write() as session:
        result = await ctx.services.members.add(session, principal, data=data)
    return member_or_invitation(result)


async def change_member_role(info: Info, user_id: strawberry.ID, role: Role) -> Member:
    ctx = info.context
    principal = await ctx.principal(ctx.services.members.change_role)
    data = parse_input(ChangeMemberRole, {"userId": user_id, "role": role.value})
    async with ctx.write() as session:
        member = await ctx.services.members.change_role(session, principal, data=data)
    return Member.of(member)


async def remove_member(info: Info, user_id: strawberry.ID) -> MemberRemoval:
    ctx = info.context
    principal = await ctx.principal(ctx.services.members.remove)
    user = parse_uuid(user_id, "user_id")
    async with ctx.write() as session:
        details = await ctx.services.members.remove(session, principal, user_id=user)
    return MemberRemoval.of(user, details)


async def revoke_invitation(info: Info, invitation_id: strawberry.ID) -> InvitationRevocation:
    ctx = info.context
    principal = await ctx.principal(ctx.services.members.revoke_invitation)
    invitation = parse_uuid(invitation_id, "invitation_id")
    async with ctx.write() as session:
        details = await ctx.services.members.revoke_invitation(
            session, principal, invitation_id=invitation
        )
    return InvitationRevocation.of(invitation, details)


async def create_api_key(info: Info, name: str, expires_at: datetime | None = None) -> IssuedApiKey:
    ctx = info.context
    principal = await ctx.principal(ctx.services.api_keys.create)
    data = parse_input(ApiKeyCreate, present(name=name, expiresAt=expires_at))
    async with ctx.write() as session:
        issued = await ctx.services.api_keys.create(session, principal, data=data)
    return IssuedApiKey.of(issued)


async def revoke_api_key(
    info: Info,
    api_key_id: strawberry.ID | None = None,
    id: Annotated[
        strawberry.ID | None, strawberry.argument(deprecation_reason="Use `apiKeyId`.")
    ] = None,
) -> ApiKeyRevocation:
    ctx = info.context
    principal = await ctx.principal(ctx.services.api_keys.revoke)
    key_id = parse_uuid(renamed("api_key_id", api_key_id, id), "api_key_id")
    async with ctx.write() as session:
        await ctx.services.api_keys.revoke(session, principal, key_id=key_id)
    return ApiKeyRevocation(revoked_api_key_id=strawberry.ID(str(key_id)))


async def admin_update_customer(
    info: Info, customer_id: strawberry.ID, input: UpdateCustomerInput
) -> Customer:
    ctx = info.context
    principal = await ctx.principal(ctx.services.admin.update_customer)
    customer = parse_uuid(customer_id, "customer_id")
    data = parse_input(CustomerUpdate, given(input))
    async with ctx.write() as session:
        details = await ctx.services.admin.update_customer(
            session, principal, customer_id=customer, data=data
        )
    return customer_of(details, admin_view=True)


async def admin_delete_customer(info: Info, customer_id: strawberry.ID) -> CustomerDeletion:
    ctx = info.context
    principal = await ctx.principal(ctx.services.admin.delete_customer)
    customer = parse_uuid(customer_id, "customer_id")
    async with ctx.write() as session:
        await ctx.services.admin.delete_customer(session, principal, customer_id=customer)
    return CustomerDeletion(deleted_customer_id=strawberry.ID(str(customer)))


async def admin_add_member(
    info: Info,
    customer_id: strawberry.ID,
    user_id: strawberry.ID | None = None,
    email: str | None = None,
    role: Role = Role.USER,
) -> MemberOrInvitation:
    ctx = info.context
    principal = await ctx.principal(ctx.services.admin.add_member)
    customer, data = parse_uuid(customer_id, "customer_id"), _add_member(user_id, email, role)
    async with ctx.write() as session:
        result = await ctx.services.admin.add_member(
            session, principal, customer_id=customer, data=data
        )
    return member_or_invitation(result)


async def admin_remove_member(
    info: Info, customer_id: strawberry.ID, user_id: strawberry.ID
) -> MemberRemoval:
    ctx = info.context
    principal = await ctx.principal(ctx.services.admin.remove_member)
    customer, user = parse_uuid(customer_id, "customer_id"), parse_uuid(user_id, "user_id")
    async with ctx.write() as session:
        details = await ctx.services.admin.remove_member(
            session, principal, customer_id=customer, user_id=user
        )
    return MemberRemoval.of(user, details, admin_view=True)


async def set_default_tier(
    info: Info,
    tier_name: str | None = None,
    tier_id: Annotated[
        strawberry.ID | None,
        strawberry.argument(deprecation_reason="Use `tierName`, as every tier operation does."),
    ] = None,
) -> Tier:
    ctx = info.context
    principal = await ctx.principal(ctx.services.tiers.set_default)
    tier: uuid.UUID | str = renamed("tier_name", tier_name, tier_id)
    if tier_id is not None:  # the deprecated argument names the tier by id
        tier = parse_uuid(tier_id, "tier_id")
    async with ctx.write() as session:
        row = await ctx.services.tiers.set_default(session, principal, tier=tier)
    return Tier.of(row)


async def set_customer_tier(info: Info, customer_id: strawberry.ID, tier_name: str) -> Customer:
    ctx = info.context
    principal = await ctx.principal(ctx.services.admin.set_customer_tier)
    customer = parse_uuid(customer_id, "customer_id")
    data = parse_input(CustomerTierChange, {"tierName": tier_name})
    async with ctx.write() as session:
        details = await ctx.services.admin.set_customer_tier(
            session, principal, customer_id=customer, data=data
        )
    return customer_of(details, admin_view=True)


def _add_member(user_id: strawberry.ID | None, email: str | None, role: Role) -> AddMember:
    return parse_input(AddMember, present(userId=user_id, email=email, role=role.value))


@strawberry.type
class Mutation:
    create_customer = strawberry.mutation(
        resolver=create_customer, description="Create a customer; the caller becomes its owner."
    )
    update_customer = strawberry.mutation(
        resolver=update_customer,
        description="Change any of the customer's fields (owner, admin).",
    )
    delete_customer = strawberry.mutation(
        resolver=delete_customer, description="Delete the caller's customer (owner)."
    )
    leave_customer = strawberry.mutation(
        resolver=leave_customer, description="Leave the caller's customer (admin, user)."
    )
    transfer_ownership = strawberry.mutation(
        resolver=transfer_ownership, description="Make another member the owner (owner)."
    )
    add_member = strawberry.mutation(
        resolver=add_member,
        description="Add a member by user id, or invite one by e-mail (owner, admin).",
    )
    change_member_role = strawberry.mutation(
        resolver=change_member_role, description="Change a member's role (owner, admin)."
    )
    remove_member = strawberry.mutation(
        resolver=remove_member, description="Remove a member from the team (owner, admin)."
    )
    revoke_invitation = strawberry.mutation(
        resolver=revoke_invitation, description="Revoke a pending invitation (owner, admin)."
    )
    create_api_key = strawberry.mutation(
        resolver=create_api_key, description="Create an API key; its secret is shown only here."
    )
    revoke_api_key = strawberry.mutation(
        resolver=revoke_api_key, description="Revoke one of the caller's API keys."
    )
    admin_update_customer = strawberry.mutation(
        resolver=admin_update_customer,
        description="Change any of any customer's fields (billing_admin).",
    )
    admin_delete_customer = strawberry.mutation(
        resolver=admin_delete_customer, description="Delete any customer (billing_admin)."
    )
    admin_add_member = strawberry.mutation(
        resolver=admin_add_member, description="Add a member to any customer (billing_admin)."
    )
    admin_remove_member = strawberry.mutation(
        resolver=admin_remove_member,
        description="Remove a member from any customer (billing_admin).",
    )
    set_default_tier = strawberry.mutation(
        resolver=set_default_tier,
        description="Make a tier the default for new customers (billing_admin).",
    )
    set_customer_tier = strawberry.mutation(
        resolver=set_customer_tier,
        description="Put a customer on a tier, by name or display name (billing_admin).",
    )
    create_portal_session = strawberry.mutation(
        resolver=billing.create_portal_session,
        description="A short-lived Stripe Customer Portal session (owner).",
    )
    create_checkout_session = strawberry.mutation(
        resolver=billing.create_checkout_session,
        description="A Stripe Checkout session for a paid tier (default pro), with a "
        "trial if the customer never had one (owner).",
    )
    consume = strawberry.mutation(
        resolver=usage_resolvers.consume,
        description="Consume a feature for a caller (billing_service); a refusal is an error "
        "whose extensions carry the decision.",
    )
    consume_batch = strawberry.mutation(
        resolver=usage_resolvers.consume_batch,
        description="Consume up to 1000 features at once, each decided on its own and in "
        "order (billing_service); a refused or invalid request is a ConsumeError in its "
        "place, not an error of the mutation.",
    )
    check = strawberry.mutation(
        resolver=usage_resolvers.check,
        description="Whether a consume would be allowed, consuming nothing (billing_service).",
    )
    allocate_quota = strawberry.mutation(
        resolver=quotas.allocate_quota,
        description="Allocate a quota to a customer (billing_service); a full quota is an "
        "error whose extensions carry the usage.",
    )
    release_quota = strawberry.mutation(
        resolver=quotas.release_quota,
        description="Release a customer's quota; it never goes below 0 (billing_service).",
    )
    register_service = strawberry.mutation(
        resolver=catalog.register_service,
        description="Register or update a service's features and per-tier values "
        "(billing_service).",
    )
    set_feature_override = strawberry.mutation(
        resolver=catalog.set_feature_override,
        description="Set a customer's own value of a feature, in place of its tier's "
        "(billing_admin).",
    )
    clear_feature_override = strawberry.mutation(
        resolver=catalog.clear_feature_override,
        description="Clear a customer's own value of a feature: its tier's applies "
        "(billing_admin).",
    )
    create_webhook_endpoint = strawberry.mutation(
        resolver=webhooks.create_webhook_endpoint,
        description="Register a webhook endpoint; its signing secret is shown only here "
        "(owner, admin; billing_admin for any customer).",
    )
    update_webhook_endpoint = strawberry.mutation(
        resolver=webhooks.update_webhook_endpoint,
        description="Change any of a webhook endpoint's url, event types, description, "
        "enabled (owner, admin; billing_admin).",
    )
    rotate_webhook_endpoint_secret = strawberry.mutation(
        resolver=webhooks.rotate_webhook_endpoint_secret,
        description="A new signing secret, shown only here; the old one signs too for 24 "
        "hours (owner, admin; billing_admin).",
    )
    delete_webhook_endpoint = strawberry.mutation(
        resolver=webhooks.delete_webhook_endpoint,
        description="Delete a webhook endpoint, its pending deliveries and its log (owner, "
        "admin; billing_admin).",
    )
    replay_webhook_delivery = strawberry.mutation(
        resolver=webhooks.replay_webhook_delivery,
        description="Send a delivery's event again, now, under the same webhook-id (owner, "
        "admin; billing_admin).",
    )
    set_alert_thresholds = strawberry.mutation(
        resolver=alerts.set_alert_thresholds,
        description="Replace the customer's usage alert thresholds: per feature, per service "
        "or for every feature, the most specific winning; an empty list turns a scope's "
        "alerts off (owner, admin; billing_admin for any customer).",
    )
