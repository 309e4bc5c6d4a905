"""Keeping uvicorn's own `X-Forwarded-For` handling out of the app's way.

uvicorn believes `X-Forwarded-For` from 127.0.0.1 and ::1 unless told otherwise, and
rewrites the request's peer before the app sees it. The app applies
`BILLING_TRUSTED_PROXIES` itself (app/auth/client_ip.py) and needs the real peer: with
uvicorn's rewrite, a caller on the proxy's host could choose the address it is
rate-limited by. `billing serve` turns the rewrite off when it configures uvicorn; for
`uvicorn app.main:app`, the configuration that is importing the app is told here,
before it wraps the app.
"""

from __future__ import annotations

import sys
from types import FrameType


def disable_uvicorn_proxy_headers() -> bool:
    """Turn off `proxy_headers` on the uvicorn configuration importing the app, if any."""
    uvicorn_config = sys.modules.get("uvicorn.config")
    if uvicorn_config is None:
        return False
    frame: FrameType | None = sys._getframe(1)
    while frame is not None:
        candidate = frame.f_locals.get("self")
        if isinstance(candidate, uvicorn_config.Config):
            candidate.proxy_headers = False
            return True
        frame = frame.f_back
    return False
