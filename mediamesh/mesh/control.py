"""up / status / down of an embedded mesh, shared by the CLI and the test fixtures."""
from __future__ import annotations

import json
import socket
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from mediamesh.config import Settings
from mediamesh.mesh.health import PartHealth, check_part, triton_models, wait_healthy
from mediamesh.mesh.parts import Part, mesh_parts
from mediamesh.mesh.servers import prepare_triton_backends
from mediamesh.mesh.supervisor import MeshSupervisor, ProcessInfo, events_file, logs_dir
from mediamesh.models import registry


class MeshError(RuntimeError):
    """A mesh could not be started or reached; the message says what to do."""


@dataclass(frozen=True)
class PartStatus:
    name: str
    address: str
    process: ProcessInfo | None
    health: PartHealth
    deaths: int  # unexpected exits seen by the watchdog since the mesh started


def _port_in_use(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return True
    return False


def _reachable(address: str, timeout_s: float = 2.0) -> bool:
    """Does anything accept TCP connections at host:port (or a nats:// URL)?"""
    hostport = urlparse(address).netloc if "://" in address else address
    host, _, port = hostport.rpartition(":")
    try:
        with socket.create_connection((host or "127.0.0.1", int(port)), timeout=timeout_s):
            return True
    except (OSError, ValueError):
        return False


def _own_ports(settings: Settings) -> dict[str, int]:
    """The ports this mesh itself listens on (external servers are not ours to bind)."""
    skip = set()
    if not settings.embedded_nats:
        skip |= {"nats", "nats_monitor"}
    if not settings.embedded_triton:
        skip |= {"triton_grpc", "triton_http", "triton_metrics"}
    return {k: v for k, v in settings.ports().items() if k not in skip}


def preflight(settings: Settings) -> None:
    """Fail early, in one line each, on what would make `up` hang or crash-loop."""
    if not settings.embedded_nats and not _reachable(settings.nats_address):
        raise MeshError(f"NATS at {settings.nats_address} is unreachable; start it, fix "
                        "MEDIAMESH_NATS_URL, or set MEDIAMESH_EMBEDDED_NATS=true")
    if not settings.embedded_triton and not _reachable(settings.triton_address):
        raise MeshError(f"Triton at {settings.triton_address} is unreachable; start it, fix "
                        "MEDIAMESH_TRITON_URL, or set MEDIAMESH_EMBEDDED_TRITON=true")
    missing = registry.missing(settings.model_repository)
    if missing and settings.embedded_triton:
        raise MeshError(f"models not built: {', '.join(missing)}; run `mediamesh models build`")
    busy = [f"{name} ({port})" for name, port in _own_ports(settings).items()
            if _port_in_use(settings.host, port)]
    if busy:
        raise MeshError(f"ports already in use: {', '.join(busy)}; stop the other mesh "
                        "(`mediamesh down`) or choose another MEDIAMESH_PORT_BASE")


def up(settings: Settings, timeout_s: float = 90.0,
       on_healthy: Callable[[PartHealth], None] | None = None) -> list[PartHealth]:
    """Start every part under supervision and wait for all to be healthy."""
    supervisor = MeshSupervisor(settings)
    if not supervisor.is_running():
        preflight(settings)
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    settings.media_root.mkdir(parents=True, exist_ok=True)
    settings.resolved_config_path.write_text(settings.to_json())
    events = events_file(settings)
    if events.exists() and not supervisor.is_running():
        events.unlink()  # deaths are counted per mesh lifetime
    if settings.embedded_triton:
        prepare_triton_backends(settings)
    parts = mesh_parts(settings)
    supervisor.start(parts)
    readings = wait_healthy(parts, settings, timeout_s, on_healthy)
    sick = [r for r in readings if not r.healthy]
    if sick:
        names = ", ".join(f"{r.name} ({r.detail})" for r in sick)
        raise MeshError(f"not healthy after {timeout_s:.0f} s: {names}; see "
                        f"`mediamesh logs {sick[0].name}` ({logs_dir(settings)})")
    return readings


def parts_for(settings: Settings) -> list[Part]:
    return mesh_parts(settings)


def deaths_by_part(settings: Settings) -> dict[str, int]:
    counts: dict[str, int] = {}
    path = events_file(settings)
    if not path.exists():
        return counts
    for line in path.read_text().splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if record.get("event") == "part.exited" and not record.get("expected", False):
            counts[record["part"]] = counts.get(record["part"], 0) + 1
    return counts


def status(settings: Settings) -> tuple[list[PartStatus], list[dict[str, str]]]:
    """Every part's process state and health, plus Triton's model index."""
    supervisor = MeshSupervisor(settings)
    processes = {p.name: p for p in supervisor.processes()}
    deaths = deaths_by_part(settings)
    rows = [PartStatus(part.name, part.address, processes.get(part.name),
                       check_part(part, settings), deaths.get(part.name, 0))
            for part in mesh_parts(settings)]
    models = triton_models(settings) if settings.embedded_triton else []
    return rows, models


def down(settings: Settings) -> bool:
    """Stop everything; False when nothing was running."""
    return MeshSupervisor(settings).stop()


def log_files(settings: Settings, part: str | None = None) -> list[Path]:
    folder = logs_dir(settings)
    if part:
        path = folder / f"{part}.log"
        if not path.exists():
            known = sorted(p.stem for p in folder.glob("*.log"))
            raise MeshError(f"no log for part '{part}'; parts with logs: {', '.join(known)}")
        return [path]
    return sorted(p for p in folder.glob("*.log") if p.stem not in ("watchdog",))
