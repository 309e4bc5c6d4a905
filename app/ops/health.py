"""Liveness and readiness probes."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from app.core.errors import DatabaseUnavailable


async def healthz(_request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    """Ready when the database answers; with the usage ledger's lag, what an operator
    watches to see the ledger keep up (rows not written yet, the age of the oldest)."""
    container = request.app.state.container
    try:
        await container.db.ping()
    except DatabaseUnavailable:
        raise
    except Exception as exc:
        raise DatabaseUnavailable() from exc
    lag = container.ledger.lag()
    return JSONResponse(
        {
            "status": "ready",
            "database": "ok",
            "ledger": {"unwrittenRows": lag.rows, "lagSeconds": lag.seconds},
        }
    )
