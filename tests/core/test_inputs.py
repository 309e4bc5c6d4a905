"""Input models read numbers and booleans strictly, and everything else as before."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import Field

from app.core.errors import InvalidInput
from app.core.inputs import InputModel, parse_input


class Inner(InputModel):
    level: int = 0
    enabled: bool = False


class Sample(InputModel):
    amount: int = Field(default=1, ge=1)
    enabled: bool | None = None
    values: dict[str, int] = Field(default_factory=dict)
    items: list[Inner] = Field(default_factory=list)
    owner_id: uuid.UUID | None = None
    at: datetime | None = None


@pytest.mark.parametrize(
    ("data", "param"),
    [
        ({"amount": "1"}, "amount"),
        ({"amount": True}, "amount"),
        ({"amount": 1.5}, "amount"),
        ({"amount": 1.0}, "amount"),
        ({"enabled": 1}, "enabled"),
        ({"enabled": "true"}, "enabled"),
        ({"values": {"free": "3"}}, "values.free"),
        ({"items": [{"level": False}]}, "items.0.level"),
        ({"items": [{"enabled": 0}]}, "items.0.enabled"),
    ],
)
def test_numbers_and_booleans_are_strict(data: dict[str, Any], param: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        parse_input(Sample, data)
    assert refused.value.param == param


def test_their_own_types_and_text_parsed_types_still_pass() -> None:
    owner = uuid.uuid4()
    sample = parse_input(
        Sample,
        {
            "amount": 3,
            "enabled": False,
            "values": {"free": 0, "pro": -1},
            "items": [{"level": 2, "enabled": True}],
            "ownerId": str(owner),
            "at": "2030-01-02T03:04:05Z",
        },
    )
    assert (sample.amount, sample.enabled, sample.values) == (3, False, {"free": 0, "pro": -1})
    assert sample.items == [Inner(level=2, enabled=True)]
    assert (sample.owner_id, sample.at) == (owner, datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC))
