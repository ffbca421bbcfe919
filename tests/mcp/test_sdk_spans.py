"""The SDK's per-request OpenTelemetry middleware is dropped while nothing could receive its
spans, and kept when tracing is on (issue 16: ~2 % of a stdio append). Each case runs in its
own process: the global tracer provider can be set only once per process."""

from __future__ import annotations

import os
import subprocess
import sys

SCRIPT = """
from roundtable import tracing
from roundtable.mcp.server import build_server
tracing.configure_from_env()
async def lifespan(server):
    yield None
server = build_server(lifespan)
print(",".join(type(m).__name__ for m in server._lowlevel_server.middleware))
"""


def middleware(**env: str) -> list[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().split(",")


def test_without_tracing_the_sdk_makes_no_spans() -> None:
    assert "OpenTelemetryMiddleware" not in middleware()


def test_with_tracing_on_the_sdk_span_middleware_stays() -> None:
    assert "OpenTelemetryMiddleware" in middleware(OTEL_TRACES_EXPORTER="console")
