"""`roundtable mcp` in one instrumentation variant, for observability_overhead.py (not a
benchmark itself): `bare` (metric objects replaced by no-ops, as `roundtable mcp` runs without
`PROMETHEUS_MULTIPROC_DIR`; tracing off), `metrics` (recording, as with that variable set),
`tracing` (recording, plus an SDK tracer whose exporter drops every span).

    python benchmarks/observability_variant.py bare|metrics|tracing
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Sequence

from roundtable import metrics, tracing
from roundtable.config import Settings
from roundtable.mcp.stdio import serve_stdio


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
        metrics.silence()
    elif variant == "tracing":
        drop_spans()
    elif variant != "metrics":
        raise SystemExit(f"unknown variant {variant!r}")
    asyncio.run(serve_stdio(Settings()))


if __name__ == "__main__":
    main(sys.argv[1])
