"""The one way a mesh client opens a channel: TLS when configured, the bearer token on every
call, the caller's trace context in the metadata, round-robin with retries.

Everything that dials a part (the SDK, the CLI, the orchestrator's engine, health checks,
bench scripts) comes here, so turning on TLS or tokens never misses a caller.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc
from opentelemetry.instrumentation.grpc import aio_client_interceptors

from mediamesh.config import Settings
from mediamesh.grpc_server import client_options
from mediamesh.security import channel_credentials, read_token, tls_channel_options


def _with_metadata(details: grpc.aio.ClientCallDetails,
                   extra: tuple[tuple[str, str], ...]) -> grpc.aio.ClientCallDetails:
    metadata = grpc.aio.Metadata(*(details.metadata or ()), *extra)
    return grpc.aio.ClientCallDetails(details.method, details.timeout, metadata,
                                      details.credentials, details.wait_for_ready)


class _TokenUnary(grpc.aio.UnaryUnaryClientInterceptor):
    def __init__(self, header: tuple[tuple[str, str], ...]) -> None:
        self.header = header

    async def intercept_unary_unary(self, continuation: Callable[..., Any],
                                    client_call_details: grpc.aio.ClientCallDetails,
                                    request: Any) -> Any:
        return await continuation(_with_metadata(client_call_details, self.header), request)


class _TokenStream(grpc.aio.UnaryStreamClientInterceptor):
    def __init__(self, header: tuple[tuple[str, str], ...]) -> None:
        self.header = header

    async def intercept_unary_stream(self, continuation: Callable[..., Any],
                                     client_call_details: grpc.aio.ClientCallDetails,
                                     request: Any) -> Any:
        return await continuation(_with_metadata(client_call_details, self.header), request)


def _interceptors(settings: Settings) -> list[grpc.aio.ClientInterceptor]:
    chain: list[grpc.aio.ClientInterceptor] = list(aio_client_interceptors())
    token = read_token(settings)
    if token:
        header = (("authorization", f"Bearer {token}"),)
        chain += [_TokenUnary(header), _TokenStream(header)]
    return chain


def open_channel(settings: Settings, target: str) -> grpc.aio.Channel:
    """An aio channel to `target` (host:port or a gRPC target) with the mesh's options."""
    options = [*client_options(settings.grpc_max_message_bytes), *tls_channel_options(settings)]
    credentials = channel_credentials(settings)
    if credentials is None:
        return grpc.aio.insecure_channel(target, options=options,
                                         interceptors=_interceptors(settings))
    return grpc.aio.secure_channel(target, credentials, options=options,
                                   interceptors=_interceptors(settings))


def open_part_channel(settings: Settings, part: str) -> grpc.aio.Channel:
    """An aio channel to a part of the mesh ("audio", ..., "orchestrator")."""
    return open_channel(settings, settings.service_address(part))


def open_blocking_channel(settings: Settings, target: str) -> grpc.Channel:
    """A synchronous channel (health checks from the supervisor and `mediamesh status`)."""
    credentials = channel_credentials(settings)
    if credentials is None:
        return grpc.insecure_channel(target)
    return grpc.secure_channel(target, credentials, options=tls_channel_options(settings))
