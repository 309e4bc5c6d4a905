"""The `DateTime` scalar: ISO 8601 in UTC with a `Z`, the product's timestamp format."""

from __future__ import annotations

from datetime import UTC, datetime

import strawberry

from app.core.clock import iso_z


def _serialize(value: datetime) -> str:
    rendered = iso_z(value)
    assert rendered is not None
    return rendered


def _parse(value: object) -> datetime:
    if not isinstance(value, str):
        raise ValueError("expected an ISO 8601 date-time string")
    return datetime.fromisoformat(value)


def instant(seconds: int) -> datetime:
    """A moment the domain counts in unix seconds."""
    return datetime.fromtimestamp(seconds, UTC)


def unix_seconds(moment: datetime) -> int:
    """A moment given as a `DateTime`, in the domain's unix seconds (UTC when it names no
    offset)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp())


DateTime = strawberry.scalar(
    name="DateTime",
    description="An ISO 8601 date-time; always rendered in UTC with a `Z`.",
    serialize=_serialize,
    parse_value=_parse,
)
