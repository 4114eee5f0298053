"""The one way every mesh process serves gRPC.

An aio server with grpc.health.v1 and reflection, explicit message-size limits, an
interceptor that logs each call and turns every exception into a real status (never
UNKNOWN), and a graceful drain on SIGTERM: health goes NOT_SERVING first, then in-flight
calls get `shutdown_grace_s` to finish.
"""
from __future__ import annotations

import asyncio
import inspect
import json
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1._async import HealthServicer
from grpc_reflection.v1alpha import reflection

from mediamesh.grpc_errors import map_exception
from mediamesh.logs import bound_context, get_logger

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


async def _abort(context: grpc.aio.ServicerContext, exc: BaseException, method: str) -> None:
    if isinstance(exc, NotImplementedError) and str(exc) in ("", "Method not implemented!"):
        # the generated base servicer's default: say which RPC, not a generic line
        exc = NotImplementedError(f"{method.strip('/').replace('/', '.')} is not implemented "
                                  "in this version of mediamesh yet")
    mapped = map_exception(exc)
    if mapped.code == grpc.StatusCode.INTERNAL:
        log.error("rpc.internal_error", rpc=method, exc_info=exc)
    await context.abort(mapped.code, mapped.message, trailing_metadata=mapped.trailing_metadata())


async def _resolve(result: Any) -> Any:
    return await result if inspect.isawaitable(result) else result


def _wrap_unary(behavior: Callable[..., Any], method: str) -> Callable[..., Awaitable[Any]]:
    async def handler(request: Any, context: grpc.aio.ServicerContext) -> Any:
        started = time.perf_counter()
        with bound_context(**_call_context(context, method)):
            try:
                response = await _resolve(behavior(request, context))
            except grpc.aio.AbortError:
                raise
            except Exception as exc:  # noqa: BLE001 - every exception gets a real status
                log.info("rpc.failed", ms=_ms(started), error=str(exc), kind=type(exc).__name__)
                await _abort(context, exc, method)
            log.debug("rpc.ok", ms=_ms(started))
            return response
    return handler


def _wrap_stream(behavior: Callable[..., Any], method: str) -> Callable[..., AsyncIterator[Any]]:
    async def handler(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
        started = time.perf_counter()
        with bound_context(**_call_context(context, method)):
            try:
                result = await _resolve(behavior(request, context))
                if hasattr(result, "__aiter__"):
                    async for item in result:
                        yield item
                elif result is not None:
                    for item in result:
                        yield item
            except grpc.aio.AbortError:
                raise
            except Exception as exc:  # noqa: BLE001
                log.info("rpc.failed", ms=_ms(started), error=str(exc), kind=type(exc).__name__)
                await _abort(context, exc, method)
            log.debug("rpc.ok", ms=_ms(started))
    return handler


def _call_context(context: grpc.aio.ServicerContext, method: str) -> dict[str, str]:
    """Log context of a call: the RPC, and the W3C trace id when the caller sent one."""
    fields = {"rpc": method}
    for key, value in context.invocation_metadata() or ():
        if key == "traceparent" and isinstance(value, str):
            parts = value.split("-")
            if len(parts) == 4 and len(parts[1]) == 32:
                fields["trace_id"] = parts[1]
    return fields


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 3)


class ErrorMappingInterceptor(grpc.aio.ServerInterceptor):
    """Wraps unary-unary and unary-stream handlers (the shapes our contracts use)."""

    def __init__(self) -> None:
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
        if method.startswith(("/grpc.health", "/grpc.reflection")):
            pass
        elif handler.unary_unary:
            wrapped = grpc.unary_unary_rpc_method_handler(
                _wrap_unary(handler.unary_unary, method),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer)
        elif handler.unary_stream:
            wrapped = grpc.unary_stream_rpc_method_handler(
                _wrap_stream(handler.unary_stream, method),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer)
        self._wrapped[method] = wrapped
        return wrapped


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
                 interceptors: Sequence[grpc.aio.ServerInterceptor] = ()) -> None:
        self.address = address
        self.bindings = list(bindings)
        self.shutdown_grace_s = shutdown_grace_s
        self.health = HealthServicer()
        self.server = grpc.aio.server(
            interceptors=[ErrorMappingInterceptor(), *interceptors],
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
            self.port = self.server.add_insecure_port(self.address)
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
        """Drain: NOT_SERVING first, then let in-flight calls finish within the grace."""
        await self.health.enter_graceful_shutdown()
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
