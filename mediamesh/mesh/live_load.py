"""What `mediamesh status` says about load: each part's calls, errors, latency and work in
flight, Triton's batching per model, and the orchestrator's queue, read from the same
Prometheus endpoints a cluster's Prometheus scrapes.

Counters are cumulative, so a figure about "now" is the difference of two readings; one
reading gives figures since each part started.
"""
from __future__ import annotations

import contextlib
import math
import urllib.error
import urllib.request
from dataclasses import dataclass, field

from prometheus_client.parser import text_string_to_metric_families

from mediamesh.config import SERVICE_PORT_OFFSETS, Settings
from mediamesh.mesh.triton_metrics import (
    BatchStats,
    ModelCounters,
    batch_deltas,
    metrics_url,
    scrape,
)

#: Codes that mean the mesh failed (the caller did nothing wrong); the rest of the non-OK
#: codes are refusals of bad or unauthorised requests.
SERVER_FAULTS = frozenset({"INTERNAL", "UNKNOWN", "UNAVAILABLE", "DEADLINE_EXCEEDED",
                           "DATA_LOSS", "RESOURCE_EXHAUSTED"})


@dataclass(frozen=True)
class PartReading:
    """One scrape of a part's /metrics, summed over its RPCs."""

    calls: float = 0.0
    faults: float = 0.0
    refusals: float = 0.0
    in_flight: float = 0.0
    buckets: tuple[tuple[float, float], ...] = ()  # (upper bound s, cumulative count)
    queue_waiting: float | None = None  # orchestrator only
    queue_in_progress: float | None = None
    runs: dict[str, float] = field(default_factory=dict)  # orchestrator: finished by state


@dataclass(frozen=True)
class PartLoad:
    """A part's load over an interval (or since it started)."""

    calls: float
    faults: float
    refusals: float
    in_flight: float
    p50_s: float | None
    p99_s: float | None
    queue_waiting: float | None
    queue_in_progress: float | None
    runs: dict[str, float]


def _get(url: str, timeout_s: float) -> str | None:
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as reply:
            return reply.read().decode()
    except (urllib.error.URLError, OSError):
        return None


def read_part(text: str) -> PartReading:
    """Sum a part's exposition over its RPCs (probes are not counted: never instrumented)."""
    calls = faults = refusals = in_flight = 0.0
    buckets: dict[float, float] = {}
    waiting = in_progress = None
    runs: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels, value = sample.labels, float(sample.value)
            if sample.name == "grpc_server_handled_total":
                calls += value
                code = labels.get("grpc_code", "")
                if code in SERVER_FAULTS:
                    faults += value
                elif code != "OK":
                    refusals += value
            elif sample.name == "grpc_server_in_flight":
                in_flight += value
            elif sample.name == "grpc_server_handling_seconds_bucket":
                bound = float(labels["le"])
                buckets[bound] = buckets.get(bound, 0.0) + value
            elif sample.name == "mediamesh_orchestrator_queue_depth":
                waiting = value
            elif sample.name == "mediamesh_orchestrator_steps_in_progress":
                in_progress = value
            elif sample.name == "mediamesh_orchestrator_runs_finished_total":
                runs[labels["state"]] = runs.get(labels["state"], 0.0) + value
    return PartReading(calls, faults, refusals, in_flight, tuple(sorted(buckets.items())),
                       waiting, in_progress, runs)


def quantile(buckets: tuple[tuple[float, float], ...], q: float) -> float | None:
    """Prometheus' histogram_quantile: linear inside the bucket holding the q-th call."""
    if not buckets or buckets[-1][1] <= 0:
        return None
    rank = q * buckets[-1][1]
    lower_bound, lower_count = 0.0, 0.0
    for bound, count in buckets:
        if count >= rank:
            if math.isinf(bound):
                return lower_bound  # beyond the last finite bucket: its bound is all we know
            inside = count - lower_count
            return lower_bound + (bound - lower_bound) * ((rank - lower_count) / inside
                                                          if inside else 1.0)
        lower_bound, lower_count = bound, count
    return lower_bound


def load_between(before: PartReading | None, after: PartReading) -> PartLoad:
    """The load of the interval between two readings (since start when `before` is None)."""
    base = before or PartReading()
    old = dict(base.buckets)
    buckets = tuple((bound, count - old.get(bound, 0.0)) for bound, count in after.buckets)
    runs = {state: n - base.runs.get(state, 0.0) for state, n in after.runs.items()}
    return PartLoad(after.calls - base.calls, after.faults - base.faults,
                    after.refusals - base.refusals, after.in_flight, quantile(buckets, 0.5),
                    quantile(buckets, 0.99), after.queue_waiting, after.queue_in_progress,
                    runs)


@dataclass(frozen=True)
class MeshReading:
    """One scrape of every part and of Triton (None where an endpoint did not answer)."""

    parts: dict[str, PartReading | None]
    triton: dict[str, ModelCounters] | None


def read_mesh(settings: Settings, timeout_s: float = 1.0) -> MeshReading:
    parts: dict[str, PartReading | None] = {}
    for part in SERVICE_PORT_OFFSETS:
        port = settings.metrics_port(part)
        text = _get(f"http://{settings.host}:{port}/metrics", timeout_s) if port else None
        parts[part] = read_part(text) if text is not None else None
    triton = None
    if settings.embedded_triton:
        with contextlib.suppress(urllib.error.URLError, OSError):  # down: shown as such
            triton = scrape(metrics_url(settings), timeout_s)
    return MeshReading(parts, triton)


def triton_between(before: MeshReading | None, after: MeshReading) -> dict[str, BatchStats]:
    """Batching per model over the interval (since Triton started without `before`)."""
    if after.triton is None:
        return {}
    return batch_deltas(before.triton or {} if before else {}, after.triton)
