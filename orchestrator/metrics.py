"""The orchestrator's own Prometheus metrics (served with the gRPC ones on its /metrics):
defined here, not in mediamesh.telemetry, so that services do not export an idle queue."""
from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

from mediamesh.telemetry import LATENCY_BUCKETS

QUEUE_DEPTH = Gauge("mediamesh_orchestrator_queue_depth",
                    "Workflow steps waiting in the work queue (not yet delivered)")
QUEUE_IN_PROGRESS = Gauge("mediamesh_orchestrator_steps_in_progress",
                          "Workflow steps delivered to a worker and not yet acknowledged")
RUNS_FINISHED = Counter("mediamesh_orchestrator_runs_finished_total",
                        "Workflow runs that ended, by workflow and final state",
                        ["workflow", "state"])
STEP_SECONDS = Histogram("mediamesh_orchestrator_step_seconds",
                         "Time of one step's service call", ["workflow", "step", "outcome"],
                         buckets=LATENCY_BUCKETS)
