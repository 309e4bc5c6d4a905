"""The rules of alerts on their own: which thresholds a move of usage crosses, and which
scope's thresholds a feature is watched for."""

from __future__ import annotations

import pytest

from app.alerts.thresholds import DEFAULT_PERCENTS, EVERY, crossed, resolve


@pytest.mark.parametrize(
    ("percents", "limit", "before", "after", "expected"),
    [
        ((80, 100), 10, 7, 8, [80]),
        ((80, 100), 10, 8, 9, []),
        ((80, 100), 10, 9, 10, [100]),
        ((80, 100), 10, 0, 10, [80, 100]),
        ((80, 100), 10, 0, 7, []),  # below the lowest
        ((80, 100), 10, 10, 12, []),  # past the highest
        ((50,), 3, 1, 2, [50]),  # 1.5: reached at 2
        ((50,), 3, 0, 1, []),
        ((1,), 10, 0, 1, [1]),  # 0.1: the first use
        ((33, 66, 100), 1_000_000_000, 329_999_999, 660_000_000, [33, 66]),
        ((80, 100), -1, 0, 10**9, []),  # unlimited
        ((80, 100), 0, 0, 0, []),  # disabled
        ((), 10, 0, 10, []),  # off
    ],
)
def test_crossed(
    percents: tuple[int, ...], limit: int, before: int, after: int, expected: list[int]
) -> None:
    assert crossed(percents, limit, before, after) == expected


def test_the_most_specific_scope_set_wins() -> None:
    scopes = {
        (EVERY, EVERY): (50,),
        ("ai-api", EVERY): (30,),
        ("ai-api", "chat"): (90,),
        ("search-api", EVERY): (),
    }
    assert resolve(scopes, ("ai-api", "chat")) == (90,)
    assert resolve(scopes, ("ai-api", "embeddings")) == (30,)
    assert resolve(scopes, ("search-api", "simple")) == ()
    assert resolve(scopes, ("feeds-api", "download")) == (50,)
    assert resolve({}, ("feeds-api", "download")) == DEFAULT_PERCENTS
