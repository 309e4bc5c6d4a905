"""A clock the tests can move."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


class MovableClock:
    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def unix_seconds(moment: str | None) -> int | None:
    """A GraphQL `DateTime` (ISO 8601 in UTC with a `Z`) as REST gives it, in unix seconds."""
    if moment is None:
        return None
    assert moment.endswith("Z"), moment
    return int(datetime.fromisoformat(moment).timestamp())


def iso_z(seconds: int) -> str:
    """Unix seconds as a GraphQL `DateTime` renders them."""
    return datetime.fromtimestamp(seconds, UTC).isoformat().replace("+00:00", "Z")
