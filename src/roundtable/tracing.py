"""Optional OpenTelemetry tracing, and the ids (agent, session, project, namespace) of the call
in progress, shared by spans and log records.

Tracing is off unless the `[otel]` extra is installed and the standard `OTEL_*` variables ask
for it (`configure_from_env`): then every HTTP request and MCP tool call is a span. Off, every
helper here returns at once, so the request path pays one `if`.

MCP tool spans follow the OpenTelemetry GenAI conventions for tool execution: name
`execute_tool {tool}`, `gen_ai.operation.name = execute_tool`, `gen_ai.tool.name`; the calling
agent is `gen_ai.agent.name` and its session `gen_ai.conversation.id`. Roundtable's own ids are
`roundtable.namespace`, `roundtable.project`, `roundtable.session.id`, `roundtable.agent`.

`inject()` returns the W3C trace context of the current span as a small dict, and `span(...,
carrier=...)` continues from one: whoever queues work for later (a run) stores the carrier with
it, so the work's spans join the trace of the call that started it.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import os
import sys
from collections.abc import Iterator, Mapping
from types import MappingProxyType
from typing import Any

from roundtable import __version__

log = logging.getLogger("roundtable.tracing")

#: The ids of the call in progress (HTTP request, MCP tool call), for log records and spans.
_NO_IDS: Mapping[str, str] = MappingProxyType({})
_ids: contextvars.ContextVar[Mapping[str, str]] = contextvars.ContextVar(
    "roundtable_ids", default=_NO_IDS
)

#: The tracer when tracing is on; None means off (the common case: every helper is a no-op).
_tracer: Any = None

#: `annotate` keyword -> span attribute names it sets.
_ATTRIBUTES: dict[str, tuple[str, ...]] = {
    "agent": ("roundtable.agent", "gen_ai.agent.name"),
    "session": ("roundtable.session.id", "gen_ai.conversation.id"),
    "project": ("roundtable.project",),
    "namespace": ("roundtable.namespace",),
}

_TRUE = {"1", "true", "yes", "on"}


def enabled() -> bool:
    return _tracer is not None


def configure_from_env(service_name: str = "roundtable") -> bool:
    """Turn tracing on if the environment asks for it; returns whether it is on.

    It is asked for by `OTEL_TRACES_EXPORTER` (`otlp`, `console`, comma-separated; `none` keeps
    it off) or an OTLP endpoint (`OTEL_EXPORTER_OTLP_ENDPOINT`,
    `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`), and vetoed by `OTEL_SDK_DISABLED=true`. The exporter
    reads its own `OTEL_EXPORTER_OTLP_*` settings; `OTEL_SERVICE_NAME` defaults to
    `service_name` (`roundtable`, or `roundtable-runner` for the runner process).
    """
    if _tracer is not None:
        return True
    names = exporters_from_env(os.environ)
    if not names:
        return False
    try:
        from opentelemetry import trace
        from opentelemetry.sdk.resources import SERVICE_NAME, Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter
    except ImportError:
        log.warning(
            "OTEL_* variables ask for tracing but the [otel] extra is not installed "
            "(pip install 'roundtable-server[otel]'); tracing stays off"
        )
        return False
    resource = Resource.create(
        {} if os.environ.get("OTEL_SERVICE_NAME") else {SERVICE_NAME: service_name}
    )
    provider = TracerProvider(resource=resource)
    for name in names:
        if name == "otlp":
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        elif name == "console":  # stderr: stdout is the MCP protocol under `roundtable mcp`
            provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter(out=sys.stderr)))
        else:
            log.warning("unknown OTEL_TRACES_EXPORTER %r ignored (otlp, console, none)", name)
    trace.set_tracer_provider(provider)
    install(provider)
    return True


def exporters_from_env(env: Mapping[str, str]) -> list[str]:
    """The span exporters the standard variables ask for; empty means tracing stays off."""
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() in _TRUE:
        return []
    names = [n.strip() for n in env.get("OTEL_TRACES_EXPORTER", "").split(",") if n.strip()]
    endpoint = env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or env.get(
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
    )
    if not names and endpoint:
        names = ["otlp"]
    return [n for n in names if n != "none"]


def install(provider: Any) -> None:
    """Trace through `provider` (an SDK `TracerProvider`; tests pass one with an in-memory
    exporter)."""
    global _tracer
    _tracer = provider.get_tracer("roundtable", __version__)


def uninstall() -> None:
    global _tracer
    _tracer = None


def ids() -> Mapping[str, str]:
    """The ids of the call in progress (for log records)."""
    return _ids.get()


class call_scope:
    """Start a fresh id scope for one call; the ids set inside go when it ends. A plain class
    rather than a generator context manager: it wraps every HTTP request (issue 16)."""

    __slots__ = ("_token",)

    def __enter__(self) -> None:
        self._token = _ids.set(_NO_IDS)

    def __exit__(self, *exc: object) -> None:
        _ids.reset(self._token)


def annotate(**values: str | None) -> None:
    """Record the call's ids (agent, session, project, namespace) for its logs and span."""
    given = {k: v for k, v in values.items() if isinstance(v, str) and v}
    if not given:
        return
    _ids.set({**_ids.get(), **given})
    if _tracer is None:
        return
    from opentelemetry import trace

    current = trace.get_current_span()
    if current.is_recording():
        for key, value in given.items():
            for attribute in _ATTRIBUTES.get(key, (f"roundtable.{key}",)):
                current.set_attribute(attribute, value)


@contextlib.contextmanager
def span(
    name: str,
    *,
    kind: str = "internal",
    attributes: Mapping[str, Any] | None = None,
    carrier: Mapping[str, str] | None = None,
) -> Iterator[Any]:
    """A span around the block (None when tracing is off); `carrier` continues a trace whose
    context came from elsewhere (HTTP headers, a stored `inject()`). An exception escaping the
    block marks the span as an error."""
    if _tracer is None:
        yield None
        return
    from opentelemetry import propagate, trace

    context = propagate.extract(carrier) if carrier else None
    with _tracer.start_as_current_span(
        name,
        context=context,
        kind=getattr(trace.SpanKind, kind.upper()),
        attributes=dict(attributes or {}),
    ) as current:
        for key, value in _ids.get().items():
            for attribute in _ATTRIBUTES.get(key, (f"roundtable.{key}",)):
                current.set_attribute(attribute, value)
        yield current


def inject() -> dict[str, str]:
    """The current trace context as W3C headers (`traceparent`, ...); empty when tracing is off."""
    if _tracer is None:
        return {}
    from opentelemetry import propagate

    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier


def current_trace_ids() -> tuple[str, str] | None:
    """(trace id, span id) in hex of the current span, for log records; None when off."""
    if _tracer is None:
        return None
    from opentelemetry import trace

    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return None
    return format(context.trace_id, "032x"), format(context.span_id, "016x")


def mark_error(current: Any, description: str) -> None:
    """Set an error status on `current` (a span from `span`, or None)."""
    if current is None:
        return
    from opentelemetry.trace import Status, StatusCode

    current.set_status(Status(StatusCode.ERROR, description))
