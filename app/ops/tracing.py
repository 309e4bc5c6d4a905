"""Whether the service traces: OpenTelemetry, from the optional `otel` extra, is imported
only when traces are on (`app.ops.otel`); off, nothing of it is loaded and no request
pays for it.

On without the extra installed, the service refuses to start, naming the fix: a setting
that cannot be honoured is refused, not ignored.
"""

from __future__ import annotations

from importlib import import_module
from types import ModuleType
from typing import TYPE_CHECKING

from app.settings import Settings

if TYPE_CHECKING:
    from opentelemetry.sdk.trace.export import SpanExporter

    from app.ops.otel import Tracing

EXTRA_MISSING = (
    "Traces are on (OTEL_EXPORTER_OTLP_ENDPOINT is set, or BILLING_OTEL=1), but the "
    "OpenTelemetry packages are not installed: pip install 'billing-api[otel]' (from a "
    "checkout: pip install -e '.[otel]'), or turn traces off with BILLING_OTEL=0."
)


class TracingUnavailable(RuntimeError):
    """Traces are asked for, and the packages that make them are missing."""


def tracing_for(settings: Settings, exporter: SpanExporter | None = None) -> Tracing | None:
    """The service's tracing when traces are on, else None. `exporter`: where spans go
    instead of the OTLP endpoint (tests)."""
    if not settings.tracing:
        return None
    tracing: type[Tracing] = _otel().Tracing
    return tracing(settings, exporter)


def check_tracing(settings: Settings) -> None:
    """Raises `TracingUnavailable` when traces are on and cannot be made."""
    if settings.tracing:
        _otel()


def _otel() -> ModuleType:
    try:
        return import_module("app.ops.otel")
    except ModuleNotFoundError as exc:
        if not (exc.name or "").startswith("opentelemetry"):
            raise
        raise TracingUnavailable(EXTRA_MISSING) from exc
