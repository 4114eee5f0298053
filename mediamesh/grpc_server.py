"""The one way every mesh process serves gRPC.

An aio server with grpc.health.v1 and reflection, explicit message-size limits, an
interceptor that logs each call and turns every exception into a real status (never
UNKNOWN), and a graceful drain on SIGTERM: health goes NOT_SERVING first, then in-flight
calls get `shutdown_grace_s` to finish.
"""
from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1._async import HealthServicer
from grpc_reflection.v1alpha import reflection
from opentelemetry.instrumentation.grpc import aio_server_interceptor, filters

from mediamesh.errors import InvalidArgument, MeshError
from mediamesh.grpc_errors import map_exception
from mediamesh.logs import bind_context, bound_context, get_logger
from mediamesh.security import CallGuard
from mediamesh.telemetry import RPC_HANDLED, RPC_IN_FLIGHT, RPC_SECONDS, RPC_STARTED

log = get_logger()


def grpc_options(max_message_bytes: int) -> list[tuple[str, Any]]:
    """Channel/server options shared by servers and clients of the mesh."""
    return [
        ("grpc.max_send_message_length", max_message_bytes),
        ("grpc.max_receive_message_length", max_message_bytes),
        ("grpc.keepalive_time_ms", 30_000),
        ("grpc.keepalive_permit_without_calls", 1),
        # accept the clients' 30 s keepalive pings on long, quiet streams (a watched run);
        # the defaults (5 min minimum) answer them with GOAWAY "too many pings"
        ("grpc.http2.min_recv_ping_interval_without_data_ms", 10_000),
        ("grpc.http2.max_pings_without_data", 0),
        ("grpc.so_reuseport", 0),  # two meshes must not silently share a port
    ]


#: Clients spread calls over every address a target resolves to (`ipv4:host:a,host:b` for
#: replicas on one machine, `dns:///name` of a headless Service in Kubernetes), skipping
#: replicas whose connection failed; with one address nothing changes. A call that fails
#: UNAVAILABLE before any reply (a replica gone, a connection refused) is tried again, on
#: another replica when there is one: gRPC never retries once a reply has arrived, and our
#: jobs stage their outputs, so a retried call never half-writes anything.
_SERVICE_CONFIG = json.dumps({
    "loadBalancingConfig": [{"round_robin": {}}],
    "methodConfig": [{"name": [{}], "retryPolicy": {
        "maxAttempts": 3, "initialBackoff": "0.5s", "maxBackoff": "2s",
        "backoffMultiplier": 2, "retryableStatusCodes": ["UNAVAILABLE"]}}]})


def client_options(max_message_bytes: int) -> list[tuple[str, Any]]:
    """Channel options of the mesh's clients: the shared ones, round-robin balancing with
    retries of UNAVAILABLE, and reconnection within 2 s of a part coming back (parts
    restart under supervision or Kubernetes; the default back-off grows to 2 minutes)."""
    return [*grpc_options(max_message_bytes), ("grpc.service_config", _SERVICE_CONFIG),
            ("grpc.initial_reconnect_backoff_ms", 250), ("grpc.min_reconnect_backoff_ms", 250),
            ("grpc.max_reconnect_backoff_ms", 2000)]


@dataclass
class _Outcome:
    """The status a call ended with, for its metrics."""

    code: str = "OK"


class _MethodMetrics:
    """The Prometheus children of one RPC, bound once (label lookups are not free)."""

    def __init__(self, method: str) -> None:
        service, _, name = method.strip("/").partition("/")
        self.labels = (service, name)
        self.started = RPC_STARTED.labels(service, name)
        self.seconds = RPC_SECONDS.labels(service, name)
        self.in_flight = RPC_IN_FLIGHT.labels(service, name)

    @contextlib.contextmanager
    def measure(self) -> Iterator[_Outcome]:
        outcome = _Outcome()
        self.started.inc()
        self.in_flight.inc()
        started = time.perf_counter()
        try:
            yield outcome
        except asyncio.CancelledError:  # the client went away or its deadline passed
            outcome.code = "CANCELLED"
            raise
        finally:
            self.in_flight.dec()
            self.seconds.observe(time.perf_counter() - started)
            RPC_HANDLED.labels(*self.labels, outcome.code).inc()


async def _abort(context: grpc.aio.ServicerContext, exc: BaseException, method: str,
                 outcome: _Outcome) -> None:
    if isinstance(exc, NotImplementedError) and str(exc) in ("", "Method not implemented!"):
        # the generated base servicer's default: say which RPC, not a generic line
        exc = NotImplementedError(f"{method.strip('/').replace('/', '.')} is not implemented "
                                  "in this version of mediamesh yet")
    mapped = map_exception(exc)
    outcome.code = mapped.code.name
    if mapped.code == grpc.StatusCode.INTERNAL:
        log.error("rpc.internal_error", rpc=method, exc_info=exc)
    await context.abort(mapped.code, mapped.message, trailing_metadata=mapped.trailing_metadata())


def _aborted_code(context: grpc.aio.ServicerContext) -> str:
    code = context.code() if hasattr(context, "code") else None
    return code.name if isinstance(code, grpc.StatusCode) else "UNKNOWN"


async def _resolve(result: Any) -> Any:
    return await result if inspect.isawaitable(result) else result


@dataclass(frozen=True)
class _Undecodable:
    """Bytes that are not the RPC's request message: answered INVALID_ARGUMENT by the
    handler (grpcio answers a deserializer's exception with UNKNOWN, before any handler)."""

    error: str


def _tolerant(deserializer: Callable[[bytes], Any] | None) -> Callable[[bytes], Any] | None:
    if deserializer is None:
        return None

    def decode(payload: bytes) -> Any:
        try:
            return deserializer(payload)
        except Exception as exc:  # noqa: BLE001 - DecodeError, RecursionError...: all bad bytes
            return _Undecodable(f"{type(exc).__name__}: {exc}"[:300])
    return decode


def _decoded(request: Any, method: str) -> Any:
    if isinstance(request, _Undecodable):
        name = method.strip("/").replace("/", ".")
        raise InvalidArgument(f"the request is not a valid protobuf message for {name} "
                              f"({request.error}); send the message the contract defines")
    return request


def _admit(guard: CallGuard | None, method: str, context: grpc.aio.ServicerContext) -> None:
    """Refuse an unauthorised call before any work (raises a MeshError)."""
    if guard is not None and guard.enabled:
        caller = guard.admit(method, context.invocation_metadata() or (),
                             context.auth_context() or {})
        bind_context(caller=caller.name)


def _wrap_unary(behavior: Callable[..., Any], method: str,
                guard: CallGuard | None) -> Callable[..., Awaitable[Any]]:
    metrics = _MethodMetrics(method)

    async def handler(request: Any, context: grpc.aio.ServicerContext) -> Any:
        started = time.perf_counter()
        with bound_context(**_call_context(context, method)), metrics.measure() as outcome:
            try:
                _admit(guard, method, context)
                response = await _resolve(behavior(_decoded(request, method), context))
            except grpc.aio.AbortError:
                outcome.code = _aborted_code(context)
                raise
            except Exception as exc:  # noqa: BLE001 - every exception gets a real status
                log.info("rpc.failed", ms=_ms(started), error=str(exc), kind=type(exc).__name__)
                await _abort(context, exc, method, outcome)
            log.info("rpc.ok", ms=_ms(started))  # the access log: one line per call
            return response
    return handler


def _wrap_stream(behavior: Callable[..., Any], method: str,
                 guard: CallGuard | None) -> Callable[..., AsyncIterator[Any]]:
    metrics = _MethodMetrics(method)

    async def handler(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
        started = time.perf_counter()
        with bound_context(**_call_context(context, method)), metrics.measure() as outcome:
            try:
                _admit(guard, method, context)
                result = await _resolve(behavior(_decoded(request, method), context))
                if hasattr(result, "__aiter__"):
                    async for item in result:
                        yield item
                elif result is not None:
                    for item in result:
                        yield item
            except grpc.aio.AbortError:
                outcome.code = _aborted_code(context)
                raise
            except Exception as exc:  # noqa: BLE001
                log.info("rpc.failed", ms=_ms(started), error=str(exc), kind=type(exc).__name__)
                await _abort(context, exc, method, outcome)
            log.info("rpc.ok", ms=_ms(started))  # the access log: one line per call
    return handler


#: Metadata a workflow step's call carries: its run, so the service's logs name it too.
RUN_ID_METADATA = "mediamesh-run-id"


def _call_context(context: grpc.aio.ServicerContext, method: str) -> dict[str, str]:
    """Log context of a call: the RPC, and the workflow run it serves when it says so (the
    trace and span ids come from the call's span, see telemetry.add_trace_ids)."""
    fields = {"rpc": method}
    for key, value in context.invocation_metadata() or ():
        if key == RUN_ID_METADATA and isinstance(value, str) and len(value) <= 128:
            fields["run_id"] = value
    return fields


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 3)


class ErrorMappingInterceptor(grpc.aio.ServerInterceptor):
    """Wraps unary-unary and unary-stream handlers (the shapes our contracts use): the
    caller is admitted (or refused) first, every exception becomes a real status, and each
    call is counted and timed."""

    def __init__(self, guard: CallGuard | None = None) -> None:
        self.guard = guard
        # method -> wrapped handler: built once, not on every call (this is the hot path)
        self._wrapped: dict[str, Any] = {}

    async def intercept_service(self, continuation: Callable[..., Any],
                                handler_call_details: grpc.HandlerCallDetails) -> Any:
        method = handler_call_details.method
        cached = self._wrapped.get(method)
        if cached is not None:
            return cached
        handler = await continuation(handler_call_details)
        if handler is None:
            return None
        wrapped = handler
        if method.startswith("/grpc.health"):
            pass
        elif handler.unary_unary:
            wrapped = grpc.unary_unary_rpc_method_handler(
                _wrap_unary(handler.unary_unary, method, self.guard),
                request_deserializer=_tolerant(handler.request_deserializer),
                response_serializer=handler.response_serializer)
        elif handler.unary_stream:
            wrapped = grpc.unary_stream_rpc_method_handler(
                _wrap_stream(handler.unary_stream, method, self.guard),
                request_deserializer=_tolerant(handler.request_deserializer),
                response_serializer=handler.response_serializer)
        elif handler.stream_stream and self.guard is not None and self.guard.enabled:
            wrapped = _guarded_bidi(handler, method, self.guard)  # server reflection
        self._wrapped[method] = wrapped
        return wrapped


def _guarded_bidi(handler: Any, method: str, guard: CallGuard) -> Any:
    """Reflection (a bidi stream) answers only admitted callers: it lists the whole API."""
    async def behavior(requests: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
        try:
            _admit(guard, method, context)
        except MeshError as exc:
            mapped = map_exception(exc)
            await context.abort(mapped.code, mapped.message)
        async for reply in handler.stream_stream(requests, context):
            yield reply
    return grpc.stream_stream_rpc_method_handler(
        behavior, request_deserializer=handler.request_deserializer,
        response_serializer=handler.response_serializer)


@dataclass(frozen=True)
class ServiceBinding:
    """A servicer plus the generated `add_XServicer_to_server` and its full service name."""

    servicer: object
    add_to_server: Callable[[object, grpc.aio.Server], None]
    service_name: str

    @classmethod
    def of(cls, servicer: object, pb2: Any, pb2_grpc: Any, service: str) -> ServiceBinding:
        """Binding from the generated modules, e.g. `of(s, audio_pb2, audio_pb2_grpc, "AudioService")`."""
        return cls(servicer, getattr(pb2_grpc, f"add_{service}Servicer_to_server"),
                   pb2.DESCRIPTOR.services_by_name[service].full_name)


def unimplemented_service(pb2: Any, pb2_grpc: Any, service: str) -> ServiceBinding:
    """A service whose RPCs all answer UNIMPLEMENTED (the generated base class does that and
    the interceptor names the RPC): the contract is served before its implementation lands."""
    return ServiceBinding.of(getattr(pb2_grpc, f"{service}Servicer")(), pb2, pb2_grpc, service)


class MeshServer:
    """An aio gRPC server for one part of the mesh, with health and reflection."""

    def __init__(self, bindings: Sequence[ServiceBinding], address: str, *,
                 max_message_bytes: int, shutdown_grace_s: float = 10.0,
                 interceptors: Sequence[grpc.aio.ServerInterceptor] = (),
                 credentials: grpc.ServerCredentials | None = None,
                 guard: CallGuard | None = None, drain_delay_s: float = 0.0) -> None:
        self.address = address
        self.bindings = list(bindings)
        self.shutdown_grace_s = shutdown_grace_s
        self.drain_delay_s = drain_delay_s
        self.credentials = credentials
        self.health = HealthServicer()
        # OpenTelemetry's interceptor first: its span (joined to the caller's trace) is
        # current while ours admits, logs and maps errors; health probes are not traced
        tracing = aio_server_interceptor(filter_=filters.negate(filters.health_check()))
        self.server = grpc.aio.server(
            interceptors=[tracing, ErrorMappingInterceptor(guard), *interceptors],
            options=grpc_options(max_message_bytes))
        for binding in self.bindings:
            binding.add_to_server(binding.servicer, self.server)
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        names = [b.service_name for b in self.bindings]
        reflection.enable_server_reflection(
            [*names, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
             reflection.SERVICE_NAME], self.server)
        self.port = 0
        self._stopping = asyncio.Event()

    async def start(self) -> int:
        """Bind and start; fails with a clear message when the port is taken."""
        try:
            self.port = (self.server.add_secure_port(self.address, self.credentials)
                         if self.credentials is not None
                         else self.server.add_insecure_port(self.address))
        except RuntimeError as exc:
            raise RuntimeError(f"cannot listen on {self.address} (port in use?): {exc}") from exc
        await self.server.start()
        await self.set_serving(True)
        log.info("server.started", address=self.address,
                 services=[b.service_name for b in self.bindings])
        return self.port

    async def set_serving(self, serving: bool, service: str | None = None) -> None:
        status = (health_pb2.HealthCheckResponse.SERVING if serving
                  else health_pb2.HealthCheckResponse.NOT_SERVING)
        names = [service] if service is not None else ["", *[b.service_name for b in self.bindings]]
        for name in names:
            await self.health.set(name, status)

    async def stop(self) -> None:
        """Drain: NOT_SERVING first (still taking calls for drain_delay_s, while traffic
        moves away), then no new calls and in-flight ones finish within the grace."""
        await self.health.enter_graceful_shutdown()
        if self.drain_delay_s:
            await asyncio.sleep(self.drain_delay_s)
        await self.server.stop(self.shutdown_grace_s)
        log.info("server.stopped", address=self.address)
        self._stopping.set()

    async def serve_until_signalled(self) -> None:
        """Run until SIGTERM/SIGINT, then stop gracefully."""
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        waiter = asyncio.create_task(self.server.wait_for_termination())
        stopper = asyncio.create_task(stop.wait())
        await asyncio.wait({waiter, stopper}, return_when=asyncio.FIRST_COMPLETED)
        if stop.is_set():
            log.info("server.draining", grace_s=self.shutdown_grace_s)
            await self.stop()
        for task in (waiter, stopper):
            task.cancel()
