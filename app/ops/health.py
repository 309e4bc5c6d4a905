"""Liveness and readiness probes."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from app.core.errors import DatabaseUnavailable


async def healthz(_request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    """Ready when the database answers."""
    try:
        await request.app.state.container.db.ping()
    except DatabaseUnavailable:
        raise
    except Exception as exc:
        raise DatabaseUnavailable() from exc
    return JSONResponse({"status": "ready", "database": "ok"})
