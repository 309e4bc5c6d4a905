"""The rules of usage alerts: thresholds, their scopes, and what crosses one.

A customer's owner or admin sets percentages of a limit per scope: a feature (a service
and a feature key), a service (every feature of it), or every feature (no service). The
most specific scope set wins; a scope set to no percentages turns its alerts off; with
nothing set, every limited feature alerts at `DEFAULT_PERCENTS`. Only limited features
alert: rate limits and quotas with a finite, non-zero limit.

A decision crosses a threshold when the usage before it was below the threshold's share of
the limit and the usage after it is at or above it. Counters move atomically, so of the
decisions that move a counter past a threshold exactly one sees the crossing.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated

from pydantic import Field, StrictInt

from app.core.inputs import InputModel

DEFAULT_PERCENTS: tuple[int, ...] = (80, 100)
MAX_PERCENTS = 10  # per scope
MAX_SCOPES = 200  # per customer: the shipped catalog has 36 features and services
EVERY = ""  # the service or feature key of a scope that covers them all
# (service name, feature key): a feature, a service's every feature, or every feature.
ScopeKey = tuple[str, str]


class AlertKind(StrEnum):
    """What an alert is about: a rate limit's usage in a window, or a quota held."""

    USAGE = "usage"
    QUOTA = "quota"


Percent = Annotated[StrictInt, Field(ge=1, le=100)]


class ThresholdInput(InputModel):
    service_name: str | None = Field(default=None, min_length=1, max_length=64)
    feature_key: str | None = Field(default=None, min_length=1, max_length=64)
    percents: list[Percent] = Field(max_length=MAX_PERCENTS)


class ThresholdsChange(InputModel):
    """A customer's whole set of thresholds, replacing what was set."""

    thresholds: list[ThresholdInput] = Field(max_length=MAX_SCOPES)


@dataclass(frozen=True, slots=True)
class ThresholdScope:
    """The percentages set for one scope, ascending: `service_name` None for every
    feature, `feature_key` None for every feature of the service."""

    service_name: str | None
    feature_key: str | None
    percents: tuple[int, ...]

    @property
    def key(self) -> ScopeKey:
        return (self.service_name or EVERY, self.feature_key or EVERY)


@dataclass(frozen=True, slots=True)
class ThresholdSettings:
    """A customer's thresholds as set, most general scope first, and the default."""

    customer_id: uuid.UUID
    scopes: Sequence[ThresholdScope]
    default_percents: tuple[int, ...] = DEFAULT_PERCENTS


def scope_order(scope: ThresholdScope) -> tuple[bool, str, bool, str]:
    """Every feature, then each service followed by its features, by name."""
    return (
        scope.service_name is not None,
        scope.service_name or "",
        scope.feature_key is not None,
        scope.feature_key or "",
    )


def resolve(scopes: Mapping[ScopeKey, tuple[int, ...]], feature: ScopeKey) -> tuple[int, ...]:
    """The percentages a feature alerts at: those of the most specific scope set."""
    service_name, _ = feature
    for scope in (feature, (service_name, EVERY), (EVERY, EVERY)):
        percents = scopes.get(scope)
        if percents is not None:
            return percents
    return DEFAULT_PERCENTS


def crossed(percents: Sequence[int], limit: int, before: int, after: int) -> list[int]:
    """The thresholds (`percents`, ascending) a move of usage from `before` to `after`
    reaches, of a finite, non-zero `limit`: `before < limit * p / 100 <= after`, in
    integers. Most decisions stay below the lowest or are past the highest: answered
    without the loop, as this runs on every decision."""
    if (
        limit <= 0
        or not percents
        or after * 100 < limit * percents[0]
        or before * 100 >= limit * percents[-1]
    ):
        return []
    return [p for p in percents if before * 100 < limit * p <= after * 100]
