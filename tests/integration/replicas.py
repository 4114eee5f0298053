"""The mesh as a cluster runs it, on one machine: beside a running mesh's NATS and Triton,
N replicas of every service and M orchestrators, each its own process on its own port;
orchestrators and clients dial each part as one gRPC target listing every replica
(`ipv4:127.0.0.1:a,127.0.0.1:b`, round-robin: what a headless Service gives in
Kubernetes). Used by tests/integration/test_scale_out.py and bench/scale_out.py."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from mediamesh.client import MeshClient
from mediamesh.config import SERVICES, Settings
from mediamesh.mesh.health import grpc_health
from mediamesh.mesh.parts import GRPC_SERVICE_NAMES
from mediamesh.mesh.ports import free_port_base
from mediamesh.mesh.supervisor import MeshSupervisor


@dataclass
class Replica:
    part: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def calls(self) -> int:
        """RPCs this replica answered (its debug log's rpc.ok lines)."""
        return self.log.read_text(errors="replace").count('"rpc.ok"') if self.log.exists() \
            else 0

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=30)


@dataclass
class ReplicaSet:
    mesh: Settings
    folder: Path
    service_replicas: int = 2
    orchestrators: int = 2
    replicas: list[Replica] = field(default_factory=list)

    def of(self, part: str) -> list[Replica]:
        return [r for r in self.replicas if r.part == part]

    def target(self, part: str) -> str:
        return "ipv4:" + ",".join(r.address for r in self.of(part))

    def start(self, timeout_s: float = 180.0) -> None:
        """Start every replica (services first: the orchestrators dial them) and wait until
        each reports its service SERVING."""
        self.folder.mkdir(parents=True, exist_ok=True)
        base = free_port_base()
        ports = iter(range(base, base + 100))
        for part in SERVICES:
            for _ in range(self.service_replicas):
                self._spawn(part, next(ports), [sys.executable, "-m", f"services.{part}"], {})
        dial = {f"{part}_url": self.target(part) for part in SERVICES}
        for _ in range(self.orchestrators):
            self._spawn("orchestrator", next(ports), [sys.executable, "-m", "orchestrator"],
                        dial)
        deadline = time.monotonic() + timeout_s
        for replica in self.replicas:
            while not grpc_health(replica.address, 1.0, GRPC_SERVICE_NAMES[replica.part])[0]:
                if replica.process.poll() is not None:
                    raise RuntimeError(f"{replica.part} replica on {replica.port} exited; see "
                                       f"{replica.log}")
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{replica.part} replica on {replica.port} not ready "
                                       f"after {timeout_s:.0f} s; see {replica.log}")
                time.sleep(0.2)

    def _spawn(self, part: str, port: int, command: list[str], settings: dict[str, str]
               ) -> None:
        """One replica with the mesh's settings plus `settings` (its own JSON config: a
        JSON config's values beat the environment); debug logs count its calls."""
        log = self.folder / f"{part}-{port}.log"
        config = json.loads(self.mesh.resolved_config_path.read_text())
        config.update(settings, log_level="debug")
        config_path = self.folder / f"{part}-{port}.json"
        config_path.write_text(json.dumps(config))
        process = subprocess.Popen(
            [*command, "--config", str(config_path), "--port", str(port)],
            stdout=log.open("wb"), stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"})
        self.replicas.append(Replica(part, port, process, log))

    def client(self) -> MeshClient:
        """A client that spreads over the replicas (and the orchestrators)."""
        return MeshClient({part: self.target(part) for part in (*SERVICES, "orchestrator")},
                          settings=self.mesh)

    def stop(self) -> None:
        for replica in self.replicas:
            if replica.process.poll() is None:
                replica.process.send_signal(signal.SIGTERM)
        for replica in self.replicas:
            try:
                replica.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                replica.kill()


class MeshOrchestratorPaused:
    """The running mesh's own orchestrator stopped for the duration (it would take queue
    items and dial only the mesh's own services), started again after."""

    def __init__(self, mesh: Settings) -> None:
        self.supervisor = MeshSupervisor(mesh)

    def __enter__(self) -> MeshOrchestratorPaused:
        self.supervisor.stop_part("orchestrator")
        return self

    def __exit__(self, *_: object) -> None:
        self.supervisor.start_part("orchestrator")
