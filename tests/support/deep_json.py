"""JSON documents nested deeper than the service reads them (SPEC §7), and the check that
refusing them logged no failure of the service's own.

    for body in too_deep('"name"'):
        assert_error(await api.call("POST", path, caller, content=body), 400, "MALFORMED_JSON")
    assert_no_failure_logged(error_log)
"""

from __future__ import annotations

import logging

from app.core.json import MAX_DEPTH
from tests.support.logs import Records

# Deeper than orjson reads (1,024 levels), which Python's own parser cannot read either.
PAST_THE_PARSERS = 2000


def nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


def too_deep(field: str = '"name"') -> list[bytes]:
    """Nested arrays alone, and as the value of `field` in an object: past what the
    parsers read, and one level past the service's own limit."""
    return [
        nested(PAST_THE_PARSERS),
        b"{%s: %s}" % (field.encode(), nested(PAST_THE_PARSERS)),
        b"{%s: %s}" % (field.encode(), nested(MAX_DEPTH)),
    ]


def assert_no_failure_logged(error_log: Records) -> None:
    failures = [r for r in error_log.records if r.levelno >= logging.ERROR]
    assert not failures, [r.getMessage() for r in failures]
