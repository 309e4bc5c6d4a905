"""Structured logs: one JSON line per event, carrying the error id where there is one."""

from __future__ import annotations

import logging
import sys

import structlog

_configured = False


def configure_logging(level: str = "INFO") -> None:
    global _configured
    if _configured:
        return
    _configured = True
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.ExtraAdder(),
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                structlog.processors.JSONRenderer(),
            ],
        )
    )
    root = logging.getLogger("app")
    root.handlers = [handler]
    root.setLevel(level.upper())
    root.propagate = False


_errors = logging.getLogger("app.errors")


def log_error(code: str, status: int, message: str, error_id: str) -> None:
    """Every error answered is one log line with the id the client was given (SPEC §4):
    the service's own failures at ERROR, the clients' mistakes and refusals at INFO."""
    _errors.log(
        logging.ERROR if status >= 500 else logging.INFO,
        "request failed: %s %s",
        code,
        message,
        extra={"error_id": error_id, "status": status},
    )
