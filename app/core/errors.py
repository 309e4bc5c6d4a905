"""The one error tree. Each class owns a stable code and an HTTP status.

Transports render these once each (REST headers and body, GraphQL extensions);
anything that is not an `AppError` is an internal error and is never shown.

An error's `param` names the input at fault by the domain's own names (`user_id`,
`billing_address.country`), and `within` the input model it is a path in, when it is
one; each transport spells it for its clients (`app.core.params`).
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from pydantic import BaseModel


def new_error_id() -> str:
    """A fresh random UUID (version 4) for one error answered (SPEC §4). It tells one
    occurrence from another in the logs and needs no secrecy, so it comes from the
    process's pseudo-random generator (reseeded in forked processes): a storm of
    refusals should not cost a system call each."""
    bits = random.getrandbits(128)
    bits = (bits & ~(0xC000 << 48)) | 0x8000 << 48  # the RFC 4122 variant
    bits = (bits & ~(0xF000 << 64)) | 4 << 76  # version 4
    text = f"{bits:032x}"
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


class AppError(Exception):
    code: ClassVar[str] = "APP_ERROR"
    status: ClassVar[int] = 400
    default_message: ClassVar[str] = "The request could not be processed."

    def __init__(
        self,
        message: str | None = None,
        *,
        param: str | None = None,
        within: type[BaseModel] | None = None,
        headers: dict[str, str] | None = None,
        **details: Any,
    ) -> None:
        self.message = message or self.default_message
        self.param = param
        self.within = within
        self.headers = headers or {}
        self.details = details
        super().__init__(self.message)

    def message_naming(self, param: str | None) -> str:
        """The message, with `{param}` in it naming the input at fault as the transport
        spells it (`param`), or by the domain's name when there is no transport."""
        if "{param}" not in self.message:
            return self.message
        return self.message.replace("{param}", param or self.param or "")


# 400
class InvalidInput(AppError):
    code = "INVALID_INPUT"
    default_message = "A parameter is missing or invalid."


class MalformedJson(AppError):
    code = "MALFORMED_JSON"
    default_message = "The request body is not valid JSON."


class AmbiguousCredentials(AppError):
    code = "AMBIGUOUS_CREDENTIALS"
    default_message = "Send either a bearer token or an API key pair, not both."


class IncompleteApiKey(AppError):
    code = "INCOMPLETE_API_KEY"
    default_message = "The api-key and api-secret headers must be sent together."


class AlreadyInCustomer(AppError):
    code = "ALREADY_IN_CUSTOMER"
    default_message = "The user already belongs to a customer."


class AlreadyInvited(AppError):
    code = "ALREADY_INVITED"
    default_message = "A pending invitation for this e-mail already exists."


class NotAMember(AppError):
    code = "NOT_A_MEMBER"
    default_message = "The user is not a member of this customer."


class WebhookUrlNotAllowed(AppError):
    code = "WEBHOOK_URL_NOT_ALLOWED"
    default_message = (
        "Webhook URLs must be https:// and reach a public address; the operator may allow "
        "other hosts (BILLING_WEBHOOK_ALLOWED_HOSTS)."
    )


class WebhookEndpointDisabled(AppError):
    code = "WEBHOOK_ENDPOINT_DISABLED"
    default_message = "The webhook endpoint is disabled: enable it first."


class TierNotAssignable(AppError):
    code = "TIER_NOT_ASSIGNABLE"
    default_message = "This tier cannot be assigned to customers."


# 401
class AuthenticationRequired(AppError):
    code = "AUTHENTICATION_REQUIRED"
    status = 401
    default_message = "This operation needs a bearer token or an API key."


class InvalidToken(AppError):
    code = "INVALID_TOKEN"
    status = 401
    default_message = "The bearer token is invalid."


class TokenExpired(AppError):
    code = "TOKEN_EXPIRED"
    status = 401
    default_message = "The bearer token has expired."


class InvalidApiKey(AppError):
    code = "INVALID_API_KEY"
    status = 401
    default_message = "The API key is invalid, expired or revoked."


# 402
class MemberLimitReached(AppError):
    code = "MEMBER_LIMIT_REACHED"
    status = 402
    default_message = "The subscription tier's member limit has been reached."


# 403
class Forbidden(AppError):
    code = "FORBIDDEN"
    status = 403
    default_message = "Your role does not allow this operation."


class FeatureDisabled(Forbidden):
    code = "FEATURE_DISABLED"
    default_message = "This feature is disabled on the subscription tier."


class QuotaExceeded(Forbidden):
    code = "QUOTA_EXCEEDED"
    default_message = "The quota is full."


class RoleHierarchyViolation(Forbidden):
    code = "ROLE_HIERARCHY_VIOLATION"
    default_message = "The role hierarchy does not allow this operation."


class OwnerCannotLeave(Forbidden):
    code = "OWNER_CANNOT_LEAVE"
    default_message = "The owner must transfer ownership before leaving."


class WebhookEndpointLimitReached(Forbidden):
    code = "WEBHOOK_ENDPOINT_LIMIT_REACHED"
    default_message = "The customer has as many webhook endpoints as it may have."


class AdminRoleRequired(Forbidden):
    code = "ADMIN_ROLE_REQUIRED"
    default_message = "This operation needs the billing_admin role."


# 404
class NotFound(AppError):
    code = "NOT_FOUND"
    status = 404
    default_message = "Not found."


class NoCustomer(NotFound):
    code = "NO_CUSTOMER"
    default_message = "You do not belong to a customer."


class CustomerNotFound(NotFound):
    code = "CUSTOMER_NOT_FOUND"
    default_message = "No customer with this id exists."


class MemberNotFound(NotFound):
    code = "MEMBER_NOT_FOUND"
    default_message = "No member with this user id is on the team."


class InvitationNotFound(NotFound):
    code = "INVITATION_NOT_FOUND"
    default_message = "No pending invitation with this id exists."


class TierNotFound(NotFound):
    code = "TIER_NOT_FOUND"
    default_message = "No tier with this name or id exists."


class ApiKeyNotFound(NotFound):
    code = "API_KEY_NOT_FOUND"
    default_message = "No API key with this id exists."


class FeatureNotFound(NotFound):
    code = "FEATURE_NOT_FOUND"
    default_message = "No such feature in the catalog."


class ServiceNotFound(NotFound):
    code = "SERVICE_NOT_FOUND"
    default_message = "No such service in the catalog."


class WebhookEndpointNotFound(NotFound):
    code = "WEBHOOK_ENDPOINT_NOT_FOUND"
    default_message = "No webhook endpoint with this id exists."


class WebhookDeliveryNotFound(NotFound):
    code = "WEBHOOK_DELIVERY_NOT_FOUND"
    default_message = "No delivery with this id exists for this endpoint."


class RouteNotFound(NotFound):
    code = "ROUTE_NOT_FOUND"
    default_message = "No such endpoint."


# other statuses
class MethodNotAllowed(AppError):
    code = "METHOD_NOT_ALLOWED"
    status = 405
    default_message = "This method is not allowed on this endpoint."


class Conflict(AppError):
    code = "CONFLICT"
    status = 409
    default_message = "The request conflicts with a concurrent change; retry it."


class AlreadySubscribed(Conflict):
    code = "ALREADY_SUBSCRIBED"
    default_message = "The customer already has a subscription: change it in the customer portal."


class PayloadTooLarge(AppError):
    code = "PAYLOAD_TOO_LARGE"
    status = 413
    default_message = "The request body is too large."


class RateLimited(AppError):
    """A feature's rate limit refused the caller (the catalog's limit, §3.4)."""

    code = "RATE_LIMITED"
    status = 429
    default_message = "The rate limit has been reached."


class TooManyRequests(AppError):
    """The service's own limit refused the caller (§3.5): a different code from a
    feature's refusal, so that a client can tell the two apart."""

    code = "TOO_MANY_REQUESTS"
    status = 429
    default_message = "Too many requests to this service."


class TooManySubscriptions(AppError):
    """A caller holds as many live subscriptions as one connection, or one caller, may."""

    code = "TOO_MANY_SUBSCRIPTIONS"
    status = 429
    default_message = "Too many open subscriptions: complete one before starting another."


class InternalError(AppError):
    code = "INTERNAL_ERROR"
    status = 500
    default_message = "An internal error occurred."


class DatabaseUnavailable(AppError):
    code = "DATABASE_UNAVAILABLE"
    status = 503
    default_message = "The database is not reachable."


class CountersUnavailable(AppError):
    code = "COUNTERS_UNAVAILABLE"
    status = 503
    default_message = "The usage counters are being rebuilt; retry shortly."


class LedgerUnavailable(AppError):
    code = "LEDGER_UNAVAILABLE"
    status = 503
    default_message = "The usage ledger is not keeping up; retry shortly."


class StripeNotConfigured(AppError):
    code = "STRIPE_NOT_CONFIGURED"
    # 501, not 503: the deployment does not offer payments, so clients must not retry.
    status = 501
    default_message = "Payments are not configured on this server."


class StripeUnavailable(AppError):
    code = "STRIPE_UNAVAILABLE"
    status = 502
    default_message = "The payment provider could not be reached; retry later."


class StripeRejected(AppError):
    code = "STRIPE_REJECTED"
    status = 502
    default_message = "The payment provider refused the request; see the service's log."


class TierNotPurchasable(InvalidInput):
    code = "TIER_NOT_PURCHASABLE"
    default_message = "This tier cannot be bought: it has no Stripe price."


class InvalidWebhook(InvalidInput):
    code = "INVALID_WEBHOOK"
    default_message = "The webhook's signature, timestamp or body is not valid."
