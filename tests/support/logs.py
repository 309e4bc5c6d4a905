"""What the app's error log wrote: its loggers do not propagate to pytest's capture."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def with_error_id(self, error_id: str) -> list[logging.LogRecord]:
        return [r for r in self.records if getattr(r, "error_id", None) == error_id]


@contextmanager
def recording(logger_name: str = "app.errors") -> Iterator[Records]:
    records = Records()
    logger = logging.getLogger(logger_name)
    logger.addHandler(records)
    try:
        yield records
    finally:
        logger.removeHandler(records)
