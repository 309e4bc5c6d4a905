"""The IETF RateLimit-Policy / RateLimit headers (draft-ietf-httpapi-ratelimit-headers)."""

from __future__ import annotations


def rate_limit_headers(
    policy: str, *, limit: int, remaining: int, reset_in: int, window: int, refused: bool
) -> dict[str, str]:
    headers = {
        "RateLimit-Policy": f'"{policy}";q={limit};w={window}',
        "RateLimit": f'"{policy}";r={max(remaining, 0)};t={reset_in}',
    }
    if refused:
        headers["Retry-After"] = str(reset_in)
    return headers


def raw_headers(headers: dict[str, str]) -> list[tuple[bytes, bytes]]:
    """Headers as an ASGI response carries them: lower-case names, bytes."""
    return [(name.lower().encode(), value.encode()) for name, value in headers.items()]
