"""Is each part up? One probe per kind of part, each bounded by a timeout, never raising."""
from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from mediamesh.channels import open_blocking_channel
from mediamesh.config import Settings
from mediamesh.mesh.parts import HealthKind, Part


@dataclass(frozen=True)
class PartHealth:
    name: str
    healthy: bool
    detail: str


def _http_ok(url: str, timeout_s: float, method: str = "GET") -> tuple[bool, str]:
    request = urllib.request.Request(url, method=method, data=b"{}" if method == "POST" else None)
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            return response.status == 200, response.read().decode(errors="replace")
    except urllib.error.HTTPError as exc:
        return False, f"HTTP {exc.code}"
    except (urllib.error.URLError, OSError) as exc:
        return False, str(getattr(exc, "reason", exc))


def grpc_health(address: str, timeout_s: float = 1.0, service: str = "",
                settings: Settings | None = None) -> tuple[bool, str]:
    """(serving?, status name) of a part's grpc.health.v1 (over TLS when `settings` say)."""
    channel = (open_blocking_channel(settings, address) if settings is not None
               else grpc.insecure_channel(address))
    with channel:
        try:
            reply = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=service), timeout=timeout_s)
        except grpc.RpcError as exc:
            return False, exc.code().name  # type: ignore[attr-defined]
    status = health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
    return reply.status == health_pb2.HealthCheckResponse.SERVING, status


def check_part(part: Part, settings: Settings, timeout_s: float = 1.0) -> PartHealth:
    host = settings.host
    if part.health is HealthKind.GRPC:
        ok, detail = grpc_health(part.address, timeout_s, settings=settings)
        if ok and part.readiness_service:  # live; are its dependencies there too?
            ready, _ = grpc_health(part.address, timeout_s, part.readiness_service, settings)
            ok, detail = ready, ("SERVING" if ready else "LIVE, NOT READY (dependencies)")
    elif part.health is HealthKind.TRITON:
        ok, detail = _http_ok(f"http://{host}:{part.health_port}/v2/health/ready", timeout_s)
        detail = "READY" if ok else (detail or "not ready")
    else:
        ok, detail = _http_ok(f"http://{host}:{part.health_port}/healthz?js-enabled-only=true",
                              timeout_s)
        detail = "JetStream ok" if ok else detail
    return PartHealth(part.name, ok, detail)


def triton_models(settings: Settings, timeout_s: float = 2.0) -> list[dict[str, str]]:
    """Triton's repository index (name, version, state, reason), or [] when unreachable."""
    ok, body = _http_ok(f"http://{settings.host}:{settings.triton_http_port}/v2/repository/index",
                        timeout_s, method="POST")
    return json.loads(body) if ok else []


def wait_healthy(parts: Sequence[Part], settings: Settings, timeout_s: float,
                 on_change: object = None) -> list[PartHealth]:
    """Poll until every part is healthy or the timeout passes; returns the last readings."""
    deadline = time.monotonic() + timeout_s
    readings: dict[str, PartHealth] = {}
    while True:
        for part in parts:
            if part.name in readings and readings[part.name].healthy:
                continue
            reading = check_part(part, settings)
            if callable(on_change) and reading.healthy and not (
                    part.name in readings and readings[part.name].healthy):
                on_change(reading)
            readings[part.name] = reading
        if all(r.healthy for r in readings.values()) or time.monotonic() > deadline:
            return [readings[p.name] for p in parts]
        time.sleep(0.25)
