"""Windows aligned to the UTC clock; `month` is the calendar month."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from app.catalog.model import Window

_FIXED = {
    Window.MINUTE: timedelta(minutes=1),
    Window.HOUR: timedelta(hours=1),
    Window.DAY: timedelta(days=1),
}
LONGEST_WINDOW_SECONDS = 31 * 24 * 3600


def window_bounds(window: Window, now: datetime) -> tuple[datetime, datetime]:
    """The window containing `now`: its start, and its end (when counters reset)."""
    now = now.astimezone(UTC)
    if window is Window.MONTH:
        start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        year, month = (start.year + 1, 1) if start.month == 12 else (start.year, start.month + 1)
        return start, start.replace(year=year, month=month)
    length = _FIXED[window]
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    start = epoch + ((now - epoch) // length) * length
    return start, start + length


def seconds_until(moment: datetime, now: datetime) -> int:
    """Whole seconds from `now` to `moment`, rounded up (a Retry-After never says 0 early)."""
    remaining = (moment - now).total_seconds()
    return max(0, int(-(-remaining // 1)))
