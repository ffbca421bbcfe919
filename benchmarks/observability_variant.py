"""`roundtable mcp` in one instrumentation variant, for observability_overhead.py (not a
benchmark itself): `bare` (metric objects replaced by no-ops, tracing off), `metrics` (as
shipped), `tracing` (as shipped, plus an SDK tracer whose exporter drops every span).

    python benchmarks/observability_variant.py bare|metrics|tracing
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Sequence
from typing import Any

from prometheus_client.metrics import MetricWrapperBase

from roundtable import metrics, tracing
from roundtable.config import Settings
from roundtable.mcp.stdio import serve_stdio


class _NoMetric:
    """Accepts every call a metric object gets, and does nothing."""

    def labels(self, *args: Any, **kwargs: Any) -> _NoMetric:
        return self

    def observe(self, *args: Any) -> None:
        pass

    def inc(self, *args: Any) -> None:
        pass

    def dec(self, *args: Any) -> None:
        pass


def strip_metrics() -> None:
    for name in dir(metrics):
        if isinstance(getattr(metrics, name), MetricWrapperBase):
            setattr(metrics, name, _NoMetric())


def drop_spans() -> None:
    from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
    from opentelemetry.sdk.trace.export import (
        BatchSpanProcessor,
        SpanExporter,
        SpanExportResult,
    )

    class Drop(SpanExporter):
        def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(Drop()))
    tracing.install(provider)


def main(variant: str) -> None:
    if variant == "bare":
        strip_metrics()
    elif variant == "tracing":
        drop_spans()
    elif variant != "metrics":
        raise SystemExit(f"unknown variant {variant!r}")
    asyncio.run(serve_stdio(Settings()))


if __name__ == "__main__":
    main(sys.argv[1])
