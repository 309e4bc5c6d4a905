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
