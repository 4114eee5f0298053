"""What every mesh service process shares: settings, media store, Triton client, serving.

A service module only says which servicers it has and which Triton models it needs;
`run_service` does the rest (config, JSON logs, health, readiness, graceful drain).
"""
from __future__ import annotations

import argparse
import asyncio
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mediamesh.config import Settings, load_settings
from mediamesh.diagnostics import diagnostics_binding
from mediamesh.grpc_server import MeshServer, ServiceBinding
from mediamesh.inference import TritonClient
from mediamesh.logs import configure_logging, get_logger
from mediamesh.nats_client import nats_options
from mediamesh.remote_fetch import FetchPolicy
from mediamesh.security import CallGuard, server_credentials
from mediamesh.storage import MediaStore
from mediamesh.telemetry import configure_tracing, shutdown_tracing, start_metrics_endpoint

log = get_logger()

READINESS_POLL_S = 2.0  # while ready
UNREADY_POLL_S = 0.25  # while waiting for dependencies: notice them quickly


@dataclass
class ServiceContext:
    """Shared, stateless-between-calls dependencies handed to a service's servicers."""

    settings: Settings
    store: MediaStore
    triton: TritonClient

    @classmethod
    def from_settings(cls, settings: Settings) -> ServiceContext:
        store = MediaStore(settings.media_root,
                           inline_limit_bytes=settings.inline_limit_bytes,
                           nats_url=settings.nats_address,
                           nats_options=nats_options(settings),
                           remote=FetchPolicy.of(settings.http_fetch_allowed_networks,
                                                 settings.http_fetch_max_bytes,
                                                 settings.http_fetch_timeout_s)
                           if settings.http_fetch else None,
                           scratch_dir=settings.state_dir / "scratch")
        triton = TritonClient(settings.triton_address, timeout_s=settings.triton_timeout_s,
                              retries=settings.triton_retries,
                              shared_memory=settings.triton_uses_shared_memory)
        return cls(settings, store, triton)

    async def close(self) -> None:
        await self.triton.close()
        await self.store.close()


BuildBindings = Callable[[ServiceContext], Sequence[ServiceBinding]]
#: Is the service able to do its work right now (its dependencies answer)? Never raises.
Readiness = Callable[[ServiceContext], Awaitable[bool]]


def triton_models_ready(models: Sequence[str]) -> Readiness:
    """Readiness of a service that needs these Triton models."""
    async def check(ctx: ServiceContext) -> bool:
        return await ctx.triton.is_ready(models)
    return check


async def _track_readiness(server: MeshServer, ctx: ServiceContext, readiness: Readiness) -> None:
    """Per-service health follows readiness; "" stays SERVING (liveness) until drain."""
    ready: bool | None = None
    while True:
        now = await readiness(ctx)
        if now != ready:
            for binding in server.bindings:
                await server.set_serving(now, binding.service_name)
            log.info("readiness.changed", ready=now)
            ready = now
        await asyncio.sleep(READINESS_POLL_S if ready else UNREADY_POLL_S)


#: Work a process does besides serving (e.g. the orchestrator's engine): started after the
#: server, in the background so liveness never waits on dependencies; stopped on drain.
Background = Callable[[ServiceContext], Coroutine[Any, Any, None]]


async def serve(part: str, settings: Settings, build: BuildBindings,
                readiness: Readiness | None = None, background: Background | None = None,
                on_stop: Background | None = None) -> None:
    configure_tracing(part, settings)
    ctx = ServiceContext.from_settings(settings)
    bindings = [*build(ctx), diagnostics_binding(ctx.triton)]
    server = MeshServer(bindings, settings.service_address(part),
                        max_message_bytes=settings.grpc_max_message_bytes,
                        shutdown_grace_s=settings.shutdown_grace_s,
                        credentials=server_credentials(settings),
                        guard=CallGuard.from_settings(settings),
                        drain_delay_s=settings.drain_delay_s)
    await server.start()
    metrics_port = settings.metrics_port(part)
    if metrics_port is not None:
        start_metrics_endpoint(settings, metrics_port)
        log.info("metrics.serving", port=metrics_port)
    watcher = None
    if readiness:  # named services stay NOT_SERVING until their dependencies answer
        for binding in server.bindings:
            await server.set_serving(False, binding.service_name)
        watcher = asyncio.create_task(_track_readiness(server, ctx, readiness))
    worker: asyncio.Task[None] | None = (asyncio.create_task(background(ctx))
                                         if background else None)
    try:
        await server.serve_until_signalled()
    finally:
        if on_stop:
            await on_stop(ctx)
        for task in (watcher, worker):
            if task:
                task.cancel()
        await ctx.close()
        shutdown_tracing()


def run_service(part: str, build: BuildBindings, readiness: Readiness | None = None,
                background: Background | None = None, on_stop: Background | None = None) -> None:
    """Entry point of `python -m services.<name> --config mesh.json`."""
    parser = argparse.ArgumentParser(prog=f"mediamesh-{part}")
    parser.add_argument("--config", type=Path, default=None,
                        help="mesh settings (the mesh.json that `mediamesh up` writes, or TOML)")
    parser.add_argument("--port", type=int, default=None,
                        help="listen on this port instead of the configured one (a replica)")
    args = parser.parse_args()
    overrides = {f"{part}_port": args.port} if args.port else {}
    settings = load_settings(args.config, **overrides)
    configure_logging(part, settings.log_level)
    asyncio.run(serve(part, settings, build, readiness, background, on_stop))
