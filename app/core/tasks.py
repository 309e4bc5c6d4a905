"""The background loops' one way to stop."""

from __future__ import annotations

import asyncio
import contextlib
import logging

logger = logging.getLogger(__name__)

# How long a stopping task may take before it is cancelled again, and before it is left.
RECANCEL_SECONDS = 0.1
GIVE_UP_SECONDS = 10.0


async def cancel(task: asyncio.Task[None] | None, *, within: float = GIVE_UP_SECONDS) -> None:
    """Cancel `task` (if it was started) and wait until it has stopped.

    One cancellation is not always enough: on Python 3.11 `asyncio.wait_for`, which
    redis-py wraps around every socket write, returns the inner result when the
    cancellation arrives as that result does, and the cancellation is lost; a loop would
    go on forever. So the task is cancelled again until it stops. One that has not stopped
    `within` seconds is left, named in a warning, so that a stop always ends."""
    if task is None:
        return
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not task.done():
        if loop.time() >= deadline:
            logger.warning("a background task did not stop in time", extra={"task": repr(task)})
            return
        task.cancel()
        await asyncio.wait({task}, timeout=RECANCEL_SECONDS)
    with contextlib.suppress(asyncio.CancelledError):
        await task
