"""The catalog as code sees it: features with a value per tier."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

UNLIMITED = -1
DISABLED = 0


def remaining(limit: int, used: int) -> int:
    """What is left of `limit` after `used`: -1 while unlimited, never below 0."""
    return UNLIMITED if limit == UNLIMITED else max(limit - used, 0)


class FeatureKind(StrEnum):
    RATE = "rate"
    QUOTA = "quota"


class Window(StrEnum):
    MINUTE = "minute"
    HOUR = "hour"
    DAY = "day"
    MONTH = "month"


@dataclass(frozen=True, slots=True)
class FeatureSpec:
    service_name: str
    feature_key: str
    kind: FeatureKind
    window: Window | None
    description: str
    values: dict[str, int] = field(default_factory=dict)  # tier name -> value

    @property
    def key(self) -> tuple[str, str]:
        return (self.service_name, self.feature_key)

    def value_for(self, tier_name: str) -> int:
        """A tier the feature does not name has it disabled."""
        return self.values.get(tier_name, DISABLED)
