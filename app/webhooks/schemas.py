"""Inputs and results of the webhook endpoint operations."""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass
from enum import StrEnum

from pydantic import Field, field_validator

from app.core.inputs import InputModel, every_field_optional
from app.events.types import ALL_EVENTS, EventType
from app.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32
MAX_URL_LENGTH = 2048
CATALOGUE = ", ".join(event.value for event in EventType)


def new_secret() -> str:
    """A Standard Webhooks signing secret: `whsec_` and base64 of random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode("ascii")


class WebhookEndpointCreate(InputModel):
    url: str = Field(min_length=1, max_length=MAX_URL_LENGTH)
    event_types: list[str] = Field(
        default_factory=lambda: [ALL_EVENTS],
        min_length=1,
        max_length=len(EventType) + 1,
        description=f'Some of: {CATALOGUE}; or "*" for every type (the default).',
    )
    description: str = Field(default="", max_length=500)
    enabled: bool = True

    @field_validator("event_types")
    @classmethod
    def _known_types(cls, value: list[str]) -> list[str]:
        unknown = [name for name in value if name != ALL_EVENTS and name not in set(EventType)]
        if unknown:
            raise ValueError(f"unknown event type {unknown[0]!r}: one of {CATALOGUE}, or *")
        if ALL_EVENTS in value:
            return [ALL_EVENTS]
        return list(dict.fromkeys(value))


@every_field_optional
class WebhookEndpointUpdate(WebhookEndpointCreate):
    """Any of the endpoint's fields; those left out keep their values."""


@dataclass(frozen=True, slots=True)
class IssuedWebhookEndpoint:
    """An endpoint with its signing secret: shown when made and when rotated, never again."""

    endpoint: WebhookEndpoint
    secret: str


class AttemptStatus(StrEnum):
    """What came of one attempt: a 2xx answer, or anything else."""

    SUCCEEDED = "succeeded"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class AttemptView:
    attempt: WebhookAttempt
    event_id: str
    event_type: str
    manual: bool

    @property
    def status(self) -> AttemptStatus:
        return AttemptStatus.SUCCEEDED if self.attempt.succeeded else AttemptStatus.FAILED


@dataclass(frozen=True, slots=True)
class DeliveryView:
    delivery: WebhookDelivery
    event_type: str
