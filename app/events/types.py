"""The catalogue of event types a webhook endpoint may subscribe to."""

from __future__ import annotations

from enum import StrEnum


class EventType(StrEnum):
    MEMBER_ADDED = "member.added"
    MEMBER_REMOVED = "member.removed"
    MEMBER_ROLE_CHANGED = "member.role_changed"
    OWNERSHIP_TRANSFERRED = "ownership.transferred"
    TIER_CHANGED = "tier.changed"
    SUBSCRIPTION_STATUS_CHANGED = "subscription.status_changed"
    USAGE_THRESHOLD_REACHED = "usage.threshold_reached"
    QUOTA_THRESHOLD_REACHED = "quota.threshold_reached"


# In an endpoint's event types: every type, those added to the catalogue later included.
ALL_EVENTS = "*"

DESCRIPTIONS: dict[EventType, str] = {
    EventType.MEMBER_ADDED: "A user joined the team (added by id, or accepting an invitation).",
    EventType.MEMBER_REMOVED: "A member was removed from the team, or left it.",
    EventType.MEMBER_ROLE_CHANGED: "A member's role changed.",
    EventType.OWNERSHIP_TRANSFERRED: "Another member became the owner.",
    EventType.TIER_CHANGED: "The customer moved to another tier.",
    EventType.SUBSCRIPTION_STATUS_CHANGED: "The Stripe subscription's status changed.",
    EventType.USAGE_THRESHOLD_REACHED: "A rate limit's usage crossed an alert threshold.",
    EventType.QUOTA_THRESHOLD_REACHED: "A quota's usage crossed an alert threshold.",
}


def subscribes(event_types: list[str], event_type: str) -> bool:
    return ALL_EVENTS in event_types or event_type in event_types
