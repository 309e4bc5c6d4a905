"""Windows (SPEC §3.4): minute, hour and day align to the UTC clock, `month` is the calendar
month; `resetAt` is the end of the window, `Retry-After` the whole seconds until it, and a
counter starts again from zero exactly at the boundary.

The first class checks the arithmetic alone; the others drive the real consume endpoint as a
metered service with a clock the test moves, on every counter storage.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest

from app.catalog.model import Window
from app.usage.windows import seconds_until, window_bounds
from tests.support.api import Api, running_api, settings_for
from tests.support.clock import MovableClock
from tests.support.metering import DAY_FEATURE, Meter, decision, metered_customer, with_day_feature

MINUTE = "ai-api/chat_completions_per_minute"  # free: 5
HOUR = "feeds-api/feeds_download_per_hour"  # free: 10
DAY = DAY_FEATURE  # free: 3
MONTH = "ai-api/chat_completions_per_month"  # free: 100
FREE_LIMITS = {MINUTE: 5, HOUR: 10, DAY: 3, MONTH: 100}


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0, us: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, us, tzinfo=UTC)


def unix(moment: datetime) -> int:
    return int(moment.timestamp())


class TestWindowBounds:
    @pytest.mark.parametrize(
        ("window", "now", "start", "end"),
        [
            (
                Window.MINUTE,
                utc(2027, 3, 10, 12, 34, 56, 789000),
                utc(2027, 3, 10, 12, 34),
                utc(2027, 3, 10, 12, 35),
            ),
            (
                Window.MINUTE,
                utc(2027, 3, 10, 12, 35),
                utc(2027, 3, 10, 12, 35),
                utc(2027, 3, 10, 12, 36),
            ),
            (
                Window.MINUTE,
                utc(2027, 12, 31, 23, 59, 59, 999999),
                utc(2027, 12, 31, 23, 59),
                utc(2028, 1, 1),
            ),
            (
                Window.HOUR,
                utc(2027, 3, 10, 12, 59, 59, 999999),
                utc(2027, 3, 10, 12),
                utc(2027, 3, 10, 13),
            ),
            (Window.HOUR, utc(2027, 3, 10, 13), utc(2027, 3, 10, 13), utc(2027, 3, 10, 14)),
            (Window.DAY, utc(2027, 2, 28, 23, 59, 59), utc(2027, 2, 28), utc(2027, 3, 1)),
            (Window.DAY, utc(2028, 2, 28, 12), utc(2028, 2, 28), utc(2028, 2, 29)),
            (Window.DAY, utc(2028, 2, 29), utc(2028, 2, 29), utc(2028, 3, 1)),
            (Window.MONTH, utc(2027, 2, 14, 8), utc(2027, 2, 1), utc(2027, 3, 1)),
            (Window.MONTH, utc(2028, 2, 29, 23, 59, 59), utc(2028, 2, 1), utc(2028, 3, 1)),
            (Window.MONTH, utc(2027, 4, 30, 23, 59, 59), utc(2027, 4, 1), utc(2027, 5, 1)),
            (Window.MONTH, utc(2027, 1, 31, 12), utc(2027, 1, 1), utc(2027, 2, 1)),
            (
                Window.MONTH,
                utc(2027, 12, 31, 23, 59, 59, 999999),
                utc(2027, 12, 1),
                utc(2028, 1, 1),
            ),
            (Window.MONTH, utc(2028, 1, 1), utc(2028, 1, 1), utc(2028, 2, 1)),
        ],
    )
    def test_the_window_containing_a_moment(
        self, window: Window, now: datetime, start: datetime, end: datetime
    ) -> None:
        assert window_bounds(window, now) == (start, end)

    @pytest.mark.parametrize(
        ("year", "month", "days"),
        [
            (2027, 2, 28),
            (2028, 2, 29),
            (2100, 2, 28),
            (2000, 2, 29),
            (2027, 4, 30),
            (2027, 7, 31),
            (2027, 12, 31),
        ],
    )
    def test_a_month_is_as_long_as_the_calendar_says(
        self, year: int, month: int, days: int
    ) -> None:
        start, end = window_bounds(Window.MONTH, utc(year, month, 15))
        assert end - start == timedelta(days=days)

    def test_a_moment_in_another_zone_falls_in_its_utc_window(self) -> None:
        # 01:00 on 1 March at UTC+2 is still February in UTC.
        moment = datetime(2027, 3, 1, 1, tzinfo=timezone(timedelta(hours=2)))
        assert window_bounds(Window.MONTH, moment) == (utc(2027, 2, 1), utc(2027, 3, 1))
        assert window_bounds(Window.DAY, moment) == (utc(2027, 2, 28), utc(2027, 3, 1))

    @pytest.mark.parametrize(
        ("now", "seconds"),
        [
            (utc(2027, 3, 10, 12, 34, 15), 45),
            (utc(2027, 3, 10, 12, 34, 15, 200000), 45),
            (utc(2027, 3, 10, 12, 34, 59, 999999), 1),
            (utc(2027, 3, 10, 12, 35), 0),
        ],
    )
    def test_seconds_until_round_up(self, now: datetime, seconds: int) -> None:
        assert seconds_until(utc(2027, 3, 10, 12, 35), now) == seconds


@pytest.fixture
async def api(
    sqlite_database_url: str, tmp_path: Path, clock: MovableClock, storage: str
) -> AsyncIterator[Api]:
    settings = settings_for(
        sqlite_database_url,
        tmp_path,
        rate_limit_storage=storage,
        catalog_file=with_day_feature(tmp_path),
    )
    async with running_api(settings, clock) as api:
        yield api


@pytest.fixture
async def meter(api: Api) -> Meter:
    return await metered_customer(api, "free")


def rate_limit_fields(response: httpx.Response) -> dict[str, int]:
    """`q`, `w`, `r` and `t` of the feature's item in the RateLimit-Policy and RateLimit
    headers (the service's own limit may add an item of its own)."""
    fields: dict[str, int] = {}
    for header in ("RateLimit-Policy", "RateLimit"):
        items = [item.strip() for item in response.headers[header].split(",")]
        (feature,) = [item for item in items if item.startswith('"feature";')]
        for part in feature.split(";")[1:]:
            name, value = part.split("=")
            fields[name] = int(value)
    return fields


class TestResetAt:
    @pytest.mark.parametrize(
        ("feature", "now", "reset_at", "window_seconds"),
        [
            (MINUTE, utc(2027, 3, 10, 12, 34, 56, 250000), utc(2027, 3, 10, 12, 35), 60),
            (HOUR, utc(2027, 3, 10, 12), utc(2027, 3, 10, 13), 3600),
            (DAY, utc(2028, 2, 28, 18), utc(2028, 2, 29), 86400),
            (MONTH, utc(2027, 2, 14, 9), utc(2027, 3, 1), 28 * 86400),
            (MONTH, utc(2028, 2, 29, 12), utc(2028, 3, 1), 29 * 86400),
            (MONTH, utc(2027, 4, 30, 23, 59, 59), utc(2027, 5, 1), 30 * 86400),
            (MONTH, utc(2027, 1, 31), utc(2027, 2, 1), 31 * 86400),
            (MONTH, utc(2027, 12, 31, 23, 59, 59, 999000), utc(2028, 1, 1), 31 * 86400),
        ],
    )
    async def test_reset_at_is_the_end_of_the_window(
        self,
        meter: Meter,
        clock: MovableClock,
        feature: str,
        now: datetime,
        reset_at: datetime,
        window_seconds: int,
    ) -> None:
        clock.now = now
        response = await meter.consume(feature)
        assert response.status_code == 200, response.text
        assert response.json()["resetAt"] == unix(reset_at)
        fields = rate_limit_fields(response)
        assert fields["w"] == window_seconds
        assert fields["t"] == seconds_until(reset_at, now)
        assert fields["q"] == FREE_LIMITS[feature]


class TestRetryAfter:
    @pytest.mark.parametrize(
        ("feature", "now", "retry_after"),
        [
            (MINUTE, utc(2027, 3, 10, 12, 34, 15), 45),
            (MINUTE, utc(2027, 3, 10, 12, 34, 15, 200000), 45),
            (MINUTE, utc(2027, 3, 10, 12, 34, 59, 999000), 1),
            (HOUR, utc(2027, 3, 10, 12), 3600),
            (DAY, utc(2027, 12, 31, 6), 18 * 3600),
            (MONTH, utc(2027, 2, 28, 23), 3600),
            (MONTH, utc(2028, 2, 28, 23), 24 * 3600 + 3600),
            (MONTH, utc(2027, 12, 1), 31 * 86400),
        ],
    )
    async def test_retry_after_is_the_seconds_to_reset_at(
        self, meter: Meter, clock: MovableClock, feature: str, now: datetime, retry_after: int
    ) -> None:
        clock.now = now
        filled = await meter.consume(feature, FREE_LIMITS[feature])
        assert filled.status_code == 200, filled.text
        assert filled.json()["remaining"] == 0

        refused = await meter.consume(feature)

        assert refused.status_code == 429, refused.text
        body = decision(refused)
        assert body["code"] == "RATE_LIMITED"
        assert int(refused.headers["Retry-After"]) == retry_after
        assert body["resetAt"] == unix(now) + retry_after
        assert rate_limit_fields(refused)["t"] == retry_after
        assert rate_limit_fields(refused)["r"] == 0


class TestBoundary:
    @pytest.mark.parametrize(
        ("feature", "boundary", "next_reset"),
        [
            (MINUTE, utc(2027, 3, 10, 12, 35), utc(2027, 3, 10, 12, 36)),
            (HOUR, utc(2027, 3, 10, 13), utc(2027, 3, 10, 14)),
            (DAY, utc(2028, 2, 29), utc(2028, 3, 1)),
            (MONTH, utc(2027, 3, 1), utc(2027, 4, 1)),  # after 28 days of February
            (MONTH, utc(2028, 3, 1), utc(2028, 4, 1)),  # after 29 days of February
            (MONTH, utc(2027, 5, 1), utc(2027, 6, 1)),  # after 30 days of April
            (MONTH, utc(2027, 2, 1), utc(2027, 3, 1)),  # after 31 days of January
            (MONTH, utc(2028, 1, 1), utc(2028, 2, 1)),  # December into January
        ],
        ids=["minute", "hour", "day", "feb-28", "feb-29", "apr-30", "jan-31", "dec-jan"],
    )
    async def test_a_counter_resets_exactly_at_the_boundary(
        self,
        meter: Meter,
        clock: MovableClock,
        feature: str,
        boundary: datetime,
        next_reset: datetime,
    ) -> None:
        limit = FREE_LIMITS[feature]
        clock.now = boundary - timedelta(seconds=1)
        assert (await meter.consume(feature, limit)).status_code == 200

        clock.now = boundary - timedelta(microseconds=1)
        refused = await meter.consume(feature)
        assert refused.status_code == 429, refused.text
        assert refused.headers["Retry-After"] == "1"
        assert decision(refused)["resetAt"] == unix(boundary)
        assert decision(refused)["currentUsage"] == limit

        clock.now = boundary
        allowed = await meter.consume(feature)
        assert allowed.status_code == 200, allowed.text
        assert allowed.json() == {
            "allowed": True,
            "currentUsage": 1,
            "limit": limit,
            "remaining": limit - 1,
            "resetAt": unix(next_reset),
        }

    async def test_each_window_of_a_feature_counts_alone(
        self, meter: Meter, clock: MovableClock
    ) -> None:
        clock.now = utc(2027, 3, 10, 12, 34, 30)
        await meter.consume(MINUTE, 4)
        clock.advance(minutes=1)
        await meter.consume(MINUTE, 2)
        clock.advance(minutes=1)
        assert await meter.usage(MINUTE) == 0
        clock.advance(minutes=-1)
        assert await meter.usage(MINUTE) == 2

    async def test_only_the_windows_of_the_feature_that_ended_reset(
        self, meter: Meter, clock: MovableClock
    ) -> None:
        clock.now = utc(2027, 12, 31, 23, 59, 58)
        for feature in (MINUTE, HOUR, DAY, MONTH):
            assert (await meter.consume(feature, 2)).status_code == 200
        clock.now = utc(2027, 12, 31, 23, 59, 59, 999999)
        assert [await meter.usage(feature) for feature in (MINUTE, HOUR, DAY, MONTH)] == [2] * 4
        clock.now = utc(2028, 1, 1)
        assert [await meter.usage(feature) for feature in (MINUTE, HOUR, DAY, MONTH)] == [0] * 4
