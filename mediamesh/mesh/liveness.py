"""Kill a part that runs but no longer answers, so supervisord starts it again.

supervisord only sees exits. A service whose event loop is wedged (a cancelled job once
left it blocked in FFmpeg) keeps its port open, accepts connections and answers nothing,
forever. This prober does for the embedded mesh what a Kubernetes liveness probe does in a
cluster: every `every_s` it sends each gRPC part a grpc.health.v1 Check with a deadline;
a part up for at least `grace_s` that lets `failures` checks in a row run out their
deadline is SIGKILLed (a wedged process would not drain on SIGTERM anyway) and supervisord
restarts it. A refused connection or NOT_SERVING is an answer: starting, stopping and "my
dependencies are down" are not hangs.

    python -m mediamesh.mesh.liveness --config <state_dir>/mesh.json
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from mediamesh.config import load_settings
from mediamesh.mesh.health import grpc_health
from mediamesh.mesh.parts import HealthKind, mesh_parts
from mediamesh.mesh.supervisor import MeshSupervisor, SupervisorNotRunning, events_file

HUNG = "DEADLINE_EXCEEDED"


@dataclass(frozen=True)
class LivenessPolicy:
    """Generous by default: a busy service on two loaded cores still answers a health
    check within seconds; only ~45 s of silence in a row is a hang."""

    every_s: float = 5.0
    timeout_s: float = 10.0
    failures: int = 3
    grace_s: float = 30.0


@dataclass
class LivenessTracker:
    """Counts each part's unanswered checks in a row; pure, so it is tested alone."""

    policy: LivenessPolicy
    misses: dict[str, int] = field(default_factory=dict)

    def observe(self, part: str, answered: bool, uptime_s: float) -> bool:
        """Record one check; True when the part should be killed now."""
        if answered or uptime_s < self.policy.grace_s:
            self.misses[part] = 0
            return False
        self.misses[part] = self.misses.get(part, 0) + 1
        if self.misses[part] >= self.policy.failures:
            self.misses[part] = 0
            return True
        return False


def _log(events: Path, event: str, **fields: object) -> None:
    """A JSON line on stderr (liveness.log) and in the events file `mediamesh status`
    reads, as the watchdog writes its own."""
    line = json.dumps({"time": datetime.now(UTC).isoformat(), "event": event, **fields})
    print(line, file=sys.stderr, flush=True)
    with events.open("a") as out:
        out.write(line + "\n")


def probe_forever(config: Path, policy: LivenessPolicy) -> None:
    settings = load_settings(config)
    supervisor = MeshSupervisor(settings)
    parts = {p.name: p for p in mesh_parts(settings) if p.health is HealthKind.GRPC}
    tracker = LivenessTracker(policy)
    while True:
        time.sleep(policy.every_s)
        try:
            running = {p.name: p for p in supervisor.processes() if p.state == "RUNNING"}
        except SupervisorNotRunning:
            return  # the mesh is going down
        for name, part in parts.items():
            process = running.get(name)
            if process is None:
                continue
            _, status = grpc_health(part.address, policy.timeout_s, settings=settings)  # TLS too
            if tracker.observe(name, status != HUNG, process.uptime_s):
                _log(events_file(settings), "part.hung", part=name, pid=process.pid, level="warning",
                     unanswered_checks=policy.failures, timeout_s=policy.timeout_s,
                     action="SIGKILL; supervisord restarts it")
                supervisor.kill(name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, required=True)
    default = LivenessPolicy()
    parser.add_argument("--every", type=float, default=default.every_s, help="seconds")
    parser.add_argument("--timeout", type=float, default=default.timeout_s, help="seconds")
    parser.add_argument("--failures", type=int, default=default.failures)
    parser.add_argument("--grace", type=float, default=default.grace_s, help="seconds")
    args = parser.parse_args()
    probe_forever(args.config, LivenessPolicy(args.every, args.timeout, args.failures,
                                              args.grace))


if __name__ == "__main__":
    main()
