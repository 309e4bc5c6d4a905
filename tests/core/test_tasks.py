"""Stopping a background loop: one that loses a cancellation still stops, and one that
never stops does not hold the process's stop forever."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest

from app.core.tasks import cancel


async def _loses_cancellations(times: int, rounds: list[int], until: asyncio.Event) -> None:
    """A loop whose awaits swallow the first `times` cancellations, as Python 3.11's
    `asyncio.wait_for` does when its inner call completes as the cancellation arrives."""
    while not until.is_set():
        rounds.append(1)
        try:
            await asyncio.sleep(0.01)
        except asyncio.CancelledError:
            if times == 0:
                raise
            times -= 1
            current = asyncio.current_task()
            assert current is not None
            current.uncancel()


async def test_a_loop_that_loses_cancellations_is_stopped() -> None:
    rounds: list[int] = []
    task = asyncio.create_task(_loses_cancellations(3, rounds, asyncio.Event()))
    await asyncio.sleep(0.05)

    await cancel(task)

    assert task.cancelled()
    stopped_at = len(rounds)
    await asyncio.sleep(0.05)
    assert len(rounds) == stopped_at


async def test_a_task_that_never_stops_is_left_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    until = asyncio.Event()
    task = asyncio.create_task(_loses_cancellations(10**9, [], until))
    await asyncio.sleep(0.05)
    started = time.monotonic()

    with caplog.at_level(logging.WARNING, logger="app.core.tasks"):
        await cancel(task, within=0.3)

    assert 0.3 <= time.monotonic() - started < 2
    assert not task.done()
    assert "did not stop in time" in caplog.text
    until.set()
    await task


async def test_a_failed_task_raises_its_error_when_stopped() -> None:
    async def fails() -> None:
        raise LookupError("lost")

    task = asyncio.create_task(fails())
    await asyncio.sleep(0)

    with pytest.raises(LookupError):
        await cancel(task)
