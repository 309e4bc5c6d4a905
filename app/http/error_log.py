"""Every error answered is one log line, whichever transport answered it; and is told to
whatever observes errors (traces put the error id on the request's span)."""

from __future__ import annotations

import logging
from collections.abc import Callable

from app.core.errors import InternalError

_errors = logging.getLogger("app.errors")
# (code, status, error id, the exception of an unexpected error): called where the error
# is answered, inside the request it fails.
ErrorObserver = Callable[[str, int, str, BaseException | None], None]
_observers: list[ErrorObserver] = []


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
    for observer in _observers:
        observer(code, status, error_id, None)


def log_unexpected(error_id: str, exc: BaseException, message: str, *args: object) -> None:
    """An exception no handler expected, answered as a generic internal error: logged with
    its traceback, which the client never sees."""
    _errors.exception(message, *args, extra={"error_id": error_id}, exc_info=exc)
    for observer in _observers:
        observer(InternalError.code, InternalError.status, error_id, exc)


def observe_errors(observer: ErrorObserver) -> Callable[[], None]:
    """Tell `observer` of every error answered from now on; the function returned stops it."""
    _observers.append(observer)
    return lambda: _observers.remove(observer)
