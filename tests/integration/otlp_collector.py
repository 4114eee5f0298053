"""A real OTLP/HTTP trace collector on a local port: the mesh's processes (and Triton) export
their spans to it over HTTP, as they would to an OpenTelemetry Collector, and tests read
what arrived. Decoding uses the OTLP protobufs from opentelemetry-proto."""
from __future__ import annotations

import base64
import gzip
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2


@dataclass(frozen=True)
class ReceivedSpan:
    service: str
    name: str
    trace_id: str
    span_id: str
    parent_span_id: str
    kind: int
    attributes: dict[str, object]


def _value(any_value: object) -> object:
    kind = any_value.WhichOneof("value")  # type: ignore[attr-defined]
    return getattr(any_value, kind) if kind else None


def _spans(request: trace_service_pb2.ExportTraceServiceRequest) -> Iterator[ReceivedSpan]:
    for resource_spans in request.resource_spans:
        service = next((str(_value(a.value)) for a in resource_spans.resource.attributes
                        if a.key == "service.name"), "")
        for scope in resource_spans.scope_spans:
            for span in scope.spans:
                yield ReceivedSpan(service, span.name, span.trace_id.hex(), span.span_id.hex(),
                                   span.parent_span_id.hex(), span.kind,
                                   {a.key: _value(a.value) for a in span.attributes})


def _decode(content_type: str, encoding: str,
            body: bytes) -> trace_service_pb2.ExportTraceServiceRequest:
    """OTLP/HTTP bodies: protobuf (Python's exporter) or JSON (Triton's), maybe gzipped."""
    if encoding == "gzip":
        body = gzip.decompress(body)
    request = trace_service_pb2.ExportTraceServiceRequest()
    if "json" in content_type:  # OTLP JSON writes ids in hex, not protobuf JSON's base64
        document = json.loads(body)
        for resource_spans in document.get("resourceSpans", []):
            for scope in resource_spans.get("scopeSpans", []):
                for span in scope.get("spans", []):
                    for key in ("traceId", "spanId", "parentSpanId"):
                        if span.get(key):
                            span[key] = base64.b64encode(bytes.fromhex(span[key])).decode()
        json_format.ParseDict(document, request, ignore_unknown_fields=True)
    else:
        request.ParseFromString(body)
    return request


class OtlpCollector:
    """Collects every exported span in memory; `url` is the OTLP endpoint to configure."""

    def __init__(self) -> None:
        self.spans: list[ReceivedSpan] = []
        self.requests = 0
        self._lock = threading.Lock()
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's API
                request = _decode(self.headers.get("Content-Type", ""),
                                  self.headers.get("Content-Encoding", ""), self._body())
                with collector._lock:
                    collector.requests += 1
                    collector.spans.extend(_spans(request))
                reply = trace_service_pb2.ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def _body(self) -> bytes:
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    chunks = []
                    while size := int(self.rfile.readline().strip() or b"0", 16):
                        chunks.append(self.rfile.read(size))
                        self.rfile.readline()
                    self.rfile.readline()
                    return b"".join(chunks)
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> OtlpCollector:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def trace(self, trace_id: str) -> list[ReceivedSpan]:
        with self._lock:
            return [s for s in self.spans if s.trace_id == trace_id]

    def wait_for(self, predicate: Callable[[list[ReceivedSpan]], bool], trace_id: str,
                 timeout_s: float = 20.0) -> list[ReceivedSpan]:
        """The trace's spans once `predicate` holds (exporters batch: spans come late)."""
        deadline = time.monotonic() + timeout_s
        while True:
            spans = self.trace(trace_id)
            if predicate(spans) or time.monotonic() > deadline:
                return spans
            time.sleep(0.2)
