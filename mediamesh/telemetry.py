"""Traces and metrics of one mesh process: OpenTelemetry spans, Prometheus counters.

Why both: a trace answers "where did this run spend its time, across processes" (client ->
orchestrator -> service -> Triton, and across NATS, by W3C trace context in gRPC metadata and
message headers); metrics answer "how is this part doing right now" for dashboards and alerts.

Traces always get ids (so every log line of a call carries its trace_id), but are exported
only when `otlp_endpoint` is set (OTLP over HTTP: the same collector takes Triton's spans).
Metrics are served by prometheus_client on the part's gRPC port + `metrics_port_shift`.
"""
from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, MutableMapping
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
from prometheus_client import Counter, Gauge, Histogram, start_http_server

from mediamesh.config import Settings

TRACER_NAME = "mediamesh"
_provider: TracerProvider | None = None

# Metric names follow go-grpc-prometheus, which Grafana dashboards for gRPC already read.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300,
                    600, 1800)
RPC_STARTED = Counter("grpc_server_started_total", "RPCs started on the server",
                      ["grpc_service", "grpc_method"])
RPC_HANDLED = Counter("grpc_server_handled_total", "RPCs completed, by status code",
                      ["grpc_service", "grpc_method", "grpc_code"])
RPC_SECONDS = Histogram("grpc_server_handling_seconds", "Time to answer an RPC (whole stream)",
                        ["grpc_service", "grpc_method"], buckets=LATENCY_BUCKETS)
RPC_IN_FLIGHT = Gauge("grpc_server_in_flight", "RPCs being served now",
                      ["grpc_service", "grpc_method"])
TRITON_SECONDS = Histogram("mediamesh_triton_request_seconds",
                           "Round trip of one inference request to Triton", ["model"],
                           buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
                                    2.5, 5, 10, 30))
TRITON_FAILURES = Counter("mediamesh_triton_failures_total",
                          "Inference requests that failed after retries", ["model"])



def configure_tracing(part: str, settings: Settings,
                      exporter: SpanExporter | None = None) -> TracerProvider:
    """Install this process's tracer provider: named after the part, sampling by
    `trace_sample_ratio` unless the caller already decided, exporting to `otlp_endpoint`
    (or to `exporter`: tests pass an in-memory one)."""
    global _provider
    provider = TracerProvider(
        resource=Resource.create({"service.name": f"mediamesh-{part}",
                                  "service.namespace": "mediamesh"}),
        sampler=ParentBased(TraceIdRatioBased(settings.trace_sample_ratio)))
    if exporter is None and settings.otlp_endpoint:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        exporter = OTLPSpanExporter(endpoint=otlp_traces_url(settings.otlp_endpoint))
    if exporter is not None:
        provider.add_span_processor(BatchSpanProcessor(exporter, schedule_delay_millis=500))
    trace.set_tracer_provider(provider)
    _provider = provider
    return provider


def shutdown_tracing() -> None:
    """Flush spans still in the batch (a drained process must not lose its last calls)."""
    if _provider is not None:
        _provider.shutdown()


def otlp_traces_url(endpoint: str) -> str:
    """The OTLP/HTTP traces URL of a collector base URL (as OTEL_EXPORTER_OTLP_ENDPOINT)."""
    base = endpoint.rstrip("/")
    return base if base.endswith("/v1/traces") else f"{base}/v1/traces"


def start_metrics_endpoint(settings: Settings, port: int) -> int | None:
    """Serve /metrics for this process; None when metrics are turned off."""
    if not settings.metrics_port_shift:
        return None
    start_http_server(port, addr=settings.host)
    return port


def tracer() -> trace.Tracer:
    return trace.get_tracer(TRACER_NAME)


def inject(carrier: MutableMapping[str, str]) -> MutableMapping[str, str]:
    """Write the current trace context (W3C traceparent/tracestate) into headers."""
    propagate.inject(carrier)
    return carrier


def extract(carrier: Mapping[str, str]) -> otel_context.Context:
    return propagate.extract(carrier)


@contextlib.contextmanager
def attached(ctx: otel_context.Context) -> Iterator[None]:
    """Make `ctx` current for the block (a message handler joins its sender's trace)."""
    token = otel_context.attach(ctx)
    try:
        yield
    finally:
        otel_context.detach(token)


def current_traceparent() -> str:
    """The W3C traceparent of the current span, or '' outside any span."""
    return inject({}).get("traceparent", "")


def current_trace_ids() -> dict[str, str]:
    """trace_id / span_id of the current span (hex), for log lines; {} outside a span."""
    span_context = trace.get_current_span().get_span_context()
    if not span_context.is_valid:
        return {}
    return {"trace_id": f"{span_context.trace_id:032x}", "span_id": f"{span_context.span_id:016x}"}


def add_trace_ids(_logger: Any, _method: str, event: dict[str, Any]) -> dict[str, Any]:
    """structlog processor: every line logged inside a span names its trace and span."""
    for key, value in current_trace_ids().items():
        event.setdefault(key, value)
    return event
