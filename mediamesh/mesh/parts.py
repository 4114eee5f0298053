"""The parts of an embedded mesh: what runs, how it is checked, where it listens."""
from __future__ import annotations

import math
import sys
from dataclasses import dataclass, field
from enum import StrEnum

from mediamesh.config import SERVICES, SOURCE_ROOT, Settings
from mediamesh.mesh import servers


class HealthKind(StrEnum):
    GRPC = "grpc"  # grpc.health.v1 on the port
    TRITON = "triton"  # Triton's own readiness (server + every model)
    NATS = "nats"  # the monitor's /healthz with JetStream enabled


@dataclass(frozen=True)
class Part:
    name: str
    command: list[str]
    address: str  # what clients dial
    health: HealthKind
    health_port: int
    priority: int = 100  # supervisor start order: servers first
    readiness_service: str = ""  # grpc.health.v1 name that says "dependencies answer"
    environment: dict[str, str] = field(default_factory=dict)
    stop_wait_s: int = 15


#: The contract service each part serves; its health entry is the part's readiness.
GRPC_SERVICE_NAMES = {
    "audio": "mediamesh.v1.AudioService",
    "vision": "mediamesh.v1.VisionService",
    "text": "mediamesh.v1.TextService",
    "compose": "mediamesh.v1.ComposeService",
    "orchestrator": "mediamesh.v1.WorkflowService",
}


def service_command(settings: Settings, module: str) -> list[str]:
    return [sys.executable, "-m", module, "--config", str(settings.resolved_config_path)]


def mesh_parts(settings: Settings) -> list[Part]:
    """Every supervised process of this mesh, servers first."""
    parts: list[Part] = []
    if settings.embedded_nats:
        parts.append(Part("nats", servers.nats_command(settings), settings.nats_address,
                          HealthKind.NATS, int(settings.nats_monitor_port or 0), priority=10))
    if settings.embedded_triton:
        backends = servers.triton_backends_dir(settings)
        parts.append(Part("triton", servers.triton_command(settings, backends),
                          settings.triton_address, HealthKind.TRITON,
                          int(settings.triton_http_port or 0), priority=20,
                          environment=servers.triton_environment(), stop_wait_s=20))
    # a service's SIGTERM drain (NOT_SERVING, then in-flight calls) ends before the kill
    drain_s = math.ceil(settings.drain_delay_s + settings.shutdown_grace_s) + 5
    for name in SERVICES:
        address = settings.service_address(name)
        parts.append(Part(name, service_command(settings, f"services.{name}"), address,
                          HealthKind.GRPC, int(address.rsplit(":", 1)[1]), priority=50,
                          environment={"PYTHONPATH": str(SOURCE_ROOT)},
                          readiness_service=GRPC_SERVICE_NAMES[name], stop_wait_s=drain_s))
    address = settings.service_address("orchestrator")
    parts.append(Part("orchestrator", service_command(settings, "orchestrator"), address,
                      HealthKind.GRPC, int(address.rsplit(":", 1)[1]), priority=60,
                      environment={"PYTHONPATH": str(SOURCE_ROOT)},
                      readiness_service=GRPC_SERVICE_NAMES["orchestrator"], stop_wait_s=drain_s))
    return parts
