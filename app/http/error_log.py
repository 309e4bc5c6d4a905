"""Every error answered is one log line, whichever transport answered it."""

from __future__ import annotations

import logging

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
